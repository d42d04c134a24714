//! The run loop: resolves streams, pipes each source stream into the destination through a
//! bounded channel, commits, and reports. Connectors know nothing of modes or progress.

pub mod cursor;
pub mod modes;
pub mod plan;
pub mod progress;
pub mod state;
pub mod summary;

use crate::connectors::{Destination, ReadRequest, Source, WriteTarget};
use crate::contract::{BatchStream, CursorValue, CHANNEL_CAPACITY};
use crate::error::{Error, Result, ResultExt};
use crate::spec::{Mode, Spec, StreamSpec};
use futures::StreamExt;
pub use modes::parse_range;
use progress::Progress;
use state::{PipelineState, StateLocation, StreamState};
use std::time::Instant;
pub use summary::{RunSummary, StreamStatus, StreamSummary};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only these streams (all when empty).
    pub select: Vec<String>,
    /// Treat every stream as `full_refresh`.
    pub full_refresh: bool,
    /// `--range START,END`: backfill this cursor range of the selected incremental streams.
    pub range: Option<(String, String)>,
    /// Print the plan, read and write nothing.
    pub dry_run: bool,
    /// Draw progress bars (a terminal); otherwise periodic log lines.
    pub progress_bars: bool,
    /// Run one unit of a plan: stage its output for the plan's commit, publish nothing.
    pub unit: Option<plan::UnitRun>,
}

/// A stream as the runner will run it.
#[derive(Debug, Clone)]
pub struct PlannedStream {
    pub target: WriteTarget,
    pub destination: String,
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped at 60 s, plus up to 50 %.
fn backoff(base_ms: u64, attempt: u32) -> std::time::Duration {
    let exp = base_ms
        .saturating_mul(1u64 << (attempt - 1).min(16))
        .min(60_000);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u64 * exp / 2000;
    std::time::Duration::from_millis(exp + jitter)
}

/// Whether a stream that failed with `e` on attempt `attempt` (0 = the first) is run again:
/// a transient failure always; a server that cannot be reached only after an earlier attempt
/// failed transiently (it is restarting or failing over), never on the first attempt, where it
/// means a wrong host or port.
fn retryable(e: &Error, attempt: u32) -> bool {
    e.is_transient() || (attempt > 0 && e.kind() == crate::error::ErrorKind::Unreachable)
}

/// How long a write may go on after its stream's deadline, winding down (removing staged files,
/// rolling back) once the reader has stopped, before it is cut off where it stands.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A stream's deadline (`defaults.timeout`), checked wherever the stream waits.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    timeout: crate::contract::Timeout,
}

impl Deadline {
    fn error(&self) -> Error {
        Error::Timeout(format!(
            "timed out after {} (defaults.timeout); nothing of this run was committed",
            self.timeout
        ))
    }

    /// `fut`, or the timeout error once `at + grace` has passed (the future is dropped).
    async fn bound<T>(
        deadline: Option<Deadline>,
        grace: std::time::Duration,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match deadline {
            None => fut.await,
            Some(d) => match tokio::time::timeout_at(d.at + grace, fut).await {
                Ok(r) => r,
                Err(_) => Err(d.error()),
            },
        }
    }
}

/// A new run id: sortable by time, unique by a random suffix.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &rand[..8])
}

/// The streams to run: the spec's, or the source's defaults, filtered by `--select`.
pub async fn plan(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    options: &RunOptions,
    run_id: &str,
) -> Result<Vec<PlannedStream>> {
    plan_selection(spec, source, destination, options, run_id)
        .await
        .map(|(planned, _)| planned)
}

/// [`plan`], with what each `table:` pattern of the spec matched.
pub async fn plan_selection(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    options: &RunOptions,
    run_id: &str,
) -> Result<(Vec<PlannedStream>, Vec<crate::spec::select::PatternMatch>)> {
    let selection = crate::spec::select::resolve(spec, source).await?;
    let chosen = crate::spec::select::chosen(&selection, &options.select)?;
    let streams: Vec<StreamSpec> = selection
        .streams
        .into_iter()
        .filter(|s| chosen.contains(&s.name))
        .collect();
    let planned: Vec<PlannedStream> = streams
        .into_iter()
        .map(|mut stream| {
            stream
                .schema_changes
                .get_or_insert(spec.defaults.schema_changes);
            stream
                .column_casing
                .get_or_insert(spec.defaults.column_casing);
            let mode = modes::planned_mode(&mut stream, options)?;
            let target = WriteTarget {
                stream,
                mode,
                run_id: run_id.to_string(),
            };
            let destination = destination.describe(&target);
            Ok(PlannedStream {
                target,
                destination,
            })
        })
        .collect::<Result<_>>()?;
    Ok((planned, selection.patterns))
}

