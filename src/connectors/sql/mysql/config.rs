use crate::spec::env::{self, Secret};
use serde::Deserialize;

fn default_port() -> u16 {
    3306
}

fn default_connect_timeout() -> u64 {
    10
}

/// `config:` of a `mysql` source or destination (MySQL or MariaDB).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// Server host name or IP address.
    #[serde(deserialize_with = "env::value")]
    pub host: String,
    /// TCP port (default 3306).
    #[serde(default = "default_port", deserialize_with = "env::value")]
    pub port: u16,
    /// The database (schema) to read from or write into.
    #[serde(deserialize_with = "env::value")]
    pub database: String,
    #[serde(deserialize_with = "env::value")]
    pub user: String,
    /// Never printed: `Secret` hides it from logs, errors and `Debug`.
    #[serde(default)]
    pub password: Secret,
    /// Seconds to wait for the server to accept a connection (default 10).
    #[serde(default = "default_connect_timeout", deserialize_with = "env::value")]
    pub connect_timeout: u64,
}

impl MysqlConfig {
    /// `user@host:port/database`, for messages (never the password).
    pub fn describe(&self) -> String {
        format!(
            "MySQL at {}:{} (user `{}`, database `{}`)",
            self.host, self.port, self.user, self.database
        )
    }
}

crate::connectors::sql::sql_connector!(
    MysqlConfig,
    [Partition, ZeroDates],
    super::validate_streams,
    |c, _| super::MysqlSource::new(c),
    super::MysqlDestination
);
