//! Avro object container files through arrow-avro.

use super::{Compression, Encoder, SharedBuf, WriteOptions};
use crate::error::Result;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_avro::compression::CompressionCodec;
use arrow_avro::writer::{AvroWriter, WriterBuilder};

struct AvroEncoder(AvroWriter<SharedBuf>);

impl Encoder for AvroEncoder {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(batch)?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        self.0.finish()?;
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
    let writer = WriterBuilder::new(schema.as_ref().clone())
        .with_compression(codec)
        .build(buf)?;
    Ok(Box::new(AvroEncoder(writer)))
}
