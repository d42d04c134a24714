//! Property-based round trips through every file format: random Arrow schemas (every type the
//! file formats carry, nullable and not) and random batches full of edge values (empty strings,
//! NULLs, NaN, ±inf, -0.0, integer limits, decimals at full precision, timestamps at years 1
//! and 9999 in several time zones, unusual but valid UTF-8, binary with zero bytes, zero rows)
//! are written by etl's own encoders (`etl::formats`) and read back by etl's own file source
//! (`local_file`, with a `schema:` for CSV / JSON / JSON Lines, which carry no types). Each
//! value must come back equal, or the write must fail with the documented refusal for its type.
//!
//! The seed is fixed (reproducible runs); `PROPTEST_CASES=N` runs more cases (default 256 per
//! format). A failing case shrinks to a minimal one, which is kept below as a regular test.

use arrow::array::*;
use arrow::datatypes::{i256, DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use etl::formats::{self, Compression, CsvOptions, Format, SharedBuf, WriteOptions};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The generated data: one column = a type, nullability and its values.

#[derive(Debug, Clone)]
enum Values {
    Bool(Vec<Option<bool>>),
    I8(Vec<Option<i8>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    U8(Vec<Option<u8>>),
    U16(Vec<Option<u16>>),
    U32(Vec<Option<u32>>),
    U64(Vec<Option<u64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Dec128(u8, i8, Vec<Option<i128>>),
    /// Precision, scale, values as decimal digit strings (with a sign).
    Dec256(u8, i8, Vec<Option<String>>),
    Utf8(Vec<Option<String>>),
    Binary(Vec<Option<Vec<u8>>>),
    Date(Vec<Option<i32>>),
    Time(Vec<Option<i64>>),
    Ts(TimeUnit, Option<String>, Vec<Option<i64>>),
}

#[derive(Debug, Clone)]
struct Column {
    nullable: bool,
    values: Values,
}

impl Column {
    fn data_type(&self) -> DataType {
        match &self.values {
            Values::Bool(_) => DataType::Boolean,
            Values::I8(_) => DataType::Int8,
            Values::I16(_) => DataType::Int16,
            Values::I32(_) => DataType::Int32,
            Values::I64(_) => DataType::Int64,
            Values::U8(_) => DataType::UInt8,
            Values::U16(_) => DataType::UInt16,
            Values::U32(_) => DataType::UInt32,
            Values::U64(_) => DataType::UInt64,
            Values::F32(_) => DataType::Float32,
            Values::F64(_) => DataType::Float64,
            Values::Dec128(p, s, _) => DataType::Decimal128(*p, *s),
            Values::Dec256(p, s, _) => DataType::Decimal256(*p, *s),
            Values::Utf8(_) => DataType::Utf8,
            Values::Binary(_) => DataType::Binary,
            Values::Date(_) => DataType::Date32,
            Values::Time(_) => DataType::Time64(TimeUnit::Microsecond),
            Values::Ts(u, tz, _) => DataType::Timestamp(*u, tz.as_deref().map(Into::into)),
        }
    }

    fn array(&self) -> ArrayRef {
        match &self.values {
            Values::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
            Values::I8(v) => Arc::new(Int8Array::from(v.clone())),
            Values::I16(v) => Arc::new(Int16Array::from(v.clone())),
            Values::I32(v) => Arc::new(Int32Array::from(v.clone())),
            Values::I64(v) => Arc::new(Int64Array::from(v.clone())),
            Values::U8(v) => Arc::new(UInt8Array::from(v.clone())),
            Values::U16(v) => Arc::new(UInt16Array::from(v.clone())),
            Values::U32(v) => Arc::new(UInt32Array::from(v.clone())),
            Values::U64(v) => Arc::new(UInt64Array::from(v.clone())),
            Values::F32(v) => Arc::new(Float32Array::from(v.clone())),
            Values::F64(v) => Arc::new(Float64Array::from(v.clone())),
            Values::Dec128(p, s, v) => Arc::new(
                Decimal128Array::from(v.clone())
                    .with_precision_and_scale(*p, *s)
                    .expect("valid precision"),
            ),
            Values::Dec256(p, s, v) => Arc::new(
                v.iter()
                    .map(|d| d.as_deref().map(|d| i256::from_string(d).expect("digits")))
                    .collect::<Decimal256Array>()
                    .with_precision_and_scale(*p, *s)
                    .expect("valid precision"),
            ),
            Values::Utf8(v) => Arc::new(StringArray::from(v.clone())),
            Values::Binary(v) => Arc::new(BinaryArray::from_iter(v.iter().map(|b| b.as_deref()))),
            Values::Date(v) => Arc::new(Date32Array::from(v.clone())),
            Values::Time(v) => Arc::new(Time64MicrosecondArray::from(v.clone())),
            Values::Ts(u, tz, v) => {
                let a: ArrayRef = match u {
                    TimeUnit::Second => Arc::new(TimestampSecondArray::from(v.clone())),
                    TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(v.clone())),
                    TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(v.clone())),
                    TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(v.clone())),
                };
                // The same instants (UTC values), labelled with the zone.
                let zoned = a
                    .to_data()
                    .into_builder()
                    .data_type(DataType::Timestamp(*u, tz.as_deref().map(Into::into)));
                make_array(zoned.build().expect("same buffers, with a zone"))
            }
        }
    }
}

