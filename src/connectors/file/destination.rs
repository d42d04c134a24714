use super::config::{TemplateValues, WriteConfig};
use super::is_hidden;
use super::partition::Partitioner;
use super::store::{FileStore, Location};
use crate::connectors::{
    BatchStream, CommitMarker, Destination, KeptRun, KeptUnit, Staged, WriteReport, WriteTarget,
};
use crate::contract::{SchemaChange, SchemaChangeKind};
use crate::drift::{self, Column};
use crate::error::{Error, Result, ResultExt};
use crate::formats::{self, parquet::DEFAULT_ROW_GROUP_SIZE, Encoder, SharedBuf, WriteOptions};
use crate::spec::Mode;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub struct FileDestination {
    location: Location,
    config: WriteConfig,
    options: WriteOptions,
    /// The run's start (UTC): the destination is built once per run, before its streams.
    /// `path_template`'s `{YYYY}`, `{MM}`, `{DD}`, `{HH}` and `{run_timestamp}` come from it.
    started: chrono::DateTime<chrono::Utc>,
}

impl FileDestination {
    pub fn new(location: Location, config: WriteConfig) -> Result<Self> {
        let options = WriteOptions {
            format: config.format,
            compression: config
                .compression
                .unwrap_or(config.format.compressions()[0]),
            csv: config.csv.options().map_err(Error::spec)?,
            row_group_size: config.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_SIZE),
        };
        Ok(FileDestination {
            location,
            config,
            options,
            started: chrono::Utc::now(),
        })
    }

    fn store(&self, create: bool) -> Result<Option<FileStore>> {
        self.location.destination_store(create)
    }

    /// The stream's commit log, for messages.
    fn log_name(&self, target: &WriteTarget) -> String {
        format!(
            "commit log of {}/{}",
            self.location.display(),
            self.stream_dir(target)
        )
    }

    /// `.parquet`, `.csv.gz`, ...
    fn extension(&self) -> String {
        format!(
            ".{}{}",
            self.options.format.extension(),
            self.options.compression.file_suffix(self.options.format)
        )
    }

    fn values<'a>(&self, target: &'a WriteTarget, part: usize) -> TemplateValues<'a> {
        TemplateValues {
            stream: &target.stream.name,
            run_id: &target.run_id,
            started: self.started,
            part,
        }
    }

    /// The stream's folder: `{stream}`, or what `path_template` makes of it. It holds the
    /// stream's files, its commit log and its staging area.
    fn stream_dir(&self, target: &WriteTarget) -> Path {
        match &self.config.path_template {
            None => Path::from(target.stream.name.as_str()),
            Some(t) => Path::from_iter(t.stream_folder(&self.values(target, 0))),
        }
    }

    /// Part `part`'s folders below the stream's folder (before any partition folders) and
    /// its file name.
    fn part_path(&self, target: &WriteTarget, part: usize) -> (Vec<String>, String) {
        let ext = self.extension();
        match &self.config.path_template {
            None => (Vec::new(), format!("part-{}-{part:05}{ext}", target.run_id)),
            Some(t) => {
                let (folders, name) = t.below(&self.values(target, part));
                let name = match name.ends_with(&ext) {
                    true => name,
                    false => format!("{name}{ext}"),
                };
                (folders, name)
            }
        }
    }
}

impl FileDestination {
    /// What a write of `target` publishes, with no file yet: the stream's folder, its staging
    /// folder for this run, and how the publish replaces or adds files and records itself.
    fn staged_files(&self, target: &WriteTarget, files_store: &FileStore) -> StagedFiles {
        let store = files_store.store.clone();
        let dir = self.stream_dir(target);
        let staging = dir.clone().join(format!(".etl-tmp-{}", target.run_id));
        let marker_kept =
            target.mode == Mode::Incremental && target.stream.mode == Mode::Incremental;
        let settle_pending = matches!(target.mode, Mode::Snapshot | Mode::Backfill);
        StagedFiles {
            files_store: files_store.clone(),
            store: store.clone(),
            dir: dir.clone(),
            staging,
            files: Vec::new(),
            // `truncate` into files is a full refresh: the folder's files are replaced.
            replace_old: matches!(target.mode, Mode::FullRefresh | Mode::Truncate),
            // Snapshot and backfill runs record their publish too, so that a publish a crash cut
            // short is rolled back by the next run rather than left half visible.
            pending: (marker_kept || settle_pending)
                .then(|| (CommitLog::new(store, dir), target.run_id.clone())),
            settle_pending,
            rows: 0,
            bytes: 0,
            base: self.location.display(),
            drift: None,
        }
    }
}

