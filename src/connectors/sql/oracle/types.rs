//! Oracle <-> Arrow type mapping. Every value is converted exactly or the run fails naming the
//! column and row; nothing is rounded or truncated silently. Numbers travel as decimal text
//! between Oracle and etl (never through a float).
//!
//! Reading:
//!
//! | Oracle | Arrow |
//! |---|---|
//! | `NUMBER(p,0)`, p ≤ 18 | Int64 |
//! | `NUMBER(p,s)` otherwise | Decimal128(p,s) (`NUMBER(p,-n)`: Decimal128(p+n,0); s > p: Decimal128(s,s)) |
//! | bare `NUMBER` (no precision; also most computed columns) | Decimal128(38,10): a value with more than 10 decimal places or 28 integer digits fails — CAST it to `NUMBER(p,s)` in a `query:` |
//! | `FLOAT(b)` | Float64 when the value converts exactly, else the run fails |
//! | `BINARY_FLOAT`, `BINARY_DOUBLE` | Float32, Float64 |
//! | `VARCHAR2`, `NVARCHAR2`, `CHAR`, `NCHAR`, `CLOB`, `NCLOB`, `LONG`, `ROWID` | Utf8 |
//! | `RAW`, `BLOB`, `LONG RAW` | Binary |
//! | `DATE` | Timestamp(µs) (Oracle's DATE has a time of day) |
//! | `TIMESTAMP(p)` | Timestamp(µs) for p ≤ 6, Timestamp(ns) above |
//! | `TIMESTAMP(p) WITH [LOCAL] TIME ZONE` | Timestamp(µs or ns, UTC) — the instant |
//! | `INTERVAL DAY TO SECOND(p)` | Duration(µs) for p ≤ 6, Duration(ns) above |
//! | `INTERVAL YEAR TO MONTH` | Interval(YearMonth) |
//! | `BOOLEAN` (23ai) | Boolean |
//!
//! `BFILE`, object, `XMLTYPE`, `JSON` and cursor columns fail naming the column: serialize them
//! in a `query:` (`JSON_SERIALIZE(...)`, `XMLSERIALIZE(...)`).
//!
//! Writing (`CREATE TABLE` from an Arrow schema):
//!
//! | Arrow | Oracle |
//! |---|---|
//! | Boolean | `NUMBER(1)` (0/1) |
//! | Int8, Int16, Int32, Int64 | `NUMBER(3)`, `NUMBER(5)`, `NUMBER(10)`, `NUMBER(19)` |
//! | UInt8, UInt16, UInt32, UInt64 | `NUMBER(3)`, `NUMBER(5)`, `NUMBER(10)`, `NUMBER(20)` |
//! | Float16/32, Float64 | `BINARY_FLOAT`, `BINARY_DOUBLE` |
//! | Decimal(p,s), p ≤ 38 | `NUMBER(p,s)` |
//! | Utf8, LargeUtf8 | `CLOB` (`VARCHAR2(4000)` in a primary key) |
//! | Binary, LargeBinary | `BLOB` (`RAW(2000)` in a primary key) |
//! | FixedSizeBinary(n), n ≤ 2000 | `RAW(n)` |
//! | Date32, Date64 | `DATE` |
//! | Time32, Time64 | `INTERVAL DAY(0) TO SECOND(6 or 9)` (time since midnight: Oracle has no time-of-day type) |
//! | Timestamp(s, ms, µs) / (ns) | `TIMESTAMP(6)` / `TIMESTAMP(9)` |
//! | the same with a time zone | `TIMESTAMP(6 or 9) WITH TIME ZONE` (offset +00:00) |
//! | Duration | `INTERVAL DAY(9) TO SECOND(6 or 9)` |
//! | Interval(YearMonth) | `INTERVAL YEAR(9) TO MONTH` |
//! | Null | `VARCHAR2(1)` (all NULL) |