/// The spec `schema:` name of a type (see README, "local_file source").
fn spec_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 => "string".into(),
        DataType::Binary => "binary".into(),
        DataType::Date32 => "date".into(),
        DataType::Time64(_) => "time".into(),
        DataType::Timestamp(u, tz) => {
            let u = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(z) => format!("timestamp[{u}, {z}]"),
                None => format!("timestamp[{u}]"),
            }
        }
        other => panic!("no spec name for {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Some(value) or, for a nullable column, sometimes None.
fn cells<T: std::fmt::Debug + Clone + 'static>(
    v: impl Strategy<Value = T> + 'static,
    rows: usize,
    nullable: bool,
) -> BoxedStrategy<Vec<Option<T>>> {
    if nullable {
        prop::collection::vec(prop::option::weighted(0.8, v), rows).boxed()
    } else {
        prop::collection::vec(v.prop_map(Some), rows).boxed()
    }
}

macro_rules! int_edges {
    ($t:ty) => {
        prop_oneof![
            Just(<$t>::MIN),
            Just(<$t>::MAX),
            Just(0 as $t),
            Just(1 as $t),
            any::<$t>()
        ]
    };
}

fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MIN),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(0.1),
        any::<f64>(),
    ]
}

fn f32s() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(-0.0f32),
        Just(f32::MIN),
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE),
        Just(0.1f32),
        any::<f32>(),
    ]
}

/// Text that looks like something else, or is unusual but valid UTF-8.
fn strings() -> impl Strategy<Value = String> {
    let edges: Vec<&'static str> = vec![
        "",
        " ",
        "\\N",
        "NULL",
        "null",
        "a,b",
        "\"",
        "\"\"",
        "line\nbreak",
        "\r\n",
        "\t",
        "é",
        "👍🏽",
        "\u{0}",
        "\u{feff}bom",
        "\u{202e}rtl",
        "0123",
        "1e5",
        "true",
        "[1]",
        "{\"a\": 1}",
        "🦀\u{10ffff}",
    ];
    prop_oneof![
        prop::sample::select(edges).prop_map(String::from),
        any::<String>(),
        "[a-z]{0,8}",
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![0u8]),
        Just(vec![0u8, 0, 255]),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Decimal digits for precision `p`: the extremes, zero and random lengths.
fn digits(p: u8) -> impl Strategy<Value = String> {
    let max = "9".repeat(p as usize);
    prop_oneof![
        Just(max.clone()),
        Just(format!("-{max}")),
        Just("0".to_string()),
        (
            any::<bool>(),
            prop::collection::vec(0u8..10, 1..=p as usize)
        )
            .prop_map(|(neg, d)| {
                let s: String = d.iter().map(|d| char::from(b'0' + d)).collect();
                if neg {
                    format!("-{s}")
                } else {
                    s
                }
            }),
    ]
}

