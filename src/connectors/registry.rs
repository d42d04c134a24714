//! The registry: one enum variant per `connector_type` and role, and the constructors they map
//! to. Adding a connector touches its own folder plus one line in each enum it serves and one
//! line in [`connectors`].
//!
//! The enums are adjacently tagged (`connector_type` + `config`), so serde reports unknown
//! types and unknown config keys with their line, column and the valid choices.

use super::file::partition;
use super::file::{
    AzureDestinationConfig, AzureSourceConfig, FileDestination, FileDestinationConfig, FileSource,
    FileSourceConfig, GcsDestinationConfig, GcsSourceConfig, S3DestinationConfig, S3SourceConfig,
};
#[cfg(feature = "mssql")]
use super::sql::mssql::{MssqlConfig, MssqlDestination, MssqlSource};
use super::sql::mysql::{MysqlConfig, MysqlDestination, MysqlSource};
#[cfg(feature = "oracle")]
use super::sql::oracle::{OracleConfig, OracleDestination, OracleSource};
use super::sql::postgres::{PostgresConfig, PostgresDestination, PostgresSource};
use super::sql::sqlite::{SqliteConfig, SqliteDestination, SqliteSource};
use super::{Destination, Source};
use crate::error::Result;
use crate::spec::introspect::fields_of;
use crate::spec::{Defaults, StreamSpec};
use serde::Deserialize;

/// The config of a connector this binary was built without (its cargo feature was off): any
/// `config:` is accepted so that validation can say which feature is missing.
#[derive(Debug, Clone)]
pub struct NotBuilt;

impl<'de> Deserialize<'de> for NotBuilt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(NotBuilt)
    }
}

#[cfg(not(feature = "mssql"))]
type MssqlConfig = NotBuilt;
#[cfg(not(feature = "oracle"))]
type OracleConfig = NotBuilt;

/// Why a spec naming a connector left out of this build is invalid.
#[allow(dead_code)]
fn not_built(connector_type: &str) -> String {
    not_built_as(connector_type, connector_type)
}

/// [`not_built`] for a connector whose cargo feature has another name.
#[allow(dead_code)]
fn not_built_as(connector_type: &str, feature: &str) -> String {
    format!(
        "connector_type `{connector_type}` is not built into this etl binary: rebuild it with the cargo feature `{feature}` (e.g. `cargo build --release --features {feature}`; it is on by default)"
    )
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "connector_type", content = "config", deny_unknown_fields)]
pub enum SourceConfig {
    #[serde(rename = "postgresql")]
    Postgres(PostgresConfig),
    #[serde(rename = "sqlite")]
    Sqlite(SqliteConfig),
    #[serde(rename = "mysql")]
    Mysql(MysqlConfig),
    #[serde(rename = "mssql")]
    Mssql(MssqlConfig),
    #[serde(rename = "oracle")]
    Oracle(OracleConfig),
    #[serde(rename = "local_file")]
    LocalFile(FileSourceConfig),
    #[serde(rename = "s3")]
    S3(S3SourceConfig),
    #[serde(rename = "gcs")]
    Gcs(GcsSourceConfig),
    #[serde(rename = "azure_blob")]
    Azure(AzureSourceConfig),
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
    #[serde(rename = "mssql")]
    Mssql(MssqlConfig),
    #[serde(rename = "oracle")]
    Oracle(OracleConfig),
    #[serde(rename = "local_file")]
    LocalFile(FileDestinationConfig),
    #[serde(rename = "s3")]
    S3(S3DestinationConfig),
    #[serde(rename = "gcs")]
    Gcs(GcsDestinationConfig),
    #[serde(rename = "azure_blob")]
    Azure(AzureDestinationConfig),
}

