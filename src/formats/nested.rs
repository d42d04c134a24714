//! Nested values (lists, structs, maps) as JSON text, and the legacy Arrow types every
//! destination receives decoded: the one place both the file formats and the SQL drivers use.
//!
//! A destination without a native type for a nested value stores its JSON text (CSV cells,
//! SQLite `JSON`, MySQL `JSON`, PostgreSQL `jsonb`, SQL Server `NVARCHAR(MAX)`, Oracle `CLOB`).
//! The text is what the JSON and JSON Lines writers put in the file for the same value:
//! lists are arrays, structs objects, maps objects keyed by the key's text — a map whose keys
//! are not strings (`map<int64, ...>`) has its keys written as their text (`{"1": "a"}`), which
//! an Arrow JSON reader told the map's key type reads back as the same keys. NaN and
//! infinities are the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, binary values hex text,
//! dates and timestamps ISO 8601 text.

use crate::error::{Error, Result};
use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::writer::{
    make_encoder, Encoder as JsonValueEncoder, EncoderOptions, NullableEncoder,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::sync::Arc;

/// Whether values of `data_type` are nested: lists (of any kind), structs and maps.
pub fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

/// Each value of `array` (a column described by `field`) as compact JSON text; NULL stays NULL.
pub fn json_text(field: &FieldRef, array: &dyn Array) -> Result<ArrayRef> {
    let options = EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(super::json::JsonEncoders));
    let mut encoder = make_encoder(field, array, &options).map_err(|e| {
        Error::run(format!(
            "column `{}`: cannot write its values as JSON ({e})",
            field.name()
        ))
    })?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 32);
    let mut buf = Vec::with_capacity(256);
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
            continue;
        }
        buf.clear();
        encoder.encode(i, &mut buf);
        let text = std::str::from_utf8(&buf).map_err(|e| {
            Error::run(format!(
                "column `{}`, row {}: its JSON text is not UTF-8 ({e})",
                field.name(),
                i + 1
            ))
        })?;
        out.append_value(text);
    }
    Ok(Arc::new(out.finish()))
}

/// The field a nested column becomes when it is written as JSON text: Utf8 tagged with Arrow's
/// `arrow.json` extension name (so a JSON writer writes the values, not strings of them).
pub fn json_field(field: &Field) -> Field {
    let mut meta = field.metadata().clone();
    meta.insert(
        crate::contract::field_meta::EXTENSION_NAME.to_string(),
        super::json::JSON_EXTENSION.to_string(),
    );
    Field::new(field.name(), DataType::Utf8, field.is_nullable()).with_metadata(meta)
}

/// `batch` with every column whose field `as_json` picks replaced by its JSON text
/// ([`json_text`], [`json_field`]); the batch itself when none is picked.
pub fn with_json_text(
    batch: &RecordBatch,
    as_json: impl Fn(&Field) -> bool,
) -> Result<std::borrow::Cow<'_, RecordBatch>> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| as_json(f)) {
        return Ok(std::borrow::Cow::Borrowed(batch));
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        if as_json(f) {
            columns.push(json_text(f, a.as_ref())?);
            fields.push(json_field(f));
        } else {
            columns.push(a.clone());
            fields.push(f.as_ref().clone());
        }
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    Ok(std::borrow::Cow::Owned(RecordBatch::try_new(
        Arc::new(schema),
        columns,
    )?))
}

/// Reads JSON text (what [`json_text`] writes) back into values of `field`'s nested type:
/// how the CSV reader takes a column whose `schema:` type is a list, struct or map.
pub fn from_json_text(field: &Field, text: &arrow::array::StringArray) -> Result<ArrayRef> {
    let schema = Arc::new(Schema::new(vec![field.clone().with_name("v")]));
    let mut lines = Vec::with_capacity(text.len() * 16);
    for value in text.iter() {
        lines.extend_from_slice(b"{\"v\":");
        lines.extend_from_slice(value.unwrap_or("null").as_bytes());
        lines.extend_from_slice(b"}\n");
    }
    let bad = |e: ArrowError| {
        Error::run(format!(
            "column `{}`: a value is not {} written as JSON ({e})",
            field.name(),
            field.data_type()
        ))
    };
    let mut decoder = arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(text.len().max(1))
        .build_decoder()
        .map_err(bad)?;
    let mut rest = &lines[..];
    while !rest.is_empty() {
        let n = decoder.decode(rest).map_err(bad)?;
        if n == 0 {
            break;
        }
        rest = &rest[n..];
    }
    let batch = decoder.flush().map_err(bad)?;
    match batch {
        Some(b) if b.num_rows() == text.len() => Ok(b.column(0).clone()),
        _ => Err(Error::run(format!(
            "column `{}`: its JSON values did not read as {} rows",
            field.name(),
            text.len()
        ))),
    }
}

