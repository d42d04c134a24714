//! The registry: one enum variant per `connector_type` and role, and the constructors they map
//! to. Adding a connector touches its own folder plus one line in each enum it serves and one
//! line in [`connectors`].
//!
//! The enums are adjacently tagged (`connector_type` + `config`), so serde reports unknown
//! types and unknown config keys with their line, column and the valid choices.

use super::file::partition;
use super::file::{
    FileDestination, FileDestinationConfig, FileSource, FileSourceConfig, S3DestinationConfig,
    S3SourceConfig,
};
use super::sql::mysql::{MysqlConfig, MysqlDestination, MysqlSource};
use super::sql::postgres::{PostgresConfig, PostgresDestination, PostgresSource};
use super::sql::sqlite::{SqliteConfig, SqliteDestination, SqliteSource};
use super::{Destination, Source};
use crate::error::Result;
use crate::spec::introspect::fields_of;
use crate::spec::{Defaults, StreamSpec};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "connector_type", content = "config", deny_unknown_fields)]
pub enum SourceConfig {
    #[serde(rename = "postgresql")]
    Postgres(PostgresConfig),
    #[serde(rename = "sqlite")]
    Sqlite(SqliteConfig),
    #[serde(rename = "mysql")]
    Mysql(MysqlConfig),
    #[serde(rename = "local_file")]
    LocalFile(FileSourceConfig),
    #[serde(rename = "s3")]
    S3(S3SourceConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "connector_type", content = "config", deny_unknown_fields)]
pub enum DestinationConfig {
    #[serde(rename = "postgresql")]
    Postgres(PostgresConfig),
    #[serde(rename = "sqlite")]
    Sqlite(SqliteConfig),
    #[serde(rename = "mysql")]
    Mysql(MysqlConfig),
    #[serde(rename = "local_file")]
    LocalFile(FileDestinationConfig),
    #[serde(rename = "s3")]
    S3(S3DestinationConfig),
}

impl SourceConfig {
    pub fn connector_type(&self) -> &'static str {
        match self {
            SourceConfig::Postgres(_) => "postgresql",
            SourceConfig::Sqlite(_) => "sqlite",
            SourceConfig::Mysql(_) => "mysql",
            SourceConfig::LocalFile(_) => "local_file",
            SourceConfig::S3(_) => "s3",
        }
    }

    /// Spec-time checks of the streams against this source (no connection is made).
    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        if !matches!(self, SourceConfig::Postgres(_)) {
            if let Some(s) = streams.iter().find(|s| !s.cast.is_empty()) {
                return Err(format!(
                    "stream `{}`: `cast` is supported by the postgresql source only",
                    s.name
                ));
            }
        }
        if !matches!(self, SourceConfig::Postgres(_) | SourceConfig::Mysql(_)) {
            if let Some(s) = streams.iter().find(|s| s.partition.is_some()) {
                return Err(format!(
                    "stream `{}`: `partition` is supported by the postgresql and mysql sources only",
                    s.name
                ));
            }
        }
        match self {
            SourceConfig::Postgres(_) => super::sql::validate_streams(streams),
            SourceConfig::Sqlite(_) => super::sql::validate_streams(streams),
            SourceConfig::Mysql(_) => super::sql::mysql::validate_streams(streams),
            SourceConfig::LocalFile(c) => c.validate(streams),
            SourceConfig::S3(c) => c.validate(streams),
        }
    }

    pub fn build(&self, defaults: &Defaults) -> Result<Box<dyn Source>> {
        Ok(match self {
            SourceConfig::Postgres(c) => Box::new(PostgresSource::new(c.clone())),
            SourceConfig::Sqlite(c) => Box::new(SqliteSource::new(c.clone(), defaults)),
            SourceConfig::Mysql(c) => Box::new(MysqlSource::new(c.clone())),
            SourceConfig::LocalFile(c) => {
                Box::new(FileSource::new(c.location(), c.read_options())?)
            }
            SourceConfig::S3(c) => Box::new(FileSource::new(c.location(), c.read_options())?),
        })
    }
}

impl DestinationConfig {
    pub fn connector_type(&self) -> &'static str {
        match self {
            DestinationConfig::Postgres(_) => "postgresql",
            DestinationConfig::Sqlite(_) => "sqlite",
            DestinationConfig::Mysql(_) => "mysql",
            DestinationConfig::LocalFile(_) => "local_file",
            DestinationConfig::S3(_) => "s3",
        }
    }

    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        match self {
            DestinationConfig::Postgres(_)
            | DestinationConfig::Sqlite(_)
            | DestinationConfig::Mysql(_) => {
                if let Some(s) = streams.iter().find(|s| !s.partition_by.is_empty()) {
                    return Err(format!(
                        "stream `{}`: partition_by writes Hive-style folders and applies to file destinations (local_file, s3), not to {}",
                        s.name,
                        self.connector_type()
                    ));
                }
                Ok(())
            }
            DestinationConfig::LocalFile(c) => {
                c.validate().and_then(|_| partition::validate(streams))
            }
            DestinationConfig::S3(c) => c.validate().and_then(|_| partition::validate(streams)),
        }
    }

    pub fn build(&self) -> Result<Box<dyn Destination>> {
        Ok(match self {
            DestinationConfig::Postgres(c) => Box::new(PostgresDestination::new(c.clone())),
            DestinationConfig::Sqlite(c) => Box::new(SqliteDestination::new(c.clone())),
            DestinationConfig::Mysql(c) => Box::new(MysqlDestination::new(c.clone())),
            DestinationConfig::LocalFile(c) => {
                Box::new(FileDestination::new(c.location(), c.write_options())?)
            }
            DestinationConfig::S3(c) => {
                Box::new(FileDestination::new(c.location(), c.write_options())?)
            }
        })
    }
}

/// One registered connector, as `etl connectors` lists it.
#[derive(Debug, serde::Serialize)]
pub struct ConnectorInfo {
    pub connector_type: &'static str,
    /// `(role, accepted config keys)`.
    pub roles: Vec<(&'static str, &'static [&'static str])>,
}

/// Every connector this build knows, with the config keys each role accepts.
pub fn connectors() -> Vec<ConnectorInfo> {
    vec![
        ConnectorInfo {
            connector_type: "postgresql",
            roles: vec![
                ("source", fields_of::<PostgresConfig>()),
                ("destination", fields_of::<PostgresConfig>()),
            ],
        },
        ConnectorInfo {
            connector_type: "sqlite",
            roles: vec![
                ("source", fields_of::<SqliteConfig>()),
                ("destination", fields_of::<SqliteConfig>()),
            ],
        },
        ConnectorInfo {
            connector_type: "mysql",
            roles: vec![
                ("source", fields_of::<MysqlConfig>()),
                ("destination", fields_of::<MysqlConfig>()),
            ],
        },
        ConnectorInfo {
            connector_type: "local_file",
            roles: vec![
                ("source", fields_of::<FileSourceConfig>()),
                ("destination", fields_of::<FileDestinationConfig>()),
            ],
        },
        ConnectorInfo {
            connector_type: "s3",
            roles: vec![
                ("source", fields_of::<S3SourceConfig>()),
                ("destination", fields_of::<S3DestinationConfig>()),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_connector_lists_its_keys() {
        for c in super::connectors() {
            for (role, keys) in &c.roles {
                assert!(
                    !keys.is_empty(),
                    "{} {role} lists no keys",
                    c.connector_type
                );
            }
        }
    }
}