use crate::connectors::sql::builder::ColumnBuilder;
use arrow::array::*;
use arrow::datatypes::*;
use oracle::sql_type::{IntervalDS, IntervalYM, OracleType, Timestamp, ToSql};

const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// The Arrow type an Oracle column type reads as, or why it has none.
pub fn arrow_type(t: &OracleType) -> Result<DataType, String> {
    let unit = |p: u8| {
        if p <= 6 {
            TimeUnit::Microsecond
        } else {
            TimeUnit::Nanosecond
        }
    };
    Ok(match t {
        OracleType::Number(p, s) => number_type(*p, *s),
        OracleType::Float(_) => DataType::Float64,
        OracleType::Int64 => DataType::Int64,
        OracleType::BinaryFloat => DataType::Float32,
        OracleType::BinaryDouble => DataType::Float64,
        OracleType::Varchar2(_)
        | OracleType::NVarchar2(_)
        | OracleType::Char(_)
        | OracleType::NChar(_)
        | OracleType::CLOB
        | OracleType::NCLOB
        | OracleType::Long
        | OracleType::Rowid => DataType::Utf8,
        OracleType::Raw(_) | OracleType::BLOB | OracleType::LongRaw => DataType::Binary,
        OracleType::Date => DataType::Timestamp(TimeUnit::Microsecond, None),
        OracleType::Timestamp(p) => DataType::Timestamp(unit(*p), None),
        OracleType::TimestampTZ(p) | OracleType::TimestampLTZ(p) => {
            DataType::Timestamp(unit(*p), Some("UTC".into()))
        }
        OracleType::IntervalDS(_, p) => DataType::Duration(unit(*p)),
        OracleType::IntervalYM(_) => DataType::Interval(IntervalUnit::YearMonth),
        OracleType::Boolean => DataType::Boolean,
        other => {
            return Err(format!(
                "Oracle type {other} has no Arrow mapping; serialize it in a `query:` (e.g. JSON_SERIALIZE, XMLSERIALIZE, or TO_CHAR)"
            ))
        }
    })
}

/// NUMBER(p,s) as ODPI reports it: p = 0 means no precision (s = -127: a bare `NUMBER`).
pub fn number_type(p: u8, s: i8) -> DataType {
    if p == 0 {
        return if s == -127 || s == 0 {
            DataType::Decimal128(38, 10)
        } else {
            DataType::Decimal128(38, s.clamp(0, 38))
        };
    }
    if s <= 0 {
        let digits = (p as i16 - s as i16).min(38) as u8;
        if digits <= 18 {
            return DataType::Int64;
        }
        return DataType::Decimal128(digits, 0);
    }
    let s = s.min(38) as u8;
    DataType::Decimal128(p.max(s).min(38), s as i8)
}

