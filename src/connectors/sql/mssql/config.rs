use crate::spec::env::{self, Secret};
use serde::Deserialize;

fn default_port() -> u16 {
    1433
}
fn default_schema() -> String {
    "dbo".into()
}
fn default_connect_timeout() -> u64 {
    10
}

/// `config:` of an `mssql` source or destination (Microsoft SQL Server, Azure SQL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssqlConfig {
    /// Server host name or IP address.
    #[serde(deserialize_with = "env::value")]
    pub host: String,
    /// TCP port (default 1433).
    #[serde(default = "default_port", deserialize_with = "env::value")]
    pub port: u16,
    #[serde(deserialize_with = "env::value")]
    pub database: String,
    /// SQL Server login (SQL authentication).
    #[serde(deserialize_with = "env::value")]
    pub user: String,
    /// Never printed: `Secret` hides it from logs, errors and `Debug`.
    #[serde(default)]
    pub password: Secret,
    /// Source: the schema whose tables move when `streams:` is absent, and where unqualified
    /// `table:` names are looked up. Destination: where tables are created (default `dbo`).
    #[serde(default = "default_schema", deserialize_with = "env::value")]
    pub schema: String,
    /// Accept the server's certificate without verifying it (self-signed servers, the
    /// default SQL Server install). Default false: the certificate must chain to a system root.
    #[serde(default, deserialize_with = "env::value")]
    pub trust_server_certificate: bool,
    /// TLS: `required` (default: everything encrypted, fail without TLS), `on` (encrypt when
    /// the server can), `off` (only the login is encrypted) or `not_supported` (no TLS).
    #[serde(default, deserialize_with = "env::value")]
    pub encrypt: Encrypt,
    /// Seconds to wait for the server to accept a connection and the login (default 10).
    #[serde(default = "default_connect_timeout", deserialize_with = "env::value")]
    pub connect_timeout: u64,
}

impl MssqlConfig {
    /// `host:port/database (user ...)`, for messages (never the password).
    pub fn describe(&self) -> String {
        format!(
            "SQL Server at {}:{} (user `{}`, database `{}`)",
            self.host, self.port, self.user, self.database
        )
    }
}

crate::keyword_enum! {
    /// The `encrypt` setting (TDS pre-login encryption level).
    #[derive(Default)]
    pub enum Encrypt: "encrypt" {
        #[default]
        Required = "required" | "true",
        On = "on",
        Off = "off" | "false",
        NotSupported = "not_supported",
    }
}

crate::connectors::sql::sql_connector!(
    MssqlConfig,
    [],
    crate::connectors::sql::validate_streams,
    |c, _| super::MssqlSource::new(c),
    super::MssqlDestination
);
