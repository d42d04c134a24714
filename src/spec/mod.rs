//! The spec file: model, loading with `file:line:column` errors, env expansion and validation.

pub mod casing;
pub mod datatype;
pub mod env;
pub mod introspect;
pub mod select;
pub mod suggest;

use crate::connectors::registry::{DestinationConfig, SourceConfig};
use crate::error::{Error, Result};
use crate::formats::Format;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

/// The most parts (and connections) one `partition:` may use.
pub const MAX_PARTITIONS: usize = 64;

/// Rows per Arrow batch when the spec does not say.
pub const DEFAULT_BATCH_SIZE: usize = 65_536;

/// A parsed and validated spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(deserialize_with = "env::value")]
    pub version: u32,
    #[serde(deserialize_with = "env::value")]
    pub name: String,
    pub source: SourceConfig,
    pub destination: DestinationConfig,
    #[serde(default)]
    pub state: Option<StateSpec>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
    /// Each `streams:` entry as written (before env expansion): pattern streams are built by
    /// merging an entry with the pattern's, key by key (see [`select`]).
    #[serde(skip)]
    pub stream_values: Vec<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    #[serde(deserialize_with = "env::value")]
    pub path: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Rows per Arrow batch.
    #[serde(default = "default_batch_size", deserialize_with = "env::value")]
    pub batch_size: usize,
    /// Streams run at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "env::value")]
    pub max_concurrency: usize,
    /// Stop starting new streams after the first failure.
    #[serde(default, deserialize_with = "env::value")]
    pub fail_fast: bool,
    /// Reruns of a stream after a transient failure (connection reset, deadlock, ...).
    #[serde(default = "default_retries", deserialize_with = "env::value")]
    pub retries: u32,
    /// First wait before a retry, doubled each time (with jitter), in milliseconds.
    #[serde(default = "default_retry_backoff_ms", deserialize_with = "env::value")]
    pub retry_backoff_ms: u64,
    /// Longest time one stream may take, retries included (`30m`, `2h`, `45s`, `1d`).
    #[serde(default, deserialize_with = "env::opt")]
    pub timeout: Option<Timeout>,
    /// What a change of the source's columns may do to an existing destination table
    /// (streams without their own `schema_changes`).
    #[serde(default, deserialize_with = "env::value")]
    pub schema_changes: SchemaChanges,
    /// Column names as the destination gets them (streams without their own).
    #[serde(default, deserialize_with = "env::value")]
    pub column_casing: casing::ColumnCasing,
}

pub use crate::contract::{Lookback, Timeout};

impl env::Kind for Timeout {
    const KIND: &'static str = "a duration such as 45s, 30m, 2h or 1d";
}

impl env::Kind for Lookback {
    const KIND: &'static str = "a duration such as 2h, 30m, 1d, or a number";
}

fn default_retries() -> u32 {
    2
}

fn default_retry_backoff_ms() -> u64 {
    1000
}

/// Two streams at a time: this suits the 2-core machines etl is measured on.
pub const DEFAULT_CONCURRENCY: usize = 2;

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            batch_size: DEFAULT_BATCH_SIZE,
            max_concurrency: DEFAULT_CONCURRENCY,
            fail_fast: false,
            retries: default_retries(),
            retry_backoff_ms: default_retry_backoff_ms(),
            timeout: None,
            schema_changes: SchemaChanges::default(),
            column_casing: casing::ColumnCasing::default(),
        }
    }
}

crate::keyword_enum! {
    /// How a stream is written: replaced whole, or only rows past the saved cursor.
    #[derive(Default)]
    pub enum Mode: "mode" {
        #[default]
        FullRefresh = "full_refresh",
        Incremental = "incremental",
    }
}

crate::keyword_enum! {
    /// What an incremental write may do when the source's columns differ from the existing
    /// destination table's (see the README's "Schema changes").
    #[derive(Default)]
    pub enum SchemaChanges: "schema_changes" {
        /// Add new columns, keep dropped ones (filled with NULL), widen types safely; refuse
        /// anything else before writing.
        #[default]
        Evolve = "evolve",
        /// Refuse any difference before writing.
        Freeze = "freeze",
        /// Leave new source columns out (one warning naming them); otherwise as `evolve`.
        DiscardNewColumns = "discard_new_columns",
    }
}

