//! Parquet through the parquet crate's Arrow writer and async reader.

use super::{Compression, Encoder, SharedBuf, WriteOptions};
use crate::connectors::BatchStream;
use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::basic::{Compression as PqCompression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// Rows per row group when the spec does not say: small enough to bound the writer's memory,
/// large enough for good compression and scan speed.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 122_880;

struct ParquetEncoder(ArrowWriter<SharedBuf>);

impl Encoder for ParquetEncoder {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(batch)?;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        self.0.close()?;
        Ok(())
    }
    fn buffered_bytes(&self) -> usize {
        self.0.in_progress_size()
    }
}

pub(super) fn encoder(
    schema: SchemaRef,
    options: &WriteOptions,
    buf: SharedBuf,
) -> Result<Box<dyn Encoder>> {
    let compression = match options.compression {
        Compression::Snappy => PqCompression::SNAPPY,
        Compression::Zstd => PqCompression::ZSTD(ZstdLevel::default()),
        Compression::Gzip => PqCompression::GZIP(GzipLevel::default()),
        Compression::Lz4 => PqCompression::LZ4_RAW,
        _ => PqCompression::UNCOMPRESSED,
    };
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(options.row_group_size.max(1)))
        .build();
    Ok(Box::new(ParquetEncoder(ArrowWriter::try_new(
        buf,
        schema,
        Some(props),
    )?)))
}

/// Opens a Parquet object for streaming reads, one row group at a time.
// `ParquetObjectReader` is deprecated upstream in favour of a hand-written `AsyncFileReader`;
// it still does exactly what we need (ranged GETs through object_store).
#[allow(deprecated)]
pub async fn read(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    batch_size: usize,
) -> Result<(SchemaRef, BatchStream)> {
    let mut reader =
        ParquetObjectReader::new(store, meta.location.clone()).with_file_size(meta.size);
    let mut metadata = ArrowReaderMetadata::load_async(&mut reader, Default::default()).await?;
    if let Some(schema) = int96_as_micros(&metadata) {
        metadata = ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )?;
    }
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
    let schema = builder.schema().clone();
    let stream = builder.with_batch_size(batch_size).build()?;
    Ok((schema, stream.map_err(Error::from).boxed()))
}

/// The file's Arrow schema with its top-level INT96 columns (Spark's, Impala's and Hive's
/// legacy timestamps) read as microsecond timestamps, or `None` when it has none. Read as
/// nanoseconds (the parquet crate's default) any date outside 1677-2262 overflows into a wrong
/// value; microseconds hold years 1-9999 and are what every destination stores.
fn int96_as_micros(metadata: &ArrowReaderMetadata) -> Option<SchemaRef> {
    use arrow::datatypes::{DataType, Schema, TimeUnit};
    use parquet::basic::Type as Physical;
    let columns = metadata
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields();
    let schema = metadata.schema();
    if columns.len() != schema.fields().len() {
        return None;
    }
    let mut changed = false;
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(f, c)| match f.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, tz)
                if c.is_primitive() && c.get_physical_type() == Physical::INT96 =>
            {
                changed = true;
                let micros = DataType::Timestamp(TimeUnit::Microsecond, tz.clone());
                Arc::new(f.as_ref().clone().with_data_type(micros))
            }
            _ => f.clone(),
        })
        .collect();
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}