/// Spec checks of the modes into files: `definition_only` writes a typed empty file, which a
/// JSON or JSON Lines file (or a CSV file without a header line) cannot be. Every other mode is
/// taken (see the README's "Modes").
pub fn validate_modes(
    config: &WriteConfig,
    streams: &[crate::spec::StreamSpec],
) -> std::result::Result<(), String> {
    let typed = match config.format {
        formats::Format::Parquet | formats::Format::Avro => true,
        formats::Format::Csv => config.csv.header != Some(false),
        _ => false,
    };
    for (i, s) in streams.iter().enumerate() {
        if s.mode == Mode::DefinitionOnly && !typed {
            return Err(format!(
                "streams[{i}].mode: `definition_only` writes a typed empty file, and an empty {} file holds no column names or types (use parquet, avro, or csv with its header line)",
                config.format
            ));
        }
    }
    Ok(())
}

/// Whether a write in `mode` adds files beside the stream's earlier ones (and so never meets
/// the `overwrite` check): incremental and backfill runs, snapshots, and `definition_only`,
/// which writes only into an empty folder.
fn adds_files(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Incremental | Mode::Backfill | Mode::Snapshot | Mode::DefinitionOnly
    )
}

/// Part files open at once per stream (partitioned writes keep one per partition folder).
const MAX_OPEN_PARTS: usize = 32;

/// `dir/sub.../folder/name`, where `sub` are `path_template` folders and `folder` is a
/// partition path (`a=1/b=x`, already escaped) or "".
fn child(dir: &Path, (sub, name): &(Vec<String>, String), folder: &str) -> Result<Path> {
    let dir = sub.iter().fold(dir.clone(), |p, s| p.join(s.as_str()));
    if folder.is_empty() {
        return Ok(dir.join(name.as_str()));
    }
    Path::parse(format!("{dir}/{folder}/{name}"))
        .map_err(|e| Error::run(format!("partition folder `{folder}`: {e}")))
}

/// The visible (published) files of a stream folder.
async fn published_files(store: &Arc<dyn ObjectStore>, dir: &Path) -> Result<Vec<Path>> {
    let mut out = Vec::new();
    let mut list = store.list(Some(dir));
    while let Some(meta) = list.next().await {
        let meta = meta?;
        let rel = Path::from_iter(meta.location.prefix_match(dir).into_iter().flatten());
        if !is_hidden(&rel) {
            out.push(meta.location);
        }
    }
    out.sort();
    Ok(out)
}

/// The commit log of a stream folder, under `{stream}/_etl/` (hidden from readers, `overwrite`
/// and the full refresh's clean-up, as every path with a segment starting with `_`):
///
/// - `pending-{run_id}.json` — written before an incremental publish renames its first file:
///   the run id and the final paths of its files. Removed once the run's marker is written.
/// - `commits/{seq:020}.json` — one [`CommitMarker`] per committed run, written last, in one
///   atomic PUT that refuses to replace an existing marker (two runs cannot both claim one
///   number). The newest [`KEPT_MARKERS`] are kept.
///
/// A pending record without its run's marker means a crash cut the publish short: the files it
/// lists are removed (the rerun reads those rows again, from the cursor of the last marker).
struct CommitLog {
    store: Arc<dyn ObjectStore>,
    /// The stream folder.
    stream: Path,
    /// Its `_etl` folder.
    dir: Path,
}

/// Commit markers kept per stream (older ones are removed after each commit).
const KEPT_MARKERS: usize = 10;

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    run_id: String,
    /// Final paths of the files the run publishes.
    files: Vec<String>,
}

impl CommitLog {
    fn new(store: Arc<dyn ObjectStore>, stream: Path) -> Self {
        CommitLog {
            store,
            dir: stream.clone().join("_etl"),
            stream,
        }
    }

    fn pending_path(&self, run_id: &str) -> Path {
        self.dir.clone().join(format!("pending-{run_id}.json"))
    }

    fn commits(&self) -> Path {
        self.dir.clone().join("commits")
    }

    async fn write_pending(&self, run_id: &str, files: &[(Path, Path)]) -> Result<()> {
        let pending = Pending {
            run_id: run_id.to_string(),
            files: files.iter().map(|(_, f)| f.to_string()).collect(),
        };
        let json = serde_json::to_vec_pretty(&pending).map_err(Error::run)?;
        self.store
            .put(&self.pending_path(run_id), json.into())
            .await
            .with_context(|| format!("writing the publish record {}", self.pending_path(run_id)))?;
        Ok(())
    }