const DAY_1: i32 = -719_162; // 0001-01-01
const DAY_9999: i32 = 2_932_896; // 9999-12-31
const SEC_1: i64 = -62_135_596_800; // 0001-01-01T00:00:00
const SEC_9999: i64 = 253_402_300_799; // 9999-12-31T23:59:59

fn timestamps(unit: TimeUnit) -> BoxedStrategy<i64> {
    let per_sec: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        // Nanoseconds cover 1677-09-21 to 2262-04-11 only.
        TimeUnit::Nanosecond => {
            return prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), any::<i64>()].boxed()
        }
    };
    let (lo, hi) = (SEC_1 * per_sec, SEC_9999 * per_sec + (per_sec - 1));
    prop_oneof![Just(lo), Just(hi), Just(0), Just(-1), lo..=hi].boxed()
}

const ZONES: [Option<&str>; 7] = [
    None,
    Some("UTC"),
    Some("+05:45"),
    Some("-09:30"),
    Some("Europe/Berlin"),
    Some("America/St_Johns"),
    Some("Pacific/Kiritimati"),
];

fn column(rows: usize) -> impl Strategy<Value = Column> {
    let units = prop::sample::select(vec![
        TimeUnit::Second,
        TimeUnit::Millisecond,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ]);
    (
        any::<bool>(),
        0..18u8,
        units,
        prop::sample::select(ZONES.to_vec()),
        1u8..=76,
        any::<u8>(),
    )
        .prop_flat_map(move |(nullable, kind, unit, zone, p, s)| {
            let n = nullable;
            let values: BoxedStrategy<Values> = match kind {
                0 => cells(any::<bool>(), rows, n).prop_map(Values::Bool).boxed(),
                1 => cells(int_edges!(i8), rows, n).prop_map(Values::I8).boxed(),
                2 => cells(int_edges!(i16), rows, n)
                    .prop_map(Values::I16)
                    .boxed(),
                3 => cells(int_edges!(i32), rows, n)
                    .prop_map(Values::I32)
                    .boxed(),
                4 => cells(int_edges!(i64), rows, n)
                    .prop_map(Values::I64)
                    .boxed(),
                5 => cells(int_edges!(u8), rows, n).prop_map(Values::U8).boxed(),
                6 => cells(int_edges!(u16), rows, n)
                    .prop_map(Values::U16)
                    .boxed(),
                7 => cells(int_edges!(u32), rows, n)
                    .prop_map(Values::U32)
                    .boxed(),
                8 => cells(int_edges!(u64), rows, n)
                    .prop_map(Values::U64)
                    .boxed(),
                9 => cells(f32s(), rows, n).prop_map(Values::F32).boxed(),
                10 => cells(f64s(), rows, n).prop_map(Values::F64).boxed(),
                11 => {
                    let p = p.min(38);
                    let s = (s % (p + 1)) as i8;
                    let max = 10i128.pow(p as u32) - 1;
                    let v = prop_oneof![Just(max), Just(-max), Just(0i128), -max..=max];
                    cells(v, rows, n)
                        .prop_map(move |v| Values::Dec128(p, s, v))
                        .boxed()
                }
                12 => {
                    let p = p.max(39);
                    let s = (s % (p + 1)) as i8;
                    cells(digits(p), rows, n)
                        .prop_map(move |v| Values::Dec256(p, s, v))
                        .boxed()
                }
                13 => cells(strings(), rows, n).prop_map(Values::Utf8).boxed(),
                14 => cells(bytes(), rows, n).prop_map(Values::Binary).boxed(),
                15 => cells(
                    prop_oneof![Just(DAY_1), Just(DAY_9999), Just(0), DAY_1..=DAY_9999],
                    rows,
                    n,
                )
                .prop_map(Values::Date)
                .boxed(),
                16 => cells(
                    prop_oneof![Just(0i64), Just(86_399_999_999i64), 0i64..86_400_000_000],
                    rows,
                    n,
                )
                .prop_map(Values::Time)
                .boxed(),
                _ => {
                    let zone = zone.map(String::from);
                    cells(timestamps(unit), rows, n)
                        .prop_map(move |v| Values::Ts(unit, zone.clone(), v))
                        .boxed()
                }
            };
            values.prop_map(move |values| Column { nullable, values })
        })
}

