//! JSON (one array of objects) and JSON Lines through arrow-json.

use super::{Encoder, PushDecoder, SharedBuf, Sink, WriteOptions};
use crate::error::Result;
use arrow::array::{Array, AsArray, Float32Array, Float64Array};
use arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::reader::{infer_json_schema, Decoder};
use arrow::json::writer::{
    make_encoder, Encoder as JsonValueEncoder, EncoderFactory, EncoderOptions, JsonArray,
    JsonFormat, LineDelimited, NullableEncoder, Writer, WriterBuilder,
};
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use std::sync::{Arc, OnceLock};

struct JsonEncoder<F: JsonFormat>(Writer<Sink, F>);

impl<F: JsonFormat + Send> Encoder for JsonEncoder<F> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(&*super::zoned_text_exact(batch)?)?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        self.0.finish()?;
        self.0.into_inner().finish()
    }
}

pub(super) fn encoder(
    _schema: SchemaRef,
    options: &WriteOptions,
    buf: SharedBuf,
    lines: bool,
) -> Result<Box<dyn Encoder>> {
    let sink = Sink::new(buf, options.compression)?;
    // Explicit nulls keep every key in every row, so readers see NULL rather than a missing key.
    let builder = WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(NonFiniteAsText));
    Ok(if lines {
        Box::new(JsonEncoder(builder.build::<_, LineDelimited>(sink)))
    } else {
        Box::new(JsonEncoder(builder.build::<_, JsonArray>(sink)))
    })
}

/// JSON has no NaN or infinity, and arrow-json writes them as `null`: a silent change. They are
/// written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"` instead, which arrow-json
/// (and so etl, with a float `schema:` type) reads back as the same values.
#[derive(Debug)]
struct NonFiniteAsText;

/// The default encoders, for the finite values (no factory: it would call itself).
fn default_options() -> &'static EncoderOptions {
    static DEFAULT: OnceLock<EncoderOptions> = OnceLock::new();
    DEFAULT.get_or_init(EncoderOptions::default)
}

impl EncoderFactory for NonFiniteAsText {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> std::result::Result<Option<NullableEncoder<'a>>, ArrowError> {
        let values = match array.data_type() {
            DataType::Float32 => Floats::F32(array.as_primitive()),
            DataType::Float64 => Floats::F64(array.as_primitive()),
            _ => return Ok(None),
        };
        let inner = make_encoder(field, array, default_options())?;
        let nulls = array.nulls().cloned();
        Ok(Some(NullableEncoder::new(
            Box::new(FloatEncoder { values, inner }),
            nulls,
        )))
    }
}

enum Floats<'a> {
    F32(&'a Float32Array),
    F64(&'a Float64Array),
}

struct FloatEncoder<'a> {
    values: Floats<'a>,
    inner: NullableEncoder<'a>,
}

impl JsonValueEncoder for FloatEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = match self.values {
            Floats::F32(a) => f64::from(a.value(idx)),
            Floats::F64(a) => a.value(idx),
        };
        if v.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if v == f64::INFINITY {
            out.extend_from_slice(b"\"Infinity\"");
        } else if v == f64::NEG_INFINITY {
            out.extend_from_slice(b"\"-Infinity\"");
        } else {
            self.inner.encode(idx, out);
        }
    }
}

/// Infers a schema from the first whole lines of a JSON Lines file. Columns keep the order in
/// which the first record lists them (arrow's inference sorts them by name).
pub fn infer_schema(sample: &[u8], max_records: usize) -> Result<Schema> {
    let inferred = infer_json_schema(sample, Some(max_records))?.0;
    let first_line = sample
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    let order = serde_json::from_slice::<KeyOrder>(first_line)
        .map(|k| k.0)
        .unwrap_or_default();
    let rank = |name: &str| order.iter().position(|k| k == name).unwrap_or(usize::MAX);
    let mut fields: Vec<_> = inferred.fields().iter().cloned().collect();
    fields.sort_by_key(|f| rank(f.name()));
    Ok(Schema::new(fields))
}

/// Infers a schema from the start of a JSON file holding one array of objects: the complete
/// objects of the sample are inferred as JSON Lines.
pub fn infer_array_schema(sample: &[u8], max_records: usize) -> Result<Schema> {
    let mut lines = Vec::with_capacity(sample.len());
    for object in array_objects(sample).take(max_records) {
        lines.extend_from_slice(object);
        lines.push(b'\n');
    }
    infer_schema(&lines, max_records)
}

/// The complete top-level objects at the start of a JSON array (a partial last one is dropped).
fn array_objects(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace());
    let mut pos = match start {
        Some(i) if buf[i] == b'[' => i + 1,
        _ => buf.len(),
    };
    std::iter::from_fn(move || {
        while pos < buf.len() && (buf[pos].is_ascii_whitespace() || buf[pos] == b',') {
            pos += 1;
        }
        if pos >= buf.len() || buf[pos] != b'{' {
            return None;
        }
        let (begin, mut depth, mut in_string, mut escaped) = (pos, 0usize, false, false);
        while pos < buf.len() {
            let b = buf[pos];
            pos += 1;
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&buf[begin..pos]);
                    }
                }
                _ => {}
            }
        }
        None
    })
}

/// The keys of a JSON object, in document order.
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(V)
    }
}

struct JsonDecoder(Decoder);

impl PushDecoder for JsonDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize> {
        Ok(self.0.decode(buf)?)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.0.flush()?)
    }
}

pub fn decoder(schema: SchemaRef, batch_size: usize) -> Result<Box<dyn PushDecoder>> {
    Ok(Box::new(JsonDecoder(
        ReaderBuilder::new(schema)
            .with_batch_size(batch_size)
            .with_flatten(true)
            .build_decoder()?,
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn inferred_columns_keep_document_order() {
        let s = super::infer_schema(b"{\"b\": 1, \"a\": \"x\", \"c\": null}\n{\"c\": 2.5}\n", 10)
            .unwrap();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn array_objects_stop_at_a_partial_object() {
        let sample = b" [ {\"a\": \"x}\\\"\", \"n\": [1, 2], \"o\": {\"b\": \"]\"}},\n{\"a\": \"y\"}, {\"a\": ";
        let objects: Vec<&[u8]> = super::array_objects(sample).collect();
        assert_eq!(objects.len(), 2);
        let s = super::infer_array_schema(sample, 10).unwrap();
        assert_eq!(s.fields()[0].name(), "a");
    }
}
