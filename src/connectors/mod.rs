//! Connectors: the two traits every source and destination implements, and the registry that
//! turns a spec's `connector_type` into one.
//!
//! A connector owns only its protocol. Modes, batching, progress and state belong to the runner.

pub mod file;
pub mod registry;
pub mod sql;

pub use crate::contract::BatchStream;
use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::spec::{Mode, StreamSpec};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// A stream a source can read, as `etl discover` shows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub name: String,
    pub schema: SchemaRef,
    /// Rows the stream holds, as the database estimates them (statistics, not a count), when
    /// the source has such a figure.
    pub rows_estimate: Option<u64>,
}

/// What the runner asks a source to read.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub stream: StreamSpec,
    /// Rows per Arrow batch.
    pub batch_size: usize,
    /// SQL sources, incremental: read only rows whose `cursor_field` is >= this value.
    pub cursor: Option<(String, CursorValue)>,
    /// File sources, incremental: files already read (path -> last modified), to skip.
    pub seen_files: Option<BTreeMap<String, String>>,
    /// SQL sources, `delete_missing`: read only these (key) columns of every row, ordered by
    /// them, ignoring the cursor, outside the run's snapshot.
    pub keys_only: Vec<String>,
    /// A unit of a plan (`etl run --plan --unit`): read only the rows of this key range.
    pub range: Option<KeyRange>,
}

/// A range of an integer column, one work unit of a split stream (`etl plan
/// --units-per-stream`): `from <= column < to`, either end open, and the rows whose column is
/// NULL when `nulls` (the first unit takes them). The units of a stream cover every value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRange {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    #[serde(default)]
    pub nulls: bool,
}

impl KeyRange {
    /// At most `n` ranges of `lo..=hi` of equal width that together cover every value: the
    /// first is open below and takes NULLs, the last is open above.
    pub fn split(column: &str, lo: i64, hi: i64, n: usize) -> Vec<KeyRange> {
        let (lo, hi, n) = (lo as i128, hi as i128, n.max(1) as i128);
        let step = ((hi - lo + 1) + n - 1) / n;
        let mut out = Vec::new();
        let mut start = lo;
        while start <= hi {
            let end = start + step;
            out.push(KeyRange {
                column: column.to_string(),
                from: (!out.is_empty()).then_some(start as i64),
                to: (end <= hi).then_some(end as i64),
                nulls: out.is_empty(),
            });
            start = end;
        }
        out
    }
}

impl ReadRequest {
    pub fn new(stream: StreamSpec, batch_size: usize) -> Self {
        ReadRequest {
            stream,
            batch_size,
            cursor: None,
            seen_files: None,
            keys_only: Vec::new(),
            range: None,
        }
    }
}

/// An open read: the stream's schema, known before the first batch, and its batches.
pub struct Reader {
    pub schema: SchemaRef,
    pub batches: BatchStream,
    /// File sources: the files this read covers (path -> last modified), for the state.
    pub files: Vec<(String, String)>,
    /// Bytes the read takes from the source, where the source knows it (file sizes).
    pub bytes: Option<u64>,
}

impl Reader {
    pub fn new(schema: SchemaRef, batches: BatchStream) -> Self {
        Reader {
            schema,
            batches,
            files: Vec::new(),
            bytes: None,
        }
    }
}

