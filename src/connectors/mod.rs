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
}

impl ReadRequest {
    pub fn new(stream: StreamSpec, batch_size: usize) -> Self {
        ReadRequest {
            stream,
            batch_size,
            cursor: None,
            seen_files: None,
            keys_only: Vec::new(),
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
}

/// A completed but unpublished write.
#[async_trait]
pub trait Staged: Send {
    /// Publishes the staged data atomically (SQL: swap in one transaction; files: rename).
    async fn commit(self: Box<Self>) -> Result<WriteReport>;
    /// Throws the staged data away, leaving the destination as it was.
    async fn abort(self: Box<Self>) -> Result<()>;
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
