use crate::spec::env;
use serde::Deserialize;

/// `config:` of a `sqlite` source or destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Path of the database file. A destination creates it when missing.
    #[serde(deserialize_with = "env::value")]
    pub database_path: String,
    /// Source: rows per Arrow batch (default: `defaults.batch_size`).
    /// Destination: rows per multi-row INSERT statement (default 1000).
    #[serde(default, deserialize_with = "env::opt")]
    pub batch_size: Option<usize>,
}

crate::connectors::sql::sql_connector!(
    SqliteConfig,
    [],
    crate::connectors::sql::validate_streams,
    |c, defaults| super::SqliteSource::new(c, defaults),
    super::SqliteDestination
);