    /// Marker paths by number, oldest first, and the pending records.
    async fn list(&self) -> Result<(Vec<(u64, Path)>, Vec<Path>)> {
        let (mut markers, mut pending) = (Vec::new(), Vec::new());
        let mut list = self.store.list(Some(&self.dir));
        while let Some(meta) = list.next().await {
            let location = meta?.location;
            let Some(name) = location.filename() else {
                continue;
            };
            if name.starts_with("pending-") && name.ends_with(".json") {
                pending.push(location.clone());
            } else if let Some(seq) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|_| location.prefix_matches(&self.commits()))
            {
                markers.push((seq, location.clone()));
            }
        }
        markers.sort();
        Ok((markers, pending))
    }

    async fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T> {
        let bytes = self.store.get(path).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::run(format!(
                "commit record {path} is corrupt ({e}); etl will not guess what was published: restore or remove it"
            ))
        })
    }

    /// Rolls back publishes without a marker; returns the newest marker.
    async fn recover(&self, files_store: &FileStore) -> Result<Option<CommitMarker>> {
        let (markers, pending) = self.list().await?;
        let newest: Option<CommitMarker> = match markers.last() {
            Some((_, path)) => Some(self.read_json(path).await?),
            None => None,
        };
        for path in pending {
            let record: Pending = self.read_json(&path).await?;
            if newest.as_ref().is_some_and(|m| m.run_id == record.run_id) {
                // The marker was written; only the record's removal was cut off.
                delete_if_present(&self.store, &path).await?;
                continue;
            }
            tracing::warn!(
                run_id = %record.run_id,
                files = record.files.len(),
                "a run published files but was stopped before its commit marker: removing them (the rows are read again)"
            );
            for file in &record.files {
                let file = Path::parse(file)
                    .map_err(|e| Error::run(format!("commit record {path}: {e}")))?;
                delete_if_present(&self.store, &file).await?;
                crate::fault::point("rolled-back-file");
            }
            let staging = self
                .stream
                .clone()
                .join(format!(".etl-tmp-{}", record.run_id));
            let mut staged = Vec::new();
            let mut list = self.store.list(Some(&staging));
            while let Some(meta) = list.next().await {
                staged.push(meta?.location);
            }
            for p in staged {
                delete_if_present(&self.store, &p).await?;
            }
            files_store.remove_empty_folders(&staging);
            delete_if_present(&self.store, &path).await?;
            files_store.remove_empty_folders_below(&self.stream);
        }
        Ok(newest)
    }

    async fn record(&self, marker: &CommitMarker) -> Result<()> {
        let path = self.commits().join(format!("{:020}.json", marker.seq));
        let json = serde_json::to_vec_pretty(marker).map_err(Error::run)?;
        let payload = PutPayload::from(json);
        let create = PutOptions::from(PutMode::Create);
        match self.store.put_opts(&path, payload.clone(), create).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(Error::run(format!(
                    "commit marker {path} already exists: another run committed this stream at the same time (its files and this run's are both published; run streams of one destination folder one at a time)"
                )))
            }
            // Stores without conditional writes: one plain PUT, still atomic.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store.put(&path, payload).await?;
            }
            Err(e) => return Err(e.into()),
        }
        crate::fault::point("marker-written");
        delete_if_present(&self.store, &self.pending_path(&marker.run_id)).await?;
        let (markers, _) = self.list().await?;
        let old = markers.len().saturating_sub(KEPT_MARKERS);
        for (_, p) in &markers[..old] {
            delete_if_present(&self.store, p).await?;
        }
        Ok(())
    }
}

async fn delete_if_present(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(Error::from(e)).with_context(|| format!("removing {path}")),
    }
}