impl SourceConfig {
    pub fn connector_type(&self) -> &'static str {
        match self {
            SourceConfig::Postgres(_) => "postgresql",
            SourceConfig::Sqlite(_) => "sqlite",
            SourceConfig::Mysql(_) => "mysql",
            SourceConfig::Mssql(_) => "mssql",
            SourceConfig::Oracle(_) => "oracle",
            SourceConfig::LocalFile(_) => "local_file",
            SourceConfig::S3(_) => "s3",
            SourceConfig::Gcs(_) => "gcs",
            SourceConfig::Azure(_) => "azure_blob",
        }
    }

    /// Spec-time checks of the streams against this source (no connection is made).
    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        #[cfg(not(feature = "mssql"))]
        if let SourceConfig::Mssql(_) = self {
            return Err(not_built("mssql"));
        }
        #[cfg(not(feature = "oracle"))]
        if let SourceConfig::Oracle(_) = self {
            return Err(not_built("oracle"));
        }
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
            SourceConfig::Mssql(_) | SourceConfig::Oracle(_) => {
                super::sql::validate_streams(streams)
            }
            SourceConfig::LocalFile(c) => c.validate(streams),
            #[cfg(feature = "s3")]
            SourceConfig::S3(c) => c.validate(streams),
            #[cfg(not(feature = "s3"))]
            SourceConfig::S3(_) => Err(not_built("s3")),
            #[cfg(feature = "gcs")]
            SourceConfig::Gcs(c) => c.validate(streams),
            #[cfg(not(feature = "gcs"))]
            SourceConfig::Gcs(_) => Err(not_built("gcs")),
            #[cfg(feature = "azure")]
            SourceConfig::Azure(c) => c.validate(streams),
            #[cfg(not(feature = "azure"))]
            SourceConfig::Azure(_) => Err(not_built_as("azure_blob", "azure")),
        }
    }

    pub fn build(&self, defaults: &Defaults) -> Result<Box<dyn Source>> {
        Ok(match self {
            SourceConfig::Postgres(c) => Box::new(PostgresSource::new(c.clone())),
            SourceConfig::Sqlite(c) => Box::new(SqliteSource::new(c.clone(), defaults)),
            SourceConfig::Mysql(c) => Box::new(MysqlSource::new(c.clone())),
            #[cfg(feature = "mssql")]
            SourceConfig::Mssql(c) => Box::new(MssqlSource::new(c.clone())),
            #[cfg(not(feature = "mssql"))]
            SourceConfig::Mssql(_) => return Err(crate::error::Error::spec(not_built("mssql"))),
            #[cfg(feature = "oracle")]
            SourceConfig::Oracle(c) => Box::new(OracleSource::new(c.clone())),
            #[cfg(not(feature = "oracle"))]
            SourceConfig::Oracle(_) => return Err(crate::error::Error::spec(not_built("oracle"))),
            SourceConfig::LocalFile(c) => {
                Box::new(FileSource::new(c.location(), c.read_options())?)
            }
            SourceConfig::S3(c) => Box::new(FileSource::new(c.location(), c.read_options())?),
            SourceConfig::Gcs(c) => Box::new(FileSource::new(c.location(), c.read_options())?),
            SourceConfig::Azure(c) => Box::new(FileSource::new(c.location(), c.read_options())?),
        })
    }
}