/// The column type `CREATE TABLE` uses for an Arrow type (`in_key`: bounded types only).
pub fn column_type(d: &DataType, in_key: bool) -> Result<String, String> {
    let fits = |p: u8, s: i8| p <= 38 && s >= -84;
    let limits = "precision ≤ 38, scale -84 to 127";
    if let Some(t) =
        crate::connectors::sql::decimal_column_type(d, "Oracle", "NUMBER", limits, fits)
    {
        return t;
    }
    let frac = |u: &TimeUnit| if *u == TimeUnit::Nanosecond { 9 } else { 6 };
    Ok(match d {
        DataType::Boolean => "NUMBER(1)".into(),
        DataType::Int8 | DataType::UInt8 => "NUMBER(3)".into(),
        DataType::Int16 | DataType::UInt16 => "NUMBER(5)".into(),
        DataType::Int32 | DataType::UInt32 => "NUMBER(10)".into(),
        DataType::Int64 => "NUMBER(19)".into(),
        DataType::UInt64 => "NUMBER(20)".into(),
        DataType::Float16 | DataType::Float32 => "BINARY_FLOAT".into(),
        DataType::Float64 => "BINARY_DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            if in_key { "VARCHAR2(4000)" } else { "CLOB" }.into()
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            if in_key { "RAW(2000)" } else { "BLOB" }.into()
        }
        DataType::FixedSizeBinary(n) if (1..=2000).contains(n) => format!("RAW({n})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) => "INTERVAL DAY(0) TO SECOND(6)".into(),
        DataType::Time64(u) => format!("INTERVAL DAY(0) TO SECOND({})", frac(u)),
        DataType::Timestamp(u, None) => format!("TIMESTAMP({})", frac(u)),
        DataType::Timestamp(u, Some(_)) => format!("TIMESTAMP({}) WITH TIME ZONE", frac(u)),
        DataType::Duration(u) => format!("INTERVAL DAY(9) TO SECOND({})", frac(u)),
        DataType::Interval(IntervalUnit::YearMonth) => "INTERVAL YEAR(9) TO MONTH".into(),
        DataType::Null => "VARCHAR2(1)".into(),
        // Lists, structs and maps are stored as their JSON text (see formats::nested).
        d if crate::formats::nested::is_nested(d) => {
            if in_key { "VARCHAR2(4000)" } else { "CLOB" }.into()
        }
        other => return Err(crate::connectors::sql::no_column_type("Oracle", other)),
    })
}

/// The type a destination binds a column's values as, in batched DML. Text and bytes bind as
/// LONG / LONG RAW so that values of any length load into CLOB / BLOB columns.
pub fn bind_type(d: &DataType, in_key: bool) -> Result<OracleType, String> {
    let frac = |u: &TimeUnit| if *u == TimeUnit::Nanosecond { 9 } else { 6 };
    Ok(match d {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => OracleType::Int64,
        DataType::UInt64 => OracleType::Number(20, 0),
        DataType::Float16 | DataType::Float32 => OracleType::BinaryFloat,
        DataType::Float64 => OracleType::BinaryDouble,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => OracleType::Number(0, -127),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            if in_key {
                OracleType::Varchar2(4000)
            } else {
                OracleType::Long
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            if in_key {
                OracleType::Raw(2000)
            } else {
                OracleType::LongRaw
            }
        }
        DataType::FixedSizeBinary(n) => OracleType::Raw((*n).max(1) as u32),
        DataType::Date32 | DataType::Date64 => OracleType::Date,
        DataType::Time32(_) => OracleType::IntervalDS(0, 6),
        DataType::Time64(u) => OracleType::IntervalDS(0, frac(u)),
        DataType::Timestamp(u, None) => OracleType::Timestamp(frac(u)),
        DataType::Timestamp(u, Some(_)) => OracleType::TimestampTZ(frac(u)),
        DataType::Duration(u) => OracleType::IntervalDS(9, frac(u)),
        DataType::Interval(IntervalUnit::YearMonth) => OracleType::IntervalYM(9),
        d if crate::formats::nested::is_nested(d) => {
            if in_key {
                OracleType::Varchar2(4000)
            } else {
                OracleType::Long
            }
        }
        other => return Err(crate::connectors::sql::no_column_type("Oracle", other)),
    })
}

// ---------------------------------------------------------------------------------------------
// Writing

/// One value to bind, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Int(Option<i64>),
    F32(Option<f32>),
    F64(Option<f64>),
    /// Text, and numbers as exact decimal text.
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Ts(Option<Timestamp>),
    Ds(Option<IntervalDS>),
    Ym(Option<IntervalYM>),
}

impl BindValue {
    pub fn as_sql(&self) -> &dyn ToSql {
        match self {
            BindValue::Int(v) => v,
            BindValue::F32(v) => v,
            BindValue::F64(v) => v,
            BindValue::Text(v) => v,
            BindValue::Bytes(v) => v,
            BindValue::Ts(v) => v,
            BindValue::Ds(v) => v,
            BindValue::Ym(v) => v,
        }
    }
}