fn table() -> impl Strategy<Value = Vec<Column>> {
    (0usize..6, 1usize..6).prop_flat_map(|(rows, cols)| prop::collection::vec(column(rows), cols))
}

fn batch(cols: &[Column]) -> RecordBatch {
    let arrays: Vec<ArrayRef> = cols.iter().map(Column::array).collect();
    // (Shrinking a flat-mapped strategy may pair `nullable: false` with earlier values.)
    let fields: Vec<Field> = cols
        .iter()
        .zip(&arrays)
        .enumerate()
        .map(|(i, (c, a))| {
            Field::new(
                format!("c{i}"),
                c.data_type(),
                c.nullable || a.null_count() > 0,
            )
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("valid batch")
}

// ---------------------------------------------------------------------------------------------
// Write with etl's encoder, read back with etl's file source.

/// The CSV dialect of the round trip: with a `null_value`, `""` stays an empty string (the
/// default, an empty field, reads `""` back as NULL — a documented limit).
const CSV_NULL: &str = "\\N";

fn write(format: Format, batch: &RecordBatch) -> etl::Result<Vec<u8>> {
    let options = WriteOptions {
        format,
        compression: Compression::None,
        csv: CsvOptions {
            null_value: CSV_NULL.into(),
            ..CsvOptions::default()
        },
        row_group_size: 3,
    };
    let buf = SharedBuf::default();
    let mut enc = formats::encoder(batch.schema(), &options, buf.clone())?;
    // Two writes: the file holds two batches (row groups, Avro blocks, ...).
    let half = batch.num_rows() / 2;
    enc.write(&batch.slice(0, half))?;
    enc.write(&batch.slice(half, batch.num_rows() - half))?;
    enc.finish()?;
    Ok(buf.take())
}

fn read(
    rt: &tokio::runtime::Runtime,
    format: Format,
    bytes: &[u8],
    schema: &SchemaRef,
) -> etl::Result<(SchemaRef, Vec<RecordBatch>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("data.{}", format.extension()));
    std::fs::write(&file, bytes).expect("write file");
    // Text formats carry no types: declare them, as a user would with `schema:`.
    let declared = match format {
        Format::Csv | Format::Json | Format::Jsonl => {
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("{}: \"{}\"", f.name(), spec_type(f.data_type())))
                .collect();
            format!("    schema: {{{}}}\n", cols.join(", "))
        }
        _ => String::new(),
    };
    let text = format!(
        "version: 1\nname: prop\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\n    format: {format}\n    null_value: '{CSV_NULL}'\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: data\n{declared}",
        file.display(),
        dir.path().join("out").display()
    );
    let spec = etl::spec::parse(&text, "prop.yaml")?;
    rt.block_on(async {
        let source = spec.source.build(&spec.defaults)?;
        let reader = source
            .read(etl::connectors::ReadRequest::new(
                spec.streams[0].clone(),
                4,
            ))
            .await?;
        let mut batches = Vec::new();
        let mut stream = reader.batches;
        while let Some(b) = stream.next().await {
            batches.push(b?);
        }
        Ok((reader.schema, batches))
    })
}

/// Each value as comparable text (NaN is NaN whatever its payload; -0.0 is not 0.0).
fn cells_text(a: &dyn Array) -> Vec<Option<String>> {
    let options = arrow::util::display::FormatOptions::default();
    let fmt = arrow::util::display::ArrayFormatter::try_new(a, &options).expect("formatter");
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                return None;
            }
            Some(match a.data_type() {
                DataType::Float32 => {
                    let v = a.as_any().downcast_ref::<Float32Array>().unwrap().value(i);
                    if v.is_nan() {
                        "NaN".into()
                    } else {
                        format!("{v:?}")
                    }
                }
                DataType::Float64 => {
                    let v = a.as_any().downcast_ref::<Float64Array>().unwrap().value(i);
                    if v.is_nan() {
                        "NaN".into()
                    } else {
                        format!("{v:?}")
                    }
                }
                _ => fmt.value(i).to_string(),
            })
        })
        .collect()
}