impl DestinationConfig {
    pub fn connector_type(&self) -> &'static str {
        match self {
            DestinationConfig::Postgres(_) => "postgresql",
            DestinationConfig::Sqlite(_) => "sqlite",
            DestinationConfig::Mysql(_) => "mysql",
            DestinationConfig::Mssql(_) => "mssql",
            DestinationConfig::Oracle(_) => "oracle",
            DestinationConfig::LocalFile(_) => "local_file",
            DestinationConfig::S3(_) => "s3",
            DestinationConfig::Gcs(_) => "gcs",
            DestinationConfig::Azure(_) => "azure_blob",
        }
    }

    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        match self {
            #[cfg(not(feature = "mssql"))]
            DestinationConfig::Mssql(_) => Err(not_built("mssql")),
            #[cfg(not(feature = "oracle"))]
            DestinationConfig::Oracle(_) => Err(not_built("oracle")),
            #[cfg(feature = "oracle")]
            DestinationConfig::Oracle(_) => self.no_partition_by(streams),
            #[cfg(feature = "mssql")]
            DestinationConfig::Mssql(_) => self.no_partition_by(streams),
            DestinationConfig::Postgres(_)
            | DestinationConfig::Sqlite(_)
            | DestinationConfig::Mysql(_) => self.no_partition_by(streams),
            DestinationConfig::LocalFile(c) => {
                c.validate().and_then(|_| partition::validate(streams))
            }
            #[cfg(feature = "s3")]
            DestinationConfig::S3(c) => c.validate().and_then(|_| partition::validate(streams)),
            #[cfg(not(feature = "s3"))]
            DestinationConfig::S3(_) => Err(not_built("s3")),
            #[cfg(feature = "gcs")]
            DestinationConfig::Gcs(c) => c.validate().and_then(|_| partition::validate(streams)),
            #[cfg(not(feature = "gcs"))]
            DestinationConfig::Gcs(_) => Err(not_built("gcs")),
            #[cfg(feature = "azure")]
            DestinationConfig::Azure(c) => c.validate().and_then(|_| partition::validate(streams)),
            #[cfg(not(feature = "azure"))]
            DestinationConfig::Azure(_) => Err(not_built_as("azure_blob", "azure")),
        }
    }

    /// SQL destinations write tables: `partition_by` (Hive folders) does not apply.
    fn no_partition_by(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        match streams.iter().find(|s| !s.partition_by.is_empty()) {
            Some(s) => Err(format!(
                "stream `{}`: partition_by writes Hive-style folders and applies to file destinations (local_file, s3, gcs, azure_blob), not to {}",
                s.name,
                self.connector_type()
            )),
            None => Ok(()),
        }
    }

    pub fn build(&self) -> Result<Box<dyn Destination>> {
        Ok(match self {
            DestinationConfig::Postgres(c) => Box::new(PostgresDestination::new(c.clone())),
            DestinationConfig::Sqlite(c) => Box::new(SqliteDestination::new(c.clone())),
            DestinationConfig::Mysql(c) => Box::new(MysqlDestination::new(c.clone())),
            #[cfg(feature = "mssql")]
            DestinationConfig::Mssql(c) => Box::new(MssqlDestination::new(c.clone())),
            #[cfg(not(feature = "mssql"))]
            DestinationConfig::Mssql(_) => {
                return Err(crate::error::Error::spec(not_built("mssql")))
            }
            #[cfg(feature = "oracle")]
            DestinationConfig::Oracle(c) => Box::new(OracleDestination::new(c.clone())),
            #[cfg(not(feature = "oracle"))]
            DestinationConfig::Oracle(_) => {
                return Err(crate::error::Error::spec(not_built("oracle")))
            }
            DestinationConfig::LocalFile(c) => {
                Box::new(FileDestination::new(c.location(), c.write_options())?)
            }
            DestinationConfig::S3(c) => {
                Box::new(FileDestination::new(c.location(), c.write_options())?)
            }
            DestinationConfig::Gcs(c) => {
                Box::new(FileDestination::new(c.location(), c.write_options())?)
            }
            DestinationConfig::Azure(c) => {
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
    #[allow(unused_mut)]
    let mut list = vec![
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
    ];
    #[cfg(feature = "s3")]
    list.push(ConnectorInfo {
        connector_type: "s3",
        roles: vec![
            ("source", fields_of::<S3SourceConfig>()),
            ("destination", fields_of::<S3DestinationConfig>()),
        ],
    });
    #[cfg(feature = "gcs")]
    list.push(ConnectorInfo {
        connector_type: "gcs",
        roles: vec![
            ("source", fields_of::<GcsSourceConfig>()),
            ("destination", fields_of::<GcsDestinationConfig>()),
        ],
    });
    #[cfg(feature = "azure")]
    list.push(ConnectorInfo {
        connector_type: "azure_blob",
        roles: vec![
            ("source", fields_of::<AzureSourceConfig>()),
            ("destination", fields_of::<AzureDestinationConfig>()),
        ],
    });
    #[cfg(feature = "mssql")]
    list.push(ConnectorInfo {
        connector_type: "mssql",
        roles: vec![
            ("source", fields_of::<MssqlConfig>()),
            ("destination", fields_of::<MssqlConfig>()),
        ],
    });
    #[cfg(feature = "oracle")]
    list.push(ConnectorInfo {
        connector_type: "oracle",
        roles: vec![
            ("source", fields_of::<OracleConfig>()),
            ("destination", fields_of::<OracleConfig>()),
        ],
    });
    list
}

#[cfg(test)]
mod tests {
    /// Built without a connector's feature, a spec naming it is invalid (exit 2) and says
    /// which feature to enable. (Runs in `cargo test --no-default-features`.)
    #[cfg(any(not(feature = "mssql"), not(feature = "oracle")))]
    #[test]
    fn a_connector_left_out_of_the_build_names_its_feature() {
        let spec = |t: &str| {
            format!(
                "version: 1\nname: x\nsource:\n  connector_type: {t}\n  config:\n    host: h\n    dsn: d\ndestination:\n  connector_type: local_file\n  config:\n    base_path: out\n    format: csv\n"
            )
        };
        let mut off = Vec::new();
        if cfg!(not(feature = "mssql")) {
            off.push("mssql");
        }
        if cfg!(not(feature = "oracle")) {
            off.push("oracle");
        }
        for t in off {
            let e = crate::spec::parse(&spec(t), "t.yaml").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("cargo feature `{t}`")) && msg.contains("not built into"),
                "{msg}"
            );
            let as_dest = format!(
                "version: 1\nname: x\nsource:\n  connector_type: sqlite\n  config:\n    database_path: x.db\ndestination:\n  connector_type: {t}\n  config:\n    host: h\n"
            );
            let e = crate::spec::parse(&as_dest, "t.yaml").unwrap_err();
            assert!(
                e.to_string().contains(&format!("cargo feature `{t}`")),
                "{e}"
            );
        }
    }

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