/// Row `i` of `array` as a bind value, or why it cannot be stored exactly.
pub fn bind_value(array: &dyn Array, i: usize) -> Result<BindValue, String> {
    let null = array.is_null(i);
    macro_rules! int {
        ($t:ty) => {
            BindValue::Int((!null).then(|| array.as_primitive::<$t>().value(i) as i64))
        };
    }
    Ok(match array.data_type() {
        DataType::Null => BindValue::Text(None),
        DataType::Boolean => BindValue::Int((!null).then(|| array.as_boolean().value(i) as i64)),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => BindValue::Text(
            (!null).then(|| array.as_primitive::<UInt64Type>().value(i).to_string()),
        ),
        DataType::Float16 => {
            BindValue::F32((!null).then(|| array.as_primitive::<Float16Type>().value(i).to_f32()))
        }
        DataType::Float32 => {
            BindValue::F32((!null).then(|| array.as_primitive::<Float32Type>().value(i)))
        }
        DataType::Float64 => {
            BindValue::F64((!null).then(|| array.as_primitive::<Float64Type>().value(i)))
        }
        DataType::Decimal32(_, s) => BindValue::Text((!null).then(|| {
            crate::values::format_decimal(
                array.as_primitive::<Decimal32Type>().value(i) as i128,
                *s,
            )
        })),
        DataType::Decimal64(_, s) => BindValue::Text((!null).then(|| {
            crate::values::format_decimal(
                array.as_primitive::<Decimal64Type>().value(i) as i128,
                *s,
            )
        })),
        DataType::Decimal128(_, s) => BindValue::Text((!null).then(|| {
            crate::values::format_decimal(array.as_primitive::<Decimal128Type>().value(i), *s)
        })),
        DataType::Decimal256(_, s) => {
            if null {
                BindValue::Text(None)
            } else {
                let v = array.as_primitive::<Decimal256Type>().value(i);
                let v = v
                    .to_i128()
                    .ok_or_else(|| format!("{v} has more than 38 digits (Oracle NUMBER)"))?;
                BindValue::Text(Some(crate::values::format_decimal(v, *s)))
            }
        }
        DataType::Utf8 => {
            BindValue::Text((!null).then(|| array.as_string::<i32>().value(i).to_string()))
        }
        DataType::LargeUtf8 => {
            BindValue::Text((!null).then(|| array.as_string::<i64>().value(i).to_string()))
        }
        DataType::Utf8View => {
            BindValue::Text((!null).then(|| array.as_string_view().value(i).to_string()))
        }
        DataType::Binary => {
            BindValue::Bytes((!null).then(|| array.as_binary::<i32>().value(i).to_vec()))
        }
        DataType::LargeBinary => {
            BindValue::Bytes((!null).then(|| array.as_binary::<i64>().value(i).to_vec()))
        }
        DataType::BinaryView => {
            BindValue::Bytes((!null).then(|| array.as_binary_view().value(i).to_vec()))
        }
        DataType::FixedSizeBinary(_) => {
            BindValue::Bytes((!null).then(|| array.as_fixed_size_binary().value(i).to_vec()))
        }
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
            if null {
                BindValue::Ts(None)
            } else {
                let ns = nanos(array, i)?;
                let tz = matches!(array.data_type(), DataType::Timestamp(_, Some(_)));
                BindValue::Ts(Some(timestamp_of(ns, tz)?))
            }
        }
        DataType::Time32(_) | DataType::Time64(_) | DataType::Duration(_) => {
            if null {
                BindValue::Ds(None)
            } else {
                BindValue::Ds(Some(interval_of(nanos(array, i)?)?))
            }
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            if null {
                BindValue::Ym(None)
            } else {
                let m = array.as_primitive::<IntervalYearMonthType>().value(i);
                BindValue::Ym(Some(
                    IntervalYM::new(m / 12, m % 12).map_err(|e| e.to_string())?,
                ))
            }
        }
        other => return Err(crate::connectors::sql::no_column_type("Oracle", other)),
    })
}

