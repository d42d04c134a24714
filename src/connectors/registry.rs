//! The registry: one line per connector in [`registry!`] below. A connector's config types
//! implement [`SourceConnector`] and/or [`DestinationConnector`] in the connector's own folder:
//! the per-stream keys it takes, its own validation, and how it is built. Everything else here
//! (the spec enums, dispatch, `etl connectors`, refusing keys a connector does not take, naming
//! the cargo feature of a connector left out of the build) is generated from the list.
//!
//! The enums are adjacently tagged (`connector_type` + `config`), so serde reports unknown
//! types and unknown config keys with their line, column and the valid choices.

use super::{Destination, Source};
use crate::error::Result;
use crate::spec::introspect::fields_of;
use crate::spec::{Defaults, StreamSpec};
use serde::Deserialize;

/// A per-stream key that only some connectors take. The others refuse a stream that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKey {
    /// `cast:` — read columns through a SQL cast.
    Cast,
    /// `partition:` — read one table over several connections.
    Partition,
    /// `zero_dates:` — what MySQL's zero dates become.
    ZeroDates,
    /// `partition_by:` — Hive-style folders.
    PartitionBy,
}

impl StreamKey {
    pub const ALL: [StreamKey; 4] = [
        StreamKey::Cast,
        StreamKey::Partition,
        StreamKey::ZeroDates,
        StreamKey::PartitionBy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StreamKey::Cast => "cast",
            StreamKey::Partition => "partition",
            StreamKey::ZeroDates => "zero_dates",
            StreamKey::PartitionBy => "partition_by",
        }
    }

    /// The role whose connectors take or refuse this key.
    pub fn role(self) -> &'static str {
        match self {
            StreamKey::Cast | StreamKey::Partition | StreamKey::ZeroDates => "source",
            StreamKey::PartitionBy => "destination",
        }
    }

    /// Whether `s` sets this key.
    pub fn is_set(self, s: &StreamSpec) -> bool {
        match self {
            StreamKey::Cast => !s.cast.is_empty(),
            StreamKey::Partition => s.partition.is_some(),
            StreamKey::ZeroDates => s.zero_dates.is_some(),
            StreamKey::PartitionBy => !s.partition_by.is_empty(),
        }
    }
}

/// A connector's source `config:` type.
pub trait SourceConnector {
    /// The per-stream keys (beyond the common ones) this source takes.
    const STREAM_KEYS: &'static [StreamKey] = &[];
    /// Spec-time checks of the streams against this source (no connection is made).
    fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String>;
    fn build(&self, defaults: &Defaults) -> Result<Box<dyn Source>>;
}

/// A connector's destination `config:` type.
pub trait DestinationConnector {
    /// The per-stream keys (beyond the common ones) this destination takes.
    const STREAM_KEYS: &'static [StreamKey] = &[];
    /// Spec-time checks of the config and streams (no connection is made).
    fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        let _ = streams;
        Ok(())
    }
    fn build(&self) -> Result<Box<dyn Destination>>;
}

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

/// Why a spec naming a connector left out of this build is invalid.
fn not_built(connector_type: &str, feature: &str) -> String {
    format!(
        "connector_type `{connector_type}` is not built into this etl binary: rebuild it with the cargo feature `{feature}` (e.g. `cargo build --release --features {feature}`; it is on by default)"
    )
}

// Never called: the generated dispatch refuses a connector that is not built first.
impl SourceConnector for NotBuilt {
    fn validate(&self, _: &[StreamSpec]) -> std::result::Result<(), String> {
        Err("connector not built".into())
    }
    fn build(&self, _: &Defaults) -> Result<Box<dyn Source>> {
        Err(crate::error::Error::spec("connector not built"))
    }
}

impl DestinationConnector for NotBuilt {
    fn validate(&self, _: &[StreamSpec]) -> std::result::Result<(), String> {
        Err("connector not built".into())
    }
    fn build(&self) -> Result<Box<dyn Destination>> {
        Err(crate::error::Error::spec("connector not built"))
    }
}