/// One entry of `streams:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Destination table / file stem. Pattern entries (`table: sales.*`): optional, a template
    /// holding `{table}` (see [`select`]).
    #[serde(default, deserialize_with = "env::value")]
    pub name: String,
    /// SQL sources: the table to read (defaults to `name`).
    #[serde(default, deserialize_with = "env::opt")]
    pub table: Option<String>,
    /// SQL sources: a query to read instead of a table.
    #[serde(default, deserialize_with = "env::opt")]
    pub query: Option<String>,
    #[serde(default, deserialize_with = "env::value")]
    pub mode: Mode,
    #[serde(default, deserialize_with = "env::opt")]
    pub cursor_field: Option<String>,
    #[serde(default, deserialize_with = "env::list")]
    pub primary_key: Vec<String>,
    /// Incremental: start this far before the saved cursor (`2h`, `1d`, or a number).
    #[serde(default, deserialize_with = "env::opt")]
    pub lookback: Option<Lookback>,
    /// Incremental writes into an existing table: what a change of the source's columns may
    /// do (defaults to `defaults.schema_changes`).
    #[serde(default, deserialize_with = "env::opt")]
    pub schema_changes: Option<SchemaChanges>,
    /// File sources: the file or folder this stream reads (defaults to the source's).
    #[serde(default, deserialize_with = "env::opt")]
    pub file_path: Option<String>,
    /// File sources: which files of `file_path` to read (defaults to the source's).
    #[serde(default, deserialize_with = "env::opt")]
    pub glob_pattern: Option<String>,
    /// File sources: the format of this stream's files (defaults to the source's).
    #[serde(default, deserialize_with = "env::opt")]
    pub format: Option<Format>,
    /// SQL sources: columns read through a cast, `{column: sql_type}` (e.g. `{price: text}`),
    /// for types the connector cannot map exactly.
    #[serde(default)]
    pub cast: std::collections::BTreeMap<String, String>,
    /// MySQL sources: what a zero or invalid date (`'0000-00-00'`) becomes (default `fail`).
    /// `zero_dates: null` is YAML's null, read here as "make them NULL".
    #[serde(default, deserialize_with = "zero_dates_opt")]
    pub zero_dates: Option<ZeroDates>,
    /// SQL sources: read one table over several connections at once.
    #[serde(default)]
    pub partition: Option<PartitionSpec>,
    /// CSV/JSON/JSONL sources: column types that replace the inferred ones, `{column: type}`.
    #[serde(default)]
    pub schema: std::collections::BTreeMap<String, SpecType>,
    /// File destinations: write Hive-style `column=value/` folders for these columns.
    #[serde(default, deserialize_with = "env::list")]
    pub partition_by: Vec<String>,
    /// Row-wise SQL transforms between the source and the destination (feature `transform`).
    #[serde(default)]
    pub transform: Option<crate::transform::TransformSpec>,
    /// Pattern entries: tables (or folders) the pattern matches but that are not run.
    #[serde(default, deserialize_with = "env::list")]
    pub exclude: Vec<String>,
    /// Column names as the destination gets them: keep (default), lower, upper, snake
    /// (defaults to `defaults.column_casing`).
    #[serde(default, deserialize_with = "env::opt")]
    pub column_casing: Option<casing::ColumnCasing>,
    /// Leave this stream (every stream of a pattern entry) out of runs.
    #[serde(default, deserialize_with = "env::value")]
    pub disabled: bool,
}

/// A column type of a file stream's `schema:`: an Arrow type (see [`datatype::parse`]), or
/// `json`: text holding JSON documents (Utf8 tagged with Arrow's `arrow.json` extension
/// type), read from JSON/JSON Lines as each value's JSON text and written back as JSON values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecType {
    pub data_type: arrow::datatypes::DataType,
    pub json: bool,
}

