use crate::connectors::sql::tls::{FileKey, Level, TlsKeys};
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
    /// The CA certificate(s) (PEM) the server's certificate must chain to.
    #[serde(default, deserialize_with = "env::opt")]
    pub sslrootcert: Option<String>,
    /// Client certificate (PEM) presented to the server, with its private key `sslkey`.
    #[serde(default, deserialize_with = "env::opt")]
    pub sslcert: Option<String>,
    #[serde(default, deserialize_with = "env::opt")]
    pub sslkey: Option<String>,
    /// Seconds to wait for the server to answer a connection attempt.
    #[serde(default = "default_timeout", deserialize_with = "env::value")]
    pub connect_timeout: u64,
    /// Source: rows per Arrow batch (default: `defaults.batch_size`).
    #[serde(default, deserialize_with = "env::opt")]
    pub batch_size: Option<usize>,
    /// Source: how a `numeric` column without precision and scale is read.
    #[serde(default, deserialize_with = "env::value")]
    pub numeric: NumericMode,
    /// Source: the scale (fractional digits) of such a column read as `decimal` (default 10,
    /// at most 38) or `decimal256` (default 38, at most 76).
    #[serde(default, deserialize_with = "env::opt")]
    pub numeric_scale: Option<u16>,
}

crate::keyword_enum! {
    /// How a PostgreSQL source reads an unconstrained `numeric` (no precision and scale).
    #[derive(Default)]
    pub enum NumericMode: "numeric" {
        /// Decimal128(38, `numeric_scale`): 10 fractional digits by default.
        #[default]
        Decimal = "decimal",
        /// Decimal256(76, `numeric_scale`): 38 fractional and 38 integer digits by default.
        Decimal256 = "decimal256",
        /// Utf8: PostgreSQL's exact text of any value (NaN and ±Infinity too).
        Text = "text",
    }
}

impl PostgresConfig {
    /// The (precision, scale) an unconstrained `numeric` is read into, `None` for `text`; an
    /// error when `numeric_scale` exceeds what the chosen decimal holds.
    pub fn unconstrained_numeric(&self) -> Result<Option<(u8, i8)>, String> {
        let (precision, default_scale) = match self.numeric {
            NumericMode::Text => return Ok(None),
            NumericMode::Decimal => (38u8, 10u16),
            NumericMode::Decimal256 => (76, 38),
        };
        let scale = self.numeric_scale.unwrap_or(default_scale);
        if scale > u16::from(precision) {
            return Err(format!(
                "`numeric_scale: {scale}` is more than `numeric: {}` holds (at most {precision})",
                self.numeric
            ));
        }
        Ok(Some((precision, scale as i8)))
    }
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
    /// libpq's `sslmode` (`allow` is left out: it only differs from `prefer` in the order tried).
    #[derive(Default)]
    pub enum SslMode: "sslmode" {
        Disable = "disable",
        #[default]
        Prefer = "prefer",
        Require = "require",
        VerifyCa = "verify-ca",
        VerifyFull = "verify-full",
    }
}

impl PostgresConfig {
    /// The TLS keys, with what libpq checks in each mode: `prefer` and `require` check nothing,
    /// except that `require` with `sslrootcert` verifies the chain as `verify-ca` does.
    pub fn tls_keys(&self) -> TlsKeys<'_> {
        let level = match self.sslmode {
            SslMode::Disable => Level::Off,
            SslMode::Prefer => Level::Prefer,
            SslMode::Require => Level::Require,
            SslMode::VerifyCa => Level::VerifyCa,
            SslMode::VerifyFull => Level::VerifyFull,
        };
        TlsKeys::new(
            ("sslmode", self.sslmode.as_str()),
            level,
            FileKey::new("sslrootcert", &self.sslrootcert),
            FileKey::new("sslcert", &self.sslcert),
            FileKey::new("sslkey", &self.sslkey),
        )
    }
}

/// Spec-time check of the TLS keys (they go together and their files hold PEM) and of
/// `numeric_scale` (it fits the chosen `numeric` type).
fn check(c: &PostgresConfig) -> Result<(), String> {
    c.tls_keys().check()?;
    c.unconstrained_numeric().map(|_| ())
}

crate::connectors::sql::sql_connector!(
    PostgresConfig,
    [Cast, Partition],
    crate::connectors::sql::validate_streams,
    |c, _| super::PostgresSource::new(c),
    super::PostgresDestination,
    check: check
);
