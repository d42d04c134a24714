use crate::spec::env::{self, Secret};
use serde::Deserialize;

/// `config:` of a `postgresql` source or destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Host name, IP address, or a folder holding the server's unix socket (starts with `/`).
    #[serde(deserialize_with = "env::value")]
    pub host: String,
    #[serde(default = "default_port", deserialize_with = "env::value")]
    pub port: u16,
    #[serde(deserialize_with = "env::value")]
    pub database: String,
    #[serde(deserialize_with = "env::value")]
    pub user: String,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Source: the schema whose tables move when `streams:` is absent, and where unqualified
    /// `table:` names are looked up. Destination: where tables are created.
    #[serde(default = "default_schema", deserialize_with = "env::value")]
    pub schema: String,
    #[serde(default, deserialize_with = "env::value")]
    pub sslmode: SslMode,
    /// Seconds to wait for the server to answer a connection attempt.
    #[serde(default = "default_timeout", deserialize_with = "env::value")]
    pub connect_timeout: u64,
    /// Source: rows per Arrow batch (default: `defaults.batch_size`).
    #[serde(default, deserialize_with = "env::opt")]
    pub batch_size: Option<usize>,
}

fn default_port() -> u16 {
    5432
}
fn default_schema() -> String {
    "public".into()
}
fn default_timeout() -> u64 {
    10
}

crate::keyword_enum! {
    /// libpq's `sslmode`, without certificate verification (as libpq's `require`).
    #[derive(Default)]
    pub enum SslMode: "sslmode" {
        Disable = "disable",
        #[default]
        Prefer = "prefer",
        Require = "require",
    }
}

crate::connectors::sql::sql_connector!(
    PostgresConfig,
    [Cast, Partition],
    crate::connectors::sql::validate_streams,
    |c, _| super::PostgresSource::new(c),
    super::PostgresDestination
);