impl SpecType {
    /// `field` with this type (and, for `json`, the extension type's metadata).
    pub fn apply(&self, field: &arrow::datatypes::Field) -> arrow::datatypes::Field {
        let field = field.clone().with_data_type(self.data_type.clone());
        if !self.json {
            return field;
        }
        let mut meta = field.metadata().clone();
        meta.insert(
            crate::formats::json::EXTENSION_KEY.to_string(),
            crate::formats::json::JSON_EXTENSION.to_string(),
        );
        field.with_metadata(meta)
    }
}

impl FromStr for SpecType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("json") {
            return Ok(SpecType {
                data_type: arrow::datatypes::DataType::Utf8,
                json: true,
            });
        }
        datatype::parse(s)
            .map(|data_type| SpecType {
                data_type,
                json: false,
            })
            .map_err(|e| format!("{e}; or `json` for JSON documents"))
    }
}

impl env::Kind for SpecType {
    const KIND: &'static str =
        "a type such as int64, string, decimal(12,2), date, timestamp[us, UTC] or json";
}

impl<'de> Deserialize<'de> for SpecType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        env::value(d)
    }
}

/// `partition:` of a stream: split a table read into `count` parallel parts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// An integer column whose range is split; without it, the table's pages are.
    #[serde(default, deserialize_with = "env::opt")]
    pub column: Option<String>,
    /// Number of parts (and connections).
    #[serde(deserialize_with = "env::value")]
    pub count: usize,
}

crate::keyword_enum! {
    /// What a source does with a date it cannot represent (MySQL's `'0000-00-00'`): fail the
    /// run naming the column and row (the default), or read the date as NULL.
    #[derive(Default)]
    pub enum ZeroDates: "zero_dates" {
        #[default]
        Fail = "fail",
        Null = "null",
    }
}

/// An explicit `zero_dates: null` (YAML null) means [`ZeroDates::Null`]; absent means the
/// default.
fn zero_dates_opt<'de, D>(d: D) -> Result<Option<ZeroDates>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Some(
        env::opt::<D, ZeroDates>(d)?.unwrap_or(ZeroDates::Null),
    ))
}

impl StreamSpec {
    /// The `table:` of a pattern entry (`sales.*`, `order_?`), if this is one.
    pub fn pattern(&self) -> Option<&str> {
        self.table.as_deref().filter(|t| select::is_glob(t))
    }

    /// How errors name this entry: its name, or its pattern.
    pub fn label(&self) -> String {
        match self.pattern() {
            Some(p) if self.name.is_empty() => format!("table: {p}"),
            _ => self.name.clone(),
        }
    }

    /// A stream with only a name, as made for every table when `streams:` is absent.
    pub fn named(name: impl Into<String>) -> Self {
        StreamSpec {
            name: name.into(),
            ..Default::default()
        }
    }
}

/// Reads, parses and validates a spec file.
pub fn load(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::spec(format!("cannot read spec file {}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates spec text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<Spec> {
    let mut spec: Spec = serde_yaml_ng::from_str(text).map_err(|e| located(origin, &e))?;
    validate(&spec)
        .map_err(|msg| Error::spec(format!("{origin}{}: {msg}", key_location(text, &msg))))?;
    spec.stream_values = select::entries_as_written(text).map_err(|e| located(origin, &e))?;
    Ok(spec)
}

/// Checks across keys whose message names the key get its `:line:column` (of the value) when
/// the key is written once in the spec.
const LOCATED_KEYS: [&str; 2] = [
    "destination.config.path_template",
    "destination.config.max_bytes_per_file",
];

fn key_location(text: &str, msg: &str) -> String {
    let Some(key) = LOCATED_KEYS.iter().find(|k| msg.starts_with(*k)) else {
        return String::new();
    };
    let last = key.rsplit('.').next().unwrap_or(key);
    let found: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let body = line.trim_start();
            let after = body.strip_prefix(last)?.strip_prefix(':')?;
            let col = line.len() - after.trim_start().len() + 1;
            Some((i + 1, col))
        })
        .collect();
    match found.as_slice() {
        [(line, col)] => format!(":{line}:{col}"),
        _ => String::new(),
    }
}