/// Nanoseconds (since the epoch, midnight, or zero) of a temporal value.
fn nanos(array: &dyn Array, i: usize) -> Result<i128, String> {
    Ok(match array.data_type() {
        DataType::Date32 => array.as_primitive::<Date32Type>().value(i) as i128 * NANOS_PER_DAY,
        DataType::Date64 => array.as_primitive::<Date64Type>().value(i) as i128 * 1_000_000,
        DataType::Time32(TimeUnit::Second) => {
            array.as_primitive::<Time32SecondType>().value(i) as i128 * 1_000_000_000
        }
        DataType::Time32(_) => {
            array.as_primitive::<Time32MillisecondType>().value(i) as i128 * 1_000_000
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            array.as_primitive::<Time64MicrosecondType>().value(i) as i128 * 1000
        }
        DataType::Time64(_) => array.as_primitive::<Time64NanosecondType>().value(i) as i128,
        DataType::Timestamp(u, _) | DataType::Duration(u) => {
            let (v, per) = match (array.data_type(), u) {
                (DataType::Timestamp(..), TimeUnit::Second) => (
                    array.as_primitive::<TimestampSecondType>().value(i),
                    1_000_000_000,
                ),
                (DataType::Timestamp(..), TimeUnit::Millisecond) => (
                    array.as_primitive::<TimestampMillisecondType>().value(i),
                    1_000_000,
                ),
                (DataType::Timestamp(..), TimeUnit::Microsecond) => (
                    array.as_primitive::<TimestampMicrosecondType>().value(i),
                    1000,
                ),
                (DataType::Timestamp(..), TimeUnit::Nanosecond) => {
                    (array.as_primitive::<TimestampNanosecondType>().value(i), 1)
                }
                (_, TimeUnit::Second) => (
                    array.as_primitive::<DurationSecondType>().value(i),
                    1_000_000_000,
                ),
                (_, TimeUnit::Millisecond) => (
                    array.as_primitive::<DurationMillisecondType>().value(i),
                    1_000_000,
                ),
                (_, TimeUnit::Microsecond) => (
                    array.as_primitive::<DurationMicrosecondType>().value(i),
                    1000,
                ),
                (_, TimeUnit::Nanosecond) => {
                    (array.as_primitive::<DurationNanosecondType>().value(i), 1)
                }
            };
            v as i128 * per
        }
        other => return Err(format!("Arrow {other} is not a date or time")),
    })
}

/// An Oracle timestamp (UTC, offset +00:00 when `tz`) for nanoseconds since the epoch.
pub fn timestamp_of(ns: i128, tz: bool) -> Result<Timestamp, String> {
    let n = i64::try_from(ns).map_err(|_| "timestamp out of range".to_string())?;
    let dt = chrono::DateTime::from_timestamp_nanos(n).naive_utc();
    use chrono::{Datelike, Timelike};
    let ts = Timestamp::new(
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond(),
    )
    .map_err(|e| e.to_string())?;
    if tz {
        ts.and_tz_offset(0).map_err(|e| e.to_string())
    } else {
        Ok(ts)
    }
}

