//! JSON (one array of objects) and JSON Lines through arrow-json.
//!
//! Columns that hold JSON documents as text (PostgreSQL `json`/`jsonb`, MySQL `json`, a
//! `schema:` type `json`; see [`is_json_column`]) are written as the JSON values they are
//! (`"meta":{"k":[1,2]}`, not `"meta":"{\"k\": [1, 2]}"`), and a column declared `json` is
//! read back as each value's JSON text, whatever its JSON type.

use super::{Encoder, PushDecoder, SharedBuf, Sink, WriteOptions};
use crate::error::Result;
use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::reader::{
    infer_json_schema, ArrayDecoder, Decoder, DecoderContext, DecoderFactory, Tape, TapeElement,
};
use arrow::json::writer::{
    make_encoder, Encoder as JsonValueEncoder, EncoderFactory, EncoderOptions, JsonArray,
    JsonFormat, LineDelimited, NullableEncoder, Writer, WriterBuilder,
};
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use std::sync::{Arc, OnceLock};

/// The field metadata key naming an Arrow extension type.
pub const EXTENSION_KEY: &str = crate::contract::field_meta::EXTENSION_NAME;

/// Arrow's canonical extension type for UTF-8 text holding JSON (what `schema:` type `json`
/// tags a column with).
pub const JSON_EXTENSION: &str = "arrow.json";

/// Whether `field` holds JSON documents as text, as its metadata says: Arrow's `arrow.json`
/// extension type, a PostgreSQL `json`/`jsonb` column (`postgresql.type`) or a MySQL `json`
/// column (`mysql.type`, or `mysql.column_type` in files written before). The one place that
/// reads these keys for the formats.
pub fn is_json_column(field: &Field) -> bool {
    use crate::contract::field_meta::{
        source_type, EXTENSION_NAME, MYSQL_TYPE, MYSQL_TYPE_BEFORE, POSTGRESQL_TYPE,
    };
    let is = |value: Option<&str>, names: &[&str]| {
        value.is_some_and(|v| names.iter().any(|n| v.trim().eq_ignore_ascii_case(n)))
    };
    is(source_type(field, EXTENSION_NAME, &[]), &[JSON_EXTENSION])
        || is(source_type(field, POSTGRESQL_TYPE, &[]), &["json", "jsonb"])
        || is(
            source_type(field, MYSQL_TYPE, &[MYSQL_TYPE_BEFORE]),
            &["json"],
        )
}

/// Writes the text of JSON columns as raw JSON values.
fn json_columns<'a>(
    field: &'a FieldRef,
    array: &'a dyn Array,
    _options: &'a EncoderOptions,
) -> Made<'a> {
    if !is_json_column(field) {
        return Ok(None);
    }
    let Some(text) = array.as_string_opt::<i32>() else {
        return Ok(None);
    };
    // A value that is not JSON would make the whole file unreadable: refuse it here.
    for value in text.iter().flatten() {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(value) {
            let preview: String = value.chars().take(40).collect();
            return Err(ArrowError::JsonError(format!(
                "column `{}` holds JSON documents, but `{preview}` is not one ({e})",
                field.name()
            )));
        }
    }
    Ok(Some(NullableEncoder::new(
        Box::new(RawJson(text)),
        array.nulls().cloned(),
    )))
}

/// Copies each (checked) JSON text as it is. Line breaks can only be whitespace between tokens
/// in valid JSON (a string holds them escaped), so they become spaces: JSON Lines stays one
/// row per line.
struct RawJson<'a>(&'a StringArray);

impl arrow::json::writer::Encoder for RawJson<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.extend(self.0.value(idx).bytes().map(|b| match b {
            b'\n' | b'\r' => b' ',
            b => b,
        }));
    }
}

/// Reads columns declared `json` as each value's JSON text.
#[derive(Debug)]
struct JsonText;

impl DecoderFactory for JsonText {
    fn make_default_decoder(
        &self,
        _ctx: &DecoderContext,
        field: &FieldRef,
        _is_nullable: bool,
    ) -> std::result::Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        Ok(
            (is_json_column(field) && field.data_type() == &DataType::Utf8)
                .then(|| Box::new(JsonTextDecoder) as Box<dyn ArrayDecoder>),
        )
    }
}