/// `file:line:column: message` from a YAML/serde error.
fn located(origin: &str, e: &serde_yaml_ng::Error) -> Error {
    let mut msg = suggest::annotate(&e.to_string());
    match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(i) = msg.find(&suffix) {
                msg.replace_range(i..i + suffix.len(), "");
            }
            Error::spec(format!("{origin}:{}:{}: {msg}", loc.line(), loc.column()))
        }
        None => Error::spec(format!("{origin}: {msg}")),
    }
}

/// Checks that need more than one key at a time.
fn validate(spec: &Spec) -> std::result::Result<(), String> {
    if spec.version != 1 {
        return Err(format!(
            "version: this etl reads spec version 1, the file says {}",
            spec.version
        ));
    }
    if spec.name.trim().is_empty() {
        return Err("name: must not be empty".into());
    }
    check_file_name("name", &spec.name)?;
    if spec.defaults.batch_size == 0 {
        return Err("defaults.batch_size: must be at least 1".into());
    }
    if spec.defaults.max_concurrency == 0 {
        return Err("defaults.max_concurrency: must be at least 1".into());
    }
    let mut seen = HashSet::new();
    for (i, s) in spec.streams.iter().enumerate() {
        if let Some(pattern) = s.pattern() {
            select::validate_entry(i, s, pattern)?;
        } else {
            let at = format!("streams[{i}] (`{}`)", s.name);
            select::validate_named(i, s)?;
            check_file_name(&format!("streams[{i}].name"), &s.name)?;
            if !seen.insert(s.name.as_str()) {
                return Err(format!("{at}: the stream name is used twice"));
            }
        }
        let at = format!("streams[{i}] (`{}`)", s.label());
        if s.table.is_some() && s.query.is_some() {
            return Err(format!("{at}: give either `table` or `query`, not both"));
        }
        if let Some(p) = &s.partition {
            if !(1..=MAX_PARTITIONS).contains(&p.count) {
                return Err(format!(
                    "{at}: partition.count must be from 1 to {MAX_PARTITIONS} (one connection each)"
                ));
            }
            if s.query.is_some() {
                return Err(format!(
                    "{at}: `partition` splits a `table`; it cannot be used with `query`"
                ));
            }
        }
        for (col, ty) in &s.cast {
            let ok = !ty.trim().is_empty()
                && ty
                    .chars()
                    .all(|c| c.is_alphanumeric() || " _(),.[]\"".contains(c));
            if !ok {
                return Err(format!(
                    "{at}: cast of `{col}`: `{ty}` is not a type name (letters, digits, spaces, `_(),.[]\"`)"
                ));
            }
        }
        if let Some(t) = &s.transform {
            crate::transform::validate(t).map_err(|m| format!("{at}: transform: {m}"))?;
        }
    }
    // Connectors name streams in their messages: a pattern entry by its pattern.
    let labelled: Vec<StreamSpec> = spec
        .streams
        .iter()
        .map(|s| StreamSpec {
            name: s.label(),
            ..s.clone()
        })
        .collect();
    spec.source
        .validate(&labelled)
        .and_then(|_| spec.destination.validate(&labelled))
}

/// Validates the streams a spec's patterns expanded to (names, keys, what the source and the
/// destination take), as [`parse`] validates the listed ones.
pub fn validate_expanded(spec: &Spec, streams: &[StreamSpec]) -> Result<()> {
    let expanded = Spec {
        streams: streams.to_vec(),
        ..spec.clone()
    };
    validate(&expanded).map_err(|msg| {
        Error::spec(format!(
            "after expanding the `table:` patterns (a `streams[N]` here counts the expanded streams): {msg}"
        ))
    })
}