/// One registered connector, as `etl connectors` lists it.
#[derive(Debug, serde::Serialize)]
pub struct ConnectorInfo {
    pub connector_type: &'static str,
    /// `(role, accepted config keys)`.
    pub roles: Vec<(&'static str, &'static [&'static str])>,
    /// Per-stream keys only this connector (and others listing them) takes, per role.
    #[serde(skip)]
    pub stream_keys: Vec<(&'static str, &'static [StreamKey])>,
}

/// Refuses a stream that sets a key this connector does not take, naming the connectors that
/// do.
fn refuse_foreign_keys(
    role: &'static str,
    connector_type: &str,
    own: &[StreamKey],
    streams: &[StreamSpec],
) -> std::result::Result<(), String> {
    for s in streams {
        for key in StreamKey::ALL.into_iter().filter(|k| k.role() == role) {
            if key.is_set(s) && !own.contains(&key) {
                let takers: Vec<&str> = connectors()
                    .into_iter()
                    .filter(|c| {
                        c.stream_keys
                            .iter()
                            .any(|(r, keys)| *r == role && keys.contains(&key))
                    })
                    .map(|c| c.connector_type)
                    .collect();
                return Err(format!(
                    "stream `{}`: `{}` is not taken by the {connector_type} {role}; it applies to the {} {role}{}",
                    s.name,
                    key.name(),
                    takers.join(", "),
                    if takers.len() > 1 { "s" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

/// Writes the spec enums, their dispatch and the connector list from one line per connector:
/// `"type" => Variant(SourceConfigType, DestinationConfigType) [if "cargo feature"],`.
macro_rules! registry {
    (@built) => { true };
    (@built $feature:literal) => { cfg!(feature = $feature) };
    (@feature $name:literal) => { $name };
    (@feature $name:literal $feature:literal) => { $feature };
    ($( $name:literal => $variant:ident($src:ty, $dst:ty) $(if $feature:literal)?, )*) => {
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "connector_type", content = "config", deny_unknown_fields)]
        pub enum SourceConfig {
            $(
                $(#[cfg(feature = $feature)])?
                #[serde(rename = $name)]
                $variant($src),
                $(
                    #[cfg(not(feature = $feature))]
                    #[serde(rename = $name)]
                    $variant(NotBuilt),
                )?
            )*
        }

        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "connector_type", content = "config", deny_unknown_fields)]
        pub enum DestinationConfig {
            $(
                $(#[cfg(feature = $feature)])?
                #[serde(rename = $name)]
                $variant($dst),
                $(
                    #[cfg(not(feature = $feature))]
                    #[serde(rename = $name)]
                    $variant(NotBuilt),
                )?
            )*
        }

        impl SourceConfig {
            pub fn connector_type(&self) -> &'static str {
                match self { $( SourceConfig::$variant(_) => $name, )* }
            }

            fn built(&self) -> bool {
                match self { $( SourceConfig::$variant(_) => registry!(@built $($feature)?), )* }
            }

            /// The cargo feature that builds this connector.
            fn feature(&self) -> &'static str {
                match self { $( SourceConfig::$variant(_) => registry!(@feature $name $($feature)?), )* }
            }

            fn own_validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
                match self { $( SourceConfig::$variant(c) => SourceConnector::validate(c, streams), )* }
            }

            fn stream_keys(&self) -> &'static [StreamKey] {
                match self { $( SourceConfig::$variant(c) => stream_keys_of_source(c), )* }
            }

            fn own_build(&self, defaults: &Defaults) -> Result<Box<dyn Source>> {
                match self { $( SourceConfig::$variant(c) => SourceConnector::build(c, defaults), )* }
            }
        }

        impl DestinationConfig {
            pub fn connector_type(&self) -> &'static str {
                match self { $( DestinationConfig::$variant(_) => $name, )* }
            }

            fn built(&self) -> bool {
                match self { $( DestinationConfig::$variant(_) => registry!(@built $($feature)?), )* }
            }

            /// The cargo feature that builds this connector.
            fn feature(&self) -> &'static str {
                match self { $( DestinationConfig::$variant(_) => registry!(@feature $name $($feature)?), )* }
            }

            fn own_validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
                match self { $( DestinationConfig::$variant(c) => DestinationConnector::validate(c, streams), )* }
            }

            fn stream_keys(&self) -> &'static [StreamKey] {
                match self { $( DestinationConfig::$variant(c) => stream_keys_of_destination(c), )* }
            }

            fn own_build(&self) -> Result<Box<dyn Destination>> {
                match self { $( DestinationConfig::$variant(c) => DestinationConnector::build(c), )* }
            }
        }

        /// Every connector this build knows, with the config keys each role accepts.
        // One push per connector, each behind its feature: `vec![]` cannot hold `cfg`s.
        #[allow(clippy::vec_init_then_push)]
        pub fn connectors() -> Vec<ConnectorInfo> {
            #[allow(unused_mut)]
            let mut list = Vec::new();
            $(
                $(#[cfg(feature = $feature)])?
                list.push(ConnectorInfo {
                    connector_type: $name,
                    roles: vec![
                        ("source", fields_of::<$src>()),
                        ("destination", fields_of::<$dst>()),
                    ],
                    stream_keys: vec![
                        ("source", <$src as SourceConnector>::STREAM_KEYS),
                        ("destination", <$dst as DestinationConnector>::STREAM_KEYS),
                    ],
                });
            )*
            list
        }
    };
}