struct JsonTextDecoder;

impl ArrayDecoder for JsonTextDecoder {
    fn decode(
        &mut self,
        tape: &Tape<'_>,
        pos: &[u32],
    ) -> std::result::Result<ArrayRef, ArrowError> {
        let mut out = StringBuilder::with_capacity(pos.len(), pos.len() * 16);
        let mut text = String::new();
        for &p in pos {
            if tape.get(p) == TapeElement::Null {
                out.append_null();
            } else {
                text.clear();
                write_json(tape, p, &mut text)?;
                out.append_value(&text);
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

/// Writes the value at `idx` of `tape` as compact JSON; returns the index after it.
fn write_json(tape: &Tape<'_>, idx: u32, out: &mut String) -> std::result::Result<u32, ArrowError> {
    let quote = |s: &str, out: &mut String| -> std::result::Result<(), ArrowError> {
        out.push_str(&serde_json::to_string(s).map_err(|e| ArrowError::JsonError(e.to_string()))?);
        Ok(())
    };
    Ok(match tape.get(idx) {
        open @ (TapeElement::StartObject(end) | TapeElement::StartList(end)) => {
            let object = matches!(open, TapeElement::StartObject(_));
            out.push(if object { '{' } else { '[' });
            // An object's elements alternate key, value: `"k":v,"k2":v2`.
            let (mut i, mut n) = (idx + 1, 0);
            while i < end {
                if n > 0 {
                    out.push(if object && n % 2 == 1 { ':' } else { ',' });
                }
                i = write_json(tape, i, out)?;
                n += 1;
            }
            out.push(if object { '}' } else { ']' });
            end + 1
        }
        TapeElement::String(s) => {
            quote(tape.get_string(s), out)?;
            idx + 1
        }
        TapeElement::Number(n) => {
            out.push_str(tape.get_string(n));
            idx + 1
        }
        TapeElement::True => {
            out.push_str("true");
            idx + 1
        }
        TapeElement::False => {
            out.push_str("false");
            idx + 1
        }
        TapeElement::Null => {
            out.push_str("null");
            idx + 1
        }
        // Only values handed over as Rust numbers (not parsed text) arrive as these.
        TapeElement::I64(high) => match tape.get(idx + 1) {
            TapeElement::I32(low) => {
                out.push_str(&(((high as i64) << 32) | (low as u32) as i64).to_string());
                idx + 2
            }
            _ => return Err(tape.error(idx, "a 64-bit integer")),
        },
        TapeElement::I32(v) => {
            out.push_str(&v.to_string());
            idx + 1
        }
        TapeElement::F64(high) => match tape.get(idx + 1) {
            TapeElement::F32(low) => {
                out.push_str(&f64::from_bits(((high as u64) << 32) | low as u64).to_string());
                idx + 2
            }
            _ => return Err(tape.error(idx, "a 64-bit float")),
        },
        TapeElement::F32(v) => {
            out.push_str(&f32::from_bits(v).to_string());
            idx + 1
        }
        _ => return Err(tape.error(idx, "a JSON value")),
    })
}

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
        .with_encoder_factory(Arc::new(JsonEncoders));
    Ok(if lines {
        Box::new(JsonEncoder(builder.build::<_, LineDelimited>(sink)))
    } else {
        Box::new(JsonEncoder(builder.build::<_, JsonArray>(sink)))
    })
}

/// etl's JSON encoders: `json`/`jsonb` text columns as JSON values ([`json_columns`]), NaN and
/// infinities as text ([`non_finite_as_text`]), maps with keys other than strings as objects keyed
/// by the keys' text ([`super::nested::map_keys_as_text`]), arrow-json's own for everything else.
/// Nested values written as JSON text anywhere else go through these too.
#[derive(Debug)]
pub(crate) struct JsonEncoders;

/// What one of etl's encoder makers returns: `None` leaves the column to the next maker.
pub(crate) type Made<'a> = std::result::Result<Option<NullableEncoder<'a>>, ArrowError>;

impl EncoderFactory for JsonEncoders {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        options: &'a EncoderOptions,
    ) -> std::result::Result<Option<NullableEncoder<'a>>, ArrowError> {
        for make in [
            json_columns,
            non_finite_as_text,
            super::nested::map_keys_as_text,
        ] {
            if let Some(e) = make(field, array, options)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }
}

/// The default encoders, for the finite values (no factory: it would call itself).
fn default_options() -> &'static EncoderOptions {
    static DEFAULT: OnceLock<EncoderOptions> = OnceLock::new();
    DEFAULT.get_or_init(EncoderOptions::default)
}

/// JSON has no NaN or infinity, and arrow-json writes them as `null`: a silent change. They are
/// written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"` instead, which arrow-json
/// (and so etl, with a float `schema:` type) reads back as the same values.
fn non_finite_as_text<'a>(
    field: &'a FieldRef,
    array: &'a dyn Array,
    _options: &'a EncoderOptions,
) -> Made<'a> {
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
///
/// Columns in `declared` (a stream's `schema:`) get their type from the spec, not from the
/// data: their values are left out of the inference, so a `json` column mixing objects, lists
/// and scalars (which arrow cannot infer one type for) does not fail it.
pub fn infer_schema(sample: &[u8], max_records: usize, declared: &[&str]) -> Result<Schema> {
    let blanked;
    let for_types = if declared.is_empty() {
        sample
    } else {
        blanked = blank_columns(sample, declared);
        &blanked[..]
    };
    let inferred = infer_json_schema(for_types, Some(max_records))
        .map_err(|e| {
            crate::error::Error::run(format!(
                "cannot infer the columns' types ({e}); a column holding JSON objects or lists in some rows and other values in others needs a type: declare it `json` in the stream's `schema:`"
            ))
        })?
        .0;
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

/// `sample` (JSON Lines) with the non-null values of the `names` keys replaced by `""`; lines
/// that are not one JSON object are kept as they are.
fn blank_columns(sample: &[u8], names: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sample.len());
    for line in sample.split(|b| *b == b'\n') {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line) {
            Ok(mut object) => {
                for n in names {
                    if let Some(v) = object.get_mut(*n).filter(|v| !v.is_null()) {
                        *v = serde_json::Value::String(String::new());
                    }
                }
                match serde_json::to_vec(&object) {
                    Ok(text) => out.extend_from_slice(&text),
                    Err(_) => out.extend_from_slice(line),
                }
            }
            Err(_) => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    out
}

/// Infers a schema from the start of a JSON file holding one array of objects: the complete
/// objects of the sample are inferred as JSON Lines.
pub fn infer_array_schema(sample: &[u8], max_records: usize, declared: &[&str]) -> Result<Schema> {
    let mut lines = Vec::with_capacity(sample.len());
    for object in array_objects(sample).take(max_records) {
        lines.extend_from_slice(object);
        lines.push(b'\n');
    }
    infer_schema(&lines, max_records, declared)
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
            .with_decoder_factory(Arc::new(JsonText))
            .build_decoder()?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn json_field(name: &str, key: &str, value: &str) -> Field {
        Field::new(name, DataType::Utf8, true)
            .with_metadata(HashMap::from([(key.to_string(), value.to_string())]))
    }

    #[test]
    fn json_columns_are_recognised_by_their_metadata() {
        assert!(is_json_column(&json_field("a", "postgresql.type", "jsonb")));
        assert!(is_json_column(&json_field("a", "postgresql.type", "json")));
        assert!(is_json_column(&json_field(
            "a",
            "mysql.column_type",
            "JSON"
        )));
        assert!(is_json_column(&json_field(
            "a",
            "ARROW:extension:name",
            "arrow.json"
        )));
        assert!(!is_json_column(&json_field("a", "postgresql.type", "text")));
        assert!(!is_json_column(&Field::new("a", DataType::Utf8, true)));
    }

    fn write(batch: &RecordBatch, lines: bool) -> Result<String> {
        let buf = SharedBuf::default();
        let options = WriteOptions {
            format: if lines {
                super::super::Format::Jsonl
            } else {
                super::super::Format::Json
            },
            compression: super::super::Compression::None,
            csv: Default::default(),
            row_group_size: 1,
        };
        let mut e = encoder(batch.schema(), &options, buf.clone(), lines)?;
        e.write(batch)?;
        e.finish()?;
        Ok(String::from_utf8(buf.take().to_vec()).unwrap())
    }

    #[test]
    fn json_values_are_written_as_json_and_read_back_as_text() {
        let schema = Arc::new(Schema::new(vec![
            json_field("meta", "postgresql.type", "jsonb"),
            Field::new("note", DataType::Utf8, true),
        ]));
        let meta = StringArray::from(vec![
            Some("{\"k\": [1, 2], \"s\": \"a\\\"b\\nc\"}"),
            None,
            Some("\"just text\""),
            Some("[\n  1.50,\n  null\n]"),
            Some("null"),
        ]);
        let note = StringArray::from(vec![Some("{\"k\": 1}"), None, None, None, None]);
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(meta), Arc::new(note)]).unwrap();
        let text = write(&batch, true).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 5, "one line per row: {text}");
        assert_eq!(
            rows[0]["meta"],
            serde_json::json!({"k": [1, 2], "s": "a\"b\nc"})
        );
        assert_eq!(
            rows[0]["note"], "{\"k\": 1}",
            "a text column stays a string"
        );
        assert!(rows[1]["meta"].is_null());
        assert_eq!(rows[2]["meta"], "just text");
        assert_eq!(rows[3]["meta"], serde_json::json!([1.50, null]));
        // Read back with the column declared json: each value's JSON text.
        let read_schema = Arc::new(Schema::new(vec![
            json_field("meta", "ARROW:extension:name", "arrow.json"),
            Field::new("note", DataType::Utf8, true),
        ]));
        let mut d = decoder(read_schema, 16).unwrap();
        d.decode(text.as_bytes()).unwrap();
        let back = d.flush().unwrap().unwrap();
        let m = back.column(0).as_string::<i32>();
        assert_eq!(m.value(0), "{\"k\":[1,2],\"s\":\"a\\\"b\\nc\"}");
        assert!(m.is_null(1));
        assert_eq!(m.value(2), "\"just text\"");
        assert_eq!(m.value(3), "[1.50,null]", "numbers keep their digits");
        assert!(m.is_null(4), "JSON null reads as NULL");
        // JSON (one array) too.
        let array: serde_json::Value =
            serde_json::from_str(&write(&batch, false).unwrap()).unwrap();
        assert_eq!(array[0]["meta"]["k"][1], 2);
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        let schema = Arc::new(Schema::new(vec![json_field(
            "meta",
            "ARROW:extension:name",
            "arrow.json",
        )]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec!["{\"a\": 1}", "{oops"]))],
        )
        .unwrap();
        let e = write(&batch, true).unwrap_err().to_string();
        assert!(e.contains("column `meta`") && e.contains("{oops"), "{e}");
    }

    #[test]
    fn inferred_columns_keep_document_order() {
        let sample = b"{\"b\": 1, \"a\": \"x\", \"c\": null}\n{\"c\": 2.5}\n";
        let s = super::infer_schema(sample, 10, &[]).unwrap();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        // Declared columns are left out of the inference, not out of the order.
        let s = super::infer_schema(sample, 10, &["b"]).unwrap();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn array_objects_stop_at_a_partial_object() {
        let sample = b" [ {\"a\": \"x}\\\"\", \"n\": [1, 2], \"o\": {\"b\": \"]\"}},\n{\"a\": \"y\"}, {\"a\": ";
        let objects: Vec<&[u8]> = super::array_objects(sample).collect();
        assert_eq!(objects.len(), 2);
        let s = super::infer_array_schema(sample, 10, &[]).unwrap();
        assert_eq!(s.fields()[0].name(), "a");
    }
}