/// Writes maps whose keys are not strings as JSON objects keyed by each key's text (arrow-json
/// refuses them: "Only UTF8 keys supported by JSON MapArray Writer").
pub(crate) fn map_keys_as_text<'a>(
    _field: &'a FieldRef,
    array: &'a dyn Array,
    options: &'a EncoderOptions,
) -> super::json::Made<'a> {
    let DataType::Map(entries, _) = array.data_type() else {
        return Ok(None);
    };
    let DataType::Struct(kv) = entries.data_type() else {
        return Ok(None);
    };
    if kv.len() != 2
        || matches!(
            kv[0].data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    {
        return Ok(None);
    }
    let map = array.as_map();
    let keys = ArrayFormatter::try_new(map.keys().as_ref(), key_format())?;
    let values = make_encoder(&kv[1], map.values().as_ref(), options)?;
    Ok(Some(NullableEncoder::new(
        Box::new(MapEncoder {
            offsets: map.value_offsets(),
            keys,
            values,
            key: String::new(),
        }),
        map.nulls().cloned(),
    )))
}

/// Map keys' text: what CSV writes for the same value (errors stay errors).
fn key_format() -> &'static FormatOptions<'static> {
    static OPTIONS: std::sync::OnceLock<FormatOptions<'static>> = std::sync::OnceLock::new();
    OPTIONS.get_or_init(|| FormatOptions::default().with_display_error(false))
}

struct MapEncoder<'a> {
    offsets: &'a [i32],
    keys: ArrayFormatter<'a>,
    values: NullableEncoder<'a>,
    key: String,
}

impl JsonValueEncoder for MapEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        use std::fmt::Write as _;
        let (start, end) = (self.offsets[idx] as usize, self.offsets[idx + 1] as usize);
        out.push(b'{');
        for j in start..end {
            if j > start {
                out.push(b',');
            }
            self.key.clear();
            // A key that cannot be formatted is written as its position: never a panic.
            if write!(self.key, "{}", self.keys.value(j)).is_err() {
                self.key = j.to_string();
            }
            if serde_json::to_writer(&mut *out, &self.key).is_err() {
                out.extend_from_slice(b"\"\"");
            }
            out.push(b':');
            if self.values.is_null(j) {
                out.extend_from_slice(b"null");
            } else {
                self.values.encode(j, out);
            }
        }
        out.push(b'}');
    }
}

/// `data_type` with the types no destination needs to know about replaced, at any depth:
/// dictionaries by their value type, Float16 by Float32.
pub fn plain_type(data_type: &DataType) -> DataType {
    let field =
        |f: &FieldRef| Arc::new(f.as_ref().clone().with_data_type(plain_type(f.data_type())));
    match data_type {
        DataType::Dictionary(_, v) => plain_type(v),
        DataType::Float16 => DataType::Float32,
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::ListView(f) => DataType::List(field(f)),
        DataType::LargeListView(f) => DataType::LargeList(field(f)),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// `schema` with [`plain_type`]s, or `None` when it has none to replace.
pub fn plain_schema(schema: &SchemaRef) -> Option<SchemaRef> {
    retyped(schema, plain_type)
}

/// `data_type` with every map's keys, at any depth, as their text (Utf8): what Avro, whose
/// maps have string keys only, stores (the same text the JSON writers key objects by).
pub fn text_keys_type(data_type: &DataType) -> DataType {
    let field = |f: &FieldRef| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(text_keys_type(f.data_type())),
        )
    };
    match data_type {
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(field).collect::<Fields>()),
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return data_type.clone();
            };
            let kv: Fields = kv
                .iter()
                .enumerate()
                .map(|(i, f)| match (i, f.data_type()) {
                    (0, DataType::Utf8 | DataType::LargeUtf8) => f.clone(),
                    (0, _) => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8)),
                    _ => field(f),
                })
                .collect();
            let entries = entries
                .as_ref()
                .clone()
                .with_data_type(DataType::Struct(kv));
            DataType::Map(Arc::new(entries), *sorted)
        }
        other => other.clone(),
    }
}

/// `schema` with [`text_keys_type`]s, or `None` when it has no map with other keys.
pub fn text_keys_schema(schema: &SchemaRef) -> Option<SchemaRef> {
    retyped(schema, text_keys_type)
}