/// The schema history of a stream folder, `{stream}/_etl/schema.json` (hidden from readers as
/// the commit log is): the columns of the stream's part files as one table — every column any
/// published file has, each at the widest type written — and the changes each run made. Written
/// by a run's commit, after its files are in place; read by the next run of the stream to
/// compare the source's columns with (see [`crate::drift`]). Kept beside the data, so that it
/// travels with the folder on every store (local disk, S3, GCS, Azure) and any process writing
/// the stream finds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SchemaHistory {
    stream: String,
    columns: Vec<HistoryColumn>,
    /// The runs that changed the columns, oldest first (the newest [`KEPT_HISTORY`]).
    #[serde(default)]
    changes: Vec<HistoryEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HistoryColumn {
    name: String,
    /// The Arrow type's text (`Int64`, `Decimal128(14, 4)`).
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HistoryEntry {
    run_id: String,
    mode: String,
    changes: Vec<serde_json::Value>,
}

/// Entries of [`SchemaHistory::changes`] kept.
const KEPT_HISTORY: usize = 100;

fn history_path(dir: &Path) -> Path {
    dir.clone().join("_etl").join("schema.json")
}

/// What a write does about the stream's earlier schema: the columns it keeps, the changes it
/// reports, and the history its commit records.
struct Drift {
    /// Indices of the incoming columns written (`None`: all).
    keep: Option<Vec<usize>>,
    changes: Vec<SchemaChange>,
    /// The new `schema.json`, written by the commit (`None`: left as it is).
    history: Option<Vec<u8>>,
    /// The commit removes `schema.json` (a full refresh of a stream that keeps no history).
    forget: bool,
}

/// Decides, before anything is written, what `target`'s write of `schema` does to the stream's
/// columns. Streams whose runs add part files (incremental, snapshot, backfill) keep a history:
/// their runs that add files are compared with it under `schema_changes`, and a `--full-refresh`
/// starts it again. A full-refresh or truncate stream keeps none (its folder holds only data
/// files), and removes one left from an earlier mode. A refusal is an error naming the stream.
async fn schema_drift(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
    target: &WriteTarget,
    schema: &SchemaRef,
) -> Result<Drift> {
    let stream = &target.stream.name;
    let path = history_path(dir);
    let keeps_history = matches!(
        target.stream.mode,
        Mode::Incremental | Mode::Snapshot | Mode::Backfill
    );
    if schema.fields().is_empty() || !keeps_history {
        // A file source with nothing new has no columns to compare or record.
        return Ok(Drift {
            keep: None,
            changes: Vec::new(),
            history: None,
            forget: matches!(target.mode, Mode::FullRefresh | Mode::Truncate) && !keeps_history,
        });
    }
    let incoming: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column::from_field(f))
        .collect();
    let earlier: Option<SchemaHistory> = match adds_files(target.mode) {
        false => None,
        true => match store.get(&path).await {
            Ok(got) => Some(serde_json::from_slice(&got.bytes().await?).map_err(|e| {
                Error::run(format!(
                    "schema history {path} is corrupt ({e}): remove it, and the next run records the source's columns without comparing"
                ))
            })?),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => {
                return Err(Error::from(e)).with_context(|| format!("reading {path}"));
            }
        },
    };
    let (columns, plan, mut entries) = match earlier {
        None => (incoming.clone(), drift::Plan::default(), Vec::new()),
        Some(h) => {
            let existing: Vec<Column> = h
                .columns
                .iter()
                .map(|c| Column::from_declared(&c.name, &c.data_type, c.nullable))
                .collect();
            let policy = target.stream.schema_changes.unwrap_or_default();
            let plan = drift::plan(
                policy,
                &existing,
                &incoming,
                &target.stream.primary_key,
                &drift::FILES,
            )
            .map_err(Error::run)?;
            (drift::evolved(&existing, &incoming, &plan), plan, h.changes)
        }
    };
    let keep = plan.warn_discarded(stream).then(|| {
        plan.columns
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .collect()
    });
    let applied: Vec<serde_json::Value> = plan
        .alterations()
        .map(serde_json::to_value)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::run)?;
    if !applied.is_empty() {
        entries.push(HistoryEntry {
            run_id: target.run_id.clone(),
            mode: target.mode.as_str().to_string(),
            changes: applied,
        });
        let old = entries.len().saturating_sub(KEPT_HISTORY);
        entries.drain(..old);
    }
    let history = SchemaHistory {
        stream: stream.clone(),
        columns: columns
            .iter()
            .map(|c| HistoryColumn {
                name: c.name.clone(),
                data_type: c.declared.clone(),
                nullable: c.nullable,
            })
            .collect(),
        changes: entries,
    };
    Ok(Drift {
        keep,
        changes: plan.changes,
        history: Some(serde_json::to_vec_pretty(&history).map_err(Error::run)?),
        forget: false,
    })
}

/// One part file being encoded and uploaded under its staging name.
struct PartWriter {
    encoder: Box<dyn Encoder>,
    buf: SharedBuf,
    upload: BufWriter,
    rows: u64,
    /// Bytes handed to the upload: the file's size once finished.
    bytes: u64,
}

impl PartWriter {
    fn open(
        store: &Arc<dyn ObjectStore>,
        staged: &Path,
        schema: SchemaRef,
        options: &WriteOptions,
    ) -> Result<Self> {
        let buf = SharedBuf::default();
        Ok(PartWriter {
            encoder: formats::encoder(schema, options, buf.clone())?,
            buf,
            // Two parts in flight: enough to overlap encoding with an upload, and memory stays
            // at about two part buffers however large the file grows.
            upload: BufWriter::new(store.clone(), staged.clone()).with_max_concurrency(2),
            rows: 0,
            bytes: 0,
        })
    }