#[async_trait]
pub trait Source: Send + Sync {
    /// Connects (or opens) and fails with a clear message if the source cannot be used.
    async fn check(&self) -> Result<()>;
    /// Checks what reading each of `streams` needs without reading a row (SQL sources: the
    /// table exists in an existing schema, the query prepares, every column maps to Arrow):
    /// one result per stream, in order; `Err` when the source cannot be reached at all. The
    /// default checks nothing per stream.
    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        Ok(streams.iter().map(|_| Ok(())).collect())
    }
    /// Rewords a failed stream's error with what only this source knows (a file source names
    /// its bucket and what a refusal means). The runner calls it once per failed attempt.
    fn explain(&self, e: Error) -> Error {
        e
    }
    /// Every stream the source offers, with its Arrow schema.
    async fn discover(&self) -> Result<Vec<StreamInfo>>;
    /// The streams to run when the spec lists none (every table, or the file set).
    async fn default_streams(&self) -> Result<Vec<StreamSpec>>;
    /// What a `table:` pattern (`sales.order_*`) is matched against: the tables of `schema`
    /// (the source's own when `None`), each as a stream named after the table and reading it
    /// (see `spec::select`). The default offers [`Source::default_streams`] and refuses
    /// another schema.
    async fn pattern_candidates(&self, schema: Option<&str>) -> Result<Vec<StreamSpec>> {
        match schema {
            None => self.default_streams().await,
            Some(s) => Err(Error::spec(format!(
                "this source matches `table:` patterns against its own tables only; write the pattern without `{s}.`"
            ))),
        }
    }
    /// Starts reading one stream.
    async fn read(&self, request: ReadRequest) -> Result<Reader>;
    /// The smallest and largest value of the integer `column` of `stream` (`None`: no row has
    /// one), for splitting the stream into units that [`ReadRequest::range`] reads. Sources
    /// that cannot read a range refuse.
    async fn key_bounds(&self, stream: &StreamSpec, column: &str) -> Result<Option<(i64, i64)>> {
        let _ = column;
        Err(Error::spec(format!(
            "stream `{}`: this source cannot split a stream into key ranges (`etl plan --units-per-stream` splits PostgreSQL tables)",
            stream.name
        )))
    }
}

/// Where a stream's data goes, as `--dry-run` and the summary show it.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub stream: StreamSpec,
    pub mode: Mode,
    /// Unique per run; names staging tables and output files.
    pub run_id: String,
}

/// What a finished write did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WriteReport {
    pub rows: u64,
    /// Table name or published file paths.
    pub outputs: Vec<String>,
}

/// A destination's own record of one committed incremental run of a stream (file destinations
/// write one per run, last and atomically, beside the data): with it the destination's commit,
/// not the state file, is the source of truth for what a run published.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommitMarker {
    /// 1, 2, 3, ... per stream: the newest marker is the one with the largest number.
    pub seq: u64,
    pub run_id: String,
    pub stream: String,
    pub written_at: String,
    /// What the commit published (file paths).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The runner's state of the stream after this commit (cursor, boundary rows, files read):
    /// opaque to the destination.
    pub state: serde_json::Value,
}

#[async_trait]
pub trait Destination: Send + Sync {
    async fn check(&self) -> Result<()>;
    /// As [`Source::explain`], for the destination.
    fn explain(&self, e: Error) -> Error {
        e
    }
    /// Describes where `target` will be written (a table, a folder), without touching it.
    fn describe(&self, target: &WriteTarget) -> String;
    /// Fails before anything is read or written if `target` cannot be written (for example,
    /// a file destination without `overwrite: true` whose stream folder already holds files).
    async fn preflight(&self, target: &WriteTarget) -> Result<()>;
    /// Writes every batch to a staging area. Nothing is visible until [`Staged::commit`].
    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        batches: BatchStream,
    ) -> Result<Box<dyn Staged>>;
    /// The newest commit marker of `target`'s stream, after rolling back a publish that a crash
    /// cut off before its marker was written. `None` if there is none, or the destination keeps
    /// no markers (SQL destinations commit rows and merge in one transaction).
    async fn last_commit(&self, _target: &WriteTarget) -> Result<Option<CommitMarker>> {
        Ok(None)
    }
    /// Runs a run's `hooks:` statements (`key` names the list in messages), in one transaction
    /// where the database has them. Only SQL destinations can (validation refuses the others).
    async fn run_sql(&self, key: &str, statements: &[String]) -> Result<()> {
        let _ = statements;
        Err(Error::run(format!("{key}: this destination runs no SQL")))
    }
    /// Records `marker` once `target`'s staged write is committed; returns whether this
    /// destination keeps markers.
    async fn record_commit(&self, _target: &WriteTarget, _marker: &CommitMarker) -> Result<bool> {
        Ok(false)
    }
    /// Keeps a staged write ([`Staged::detach`]) as `unit` of a plan run for a later
    /// [`Destination::resume_units`], replacing (and removing the data of) what an earlier
    /// attempt of the same unit kept.
    async fn keep_unit(&self, target: &WriteTarget, unit: &KeptUnit) -> Result<()> {
        let _ = (target, unit);
        Err(units_not_supported())
    }
    /// The units of `plan_run` kept for `target`'s stream.
    async fn kept_units(&self, target: &WriteTarget, plan_run: &str) -> Result<KeptRun> {
        let _ = (target, plan_run);
        Err(units_not_supported())
    }
    /// One staged write made of every kept unit: its commit publishes them together.
    async fn resume_units(
        &self,
        target: &WriteTarget,
        units: &[KeptUnit],
    ) -> Result<Box<dyn Staged>> {
        let _ = (target, units);
        Err(units_not_supported())
    }
    /// After the commit of `plan_run`: removes its unit records and staging leftovers, and
    /// records that it was committed.
    async fn forget_units(&self, target: &WriteTarget, plan_run: &str) -> Result<()> {
        let _ = (target, plan_run);
        Err(units_not_supported())
    }
}