/// Runs every planned stream and returns the summary. Setup errors (bad spec, unreachable
/// source while planning) are returned as `Err`; per-stream failures are in the summary.
pub async fn run(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    planned: Vec<PlannedStream>,
    run_id: &str,
    state_location: &StateLocation,
    options: &RunOptions,
) -> Result<RunSummary> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    // A corrupt state fails the run before anything is read: never a silent full reload.
    let tracks_state = planned
        .iter()
        .any(|p| p.target.stream.mode == Mode::Incremental || p.target.mode == Mode::Backfill);
    tracing::info!(
        run_id,
        pipeline = %spec.name,
        streams = planned.len(),
        state = %state_location.display(),
        "run started"
    );
    let state = tokio::sync::Mutex::new(if tracks_state {
        state_location.load(&spec.name).await?
    } else {
        PipelineState::default()
    });
    // Everything that can fail without writing is checked before the first stream starts.
    for p in &planned {
        destination
            .preflight(&p.target)
            .await
            .with_context(|| format!("stream `{}`", p.target.stream.name))?;
    }
    // The run's `hooks.pre_sql`, once, before anything is read.
    if let Some(pre) = spec
        .hooks
        .as_ref()
        .map(|h| &h.pre_sql)
        .filter(|l| !l.is_empty())
    {
        destination.run_sql("hooks.pre_sql", pre).await?;
    }
    let progress = Progress::new(options.progress_bars);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let fail_fast = spec.defaults.fail_fast;
    let context = RunContext {
        spec,
        source,
        destination,
        state: &state,
        state_location,
        started,
        unit: options.unit.as_ref(),
    };
    let jobs = planned.iter().map(|p| {
        let (progress, failed, context) = (&progress, &failed, &context);
        async move {
            let name = p.target.stream.name.clone();
            let t = Instant::now();
            let mut summary = new_summary(&name, p.target.mode);
            if fail_fast && failed.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::warn!(stream = %name, "stream skipped: an earlier stream failed and fail_fast is set");
                summary.status = StreamStatus::Skipped;
                return summary;
            }
            tracing::info!(stream = %name, mode = %p.target.mode, destination = %p.destination, "stream started");
            let bar = progress.stream(&name);
            let deadline = spec.defaults.timeout.map(|timeout| Deadline {
                at: tokio::time::Instant::now() + timeout.duration,
                timeout,
            });
            // Transient failures (a lost connection, deadlock, serialization failure, lock wait
            // timeout, S3 5xx) rerun the stream: writes are staged and the state is saved only
            // after a commit, so a rerun never duplicates or loses anything.
            let mut attempt = 0;
            let result = loop {
                let r = run_stream(context, p, bar.tick(), deadline)
                    .await
                    .map_err(|e| context.destination.explain(context.source.explain(e)));
                match r {
                    Err(e) if attempt < spec.defaults.retries && retryable(&e, attempt) => {
                        attempt += 1;
                        let wait = backoff(spec.defaults.retry_backoff_ms, attempt);
                        if deadline.is_some_and(|d| tokio::time::Instant::now() + wait >= d.at) {
                            tracing::warn!(stream = %name, "transient failure, not retried: the stream's timeout would pass first");
                            break Err(e);
                        }
                        tracing::warn!(
                            stream = %name,
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "transient failure, retrying: {}",
                            crate::error::full_message(&e)
                        );
                        tokio::time::sleep(wait).await;
                    }
                    r => break r,
                }
            };
            let secs = t.elapsed().as_secs_f64();
            summary.seconds = secs;
            match result {
                Ok(done) => {
                    let rows = done.rows;
                    let rate = rows as f64 / secs.max(1e-9);
                    bar.finish(format!("done: {rows} rows in {secs:.1}s ({rate:.0} rows/s)"));
                    tracing::info!(
                        stream = %name,
                        rows,
                        seconds = format!("{secs:.2}"),
                        rows_per_sec = format!("{rate:.0}"),
                        "stream finished"
                    );
                    summary.rows = rows;
                    summary.bytes_written = done.bytes_written;
                    summary.bytes_read = done.bytes_read;
                    summary.outputs = done.outputs;
                    summary.cursor_before = done.cursor_before;
                    summary.cursor_after = done.cursor_after;
                    summary.schema_changes = done.schema_changes;
                }
                Err(e) => {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    let e = e.context(format!("stream `{name}`"));
                    let message = crate::error::full_message(&e);
                    bar.finish("FAILED".to_string());
                    tracing::error!(stream = %name, "stream failed: {message}");
                    summary.status = StreamStatus::Failed;
                    summary.error = Some(message);
                }
            }
            summary
        }
    });
    // Streams run `max_concurrency` at a time; the summary keeps the plan's order.
    let streams: Vec<StreamSummary> = futures::stream::iter(jobs)
        .buffered(spec.defaults.max_concurrency.max(1))
        .collect()
        .await;
    // The run's `hooks.post_sql`, once every stream succeeded.
    let succeeded = streams.iter().all(|s| s.status == StreamStatus::Succeeded);
    if let Some(post) = spec
        .hooks
        .as_ref()
        .map(|h| &h.post_sql)
        .filter(|l| !l.is_empty())
    {
        if succeeded {
            destination
                .run_sql("hooks.post_sql", post)
                .await
                .context("every stream was committed, but the run's post_sql failed")?;
        } else {
            tracing::warn!("hooks.post_sql not run: a stream did not succeed");
        }
    }
    Ok(run_summary(
        spec,
        run_id,
        started,
        t0,
        state_location,
        streams,
    ))
}

