//! File formats as encoders and decoders over Arrow, independent of where the bytes live.
//!
//! Encoders write into a [`SharedBuf`] that the file connector drains into object storage after
//! every batch, so memory holds at most one batch's encoded bytes (plus, for Parquet, the row
//! group being built). Decoders are push-based: the connector feeds them byte chunks as they
//! arrive from storage.

pub mod avro;
pub mod csv;
pub mod json;
pub mod nested;
pub mod parquet;

use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::io::Write;
use std::sync::{Arc, Mutex};

crate::keyword_enum! {
    /// A file format (its word is also its file extension).
    #[derive(Hash)]
    pub enum Format: "format" {
        Parquet = "parquet",
        Csv = "csv",
        Json = "json",
        Jsonl = "jsonl",
        Avro = "avro",
    }
}

impl Format {
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The format and stream compression a file name implies (`x.csv.gz` -> CSV, gzip).
    pub fn from_file_name(name: &str) -> Option<(Format, Compression)> {
        let lower = name.to_ascii_lowercase();
        let (stem, compression) = if let Some(s) = lower.strip_suffix(".gz") {
            (s.to_string(), Compression::Gzip)
        } else if let Some(s) = lower.strip_suffix(".zst") {
            (s.to_string(), Compression::Zstd)
        } else {
            (lower, Compression::None)
        };
        let ext = stem.rsplit_once('.')?.1;
        let format = match ext {
            "parquet" | "pq" => Format::Parquet,
            "csv" | "tsv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "avro" => Format::Avro,
            _ => return None,
        };
        Some((format, compression))
    }

    /// Compressions this format accepts on write, the first being the default.
    pub fn compressions(self) -> &'static [Compression] {
        use Compression::*;
        match self {
            Format::Parquet => &[Snappy, Zstd, Gzip, Lz4, None],
            Format::Csv | Format::Json | Format::Jsonl => &[None, Gzip, Zstd],
            Format::Avro => &[None, Deflate, Snappy, Zstd],
        }
    }
}

crate::keyword_enum! {
    /// A compression codec (whole-file for CSV/JSON, per page or block for Parquet/Avro).
    pub enum Compression: "compression" {
        None = "none" | "uncompressed" | "null",
        Snappy = "snappy",
        Gzip = "gzip" | "gz",
        Zstd = "zstd",
        Lz4 = "lz4",
        Deflate = "deflate",
    }
}

impl Compression {
    /// The suffix added after the format's extension for whole-file compression.
    pub fn file_suffix(self, format: Format) -> &'static str {
        match (format, self) {
            (Format::Csv | Format::Json | Format::Jsonl, Compression::Gzip) => ".gz",
            (Format::Csv | Format::Json | Format::Jsonl, Compression::Zstd) => ".zst",
            _ => "",
        }
    }
}

/// CSV dialect options, shared by reading and writing.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub header: bool,
    pub quote: u8,
    /// The text of a NULL (default: an empty unquoted field).
    pub null_value: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            header: true,
            quote: b'"',
            null_value: String::new(),
        }
    }
}

/// Everything an encoder needs besides the schema.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub format: Format,
    pub compression: Compression,
    pub csv: CsvOptions,
    /// Parquet: rows per row group.
    pub row_group_size: usize,
}

/// A growable byte buffer shared between an encoder (which writes) and the uploader (which
/// drains it after every batch).
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Takes every byte written so far.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Streams batches of one schema into one file's bytes.
pub trait Encoder: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Writes any footer and flushes compression.
    fn finish(self: Box<Self>) -> Result<()>;
    /// Encoded bytes held back from the output so far (a Parquet row group in progress,
    /// estimated): `max_bytes_per_file` counts them.
    fn buffered_bytes(&self) -> usize {
        0
    }
}

/// A byte sink with optional whole-file compression (gzip / zstd) for the text formats.
pub(crate) enum Sink {
    Plain(SharedBuf),
    Gzip(flate2::write::GzEncoder<SharedBuf>),
    Zstd(zstd::stream::write::Encoder<'static, SharedBuf>),
}

impl Sink {
    pub(crate) fn new(buf: SharedBuf, compression: Compression) -> Result<Sink> {
        Ok(match compression {
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                buf,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Sink::Zstd(zstd::stream::write::Encoder::new(buf, 3)?),
            _ => Sink::Plain(buf),
        })
    }