/// What destinations without plan units say.
fn units_not_supported() -> Error {
    Error::spec(
        "this destination does not take `--plan` units yet: only file destinations (local_file, s3, gcs, azure_blob) do; run the spec without `--plan` (or one `etl run --select STREAM` per stream)",
    )
}

/// One unit of a plan, staged by `etl run --plan --unit` and kept by the destination until
/// `etl run --plan --commit` publishes every unit of the plan's run at once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeptUnit {
    /// The plan's run id.
    pub plan_run: String,
    /// The unit's id in the plan, and its place there.
    pub unit: String,
    pub index: usize,
    /// The run id of the attempt that staged it (names its files).
    pub attempt: String,
    pub rows: u64,
    #[serde(default)]
    pub bytes: Option<u64>,
    /// The destination's: what publishing the unit takes (its staged files).
    pub staged: serde_json::Value,
    /// The runner's: the stream's state after this unit (incremental streams).
    #[serde(default)]
    pub state: Option<serde_json::Value>,
    pub written_at: String,
}

/// What a destination keeps of one plan run for a stream.
#[derive(Debug, Clone, Default)]
pub struct KeptRun {
    pub units: Vec<KeptUnit>,
    /// The run was committed into this stream already.
    pub committed: bool,
}

/// A completed but unpublished write.
#[async_trait]
pub trait Staged: Send {
    /// Publishes the staged data atomically (SQL: swap in one transaction; files: rename).
    async fn commit(self: Box<Self>) -> Result<WriteReport>;
    /// Throws the staged data away, leaving the destination as it was.
    async fn abort(self: Box<Self>) -> Result<()>;
    /// Hands over what publishing this write later takes (its staged files), leaving it
    /// staged: for [`Destination::keep_unit`]. Destinations without units refuse.
    fn detach(&self) -> Result<serde_json::Value> {
        Err(units_not_supported())
    }
    /// Bytes the destination stored for this write (files: their sizes), where it knows.
    fn bytes_written(&self) -> Option<u64> {
        None
    }
    /// The changes the commit makes to the destination's columns (schema drift), in order.
    fn schema_changes(&self) -> Vec<crate::contract::SchemaChange> {
        Vec::new()
    }
    /// `delete_missing`: takes every key the source has now (`keys`, the key columns), so
    /// that the commit deletes (`hard`) or marks as deleted at `deleted_at` (`soft`) the rows
    /// whose key is not among them, in the same transaction as the merge. Destinations that
    /// cannot refuse it (validation keeps such specs from running).
    async fn missing_keys(
        &mut self,
        how: crate::spec::DeleteMissing,
        deleted_at: &str,
        keys: Reader,
    ) -> Result<()> {
        let _ = (how, deleted_at, keys);
        Err(Error::run("this destination cannot take `delete_missing`"))
    }
}