    async fn drain(&mut self) -> Result<()> {
        let bytes = self.buf.take();
        if !bytes.is_empty() {
            self.upload.write_all(&bytes).await?;
            self.bytes += bytes.len() as u64;
        }
        Ok(())
    }

    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.write(batch)?;
        self.rows += batch.num_rows() as u64;
        self.drain().await
    }

    /// The file's size so far: bytes handed to the upload plus what the encoder holds (a
    /// Parquet row group in progress, estimated).
    fn size(&self) -> u64 {
        self.bytes + self.encoder.buffered_bytes() as u64
    }

    /// Completes the file; returns its size in bytes.
    async fn finish(mut self) -> Result<u64> {
        let encoder = std::mem::replace(&mut self.encoder, Box::new(NoEncoder));
        encoder.finish()?;
        self.drain().await?;
        self.upload.shutdown().await?;
        Ok(self.bytes)
    }
}

/// The batches with only the columns at `keep` (new columns `discard_new_columns` leaves out).
fn project(
    schema: &SchemaRef,
    keep: &[usize],
    batches: BatchStream,
) -> Result<(SchemaRef, BatchStream)> {
    let projected = Arc::new(schema.project(keep)?);
    let keep = keep.to_vec();
    let batches = batches
        .map(move |b| b.and_then(|b| b.project(&keep).map_err(Error::from)))
        .boxed();
    Ok((projected, batches))
}

struct NoEncoder;
impl Encoder for NoEncoder {
    fn write(&mut self, _: &RecordBatch) -> Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Files written under a hidden staging folder, to be renamed into place on commit.
struct StagedFiles {
    files_store: FileStore,
    store: Arc<dyn ObjectStore>,
    dir: Path,
    staging: Path,
    /// (staging path, final path)
    files: Vec<(Path, Path)>,
    replace_old: bool,
    /// Incremental runs record their publish first, so a cut-off publish can be rolled back.
    pending: Option<(CommitLog, String)>,
    /// The publish record is removed once the files are in place (snapshot and backfill runs,
    /// which write no commit marker; an incremental run's marker removes it).
    settle_pending: bool,
    rows: u64,
    /// Sizes of the finished files.
    bytes: u64,
    base: String,
    /// The stream's schema drift, and its history written once the files are in place.
    drift: Option<(String, Drift)>,
}

impl StagedFiles {
    /// Writes the stream's schema history once its files are published, and logs the changes.
    async fn record_schema(&self) -> Result<()> {
        let Some((stream, drift)) = &self.drift else {
            return Ok(());
        };
        let path = history_path(&self.dir);
        if let Some(json) = &drift.history {
            self.store
                .put(&path, json.clone().into())
                .await
                .with_context(|| format!("writing the schema history {path}"))?;
        } else if drift.forget {
            delete_if_present(&self.store, &path).await?;
        }
        for c in drift
            .changes
            .iter()
            .filter(|c| c.change != SchemaChangeKind::Discarded)
        {
            tracing::info!(stream = %stream, column = %c.column, "schema change: {c}");
        }
        Ok(())
    }

    async fn remove_staged(&self) -> Result<()> {
        for (staged, _) in &self.files {
            match self.store.delete(staged).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.files_store.remove_empty_folders(&self.staging);
        Ok(())
    }
}

#[async_trait]
impl Staged for StagedFiles {
    async fn commit(self: Box<Self>) -> Result<WriteReport> {
        let old = if self.replace_old {
            published_files(&self.store, &self.dir).await?
        } else {
            Vec::new()
        };
        if let Some((log, run_id)) = &self.pending {
            log.write_pending(run_id, &self.files).await?;
            crate::fault::point("pending-written");
        }
        for (staged, fin) in &self.files {
            self.store
                .rename(staged, fin)
                .await
                .with_context(|| format!("publishing {fin}"))?;
            crate::fault::point("published-file");
        }
        let new: std::collections::HashSet<&Path> = self.files.iter().map(|(_, f)| f).collect();
        for p in old.iter().filter(|p| !new.contains(p)) {
            self.store
                .delete(p)
                .await
                .with_context(|| format!("removing old file {p}"))?;
        }
        self.record_schema().await?;
        if let (true, Some((log, run_id))) = (self.settle_pending, &self.pending) {
            delete_if_present(&self.store, &log.pending_path(run_id)).await?;
        }
        self.files_store.remove_empty_folders(&self.staging);
        if !old.is_empty() {
            // Partition folders the old files leave empty.
            self.files_store.remove_empty_folders_below(&self.dir);
        }
        Ok(WriteReport {
            rows: self.rows,
            outputs: self
                .files
                .iter()
                .map(|(_, f)| format!("{}/{}", self.base.trim_end_matches('/'), f))
                .collect(),
        })
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.remove_staged().await
    }

