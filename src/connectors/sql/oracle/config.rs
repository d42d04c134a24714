use crate::spec::env::{self, Secret};
use serde::Deserialize;

fn default_connect_timeout() -> u64 {
    10
}

/// `config:` of an `oracle` source or destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    /// Oracle connect string: Easy Connect `host:port/service_name`, a TNS alias, or a full
    /// `(DESCRIPTION=...)` descriptor.
    #[serde(deserialize_with = "env::value")]
    pub dsn: String,
    #[serde(deserialize_with = "env::value")]
    pub user: String,
    /// Never printed: `Secret` hides it from logs, errors and `Debug`.
    #[serde(default)]
    pub password: Secret,
    /// Source: the schema (owner) whose tables move when `streams:` is absent, and where
    /// unqualified `table:` names are looked up. Destination: where tables are created.
    /// Default: the user's own schema.
    #[serde(default, deserialize_with = "env::opt")]
    pub schema: Option<String>,
    /// Seconds to wait for the connection and login (default 10).
    #[serde(default = "default_connect_timeout", deserialize_with = "env::value")]
    pub connect_timeout: u64,
}

impl OracleConfig {
    /// `user@dsn`, for messages (never the password).
    pub fn describe(&self) -> String {
        format!("Oracle at `{}` (user `{}`)", self.dsn, self.user)
    }
}

crate::connectors::sql::sql_connector!(
    OracleConfig,
    [],
    crate::connectors::sql::validate_streams,
    |c, _| super::OracleSource::new(c),
    super::OracleDestination
);