/// Stream and pipeline names become file and table names: keep them to one path segment.
pub(crate) fn check_file_name(key: &str, name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "{key}: `{name}` cannot be used as a file or table name (no `/`, `\\`, control characters or leading `.`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const GOOD: &str = r#"
version: 1
name: demo
source:
  connector_type: sqlite
  config:
    database_path: ${ETL_UNIT_DB:-fixtures/shop.db}
destination:
  connector_type: local_file
  config:
    base_path: out
    format: parquet
streams:
  - name: orders
    table: orders
"#;

    #[test]
    fn parses_a_good_spec() {
        let spec = parse(GOOD, "t.yaml").unwrap();
        assert_eq!(spec.name, "demo");
        assert_eq!(spec.streams[0].table.as_deref(), Some("orders"));
        assert_eq!(spec.defaults.batch_size, DEFAULT_BATCH_SIZE);
    }

    fn err(text: &str) -> String {
        let e = parse(text, "t.yaml").unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    #[test]
    fn unknown_key_names_key_line_and_valid_keys() {
        let e = err(&GOOD.replace(
            "    format: parquet",
            "    format: parquet\n    colour: red",
        ));
        assert!(
            e.starts_with("t.yaml:13:5: destination.config: unknown field `colour`"),
            "{e}"
        );
        assert!(e.contains("base_path"), "{e}");
    }

    #[test]
    fn unknown_connector_type_lists_valid_ones() {
        let e = err(&GOOD.replace("connector_type: sqlite", "connector_type: sqlight"));
        assert!(
            e.starts_with("t.yaml:5:19: source.connector_type: unknown variant `sqlight`"),
            "{e}"
        );
        assert!(e.contains("sqlight") && e.contains("local_file"), "{e}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let e = err(&GOOD.replace(
            "    database_path: ${ETL_UNIT_DB:-fixtures/shop.db}\n",
            "    {}\n",
        ));
        assert!(e.contains("database_path"), "{e}");
    }

    #[test]
    fn missing_env_var_has_a_location() {
        let e = err(&GOOD.replace("base_path: out", "base_path: ${ETL_UNIT_SURELY_UNSET}"));
        assert!(e.starts_with("t.yaml:11:16:"), "{e}");
        assert!(e.contains("ETL_UNIT_SURELY_UNSET"), "{e}");
    }

    #[test]
    fn wrong_value_type_is_reported() {
        let e = err(&GOOD.replace("name: demo", "name: demo\ndefaults:\n  batch_size: lots"));
        assert!(e.contains("t.yaml:5:15") && e.contains("lots"), "{e}");
        let e = err(&GOOD.replace("    table: orders", "    table: [a, b]"));
        assert!(
            e.starts_with("t.yaml:15:12: streams[0].table: invalid type: sequence"),
            "{e}"
        );
    }

    #[test]
    fn zero_dates_reads_yaml_null_as_null() {
        let mysql = GOOD.replace(
            "  connector_type: sqlite\n  config:\n    database_path: ${ETL_UNIT_DB:-fixtures/shop.db}",
            "  connector_type: mysql\n  config:\n    host: h\n    database: d\n    user: u",
        );
        let with = |v: &str| {
            parse(
                &mysql.replace("    table: orders", &format!("    table: orders{v}")),
                "t.yaml",
            )
            .map(|s| s.streams[0].zero_dates)
        };
        assert_eq!(with("").unwrap(), None);
        assert_eq!(
            with("\n    zero_dates: null").unwrap(),
            Some(ZeroDates::Null)
        );
        assert_eq!(
            with("\n    zero_dates: \"null\"").unwrap(),
            Some(ZeroDates::Null)
        );
        assert_eq!(
            with("\n    zero_dates: fail").unwrap(),
            Some(ZeroDates::Fail)
        );
        assert!(with("\n    zero_dates: zero").is_err());
        let p = parse(
            &mysql.replace(
                "    table: orders",
                "    table: orders\n    partition: {column: id, count: 4}",
            ),
            "t.yaml",
        )
        .unwrap();
        let part = p.streams[0].partition.clone().unwrap();
        assert_eq!((part.column.as_deref(), part.count), (Some("id"), 4));
    }

    #[test]
    fn malformed_yaml_is_located() {
        let e = err("version: 1\nname: [unclosed\n");
        assert!(e.starts_with("t.yaml:"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_stream() {
        let e = err(&format!("{GOOD}  - name: orders\n"));
        assert!(e.contains("used twice"), "{e}");
        let e = err(&GOOD.replace(
            "    table: orders",
            "    table: orders\n    mode: incremental",
        ));
        assert!(e.contains("cursor_field"), "{e}");
        let e = err(&GOOD.replace("version: 1", "version: 2"));
        assert!(e.contains("version 1"), "{e}");
    }
}