/// The documented refusal a table meets in a format, if any: the columns the error may name
/// (any one of them) and the text of the error.
fn refusal(format: Format, batch: &RecordBatch) -> Option<(Vec<String>, &'static str)> {
    // An empty JSON / JSON Lines file has no keys, so its `schema:` names columns that are
    // "not in the file" (a known limit: README, "local_file source").
    if matches!(format, Format::Json | Format::Jsonl) && batch.num_rows() == 0 {
        let names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        return Some((names, "is not in the file"));
    }
    // Avro has no unsigned 64-bit integer: a value past i64::MAX is refused.
    if format == Format::Avro {
        let too_big: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(_, a)| {
                a.as_any()
                    .downcast_ref::<UInt64Array>()
                    .is_some_and(|a| a.iter().flatten().any(|v| v > i64::MAX as u64))
            })
            .map(|(f, _)| f.name().clone())
            .collect();
        if !too_big.is_empty() {
            return Some((too_big, "does not fit Avro's long"));
        }
    }
    None
}

/// The value a format reads back where it documents a change: CSV reads a string equal to
/// `null_value` as NULL even though the writer quotes it (arrow-csv cannot tell a quoted field
/// from an unquoted one; README, "local_file source").
fn documented(format: Format, t: &DataType, v: Option<String>) -> Option<String> {
    match v {
        Some(s) if format == Format::Csv && t == &DataType::Utf8 && s == CSV_NULL => None,
        v => v,
    }
}

/// The type a format reads back for a written type: the same, except Avro's (README, "Avro
/// types"): no 8/16-bit or unsigned integers (int8/int16/uint8/uint16 -> int32, uint32 ->
/// int64, uint64 -> int64, so values past i64::MAX are refused), no seconds (-> milliseconds), and a zoned timestamp is stored as UTC instants
/// (`timestamp-*`), read back in `+00:00`. The values must still be equal.
fn read_type(format: Format, t: &DataType) -> DataType {
    if format != Format::Avro {
        return t.clone();
    }
    match t {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Timestamp(u, tz) => DataType::Timestamp(
            match u {
                TimeUnit::Second => TimeUnit::Millisecond,
                u => *u,
            },
            tz.as_ref().map(|_| "+00:00".into()),
        ),
        t => t.clone(),
    }
}

fn round_trip(rt: &tokio::runtime::Runtime, format: Format, cols: &[Column]) -> Result<(), String> {
    let batch = batch(cols);
    let outcome = write(format, &batch).and_then(|bytes| read(rt, format, &bytes, &batch.schema()));
    if let Some((cols, why)) = refusal(format, &batch) {
        let e = match outcome {
            Ok(_) => {
                return Err(format!(
                    "{format}: expected a refusal of {cols:?} ({why}), got success"
                ))
            }
            Err(e) => e.to_string(),
        };
        let named = cols.iter().any(|c| e.contains(&format!("`{c}`")));
        return if named && e.contains(why) {
            Ok(())
        } else {
            Err(format!(
                "{format}: expected a refusal of {cols:?} ({why}), got: {e}"
            ))
        };
    }
    let (schema, batches) = outcome.map_err(|e| format!("{format}: {e}"))?;
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let got = schema.field(i);
        let want = read_type(format, f.data_type());
        if got.name() != f.name() || got.data_type() != &want {
            return Err(format!(
                "{format}: column {i} came back as `{}` {}, expected `{}` {want}",
                got.name(),
                got.data_type(),
                f.name()
            ));
        }
    }
    let back = arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
    if back.num_rows() != batch.num_rows() {
        return Err(format!(
            "{format}: {} rows came back, {} were written",
            back.num_rows(),
            batch.num_rows()
        ));
    }
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let want: Vec<Option<String>> = cells_text(batch.column(i).as_ref())
            .into_iter()
            .map(|v| documented(format, f.data_type(), v))
            .collect();
        // A documented type change (Avro) must keep the values: compare in the written type.
        let got = arrow::compute::cast(back.column(i), f.data_type())
            .map_err(|e| format!("{format}: column `{}`: {e}", f.name()))?;
        let got = cells_text(got.as_ref());
        if want != got {
            let row = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "{format}: column `{}` ({}), row {row}: wrote {:?}, read back {:?}",
                f.name(),
                f.data_type(),
                want[row],
                got[row]
            ));
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs the property for one format with a fixed seed; `PROPTEST_CASES` overrides the count.
fn property(format: Format) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let seed: [u8; 32] = *b"etl property round trips, seed 1";
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let rt = runtime();
    let result = runner.run(&table(), |cols| {
        round_trip(&rt, format, &cols).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{format}: {e}");
    }
}