    fn detach(&self) -> Result<serde_json::Value> {
        serde_json::to_value(UnitFiles {
            files: self
                .files
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        })
        .map_err(Error::run)
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.bytes)
    }

    fn schema_changes(&self) -> Vec<SchemaChange> {
        self.drift
            .as_ref()
            .map(|(_, d)| d.changes.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Destination for FileDestination {
    async fn check(&self) -> Result<()> {
        self.location.check(false).await
    }

    fn explain(&self, e: Error) -> Error {
        self.location.explain(e)
    }

    fn describe(&self, target: &WriteTarget) -> String {
        let folders: String = target
            .stream
            .partition_by
            .iter()
            .map(|c| format!("{c}=…/"))
            .collect();
        let (sub, name) = self.part_path(target, 0);
        let sub: String = sub.iter().map(|s| format!("{s}/")).collect();
        format!(
            "{}/{}/{sub}{folders}{}",
            self.location.display(),
            self.stream_dir(target),
            name.replace("00000", "NNNNN")
        )
    }

    async fn preflight(&self, target: &WriteTarget) -> Result<()> {
        if self.config.overwrite || adds_files(target.mode) {
            return Ok(());
        }
        let Some(store) = self.store(false)? else {
            return Ok(());
        };
        let existing = published_files(&store.store, &self.stream_dir(target))
            .await
            .map_err(|e| self.location.explain(e))?;
        if let Some(first) = existing.first() {
            return Err(Error::run(format!(
                "destination folder {}/{} already holds {} file(s) (e.g. {first}); set `overwrite: true` in the destination config to replace them on a full refresh",
                self.location.display(),
                self.stream_dir(target),
                existing.len()
            )));
        }
        Ok(())
    }

    async fn last_commit(&self, target: &WriteTarget) -> Result<Option<CommitMarker>> {
        let Some(files_store) = self.store(false)? else {
            return Ok(None);
        };
        CommitLog::new(files_store.store.clone(), self.stream_dir(target))
            .recover(&files_store)
            .await
            .with_context(|| self.log_name(target))
    }

    async fn record_commit(&self, target: &WriteTarget, marker: &CommitMarker) -> Result<bool> {
        let files_store = self
            .store(true)?
            .ok_or_else(|| Error::run("base_path missing"))?;
        CommitLog::new(files_store.store.clone(), self.stream_dir(target))
            .record(marker)
            .await
            .with_context(|| self.log_name(target))?;
        Ok(true)
    }

    async fn keep_unit(&self, target: &WriteTarget, unit: &KeptUnit) -> Result<()> {
        let files_store = self
            .store(true)?
            .ok_or_else(|| Error::run("base_path missing"))?;
        units::keep(&files_store, &target.stream.name, unit)
            .await
            .with_context(|| self.log_name(target))
    }

    async fn kept_units(&self, target: &WriteTarget, plan_run: &str) -> Result<KeptRun> {
        let Some(files_store) = self.store(false)? else {
            return Ok(KeptRun::default());
        };
        units::kept(&files_store.store, &target.stream.name, plan_run)
            .await
            .with_context(|| self.log_name(target))
    }

    async fn resume_units(
        &self,
        target: &WriteTarget,
        kept: &[KeptUnit],
    ) -> Result<Box<dyn Staged>> {
        let files_store = self
            .store(true)?
            .ok_or_else(|| Error::run("base_path missing"))?;
        let store = files_store.store.clone();
        let mut files = Vec::new();
        for unit in kept {
            for (staged, fin) in units::files_of(unit)? {
                if let Err(e) = store.head(&staged).await {
                    return Err(Error::from(e)).with_context(|| {
                        format!(
                            "unit `{}` of run {}: its staged file {staged} is gone (a commit cut off while publishing, or removed by hand); run the unit again, then commit",
                            unit.unit, unit.plan_run
                        )
                    });
                }
                files.push((staged, fin));
            }
        }
        let mut staged = self.staged_files(target, &files_store);
        staged.files = files;
        staged.rows = kept.iter().map(|u| u.rows).sum();
        staged.bytes = kept.iter().filter_map(|u| u.bytes).sum();
        Ok(Box::new(staged))
    }

    async fn forget_units(&self, target: &WriteTarget, plan_run: &str) -> Result<()> {
        let files_store = self
            .store(true)?
            .ok_or_else(|| Error::run("base_path missing"))?;
        units::forget(&files_store, &target.stream.name, plan_run)
            .await
            .with_context(|| self.log_name(target))
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let files_store = self
            .store(true)?
            .ok_or_else(|| Error::run("base_path missing"))?;
        let store = files_store.store.clone();
        let mut staged = self.staged_files(target, &files_store);
        let (store, dir, staging) = (store, staged.dir.clone(), staged.staging.clone());
        if target.mode == Mode::DefinitionOnly && !published_files(&store, &dir).await?.is_empty() {
            tracing::info!(stream = %target.stream.name, "definition_only: the stream folder already holds files; left as it is");
            return Ok(Box::new(staged));
        }
        // Schema drift is decided before a file is written: a refusal writes nothing.
        let drift = schema_drift(&store, &dir, target, &schema).await?;
        let (schema, mut batches) = match &drift.keep {
            None => (schema, batches),
            Some(keep) => project(&schema, keep, batches)?,
        };
        staged.drift = Some((target.stream.name.clone(), drift));
        let result: Result<()> = async {
            let partitioner = match target.stream.partition_by.as_slice() {
                [] => None,
                columns => Some(Partitioner::new(&target.stream.name, &schema, columns)?),
            };
            let file_schema = partitioner
                .as_ref()
                .map_or(schema.clone(), |p| p.file_schema.clone());
            // Open part files by partition folder ("" without partition_by).
            let mut open: HashMap<String, (PartWriter, u64)> = HashMap::new();
            let mut used = 0u64;
            while let Some(batch) = batches.next().await {
                let batch = batch?;
                let pieces = match &partitioner {
                    Some(p) => p.split(&batch)?,
                    None => vec![(String::new(), batch)],
                };
                for (folder, piece) in pieces {
                    used += 1;
                    if !open.contains_key(&folder) {
                        // Memory stays bounded however many partitions a stream has: past
                        // MAX_OPEN_PARTS the least recently used file is finished, and its
                        // partition gets a new part file if more of its rows come.
                        if open.len() >= MAX_OPEN_PARTS {
                            let lru = open
                                .iter()
                                .min_by_key(|(_, (_, last))| *last)
                                .map(|(k, _)| k.clone());
                            if let Some((w, _)) = lru.and_then(|k| open.remove(&k)) {
                                staged.bytes += w.finish().await?;
                            }
                        }
                        let part = self.part_path(target, staged.files.len());
                        let paths = (
                            child(&staging, &part, &folder)?,
                            child(&dir, &part, &folder)?,
                        );
                        let w =
                            PartWriter::open(&store, &paths.0, file_schema.clone(), &self.options)?;
                        staged.files.push(paths);
                        open.insert(folder.clone(), (w, used));
                    }
                    let Some((w, last)) = open.get_mut(&folder) else {
                        continue;
                    };
                    *last = used;
                    w.write(&piece).await?;
                    staged.rows += piece.num_rows() as u64;
                    if self
                        .config
                        .max_rows_per_file
                        .is_some_and(|max| w.rows >= max)
                        || self
                            .config
                            .max_bytes_per_file
                            .is_some_and(|max| w.size() >= max)
                    {
                        if let Some((w, _)) = open.remove(&folder) {
                            staged.bytes += w.finish().await?;
                        }
                    }
                }
            }
            let mut rest: Vec<(String, (PartWriter, u64))> = open.into_iter().collect();
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            let any_open = !rest.is_empty();
            for (_, (w, _)) in rest {
                staged.bytes += w.finish().await?;
            }
            match any_open {
                true => {}
                false if staged.files.is_empty() => {
                    // An empty stream still publishes one file holding the schema.
                    let part = self.part_path(target, 0);
                    staged
                        .files
                        .push((child(&staging, &part, "")?, child(&dir, &part, "")?));
                    let w = PartWriter::open(
                        &store,
                        &staged.files[0].0,
                        schema.clone(),
                        &self.options,
                    )?;
                    staged.bytes += w.finish().await?;
                }
                false => {}
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(Box::new(staged)),
            Err(e) => {
                if let Err(cleanup) = staged.remove_staged().await {
                    tracing::warn!("could not remove staged files after a failure: {cleanup}");
                }
                Err(e)
            }
        }
    }
}

/// What a unit's staged write hands over ([`Staged::detach`]): (staging path, final path) of
/// each of its files.
#[derive(serde::Serialize, serde::Deserialize)]
struct UnitFiles {
    files: Vec<(String, String)>,
}

/// The units of plan runs a stream folder keeps, under `{stream}/_etl/units/{plan_run}/`
/// (hidden from readers like the rest of `_etl/`): `unit-{index:05}.json`, one [`KeptUnit`]
/// per unit (an attempt replaces the record of the one before and removes its files), and
/// `committed.json` once the run was published.
mod units {
    use super::*;

    fn dir(stream: &str, plan_run: &str) -> Path {
        Path::from(stream).join("_etl").join("units").join(plan_run)
    }

    fn committed(stream: &str, plan_run: &str) -> Path {
        dir(stream, plan_run).join("committed.json")
    }

    pub(super) fn files_of(unit: &KeptUnit) -> Result<Vec<(Path, Path)>> {
        let files: UnitFiles = serde_json::from_value(unit.staged.clone()).map_err(|e| {
            Error::run(format!(
                "the record of unit `{}` of run {} is not readable ({e})",
                unit.unit, unit.plan_run
            ))
        })?;
        files
            .files
            .into_iter()
            .map(|(a, b)| {
                let parse = |p: String| {
                    Path::parse(&p).map_err(|e| {
                        Error::run(format!("unit `{}`: staged path {p}: {e}", unit.unit))
                    })
                };
                Ok((parse(a)?, parse(b)?))
            })
            .collect()
    }

    async fn read_unit(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Option<KeptUnit>> {
        match store.get(path).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    Error::run(format!(
                        "unit record {path} is corrupt ({e}); run the unit again"
                    ))
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<bool> {
        match store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `unit`'s record (one PUT: the attempt before is replaced at once), then removes
    /// the files of the attempt before.
    pub(super) async fn keep(files_store: &FileStore, stream: &str, unit: &KeptUnit) -> Result<()> {
        let store = &files_store.store;
        if exists(store, &committed(stream, &unit.plan_run)).await? {
            return Err(Error::run(format!(
                "run {} was committed already: its units cannot change any more (`etl plan` again for a new run)",
                unit.plan_run
            )));
        }
        let path = dir(stream, &unit.plan_run).join(format!("unit-{:05}.json", unit.index));
        let before = read_unit(store, &path).await?;
        let json = serde_json::to_vec_pretty(unit).map_err(Error::run)?;
        store
            .put(&path, json.into())
            .await
            .with_context(|| format!("writing the unit record {path}"))?;
        crate::fault::point("unit-kept");
        if let Some(before) = before.filter(|b| b.attempt != unit.attempt) {
            tracing::info!(unit = %unit.unit, replaced = %before.attempt, "unit run again: the files of its earlier attempt are removed");
            for (staged, _) in files_of(&before)? {
                delete_if_present(store, &staged).await?;
            }
            files_store.remove_empty_folders(
                &Path::from(stream).join(format!(".etl-tmp-{}", before.attempt)),
            );
        }
        Ok(())
    }

    pub(super) async fn kept(
        store: &Arc<dyn ObjectStore>,
        stream: &str,
        plan_run: &str,
    ) -> Result<KeptRun> {
        let mut out = KeptRun::default();
        let mut paths = Vec::new();
        let mut list = store.list(Some(&dir(stream, plan_run)));
        while let Some(meta) = list.next().await {
            paths.push(meta?.location);
        }
        paths.sort();
        for path in paths {
            match path.filename() {
                Some("committed.json") => out.committed = true,
                Some(n) if n.starts_with("unit-") && n.ends_with(".json") => {
                    out.units.extend(read_unit(store, &path).await?);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Marks `plan_run` committed, then removes its unit records and whatever its attempts
    /// left staged (attempts killed before their record, replaced attempts).
    pub(super) async fn forget(
        files_store: &FileStore,
        stream: &str,
        plan_run: &str,
    ) -> Result<()> {
        let store = &files_store.store;
        let mark = serde_json::json!({
            "run_id": plan_run,
            "committed_at": chrono::Utc::now().to_rfc3339(),
        });
        let bytes = serde_json::to_vec_pretty(&mark).map_err(Error::run)?;
        store
            .put(&committed(stream, plan_run), bytes.into())
            .await?;
        let records = dir(stream, plan_run);
        let mut doomed = Vec::new();
        let mut list = store.list(Some(&records));
        while let Some(meta) = list.next().await {
            let location = meta?.location;
            if location.filename() != Some("committed.json") {
                doomed.push(location);
            }
        }
        let root = Path::from(stream);
        let leftover = format!(".etl-tmp-{plan_run}-");
        let mut list = store.list(Some(&root));
        while let Some(meta) = list.next().await {
            let location = meta?.location;
            let first = location
                .prefix_match(&root)
                .and_then(|mut parts| parts.next())
                .map(|p| p.as_ref().to_string());
            if first.is_some_and(|f| f.starts_with(&leftover)) {
                doomed.push(location);
            }
        }
        for p in &doomed {
            delete_if_present(store, p).await?;
        }
        files_store.remove_empty_folders_below(&root);
        Ok(())
    }
}
