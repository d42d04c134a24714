//! The run loop: resolves streams, pipes each source stream into the destination through a
//! bounded channel, commits, and reports. Connectors know nothing of modes or progress.

pub mod summary;

use crate::connectors::{BatchStream, Destination, ReadRequest, Source, WriteTarget};
use crate::error::{Error, Result, ResultExt};
use crate::spec::{Mode, Spec, StreamSpec};
use futures::StreamExt;
use std::time::Instant;
pub use summary::{RunSummary, StreamStatus, StreamSummary};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Batches buffered between a source and a destination. Small on purpose: memory must not grow
/// with table size, only with batch size.
pub const CHANNEL_CAPACITY: usize = 2;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only these streams (all when empty).
    pub select: Vec<String>,
    /// Treat every stream as `full_refresh`.
    pub full_refresh: bool,
    /// Print the plan, read and write nothing.
    pub dry_run: bool,
}

/// A stream as the runner will run it.
#[derive(Debug, Clone)]
pub struct PlannedStream {
    pub target: WriteTarget,
    pub destination: String,
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
    let streams: Vec<StreamSpec> = if spec.streams.is_empty() {
        source.default_streams().await?
    } else {
        spec.streams.clone()
    };
    for s in &options.select {
        if !streams.iter().any(|x| &x.name == s) {
            let names: Vec<&str> = streams.iter().map(|x| x.name.as_str()).collect();
            return Err(Error::spec(format!(
                "--select {s}: no such stream (streams: {})",
                names.join(", ")
            )));
        }
    }
    let planned: Vec<PlannedStream> = streams
        .into_iter()
        .filter(|s| options.select.is_empty() || options.select.contains(&s.name))
        .map(|stream| {
            let mode = if options.full_refresh {
                Mode::FullRefresh
            } else {
                stream.mode
            };
            let target = WriteTarget {
                stream,
                mode,
                run_id: run_id.to_string(),
            };
            let destination = destination.describe(&target);
            PlannedStream {
                target,
                destination,
            }
        })
        .collect();
    if let Some(p) = planned.iter().find(|p| p.target.mode == Mode::Incremental) {
        return Err(Error::spec(format!(
            "stream `{}`: mode `incremental` is not supported by this build yet (saved cursor state is still to come); use `full_refresh` or run with --full-refresh",
            p.target.stream.name
        )));
    }
    Ok(planned)
}

/// Runs every planned stream and returns the summary. Setup errors (bad spec, unreachable
/// source while planning) are returned as `Err`; per-stream failures are in the summary.
pub async fn run(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    planned: Vec<PlannedStream>,
    run_id: &str,
) -> Result<RunSummary> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    // Everything that can fail without writing is checked before the first stream starts.
    for p in &planned {
        destination
            .preflight(&p.target)
            .await
            .with_context(|| format!("stream `{}`", p.target.stream.name))?;
    }
    let mut streams = Vec::with_capacity(planned.len());
    for p in planned {
        let name = p.target.stream.name.clone();
        tracing::info!(stream = %name, mode = %p.target.mode, destination = %p.destination, "stream started");
        let t = Instant::now();
        let result = run_stream(spec, source, destination, &p).await;
        let secs = t.elapsed().as_secs_f64();
        let summary = match result {
            Ok((rows, bytes, outputs)) => {
                tracing::info!(
                    stream = %name,
                    rows,
                    seconds = format!("{secs:.2}"),
                    rows_per_sec = format!("{:.0}", rows as f64 / secs.max(1e-9)),
                    "stream finished"
                );
                StreamSummary {
                    name,
                    status: StreamStatus::Succeeded,
                    mode: p.target.mode,
                    rows,
                    bytes,
                    outputs,
                    seconds: secs,
                    error: None,
                }
            }
            Err(e) => {
                let e = e.context(format!("stream `{name}`"));
                let message = crate::error::full_message(&e);
                tracing::error!(stream = %name, "stream failed: {message}");
                StreamSummary {
                    name,
                    status: StreamStatus::Failed,
                    mode: p.target.mode,
                    rows: 0,
                    bytes: 0,
                    outputs: Vec::new(),
                    seconds: secs,
                    error: Some(message),
                }
            }
        };
        streams.push(summary);
    }
    Ok(RunSummary {
        name: spec.name.clone(),
        run_id: run_id.to_string(),
        started_at: started.to_rfc3339(),
        seconds: t0.elapsed().as_secs_f64(),
        source: spec.source.connector_type().to_string(),
        destination: spec.destination.connector_type().to_string(),
        streams,
    })
}

/// Moves one stream: read -> bounded channel -> staged write -> commit.
async fn run_stream(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    planned: &PlannedStream,
) -> Result<(u64, u64, Vec<String>)> {
    let reader = source
        .read(ReadRequest {
            stream: planned.target.stream.clone(),
            batch_size: spec.defaults.batch_size,
        })
        .await?;
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let counters = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bytes_seen = counters.clone();
    let mut batches = reader.batches;
    let pump = tokio::spawn(async move {
        while let Some(item) = batches.next().await {
            if let Ok(b) = &item {
                bytes_seen.fetch_add(
                    b.get_array_memory_size() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    let piped: BatchStream = Box::pin(ReceiverStream::new(rx));
    let staged = destination
        .write(&planned.target, reader.schema, piped)
        .await;
    pump.abort();
    let report = staged?.commit().await?;
    Ok((
        report.rows,
        counters.load(std::sync::atomic::Ordering::Relaxed),
        report.outputs,
    ))
}
