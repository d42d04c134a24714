//! The spec file: model, loading with `file:line:column` errors, env expansion and validation.

pub mod casing;
pub mod datatype;
pub mod env;
pub mod introspect;
pub mod modes;
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
    /// SQL destinations: statements run once per run, before the first stream and after the
    /// last.
    #[serde(default)]
    pub hooks: Option<RunHooks>,
    /// Each `streams:` entry as written (before env expansion): pattern streams are built by
    /// merging an entry with the pattern's, key by key (see [`select`]).
    #[serde(skip)]
    pub stream_values: Vec<serde_yaml_ng::Value>,
}

/// `hooks:` of a run (SQL destinations), each list run in one transaction of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunHooks {
    /// Before the first stream starts (after the preflight checks); a failure fails the run
    /// before anything is read.
    #[serde(default, deserialize_with = "env::list")]
    pub pre_sql: Vec<String>,
    /// After every stream succeeded; a failure fails the run (the streams stay committed).
    #[serde(default, deserialize_with = "env::list")]
    pub post_sql: Vec<String>,
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
        /// Replace the rows, keep the table (its indexes, grants, defaults, views).
        Truncate = "truncate",
        /// Append the whole result every run, with `_etl_loaded_at` (the run's start, UTC).
        Snapshot = "snapshot",
        /// An incremental read of a given cursor `range`, merged; the saved state is left alone.
        Backfill = "backfill",
        /// Create the destination table (or a typed empty file); load nothing.
        DefinitionOnly = "definition_only",
    }
}