fn stream_keys_of_source<C: SourceConnector>(_: &C) -> &'static [StreamKey] {
    C::STREAM_KEYS
}

fn stream_keys_of_destination<C: DestinationConnector>(_: &C) -> &'static [StreamKey] {
    C::STREAM_KEYS
}

registry! {
    "postgresql" => Postgres(super::sql::postgres::PostgresConfig, super::sql::postgres::PostgresConfig),
    "sqlite" => Sqlite(super::sql::sqlite::SqliteConfig, super::sql::sqlite::SqliteConfig),
    "mysql" => Mysql(super::sql::mysql::MysqlConfig, super::sql::mysql::MysqlConfig),
    "mssql" => Mssql(super::sql::mssql::MssqlConfig, super::sql::mssql::MssqlConfig) if "mssql",
    "oracle" => Oracle(super::sql::oracle::OracleConfig, super::sql::oracle::OracleConfig) if "oracle",
    "local_file" => LocalFile(super::file::FileSourceConfig, super::file::FileDestinationConfig),
    "s3" => S3(super::file::S3SourceConfig, super::file::S3DestinationConfig) if "s3",
    "gcs" => Gcs(super::file::GcsSourceConfig, super::file::GcsDestinationConfig) if "gcs",
    "azure_blob" => Azure(super::file::AzureSourceConfig, super::file::AzureDestinationConfig) if "azure",
}

impl SourceConfig {
    /// Spec-time checks of the streams against this source (no connection is made).
    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        if !self.built() {
            return Err(not_built(self.connector_type(), self.feature()));
        }
        refuse_foreign_keys("source", self.connector_type(), self.stream_keys(), streams)?;
        self.own_validate(streams)
    }

    pub fn build(&self, defaults: &Defaults) -> Result<Box<dyn Source>> {
        if !self.built() {
            return Err(crate::error::Error::spec(not_built(
                self.connector_type(),
                self.feature(),
            )));
        }
        self.own_build(defaults)
    }
}

impl DestinationConfig {
    /// Spec-time checks of the config and the streams (no connection is made).
    pub fn validate(&self, streams: &[StreamSpec]) -> std::result::Result<(), String> {
        if !self.built() {
            return Err(not_built(self.connector_type(), self.feature()));
        }
        refuse_foreign_keys(
            "destination",
            self.connector_type(),
            self.stream_keys(),
            streams,
        )?;
        self.own_validate(streams)
    }

    pub fn build(&self) -> Result<Box<dyn Destination>> {
        if !self.built() {
            return Err(crate::error::Error::spec(not_built(
                self.connector_type(),
                self.feature(),
            )));
        }
        self.own_build()
    }
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

    /// A per-stream key is refused, naming the connectors that take it, by every connector
    /// that does not declare it.
    #[test]
    fn stream_keys_a_connector_does_not_take_are_refused() {
        let spec = |src: &str, stream_key: &str| {
            format!(
                "version: 1\nname: x\nsource:\n  connector_type: {src}\n  config:\n    database_path: x.db\ndestination:\n  connector_type: local_file\n  config:\n    base_path: out\n    format: csv\nstreams:\n  - name: t\n    {stream_key}\n"
            )
        };
        let e = crate::spec::parse(&spec("sqlite", "cast: {a: text}"), "t.yaml").unwrap_err();
        assert!(
            e.to_string().contains(
                "`cast` is not taken by the sqlite source; it applies to the postgresql source"
            ),
            "{e}"
        );
        let e = crate::spec::parse(&spec("sqlite", "zero_dates: null"), "t.yaml").unwrap_err();
        assert!(
            e.to_string().contains(
                "`zero_dates` is not taken by the sqlite source; it applies to the mysql source"
            ),
            "{e}"
        );
        let e = crate::spec::parse(
            &spec("sqlite", "partition: {column: id, count: 2}"),
            "t.yaml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("it applies to the postgresql, mysql sources"),
            "{e}"
        );
        let to_sql = "version: 1\nname: x\nsource:\n  connector_type: sqlite\n  config:\n    database_path: x.db\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: y.db\nstreams:\n  - name: t\n    partition_by: [a]\n";
        let e = crate::spec::parse(to_sql, "t.yaml").unwrap_err();
        assert!(
            e.to_string()
                .contains("`partition_by` is not taken by the sqlite destination; it applies to the local_file"),
            "{e}"
        );
    }
}