/// An `INTERVAL DAY TO SECOND` of `ns` nanoseconds (all parts carry the sign).
pub fn interval_of(ns: i128) -> Result<IntervalDS, String> {
    let sign: i128 = if ns < 0 { -1 } else { 1 };
    let a = ns.abs();
    let days = a / NANOS_PER_DAY;
    let rest = a % NANOS_PER_DAY;
    let secs = rest / 1_000_000_000;
    let part = |v: i128| i32::try_from(v * sign).map_err(|_| "interval out of range".to_string());
    IntervalDS::new(
        part(days)?,
        part(secs / 3600)?,
        part(secs / 60 % 60)?,
        part(secs % 60)?,
        part(rest % 1_000_000_000)?,
    )
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Nanoseconds since the epoch (UTC for values with a time zone) of an Oracle timestamp.
pub fn timestamp_nanos(t: &Timestamp) -> Result<i128, String> {
    let date = chrono::NaiveDate::from_ymd_opt(t.year(), t.month(), t.day())
        .ok_or_else(|| format!("{t} is not a valid date"))?;
    let days = (date - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days() as i128;
    let tod = ((t.hour() * 3600 + t.minute() * 60 + t.second()) as i128) * 1_000_000_000
        + t.nanosecond() as i128;
    let offset = if t.with_tz() {
        t.tz_offset() as i128 * 1_000_000_000
    } else {
        0
    };
    Ok(days * NANOS_PER_DAY + tod - offset)
}

/// Nanoseconds of an `INTERVAL DAY TO SECOND`.
pub fn interval_nanos(d: &IntervalDS) -> i128 {
    ((d.days() as i128 * 24 + d.hours() as i128) * 60 + d.minutes() as i128) * 60_000_000_000
        + d.seconds() as i128 * 1_000_000_000
        + d.nanoseconds() as i128
}

/// One fetched value, as the source reads it from the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Null,
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    /// NUMBER and FLOAT values as exact decimal text; text columns.
    Text(String),
    Bytes(Vec<u8>),
    Ts(Timestamp),
    Ds(IntervalDS),
    Ym(IntervalYM),
}

/// Appends one fetched value to a column of its mapped Arrow type, or says why it does not
/// fit exactly.
pub fn append(b: &mut ColumnBuilder, v: Fetched) -> Result<(), String> {
    match (b.data_type(), v) {
        (_, Fetched::Null) => {
            b.append_null();
            Ok(())
        }
        (DataType::Boolean, Fetched::Bool(x)) => b.append_bool(x),
        (DataType::Int64, Fetched::Int(x)) => b.append_i64(x),
        (DataType::Int64, Fetched::Text(t)) => b.append_i64(
            t.trim()
                .parse::<i64>()
                .map_err(|_| format!("{t} is not a whole number that fits 64 bits"))?,
        ),
        (DataType::Float32, Fetched::F32(x)) => b.append_f32(x),
        (DataType::Float64, Fetched::F64(x)) => b.append_f64(x),
        (DataType::Float64, Fetched::Text(t)) => b.append_f64(exact_f64(&t)?),
        (&DataType::Decimal128(p, s), Fetched::Text(t)) => b.append_decimal128(
            crate::values::parse_decimal(&t, p, s).map_err(|e| {
                format!("{e} (CAST the column to NUMBER(p,s) in a `query:` to choose the scale)")
            })?,
        ),
        (DataType::Utf8, Fetched::Text(t)) => b.append_str(&t),
        (DataType::Binary, Fetched::Bytes(x)) => b.append_bytes(&x),
        (DataType::Timestamp(TimeUnit::Microsecond, _), Fetched::Ts(t)) => {
            let ns = timestamp_nanos(&t)?;
            if ns % 1000 != 0 {
                return Err(format!("{t} has sub-microsecond digits"));
            }
            b.append_timestamp_us(i64::try_from(ns / 1000).map_err(|_| "timestamp out of range")?)
        }
        (DataType::Timestamp(TimeUnit::Nanosecond, _), Fetched::Ts(t)) => b.append_timestamp_ns(
            i64::try_from(timestamp_nanos(&t)?).map_err(|_| {
                format!("{t} is outside the nanosecond timestamp range (years 1677-2262); CAST it to TIMESTAMP(6) in a `query:`")
            })?,
        ),
        (DataType::Duration(TimeUnit::Microsecond), Fetched::Ds(d)) => {
            let ns = interval_nanos(&d);
            if ns % 1000 != 0 {
                return Err(format!("{d} has sub-microsecond digits"));
            }
            b.append_duration_us(i64::try_from(ns / 1000).map_err(|_| "interval out of range")?)
        }
        (DataType::Duration(TimeUnit::Nanosecond), Fetched::Ds(d)) => b.append_duration_ns(
            i64::try_from(interval_nanos(&d)).map_err(|_| "interval out of range")?,
        ),
        (DataType::Interval(IntervalUnit::YearMonth), Fetched::Ym(y)) => {
            b.append_year_month(y.years() * 12 + y.months())
        }
        (_, v) => Err(format!("{v:?} does not fit the column's type")),
    }
}

/// A FLOAT(b) value (decimal text) as an f64, only when the f64 is the same number.
pub fn exact_f64(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let f: f64 = t.parse().map_err(|_| format!("{t} is not a number"))?;
    if normalize(t) != normalize(&format!("{f}")) {
        return Err(format!(
            "{t} has no exact 64-bit float; CAST it to NUMBER(p,s) in a `query:`"
        ));
    }
    Ok(f)
}

/// Decimal text without a leading `+`, leading zeros, or trailing fractional zeros.
fn normalize(t: &str) -> String {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let n = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && n != "0" {
        format!("-{n}")
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_type_map() {
        let cases: Vec<(OracleType, DataType)> = vec![
            (OracleType::Number(10, 0), DataType::Int64),
            (OracleType::Number(18, 0), DataType::Int64),
            (OracleType::Number(19, 0), DataType::Decimal128(19, 0)),
            (OracleType::Number(12, 2), DataType::Decimal128(12, 2)),
            (OracleType::Number(0, -127), DataType::Decimal128(38, 10)),
            (OracleType::Number(5, -2), DataType::Int64),
            (OracleType::Number(2, 5), DataType::Decimal128(5, 5)),
            (OracleType::Float(126), DataType::Float64),
            (OracleType::BinaryFloat, DataType::Float32),
            (OracleType::BinaryDouble, DataType::Float64),
            (OracleType::Varchar2(20), DataType::Utf8),
            (OracleType::NVarchar2(20), DataType::Utf8),
            (OracleType::Char(3), DataType::Utf8),
            (OracleType::CLOB, DataType::Utf8),
            (OracleType::NCLOB, DataType::Utf8),
            (OracleType::BLOB, DataType::Binary),
            (OracleType::Raw(16), DataType::Binary),
            (
                OracleType::Date,
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                OracleType::Timestamp(6),
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                OracleType::Timestamp(9),
                DataType::Timestamp(TimeUnit::Nanosecond, None),
            ),
            (
                OracleType::TimestampTZ(6),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            (
                OracleType::TimestampLTZ(9),
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ),
            (
                OracleType::IntervalDS(2, 6),
                DataType::Duration(TimeUnit::Microsecond),
            ),
            (
                OracleType::IntervalYM(2),
                DataType::Interval(IntervalUnit::YearMonth),
            ),
        ];
        for (t, want) in cases {
            assert_eq!(arrow_type(&t).unwrap(), want, "{t}");
        }
        assert!(arrow_type(&OracleType::BFILE)
            .unwrap_err()
            .contains("query"));
    }

    #[test]
    fn write_type_map() {
        let c = |d: DataType| column_type(&d, false).unwrap();
        assert_eq!(c(DataType::Boolean), "NUMBER(1)");
        assert_eq!(c(DataType::Int64), "NUMBER(19)");
        assert_eq!(c(DataType::UInt64), "NUMBER(20)");
        assert_eq!(c(DataType::Float32), "BINARY_FLOAT");
        assert_eq!(c(DataType::Decimal128(12, 2)), "NUMBER(12,2)");
        assert_eq!(c(DataType::Utf8), "CLOB");
        assert_eq!(
            column_type(&DataType::Utf8, true).unwrap(),
            "VARCHAR2(4000)"
        );
        assert_eq!(c(DataType::Binary), "BLOB");
        assert_eq!(c(DataType::Date32), "DATE");
        assert_eq!(
            c(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("UTC".into())
            )),
            "TIMESTAMP(9) WITH TIME ZONE"
        );
        assert_eq!(
            c(DataType::Time64(TimeUnit::Microsecond)),
            "INTERVAL DAY(0) TO SECOND(6)"
        );
        assert!(column_type(&DataType::Decimal256(40, 2), false).is_err());
        assert_eq!(
            column_type(&DataType::new_list(DataType::Int32, true), false).unwrap(),
            "CLOB"
        );
    }

    #[test]
    fn values_bind_exactly() {
        let d = Decimal128Array::from(vec![Some(-7), None])
            .with_precision_and_scale(12, 2)
            .unwrap();
        assert_eq!(
            bind_value(&d, 0).unwrap(),
            BindValue::Text(Some("-0.07".into()))
        );
        assert_eq!(bind_value(&d, 1).unwrap(), BindValue::Text(None));
        let neg = Decimal128Array::from(vec![-12])
            .with_precision_and_scale(5, -90)
            .unwrap();
        assert_eq!(
            bind_value(&neg, 0).unwrap(),
            BindValue::Text(Some(format!("-12{}", "0".repeat(90))))
        );
        let u = UInt64Array::from(vec![u64::MAX]);
        assert_eq!(
            bind_value(&u, 0).unwrap(),
            BindValue::Text(Some("18446744073709551615".into()))
        );
        let ts = TimestampMicrosecondArray::from(vec![1_000_001]).with_timezone("UTC");
        match bind_value(&ts, 0).unwrap() {
            BindValue::Ts(Some(t)) => {
                assert_eq!((t.year(), t.second(), t.nanosecond()), (1970, 1, 1000));
                assert!(t.with_tz());
                assert_eq!(timestamp_nanos(&t).unwrap(), 1_000_001_000);
            }
            other => panic!("{other:?}"),
        }
        let dur = DurationMicrosecondArray::from(vec![-90_061_000_001]);
        match bind_value(&dur, 0).unwrap() {
            BindValue::Ds(Some(d)) => {
                assert_eq!(
                    (d.days(), d.hours(), d.minutes(), d.seconds()),
                    (-1, -1, -1, -1)
                );
                assert_eq!(interval_nanos(&d), -90_061_000_001_000);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_read_exactly_or_fail() {
        let mut b = ColumnBuilder::new(&DataType::Decimal128(38, 10), 2).unwrap();
        append(&mut b, Fetched::Text("12.5".into())).unwrap();
        assert!(append(&mut b, Fetched::Text("0.00000000001".into()))
            .unwrap_err()
            .contains("CAST"));
        let mut i = ColumnBuilder::new(&DataType::Int64, 1).unwrap();
        append(&mut i, Fetched::Text("-9223372036854775808".into())).unwrap();
        assert!(append(&mut i, Fetched::Text("1.5".into())).is_err());
        assert_eq!(exact_f64("0.1").unwrap(), 0.1);
        assert_eq!(exact_f64("-2.50").unwrap(), -2.5);
        assert!(exact_f64("0.12345678901234567890123").is_err());
        let mut t =
            ColumnBuilder::new(&DataType::Timestamp(TimeUnit::Microsecond, None), 1).unwrap();
        let ts = Timestamp::new(2024, 2, 29, 23, 59, 59, 123_456_789).unwrap();
        assert!(append(&mut t, Fetched::Ts(ts))
            .unwrap_err()
            .contains("sub-microsecond"));
        let plus2 = Timestamp::new(2024, 1, 1, 2, 0, 0, 0)
            .unwrap()
            .and_tz_hm_offset(2, 0)
            .unwrap();
        assert_eq!(
            timestamp_nanos(&plus2).unwrap(),
            1_704_067_200 * 1_000_000_000
        );
    }
}