fn retyped(schema: &SchemaRef, to: fn(&DataType) -> DataType) -> Option<SchemaRef> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(to(f.data_type())))
        .collect();
    if fields
        .iter()
        .zip(schema.fields())
        .all(|(a, b)| a.data_type() == b.data_type())
    {
        return None;
    }
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

/// `batch` cast to `plain` (from [`plain_schema`] or [`text_keys_schema`] of its schema).
pub fn cast_to(batch: &RecordBatch, plain: &SchemaRef) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (a, f) in batch.columns().iter().zip(plain.fields()) {
        if a.data_type() == f.data_type() {
            columns.push(a.clone());
        } else {
            columns.push(arrow::compute::cast(a, f.data_type()).map_err(|e| {
                Error::run(format!(
                    "column `{}`: cannot convert {} to {} ({e})",
                    f.name(),
                    a.data_type(),
                    f.data_type()
                ))
            })?);
        }
    }
    Ok(RecordBatch::try_new(plain.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder, StringArray,
        StringBuilder, StructArray,
    };

    fn texts(a: &ArrayRef) -> Vec<Option<String>> {
        a.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn lists_structs_and_maps_are_json() {
        let mut list = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
        list.values().values().append_value(1.5);
        list.values().values().append_value(f64::NAN);
        list.values().append(true);
        list.values().append(false);
        list.append(true);
        list.append(false);
        let list: ArrayRef = Arc::new(list.finish());
        let f = Arc::new(Field::new("l", list.data_type().clone(), true));
        assert_eq!(
            texts(&json_text(&f, list.as_ref()).unwrap()),
            [Some("[[1.5,\"NaN\"],null]".to_string()), None]
        );

        let mut map = MapBuilder::new(None, Int64Builder::new(), StringBuilder::new());
        map.keys().append_value(1);
        map.values().append_value("a\"b");
        map.keys().append_value(-20);
        map.values().append_null();
        map.append(true).unwrap();
        map.append(true).unwrap();
        let map: ArrayRef = Arc::new(map.finish());
        let f = Arc::new(Field::new("m", map.data_type().clone(), true));
        assert_eq!(
            texts(&json_text(&f, map.as_ref()).unwrap()),
            [
                Some("{\"1\":\"a\\\"b\",\"-20\":null}".to_string()),
                Some("{}".to_string())
            ]
        );

        let s: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int32, true)),
                Arc::new({
                    let mut b = Int32Builder::new();
                    b.append_value(7);
                    b.append_null();
                    b.finish()
                }) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
            ),
        ]));
        let f = Arc::new(Field::new("s", s.data_type().clone(), true));
        assert_eq!(
            texts(&json_text(&f, s.as_ref()).unwrap()),
            [
                Some("{\"a\":7,\"b\":\"x\"}".to_string()),
                Some("{\"a\":null,\"b\":\"y\"}".to_string())
            ]
        );
    }

    #[test]
    fn json_text_reads_back_into_the_nested_type() {
        let ty = DataType::new_list(DataType::Int64, true);
        let field = Field::new("l", ty.clone(), true);
        let text = StringArray::from(vec![Some("[1,null,3]"), None, Some("[]")]);
        let back = from_json_text(&field, &text).unwrap();
        assert_eq!(back.data_type(), &ty);
        let f = Arc::new(field.clone());
        assert_eq!(
            texts(&json_text(&f, back.as_ref()).unwrap()),
            [Some("[1,null,3]".to_string()), None, Some("[]".to_string())]
        );
        let bad = StringArray::from(vec![Some("[1,"), Some("2")]);
        let e = from_json_text(&field, &bad).unwrap_err().to_string();
        assert!(e.contains("column `l`"), "{e}");
    }

    #[test]
    fn dictionaries_and_half_floats_become_plain() {
        let dict = DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8));
        let nested = DataType::List(Arc::new(Field::new("item", dict.clone(), true)));
        assert_eq!(plain_type(&dict), DataType::Utf8);
        assert_eq!(
            plain_type(&nested),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
        assert_eq!(plain_type(&DataType::Float16), DataType::Float32);
        let schema = Arc::new(Schema::new(vec![Field::new("d", dict, true)]));
        let plain = plain_schema(&schema).unwrap();
        let values: arrow::array::DictionaryArray<arrow::datatypes::Int8Type> =
            vec!["a", "b", "a"].into_iter().collect();
        let batch = RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap();
        let out = cast_to(&batch, &plain).unwrap();
        assert_eq!(
            texts(out.column(0)),
            [Some("a".into()), Some("b".into()), Some("a".into())]
        );
    }
}