crate::keyword_enum! {
    /// How an incremental (or backfill) write with a `primary_key` merges its rows into the
    /// destination table.
    #[derive(Default)]
    pub enum MergeStrategy: "merge_strategy" {
        /// Update the rows whose key exists, insert the others (an upsert).
        #[default]
        UpdateInsert = "update_insert",
        /// Delete the rows whose key is in the batch, then insert every staged row.
        DeleteInsert = "delete_insert",
        /// Insert rows with new keys; existing keys are left untouched.
        InsertOnly = "insert_only",
        /// Update rows whose key exists; new keys are skipped.
        UpdateOnly = "update_only",
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
    /// Incremental and backfill writes with a `primary_key` into SQL tables: how rows merge.
    #[serde(default, deserialize_with = "env::opt")]
    pub merge_strategy: Option<MergeStrategy>,
    /// Backfill: the cursor range `[start, end]` to read (both ends included).
    #[serde(default, deserialize_with = "env::list")]
    pub range: Vec<String>,
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
    /// Incremental streams with a `primary_key` into SQL destinations: what happens to rows
    /// whose key is gone from the source (`soft`: marked in `_etl_deleted_at`; `hard`: deleted).
    #[serde(default, deserialize_with = "env::opt")]
    pub delete_missing: Option<DeleteMissing>,
    /// SQL destinations: statements run in the stream's transaction before the load.
    #[serde(default, deserialize_with = "env::list")]
    pub pre_sql: Vec<String>,
    /// SQL destinations: statements run in the stream's transaction after the publish, before
    /// the commit.
    #[serde(default, deserialize_with = "env::list")]
    pub post_sql: Vec<String>,
    /// SQL sources: statements run on the reading connection before the stream is read.
    #[serde(default, deserialize_with = "env::list")]
    pub source_pre_sql: Vec<String>,
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

crate::keyword_enum! {
    /// What an incremental stream does with destination rows whose key the source no longer has.
    pub enum DeleteMissing: "delete_missing" {
        /// Set `_etl_deleted_at` (the run's start, UTC); a key that comes back gets it cleared.
        Soft = "soft",
        /// Delete the rows.
        Hard = "hard",
    }
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
    modes::validate(&spec).map_err(|e| e.located(text, origin))?;
    validate(&spec).map_err(|msg| located_check(text, origin, &msg))?;
    validate_sql_keys(&spec).map_err(|(i, key, msg)| {
        let Some(stream) = spec.streams.get(i) else {
            // A top-level key.
            return Error::spec(match modes::locate(text, &[key]) {
                Some((line, col)) => format!("{origin}:{line}:{col}: {key}: {msg}"),
                None => format!("{origin}: {key}: {msg}"),
            });
        };
        let at = match modes::locate(text, &["streams", &i.to_string(), key]) {
            Some((line, col)) => format!("{origin}:{line}:{col}"),
            None => origin.to_string(),
        };
        Error::spec(format!(
            "{at}: streams[{i}].{key} (`{}`): {msg}",
            stream.name
        ))
    })?;
    spec.stream_values = select::entries_as_written(text).map_err(|e| located(origin, &e))?;
    Ok(spec)
}

/// Checks across keys whose message names the key get its `:line:column` (of the value).
const LOCATED_KEYS: [&str; 2] = [
    "destination.config.path_template",
    "destination.config.max_bytes_per_file",
];

/// `origin:line:col: msg` for a check across keys whose message starts with the key it is
/// about (one of [`LOCATED_KEYS`], or `streams[i].key`).
fn located_check(text: &str, origin: &str, msg: &str) -> Error {
    let Some(key) = LOCATED_KEYS.iter().find(|k| msg.starts_with(*k)) else {
        return modes::located_message(text, origin, msg);
    };
    let path: Vec<&str> = key.split('.').collect();
    match modes::locate(text, &path) {
        Some((line, col)) => Error::spec(format!("{origin}:{line}:{col}: {msg}")),
        None => Error::spec(format!("{origin}: {msg}")),
    }
}

/// The SQL connectors whose `delete_missing` path (keys read, engine publish) and stream
/// `post_sql` are tested, as source and as destination (the others refuse them rather than run
/// them untested).
const DELETE_MISSING_DESTINATIONS: &[&str] = &["postgresql", "sqlite", "mysql"];

/// Checks of `delete_missing` and the SQL hooks against the stream and its connectors:
/// `(stream index, key, message)`, located by [`parse`].
fn validate_sql_keys(spec: &Spec) -> std::result::Result<(), (usize, &'static str, String)> {
    let (src, dst) = (
        spec.source.connector_type(),
        spec.destination.connector_type(),
    );
    if spec.hooks.is_some() && !modes::is_sql(dst) {
        return Err((
            usize::MAX,
            "hooks",
            format!("runs SQL on the destination, and the {dst} destination is not a SQL database"),
        ));
    }
    for (i, s) in spec.streams.iter().enumerate() {
        if let Some(how) = s.delete_missing {
            let refuse = |msg: String| Err((i, "delete_missing", msg));
            if s.mode != Mode::Incremental {
                return refuse("applies to `mode: incremental` streams only (a full refresh already drops what the source no longer has)".into());
            }
            if s.primary_key.is_empty() {
                return refuse(
                    "needs a `primary_key`: rows are matched to the source by their key".into(),
                );
            }
            if !DELETE_MISSING_DESTINATIONS.contains(&src) {
                return refuse(format!(
                    "needs a postgresql, sqlite or mysql source, which can list its keys; the {src} source cannot (yet)"
                ));
            }
            let casing = s.column_casing.unwrap_or(spec.defaults.column_casing);
            if casing != casing::ColumnCasing::Keep {
                return refuse(format!("cannot be combined with `column_casing: {casing}` yet (the source's keys are compared as the source names them)"));
            }
            if s.transform.is_some() {
                return refuse("cannot be combined with `transform:` (the source's keys are compared as the source names them, and a filter would delete the rows it drops)".into());
            }
            if !DELETE_MISSING_DESTINATIONS.contains(&dst) {
                return refuse(if modes::is_sql(dst) {
                    format!("is not supported for the {dst} destination yet (postgresql, sqlite and mysql destinations take it)")
                } else {
                    format!("`{}` is not supported for file destinations ({dst}): tombstone files are not built yet; load the stream into a SQL destination (postgresql, sqlite, mysql) to carry deletes", how.as_str())
                });
            }
        }
        for (key, list) in [("pre_sql", &s.pre_sql), ("post_sql", &s.post_sql)] {
            if !list.is_empty() && !modes::is_sql(dst) {
                return Err((i, key, format!("runs SQL on the destination, and the {dst} destination is not a SQL database")));
            }
        }
        if !s.post_sql.is_empty() && !DELETE_MISSING_DESTINATIONS.contains(&dst) {
            // Its transaction around an incremental merge is built for MySQL's, untested on
            // SQL Server's and Oracle's.
            return Err((i, "post_sql", format!("is not supported for the {dst} destination yet (postgresql, sqlite and mysql destinations take it)")));
        }
        if !s.source_pre_sql.is_empty() && !modes::is_sql(src) {
            return Err((
                i,
                "source_pre_sql",
                format!("runs SQL on the source, and the {src} source is not a SQL database"),
            ));
        }
    }
    Ok(())
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
    fn delete_missing_and_hooks_are_refused_where_they_cannot_work_with_their_position() {
        let sqlite_dst = GOOD.replace(
            "  connector_type: local_file\n  config:\n    base_path: out\n    format: parquet",
            "  connector_type: sqlite\n  config:\n    database_path: out.db",
        );
        let stream = |dst: &str, extra: &str| {
            parse(
                &dst.replace("    table: orders", &format!("    table: orders{extra}")),
                "t.yaml",
            )
        };
        let ok = "\n    mode: incremental\n    cursor_field: at\n    primary_key: [id]\n    delete_missing: soft";
        let spec = stream(&sqlite_dst, ok).unwrap();
        assert_eq!(spec.streams[0].delete_missing, Some(DeleteMissing::Soft));
        let e = stream(&sqlite_dst, "\n    delete_missing: hard")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "t.yaml:15:21: streams[0].delete_missing (`orders`): applies to `mode: incremental`"
            ),
            "{e}"
        );
        let e = stream(&sqlite_dst, &ok.replace("    primary_key: [id]\n", ""))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.yaml:17:") && e.contains("needs a `primary_key`"),
            "{e}"
        );
        let e = stream(GOOD, ok).unwrap_err().to_string();
        assert!(
            e.starts_with("t.yaml:19:") && e.contains("file destinations"),
            "{e}"
        );
        let e = stream(GOOD, "\n    post_sql: [\"ANALYZE t\"]")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.yaml:16:") && e.contains(" streams[0].post_sql"),
            "{e}"
        );
        let e = parse(
            &format!("{GOOD}hooks:\n  pre_sql: [\"SELECT 1\"]\n"),
            "t.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("t.yaml:17:") && e.contains(" hooks: runs SQL"),
            "{e}"
        );
        let hooks = parse(
            &format!("{sqlite_dst}hooks:\n  post_sql: [\"SELECT 1\"]\n"),
            "t.yaml",
        )
        .unwrap();
        assert_eq!(hooks.hooks.unwrap().post_sql, vec!["SELECT 1".to_string()]);
        let hooks = stream(&sqlite_dst, "\n    pre_sql: [\"DELETE FROM x\"]\n    source_pre_sql: [\"PRAGMA cache_size = 1000\"]").unwrap();
        assert_eq!(hooks.streams[0].pre_sql, vec!["DELETE FROM x".to_string()]);
        assert_eq!(
            modes::locate(
                "streams:\n- name: a\n- name: b\n  pre_sql: []\n",
                &["streams", "1", "pre_sql"]
            ),
            Some((4, 12))
        );
        assert_eq!(
            modes::locate("streams:\n  - pre_sql: []\n", &["streams", "0", "pre_sql"]),
            Some((2, 14))
        );
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