/// The summary of a run of `spec` that started at `started` (`t0`).
fn run_summary(
    spec: &Spec,
    run_id: &str,
    started: chrono::DateTime<chrono::Utc>,
    t0: Instant,
    state_location: &StateLocation,
    streams: Vec<StreamSummary>,
) -> RunSummary {
    RunSummary::new(
        spec.name.clone(),
        run_id.to_string(),
        started.to_rfc3339(),
        t0.elapsed().as_secs_f64(),
        (
            spec.source.connector_type().to_string(),
            spec.destination.connector_type().to_string(),
        ),
        state_location.display(),
        streams,
    )
}

/// A stream's summary before it ran: succeeded, nothing moved.
fn new_summary(name: &str, mode: Mode) -> StreamSummary {
    StreamSummary {
        name: name.to_string(),
        status: StreamStatus::Succeeded,
        mode,
        rows: 0,
        bytes_written: None,
        bytes_read: None,
        outputs: Vec::new(),
        seconds: 0.0,
        cursor_before: None,
        cursor_after: None,
        schema_changes: Vec::new(),
        error: None,
    }
}

/// Moves one stream: read -> bounded channel -> staged write -> commit -> state.
///
/// The order is the crash-safety argument: the state (cursor, files read) is saved only after
/// the destination committed, so a crash anywhere re-reads from the previous cursor.
async fn run_stream(
    run: &RunContext<'_>,
    planned: &PlannedStream,
    tick: progress::Tick,
    deadline: Option<Deadline>,
) -> Result<StreamDone> {
    let RunContext {
        spec,
        source,
        destination,
        ..
    } = *run;
    let stream = &planned.target.stream;
    // Streams declared incremental keep their state even when run as a full refresh, so the
    // next incremental run continues from here; a backfill leaves it as it is.
    let backfill = planned.target.mode == Mode::Backfill;
    let tracked = stream.mode == Mode::Incremental && !backfill;
    let incremental = planned.target.mode == Mode::Incremental;
    let previous = previous_state(run, planned).await?;
    let mut request = ReadRequest::new(stream.clone(), spec.defaults.batch_size);
    if let Some(range) = run.unit.and_then(|u| u.range.clone()) {
        // One key range of a split stream: read by this process alone, on one connection.
        request.stream.partition = None;
        request.range = Some(range);
    }
    if incremental {
        if let (Some(field), Some(saved)) = (&stream.cursor_field, &previous.cursor) {
            let start = match &stream.lookback {
                Some(lb) => saved.minus(lb)?,
                None => saved.clone(),
            };
            tracing::info!(stream = %stream.name, cursor_field = %field, from = %start.text(), "incremental read");
            request.cursor = Some((field.clone(), start));
        }
        request.seen_files = Some(previous.files.clone());
    }
    let range = match backfill {
        true => Some(modes::Range::new(stream, previous.cursor.as_ref())?),
        false => None,
    };
    if let Some(range) = &range {
        tracing::info!(stream = %stream.name, cursor_field = %range.field, from = %range.start, to = %range.end, "backfill read");
        request.cursor = range.pushdown();
    }
    let mut reader =
        Deadline::bound(deadline, std::time::Duration::ZERO, source.read(request)).await?;
    if let Some(range) = &range {
        reader.batches = range.filter(&reader.schema, reader.batches)?;
    }
    if planned.target.mode == Mode::DefinitionOnly {
        // Only the schema is needed: the read stops here, before its rows are taken.
        reader.batches = Box::pin(futures::stream::empty());
    }
    let cursor_index = match (&stream.cursor_field, tracked) {
        (Some(field), true) => Some(reader.schema.index_of(field).map_err(|_| {
            Error::spec(format!(
                "cursor_field `{field}` is not a column of stream `{}`",
                stream.name
            ))
        })?),
        _ => None,
    };
    let mut batches = reader.batches;
    // Follows the cursor and drops the rows the last run wrote at its boundary value.
    let mut tracker = match (cursor_index, &stream.cursor_field) {
        (Some(i), Some(_)) => Some(cursor::CursorTracker::new(
            &reader.schema,
            i,
            &stream.primary_key,
            (previous.cursor.clone(), previous.boundary.clone()),
            incremental,
            cursor::MAX_BOUNDARY_IDS,
        )),
        _ => None,
    };
    // Incremental with nothing new: commit nothing, keep the state as it is.
    let first = match next_rows(&mut batches, &mut tracker, deadline).await {
        // `delete_missing` still compares the keys when nothing is new.
        None if backfill || (incremental && stream.delete_missing.is_none()) => {
            tracing::info!(stream = %stream.name, "no new rows");
            if let Some(unit) = run.unit {
                plan::keep_unit(run, planned, unit, None, 0, previous.clone()).await?;
            }
            return Ok(StreamDone {
                cursor_after: previous.cursor.clone(),
                cursor_before: previous.cursor,
                ..Default::default()
            });
        }
        first => first,
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let pump = tokio::spawn(async move {
        let mut next = first;
        let mut n = 0u64;
        while let Some(mut item) = next.take() {
            if let Ok(b) = &item {
                tick.add(b.num_rows() as u64);
            }
            n += 1;
            crate::fault::point(&format!("batch-{n}"));
            if let Some(e) = crate::fault::fail("batch") {
                item = Err(e);
            }
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
            next = next_rows(&mut batches, &mut tracker, deadline).await;
        }
        tracker
    });
    let piped: BatchStream = Box::pin(ReceiverStream::new(rx));
    // Dictionary-encoded columns and Float16 reach the transform and every destination decoded
    // (as their value type and Float32): the one place they are cast (polars, for one, panics
    // on a dictionary).
    let (schema, piped) = match crate::formats::nested::plain_schema(&reader.schema) {
        None => (reader.schema, piped),
        Some(plain) => {
            let to = plain.clone();
            let piped: BatchStream = Box::pin(
                piped.map(move |b| b.and_then(|b| crate::formats::nested::cast_to(&b, &to))),
            );
            (plain, piped)
        }
    };
    // The stream's `transform:`, if any: checked against the schema before anything is written.
    let (schema, piped) = crate::transform::apply(stream, schema, piped)?;
    // `column_casing`: the destination gets the renamed columns, key columns mapped too.
    let (cased, schema, piped) = crate::spec::casing::apply(
        stream,
        stream.column_casing.unwrap_or_default(),
        schema,
        piped,
    )?;
    // Snapshot: every row gets the run's start time.
    let (schema, piped) = match planned.target.mode {
        Mode::Snapshot => modes::with_loaded_at(&cased, schema, piped, run.started)?,
        _ => (schema, piped),
    };
    let write_target = WriteTarget {
        stream: cased,
        ..planned.target.clone()
    };
    let (piped, written) = plan::count_rows(piped, run.unit.is_some());
    // Past the deadline the reader sends the timeout error, so the write fails and cleans up;
    // a write that does not wind down within the grace period is cut off.
    let staged = Deadline::bound(
        deadline,
        TIMEOUT_GRACE,
        destination.write(&write_target, schema, piped),
    )
    .await;
    let tracker = pump
        .await
        .map_err(|e| Error::run(format!("reader task failed: {e}")))?;
    let mut staged = staged?;
    if let (true, Some(how)) = (incremental, stream.delete_missing) {
        let deleted_at = run
            .started
            .format("%Y-%m-%d %H:%M:%S%.6f+00:00")
            .to_string();
        let keys = async {
            let mut request = ReadRequest::new(stream.clone(), spec.defaults.batch_size);
            request.keys_only = stream.primary_key.clone();
            let keys = source.read(request).await?;
            staged.missing_keys(how, &deleted_at, keys).await
        };
        if let Err(e) = Deadline::bound(deadline, TIMEOUT_GRACE, keys).await {
            let _ = staged.abort().await;
            return Err(e.context("reading the source's keys for `delete_missing`"));
        }
    }
    let bytes_written = staged.bytes_written();
    let schema_changes = staged.schema_changes();
    let (cursor, boundary) = match tracker {
        Some(t) => {
            if t.dropped > 0 {
                tracing::info!(stream = %stream.name, rows = t.dropped, "rows at the saved cursor value already written, skipped");
            }
            t.finish()
        }
        None => (previous.cursor.clone(), previous.boundary.clone()),
    };
    let mut files = if incremental {
        previous.files.clone()
    } else {
        Default::default()
    };
    files.extend(reader.files);
    let next = StreamState {
        cursor,
        boundary,
        files,
        commit: None,
        run_id: planned.target.run_id.clone(),
        updated_at: chrono::Utc::now().to_rfc3339(),
    };
    if let Some(unit) = run.unit {
        let rows = written.load(std::sync::atomic::Ordering::SeqCst);
        let cursor_after = next.cursor.clone();
        let next = StreamState {
            commit: previous.commit,
            ..next
        };
        plan::keep_unit(run, planned, unit, Some(staged), rows, next).await?;
        return Ok(StreamDone {
            rows,
            bytes_written,
            bytes_read: reader.bytes,
            cursor_before: previous.cursor,
            cursor_after: tracked.then_some(cursor_after).flatten(),
            schema_changes,
            ..Default::default()
        });
    }
    crate::fault::point("before-commit");
    let report = staged.commit().await?;
    crate::fault::point("after-commit");
    let cursor_before = previous.cursor.clone();
    let mut cursor_after = None;
    if tracked {
        cursor_after = save_committed(run, planned, previous.commit, next, &report).await?;
    }
    Ok(StreamDone {
        rows: report.rows,
        bytes_written,
        bytes_read: reader.bytes,
        outputs: report.outputs,
        cursor_before,
        cursor_after,
        schema_changes,
    })
}

/// After the destination committed a tracked stream: its commit marker (where it keeps them),
/// then the state. Returns the cursor saved.
async fn save_committed(
    run: &RunContext<'_>,
    planned: &PlannedStream,
    committed_before: Option<u64>,
    mut next: StreamState,
    report: &crate::connectors::WriteReport,
) -> Result<Option<CursorValue>> {
    let (stream, destination) = (&planned.target.stream, run.destination);
    let seq = committed_before.unwrap_or(0) + 1;
    let marker = crate::connectors::CommitMarker {
        seq,
        run_id: planned.target.run_id.clone(),
        stream: stream.name.clone(),
        written_at: next.updated_at.clone(),
        outputs: report.outputs.clone(),
        state: serde_json::to_value(StreamState {
            commit: Some(seq),
            ..next.clone()
        })
        .map_err(Error::run)?,
    };
    if destination
        .record_commit(&planned.target, &marker)
        .await
        .context("the data was published, but its commit marker could not be written (the next run removes the files and reads their rows again)")?
    {
        next.commit = Some(seq);
    }
    crate::fault::point("after-marker");
    let cursor_after = next.cursor.clone();
    save_stream(run, &stream.name, next).await.context(
        "the destination committed, but saving the state failed (the next run takes the cursor from the destination's commit marker where it keeps one, otherwise re-reads from the previous cursor)",
    )?;
    Ok(cursor_after)
}

/// The stream's state before this run: the state document's or, for a tracked stream, the
/// destination's newest commit when the state does not record it yet.
async fn previous_state(run: &RunContext<'_>, planned: &PlannedStream) -> Result<StreamState> {
    let stream = &planned.target.stream;
    let mut previous = run
        .state
        .lock()
        .await
        .streams
        .get(&stream.name)
        .cloned()
        .unwrap_or_default();
    let backfill = planned.target.mode == Mode::Backfill;
    if stream.mode == Mode::Incremental && !backfill {
        // The destination's commit is the source of truth: a run that committed but was
        // stopped before saving its state is taken from the destination's newest marker.
        if let Some(marker) = run.destination.last_commit(&planned.target).await? {
            previous = reconcile(run, &stream.name, previous, marker).await?;
        }
        crate::fault::point("reconciled");
    } else if matches!(planned.target.mode, Mode::Snapshot | Mode::Backfill) {
        // These runs append files without a commit marker: only a publish an earlier run left
        // cut short is rolled back here (the marker, if any, is for the incremental runs).
        run.destination.last_commit(&planned.target).await?;
    }
    Ok(previous)
}

/// Adopts the destination's newest commit marker when the state has not recorded it (a run
/// committed, then stopped before saving its state), and saves the state so.
async fn reconcile(
    run: &RunContext<'_>,
    stream: &str,
    previous: StreamState,
    marker: crate::connectors::CommitMarker,
) -> Result<StreamState> {
    let known = previous.commit.unwrap_or(0);
    if marker.seq <= known {
        if marker.seq < known {
            tracing::warn!(stream, state_commit = known, destination_commit = marker.seq, "the state records a later commit than the destination holds (were its commit markers removed?); continuing from the state");
        }
        return Ok(previous);
    }
    let mut adopted: StreamState = serde_json::from_value(marker.state).map_err(|e| {
        Error::run(format!(
            "commit marker {} of stream `{stream}` holds no readable state ({e})",
            marker.seq
        ))
    })?;
    adopted.commit = Some(marker.seq);
    tracing::warn!(
        stream,
        run_id = %marker.run_id,
        commit = marker.seq,
        "the destination holds a commit the state does not record (a run was stopped after publishing): continuing from the destination's commit"
    );
    save_stream(run, stream, adopted.clone())
        .await
        .context("saving the state taken from the destination's commit marker")?;
    Ok(adopted)
}

/// Saves one stream's state: a read-modify-write of the one document that changes only this
/// stream, so streams other processes saved meanwhile are kept (see [`state`]); saves of this
/// process are serialised under its lock.
async fn save_stream(run: &RunContext<'_>, stream: &str, next: StreamState) -> Result<()> {
    let mut state = run.state.lock().await;
    crate::fault::point("before-state-save");
    *state = run
        .state_location
        .save_stream(&run.spec.name, stream, &next)
        .await?;
    Ok(())
}

/// The next batch with rows after the tracker dropped those already written, if any.
async fn next_rows(
    batches: &mut BatchStream,
    tracker: &mut Option<cursor::CursorTracker>,
    deadline: Option<Deadline>,
) -> Option<Result<arrow::record_batch::RecordBatch>> {
    loop {
        let item = next_batch(batches, deadline).await?;
        let Some(t) = tracker.as_mut() else {
            return Some(item);
        };
        match item.and_then(|b| t.next(b)) {
            Ok(b) if b.num_rows() == 0 => continue,
            r => return Some(r),
        }
    }
}

/// The source's next batch, or the timeout error once the stream's deadline has passed.
async fn next_batch(
    batches: &mut BatchStream,
    deadline: Option<Deadline>,
) -> Option<Result<arrow::record_batch::RecordBatch>> {
    match deadline {
        None => batches.next().await,
        Some(d) => tokio::time::timeout_at(d.at, batches.next())
            .await
            .unwrap_or_else(|_| Some(Err(d.error()))),
    }
}

/// What every stream of a run shares.
#[derive(Clone, Copy)]
struct RunContext<'a> {
    spec: &'a Spec,
    source: &'a dyn Source,
    destination: &'a dyn Destination,
    /// The pipeline's state document; saves are serialised under its lock.
    state: &'a tokio::sync::Mutex<PipelineState>,
    state_location: &'a StateLocation,
    /// When the run started: `_etl_loaded_at` of snapshot streams, `_etl_deleted_at` of
    /// `delete_missing: soft`.
    started: chrono::DateTime<chrono::Utc>,
    /// A unit run of a plan: streams are staged and kept, not published.
    unit: Option<&'a plan::UnitRun>,
}

/// What a finished stream reports to the summary.
#[derive(Debug, Default)]
struct StreamDone {
    rows: u64,
    bytes_written: Option<u64>,
    bytes_read: Option<u64>,
    outputs: Vec<String>,
    cursor_before: Option<CursorValue>,
    cursor_after: Option<CursorValue>,
    schema_changes: Vec<crate::contract::SchemaChange>,
}