    pub(crate) fn finish(self) -> Result<()> {
        match self {
            Sink::Plain(_) => {}
            Sink::Gzip(g) => {
                g.finish()?;
            }
            Sink::Zstd(z) => {
                z.finish()?;
            }
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(b) => b.write(buf),
            Sink::Gzip(g) => g.write(buf),
            Sink::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(b) => b.flush(),
            Sink::Gzip(g) => g.flush(),
            Sink::Zstd(z) => z.flush(),
        }
    }
}

/// An encoder for `options.format` writing into `buf`.
pub fn encoder(
    schema: SchemaRef,
    options: &WriteOptions,
    buf: SharedBuf,
) -> Result<Box<dyn Encoder>> {
    if !options.format.compressions().contains(&options.compression) {
        return Err(Error::spec(format!(
            "compression `{}` is not available for {} (choose one of {})",
            options.compression,
            options.format,
            options
                .format
                .compressions()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    match options.format {
        Format::Parquet => parquet::encoder(schema, options, buf),
        Format::Csv => csv::encoder(schema, options, buf),
        Format::Json => json::encoder(schema, options, buf, false),
        Format::Jsonl => json::encoder(schema, options, buf, true),
        Format::Avro => avro::encoder(schema, options, buf),
    }
}

/// Decompresses a byte stream chunk by chunk (push-based, so it works on async chunks).
pub enum Decompressor {
    None,
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl Decompressor {
    pub fn new(compression: Compression) -> Result<Self> {
        Ok(match compression {
            Compression::Gzip => {
                Decompressor::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
            }
            Compression::Zstd => {
                Decompressor::Zstd(Box::new(zstd::stream::write::Decoder::new(Vec::new())?))
            }
            _ => Decompressor::None,
        })
    }

    /// Feeds compressed bytes; returns whatever decompressed bytes are ready.
    pub fn push(&mut self, chunk: bytes::Bytes) -> Result<bytes::Bytes> {
        Ok(match self {
            Decompressor::None => chunk,
            Decompressor::Gzip(d) => {
                d.write_all(&chunk)?;
                std::mem::take(d.get_mut()).into()
            }
            Decompressor::Zstd(d) => {
                d.write_all(&chunk)?;
                std::mem::take(d.get_mut()).into()
            }
        })
    }

    /// Flushes the end of the stream.
    pub fn finish(&mut self) -> Result<bytes::Bytes> {
        Ok(match self {
            Decompressor::None => bytes::Bytes::new(),
            Decompressor::Gzip(d) => {
                d.try_finish()?;
                std::mem::take(d.get_mut()).into()
            }
            Decompressor::Zstd(d) => {
                d.flush()?;
                std::mem::take(d.get_mut()).into()
            }
        })
    }
}

/// Text formats write a zoned timestamp as local time plus its UTC offset in minutes. Two
/// kinds of instant have no exact such text: an offset that is not whole minutes (Berlin's
/// local mean time before 1893 is +00:53:28; the text would drop 28 seconds) and a local time
/// past year 9999 or before year 1 (9999-12-31T23:59:59Z is `+10000-01-01T13:59:59+14:00` in
/// Kiritimati, which no reader parses). A zoned column holding such an instant is written in
/// UTC instead, so the text names the same instant. Other columns and batches are untouched.
pub(crate) fn zoned_text_exact(batch: &RecordBatch) -> Result<std::borrow::Cow<'_, RecordBatch>> {
    use arrow::array::{Array, ArrayRef, AsArray};
    use arrow::datatypes::{DataType, TimeUnit};
    use chrono::Offset;
    let needs_utc = |a: &ArrayRef| -> bool {
        let DataType::Timestamp(unit, Some(zone)) = a.data_type() else {
            return false;
        };
        let Ok(tz) = zone.parse::<arrow::array::timezone::Tz>() else {
            return false;
        };
        let seconds = |v: i64| -> Option<i64> {
            Some(match unit {
                TimeUnit::Second => v,
                TimeUnit::Millisecond => v.div_euclid(1_000),
                TimeUnit::Microsecond => v.div_euclid(1_000_000),
                TimeUnit::Nanosecond => v.div_euclid(1_000_000_000),
            })
        };
        // A timestamp array's raw values are i64 in its unit.
        let Ok(raw) = arrow::compute::cast(a, &DataType::Int64) else {
            return false;
        };
        let values: Vec<i64> = raw
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .flatten()
            .collect();
        values.into_iter().filter_map(seconds).any(|s| {
            chrono::DateTime::from_timestamp(s, 0).is_some_and(|utc| {
                let local = utc.with_timezone(&tz);
                local.offset().fix().local_minus_utc() % 60 != 0
                    || !(1..=9999).contains(&chrono::Datelike::year(&local))
            })
        })
    };
    if !batch.columns().iter().any(needs_utc) {
        return Ok(std::borrow::Cow::Borrowed(batch));
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, a) in batch.schema().fields().iter().zip(batch.columns()) {
        if needs_utc(a) {
            let DataType::Timestamp(unit, _) = a.data_type() else {
                unreachable!("needs_utc is only true for timestamps");
            };
            let utc = DataType::Timestamp(*unit, Some("+00:00".into()));
            columns.push(arrow::compute::cast(a, &utc)?);
            fields.push(f.as_ref().clone().with_data_type(utc));
        } else {
            columns.push(a.clone());
            fields.push(f.as_ref().clone());
        }
    }
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    Ok(std::borrow::Cow::Owned(RecordBatch::try_new(
        schema, columns,
    )?))
}

/// A push decoder for a row-oriented text format (CSV, JSON lines).
pub trait PushDecoder: Send {
    /// Consumes a prefix of `buf`, returning how many bytes were used. Returns 0 when a batch
    /// is full and must be flushed.
    fn decode(&mut self, buf: &[u8]) -> Result<usize>;
    /// The rows decoded since the last flush.
    fn flush(&mut self) -> Result<Option<RecordBatch>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_imply_format_and_compression() {
        assert_eq!(
            Format::from_file_name("a/b.csv.gz"),
            Some((Format::Csv, Compression::Gzip))
        );
        assert_eq!(
            Format::from_file_name("x.PARQUET"),
            Some((Format::Parquet, Compression::None))
        );
        assert_eq!(
            Format::from_file_name("x.jsonl.zst"),
            Some((Format::Jsonl, Compression::Zstd))
        );
        assert_eq!(Format::from_file_name("x.txt"), None);
    }

    #[test]
    fn decompressor_round_trips_gzip_in_chunks() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello world, hello world").unwrap();
        let data = enc.finish().unwrap();
        let mut d = Decompressor::new(Compression::Gzip).unwrap();
        let mut out = Vec::new();
        for chunk in data.chunks(5) {
            out.extend_from_slice(&d.push(bytes::Bytes::copy_from_slice(chunk)).unwrap());
        }
        out.extend_from_slice(&d.finish().unwrap());
        assert_eq!(out, b"hello world, hello world");
    }
}
