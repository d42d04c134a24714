//! Avro object container files through arrow-avro.

use super::{Compression, Decompressor, Encoder, SharedBuf, WriteOptions};
use crate::connectors::BatchStream;
use crate::error::{Error, Result};
use arrow::array::AsArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_avro::compression::CompressionCodec;
use arrow_avro::writer::{AvroWriter, WriterBuilder};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct AvroEncoder {
    writer: AvroWriter<SharedBuf>,
    /// The schema written when maps with keys other than strings have them as text (Avro
    /// maps have string keys only).
    text_keys: Option<SchemaRef>,
}

impl Encoder for AvroEncoder {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let converted;
        let batch = match &self.text_keys {
            None => batch,
            Some(schema) => {
                converted = super::nested::cast_to(batch, schema)?;
                &converted
            }
        };
        // Avro's long is signed: arrow-avro refuses a larger uint64 without naming the column.
        for (f, a) in batch.schema().fields().iter().zip(batch.columns()) {
            if let Some(a) = a.as_primitive_opt::<arrow::datatypes::UInt64Type>() {
                if let Some((row, v)) = a
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| v.filter(|v| *v > i64::MAX as u64).map(|v| (i, v)))
                {
                    return Err(Error::run(format!(
                        "column `{}`, row {}: uint64 value {v} does not fit Avro's long (at most i64::MAX); write parquet, or cast the column to decimal(20,0) or string",
                        f.name(),
                        row + 1
                    )));
                }
            }
        }
        self.writer.write(batch)?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        self.writer.finish()?;
        Ok(())
    }
}

pub(super) fn encoder(
    schema: SchemaRef,
    options: &WriteOptions,
    buf: SharedBuf,
) -> Result<Box<dyn Encoder>> {
    let codec = match options.compression {
        Compression::Deflate => Some(CompressionCodec::Deflate),
        Compression::Snappy => Some(CompressionCodec::Snappy),
        Compression::Zstd => Some(CompressionCodec::ZStandard),
        _ => None,
    };
    let text_keys = super::nested::text_keys_schema(&schema);
    let writer = WriterBuilder::new(text_keys.as_ref().unwrap_or(&schema).as_ref().clone())
        .with_compression(codec)
        .build(buf)?;
    Ok(Box::new(AvroEncoder { writer, text_keys }))
}

/// A blocking `Read` over byte chunks sent from an async download, so arrow-avro's
/// synchronous reader can decode a file while it streams in (memory: a few chunks).
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
    progress: Arc<Progress>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.progress.step();
        while self.current.is_empty() {
            let chunk = self.progress.waiting(|| self.rx.blocking_recv());
            match chunk {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0), // sender finished: end of file
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// How long the decoder may run without reading input or producing a batch before the read
/// fails: arrow-avro 60 spins for ever on a block that holds more bytes than its records use
/// (a malformed file found by fuzzing), without reading further. `ETL_AVRO_STALL_SECS`
/// overrides it (tests).
const STALL: Duration = Duration::from_secs(30);

/// The Avro decoder's progress, watched for a stall: a counter of steps (input read, batch
/// made) and whether it is waiting (for input, or for the consumer), which is not a stall.
#[derive(Default)]
struct Progress {
    steps: AtomicU64,
    waiting: AtomicBool,
}

impl Progress {
    fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }

    fn waiting<T>(&self, f: impl FnOnce() -> T) -> T {
        self.waiting.store(true, Ordering::Relaxed);
        let out = f();
        self.waiting.store(false, Ordering::Relaxed);
        self.step();
        out
    }

    /// Resolves once the decoder has neither progressed nor waited for `limit`.
    async fn stalled(&self, limit: Duration) {
        let tick = Duration::from_millis(250).min(limit);
        let (mut last, mut since) = (self.steps.load(Ordering::Relaxed), Instant::now());
        loop {
            tokio::time::sleep(tick).await;
            let now = self.steps.load(Ordering::Relaxed);
            if now != last || self.waiting.load(Ordering::Relaxed) {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= limit {
                return;
            }
        }
    }
}

fn stall_limit() -> Duration {
    std::env::var("ETL_AVRO_STALL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(STALL, Duration::from_secs)
}

/// Decodes an Avro object container file as it downloads.
pub async fn read(
    mut bytes: BoxStream<'static, object_store::Result<Bytes>>,
    compression: Compression,
    batch_size: usize,
) -> Result<(arrow::datatypes::SchemaRef, BatchStream)> {
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut decompressor = match Decompressor::new(compression) {
            Ok(d) => d,
            Err(e) => {
                let _ = chunk_tx
                    .send(Err(std::io::Error::other(e.to_string())))
                    .await;
                return;
            }
        };
        while let Some(chunk) = bytes.next().await {
            let out = chunk
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|c| {
                    decompressor
                        .push(c)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                });
            let failed = out.is_err();
            if chunk_tx.send(out).await.is_err() || failed {
                return;
            }
        }
        if let Ok(rest) = decompressor.finish() {
            let _ = chunk_tx.send(Ok(rest)).await;
        }
    });
    let (schema_tx, schema_rx) = tokio::sync::oneshot::channel();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<arrow::record_batch::RecordBatch>>(
        crate::contract::CHANNEL_CAPACITY,
    );
    let progress = Arc::new(Progress::default());
    let (watched, stall_tx) = (progress.clone(), tx.clone());
    let decoder = tokio::task::spawn_blocking(move || {
        let input = std::io::BufReader::new(ChunkReader {
            rx: chunk_rx,
            current: Bytes::new(),
            progress: progress.clone(),
        });
        let reader = match arrow_avro::reader::ReaderBuilder::new()
            .with_batch_size(batch_size)
            .build(input)
        {
            Ok(r) => r,
            Err(e) => {
                let _ = schema_tx.send(Err(Error::from(e)));
                return;
            }
        };
        let _ = schema_tx.send(Ok(reader.schema()));
        for batch in reader {
            let item = batch.map_err(Error::from);
            let failed = item.is_err();
            if progress.waiting(|| tx.blocking_send(item)).is_err() || failed {
                return;
            }
        }
    });
    // A decoder stuck on a malformed block fails the read (its thread cannot be stopped; it
    // ends with the process).
    tokio::spawn(async move {
        let limit = stall_limit();
        tokio::select! {
            _ = decoder => {}
            _ = watched.stalled(limit) => {
                let _ = stall_tx
                    .send(Err(Error::Value(format!(
                        "the Avro decoder made no progress for {} s: a data block holds more bytes than its records use (a malformed file)",
                        limit.as_secs()
                    ))))
                    .await;
            }
        }
    });
    let schema = schema_rx
        .await
        .map_err(|_| Error::run("avro reader stopped before reading the header"))??;
    Ok((
        schema,
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    ))
}
