use crate::connectors::sql::tls::{FileKey, Level, TlsKeys};
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
    /// TLS, as the `mysql` client's `--ssl-mode`.
    #[serde(default, deserialize_with = "env::value")]
    pub ssl_mode: SslMode,
    /// The CA certificate(s) (PEM) the server's certificate must chain to (`--ssl-ca`).
    #[serde(default, deserialize_with = "env::opt")]
    pub ssl_ca: Option<String>,
    /// Client certificate (PEM, `--ssl-cert`) with its private key `ssl_key` (`--ssl-key`).
    #[serde(default, deserialize_with = "env::opt")]
    pub ssl_cert: Option<String>,
    #[serde(default, deserialize_with = "env::opt")]
    pub ssl_key: Option<String>,
    /// Source: read every stream of a run one after another on one connection, inside one
    /// `START TRANSACTION WITH CONSISTENT SNAPSHOT` (default false: streams read in parallel,
    /// each in its own transaction).
    #[serde(default, deserialize_with = "env::value")]
    pub consistent_snapshot: bool,
}

crate::keyword_enum! {
    /// The `mysql` client's `--ssl-mode` values (written in any case).
    #[derive(Default)]
    pub enum SslMode: "ssl_mode" {
        Disabled = "disabled",
        #[default]
        Preferred = "preferred",
        Required = "required",
        VerifyCa = "verify_ca",
        VerifyIdentity = "verify_identity",
    }
}

impl MysqlConfig {
    /// The TLS keys and what each mode verifies: `preferred` and `required` check nothing,
    /// except that `required` with `ssl_ca` verifies the chain (as PostgreSQL's `require` with
    /// `sslrootcert`: a CA file given is never silently ignored).
    pub fn tls_keys(&self) -> TlsKeys<'_> {
        let level = match self.ssl_mode {
            SslMode::Disabled => Level::Off,
            SslMode::Preferred => Level::Prefer,
            SslMode::Required => Level::Require,
            SslMode::VerifyCa => Level::VerifyCa,
            SslMode::VerifyIdentity => Level::VerifyFull,
        };
        TlsKeys::new(
            ("ssl_mode", self.ssl_mode.as_str()),
            level,
            FileKey::new("ssl_ca", &self.ssl_ca),
            FileKey::new("ssl_cert", &self.ssl_cert),
            FileKey::new("ssl_key", &self.ssl_key),
        )
    }

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
    super::MysqlDestination,
    check: check
);

/// Spec-time check of the TLS keys: they go together and their files hold PEM.
fn check(c: &MysqlConfig) -> Result<(), String> {
    c.tls_keys().check()
}