#[test]
fn parquet_round_trips() {
    property(Format::Parquet);
}

#[test]
fn csv_round_trips() {
    property(Format::Csv);
}

#[test]
fn json_round_trips() {
    property(Format::Json);
}

#[test]
fn jsonl_round_trips() {
    property(Format::Jsonl);
}

#[test]
fn avro_round_trips() {
    property(Format::Avro);
}

// ---------------------------------------------------------------------------------------------
// The shrunk cases of the bugs the properties found, kept as regular tests (fixed in
// src/formats/).

fn check(format: Format, cols: Vec<Column>) {
    if let Err(e) = round_trip(&runtime(), format, &cols) {
        panic!("{e}");
    }
}

fn f64_col(v: Vec<Option<f64>>) -> Column {
    Column {
        nullable: true,
        values: Values::F64(v),
    }
}

/// arrow-json wrote NaN and ±inf as `null`; now `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[test]
fn json_keeps_nan_and_infinities() {
    for format in [Format::Json, Format::Jsonl] {
        let values = vec![
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(-0.0),
            None,
        ];
        check(format, vec![f64_col(values.clone())]);
        let f32s = values.iter().map(|v| v.map(|v| v as f32)).collect();
        check(
            format,
            vec![Column {
                nullable: true,
                values: Values::F32(f32s),
            }],
        );
    }
}

/// CSV wrote binary as hex but could not read a `binary` column back (arrow-csv: "Unsupported
/// data type Binary").
#[test]
fn csv_reads_binary_back_from_hex() {
    let values = vec![Some(vec![0u8, 255]), Some(vec![]), None, Some(vec![0])];
    check(
        Format::Csv,
        vec![Column {
            nullable: true,
            values: Values::Binary(values),
        }],
    );
}

/// One zoned timestamp column through each text format.
fn text_formats_keep(unit: TimeUnit, zone: &str, values: Vec<Option<i64>>) {
    for format in [Format::Csv, Format::Json, Format::Jsonl] {
        let values = Values::Ts(unit, Some(zone.into()), values.clone());
        check(
            format,
            vec![Column {
                nullable: false,
                values,
            }],
        );
    }
}

/// Berlin's local mean time (+00:53:28) was written as `+00:53`: the instant moved 28 s.
#[test]
fn text_formats_keep_instants_with_second_offsets() {
    text_formats_keep(TimeUnit::Second, "Europe/Berlin", vec![Some(SEC_1)]);
}

/// 9999-12-31T23:59:59Z is year 10000 in Kiritimati (+14:00): written as `+10000-…`, which
/// no reader parses, so the file could not be read back.
#[test]
fn text_formats_keep_instants_past_local_year_9999() {
    let values = vec![Some(SEC_9999 * 1_000_000), Some(0)];
    text_formats_keep(TimeUnit::Microsecond, "Pacific/Kiritimati", values);
}

/// arrow-avro refused a uint64 past i64::MAX without naming the column.
#[test]
fn avro_refuses_large_uint64_naming_the_column() {
    let cols = vec![Column {
        nullable: false,
        values: Values::U64(vec![Some(1), Some(u64::MAX)]),
    }];
    check(Format::Avro, cols);
    let e = write(
        Format::Avro,
        &batch(&[Column {
            nullable: false,
            values: Values::U64(vec![Some(u64::MAX)]),
        }]),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("column `c0`, row 1"), "{e}");
}
