//! The random Arrow data of the property-based round trips, shared by tests/prop_formats.rs
//! (every file format) and tests/conformance/props.rs (every SQL database): random schemas over
//! every type etl carries (booleans, every integer width signed and unsigned, float32/64,
//! decimal128 and decimal256 at full precision, string, binary, date, time, timestamps in
//! s/ms/us/ns without and with zones), nullable and not, and batches of 0 to 5 rows full of
//! edge values (empty strings, NULLs, NaN, ±inf, -0.0, integer limits, the largest decimals,
//! years 1 and 9999, text such as `\N`, `""`, a BOM, U+0000, emoji, binary with zero bytes).
//! Included with `#[path = "common/arrow_gen.rs"] mod arrow_gen;`.
#![allow(dead_code)]

use arrow::array::*;
use arrow::datatypes::{i256, DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The generated data: one column = a type, nullability and its values.

#[derive(Debug, Clone)]
pub enum Values {
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
pub struct Column {
    pub nullable: bool,
    pub values: Values,
}

impl Column {
    pub fn data_type(&self) -> DataType {
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

    pub fn array(&self) -> ArrayRef {
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

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Some(value) or, for a nullable column, sometimes None.
pub fn cells<T: std::fmt::Debug + Clone + 'static>(
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

pub fn f64s() -> impl Strategy<Value = f64> {
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

pub fn f32s() -> impl Strategy<Value = f32> {
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
pub fn strings() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(STRING_EDGES.to_vec()).prop_map(String::from),
        any::<String>(),
        "[a-z]{0,8}",
    ]
}

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![0u8]),
        Just(vec![0u8, 0, 255]),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Decimal digits for precision `p`: the extremes, zero and random lengths.
pub fn digits(p: u8) -> impl Strategy<Value = String> {
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

pub const DAY_1: i32 = -719_162; // 0001-01-01
pub const DAY_9999: i32 = 2_932_896; // 9999-12-31
pub const SEC_1: i64 = -62_135_596_800; // 0001-01-01T00:00:00
pub const SEC_9999: i64 = 253_402_300_799; // 9999-12-31T23:59:59

pub fn timestamps(unit: TimeUnit) -> BoxedStrategy<i64> {
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

pub const ZONES: [Option<&str>; 7] = [
    None,
    Some("UTC"),
    Some("+05:45"),
    Some("-09:30"),
    Some("Europe/Berlin"),
    Some("America/St_Johns"),
    Some("Pacific/Kiritimati"),
];

pub fn column(rows: usize) -> impl Strategy<Value = Column> {
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

pub fn table() -> impl Strategy<Value = Vec<Column>> {
    (0usize..6, 1usize..6).prop_flat_map(|(rows, cols)| prop::collection::vec(column(rows), cols))
}

pub fn batch(cols: &[Column]) -> RecordBatch {
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

/// Each value as comparable text (NaN is NaN whatever its payload; -0.0 is not 0.0).
pub fn cells_text(a: &dyn Array) -> Vec<Option<String>> {
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

/// Compares a batch read back with the one written, column by column: each column must come
/// back with the same name and the type `read_type` gives for the written one, and its values,
/// brought back into the written type by `as_written` (undoing a documented widening) and
/// changed where `documented` says, must be equal.
pub fn same_columns(
    written: &RecordBatch,
    back: &RecordBatch,
    read_type: &dyn Fn(&DataType) -> DataType,
    as_written: &dyn Fn(&ArrayRef, &DataType) -> Result<ArrayRef, String>,
    documented: &dyn Fn(&DataType, Option<String>) -> Option<String>,
) -> Result<(), String> {
    for (i, f) in written.schema().fields().iter().enumerate() {
        let schema = back.schema();
        let got = schema.field(i);
        let want = read_type(f.data_type());
        if got.name() != f.name() || got.data_type() != &want {
            return Err(format!(
                "column {i} came back as `{}` {}, expected `{}` {want}",
                got.name(),
                got.data_type(),
                f.name()
            ));
        }
    }
    if back.num_rows() != written.num_rows() {
        return Err(format!(
            "{} rows came back, {} were written",
            back.num_rows(),
            written.num_rows()
        ));
    }
    for (i, f) in written.schema().fields().iter().enumerate() {
        let want: Vec<Option<String>> = cells_text(written.column(i).as_ref())
            .into_iter()
            .map(|v| documented(f.data_type(), v))
            .collect();
        let got = as_written(back.column(i), f.data_type())
            .map_err(|e| format!("column `{}`: {e}", f.name()))?;
        let got = cells_text(got.as_ref());
        if want != got {
            let row = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "column `{}` ({}), row {row}: wrote {:?}, read back {:?}",
                f.name(),
                f.data_type(),
                want[row],
                got[row]
            ));
        }
    }
    Ok(())
}

/// The edge strings of [`strings`]: text that looks like something else, or is unusual but
/// valid UTF-8.
pub const STRING_EDGES: [&str; 22] = [
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

/// A runner with a fixed seed (reproducible runs) and `cases` cases, or `PROPTEST_CASES`;
/// a failure shrinks for at most `shrink_iters` steps.
pub fn runner(seed: &[u8; 32], cases: u32, shrink_iters: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: shrink_iters,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, seed))
}
