//! PostgreSQL <-> Arrow: the type mapping, the binary `COPY` decoder (PostgreSQL -> Arrow
//! builders) and encoder (Arrow arrays -> binary `COPY` rows).
//!
//! | PostgreSQL | Arrow (read) | written back as |
//! |---|---|---|
//! | `boolean` | Boolean | `boolean` |
//! | `smallint` / `integer` / `bigint` | Int16 / Int32 / Int64 | same |
//! | `real` / `double precision` | Float32 / Float64 | same |
//! | `numeric(p,s)`, p <= 38 | Decimal128(p,s) | `numeric(p,s)` |
//! | `numeric(p,s)`, 38 < p <= 76 | Decimal256(p,s) | `numeric(p,s)` |
//! | `numeric` (unconstrained) | per the source's `numeric:` — `decimal` (default): Decimal128(38, `numeric_scale`, default 10); `decimal256`: Decimal256(76, `numeric_scale`, default 38); a value with more fractional or integer digits than that, NaN or ±Infinity fails naming the column and row. `text`: Utf8, PostgreSQL's exact text of any value | `numeric` (from the field's `postgresql.type` hint), else `numeric(p,s)` / `text` |
//! | `text`, `varchar(n)`, `char(n)`, `name`, `citext` | Utf8 | `text`; `varchar(n)` / `char(n)` restored from the hint |
//! | `json` / `jsonb` | Utf8 | `json` / `jsonb` from the hint, else `text` |
//! | enum types | Utf8 | the enum when a type of that name exists in the destination, else `text` |
//! | `bytea` | Binary | `bytea` |
//! | `date` | Date32 | `date` |
//! | `time` | Time64(µs) | `time` |
//! | `timestamp` | Timestamp(µs) | `timestamp` |
//! | `timestamptz` | Timestamp(µs, "UTC") | `timestamptz` |
//! | `interval` | Utf8, ISO 8601 (`P1Y2M3DT4H5M6.000007S`) — Parquet cannot store Arrow's Interval(MonthDayNano) | `interval` from the hint, else `text` |
//! | `uuid` | FixedSizeBinary(16) with the `arrow.uuid` extension | `uuid` |
//! | one-dimensional arrays of the above | List of the element type | array of the element type |
//!
//! Every field read from PostgreSQL carries its exact type (`format_type`) in the field metadata
//! key `postgresql.type`; Parquet keeps field metadata, so PostgreSQL -> Parquet -> PostgreSQL
//! recreates `varchar(20)`, `jsonb`, `interval` or an enum exactly. Formats without metadata
//! (CSV, JSONL) fall back to the Arrow type's column.
//!
//! `±infinity` dates and timestamps, multi-dimensional arrays and every type not listed (e.g.
//! `money`, `timetz`, `inet`, ranges, composites) fail naming the column, unless the stream casts
//! the column (`cast: {col: text}`).

use crate::connectors::sql::builder::ColumnBuilder;
use arrow::array::{Array, ListArray};
use arrow::datatypes::{i256, DataType, Field, IntervalUnit, TimeUnit};
use bytes::{BufMut, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;

/// Field metadata key holding the column's PostgreSQL type (`format_type` output).
pub const PG_TYPE_KEY: &str = crate::contract::field_meta::POSTGRESQL_TYPE;
/// Destination-internal field metadata: declare the column with this type as is (set only for
/// types whose binary input is the same as the Arrow-derived type's).
pub const DIRECT_TYPE_KEY: &str = "etl.postgresql.declare";

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// Well-known type OIDs.
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
}

/// How one scalar PostgreSQL value is decoded / encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    /// `numeric` into Decimal128(p,s) (or Decimal256 when p > 38).
    Numeric {
        precision: u8,
        scale: i8,
    },
    /// An unconstrained `numeric` as its exact text (the source's `numeric: text`).
    NumericText,
    /// UTF-8 text (text, varchar, char, name, json, enums).
    Text,
    /// jsonb: a version byte, then text.
    Jsonb,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    /// interval as ISO 8601 text.
    Interval,
    Uuid,
}

impl Scalar {
    pub fn data_type(self) -> DataType {
        match self {
            Scalar::Bool => DataType::Boolean,
            Scalar::I16 => DataType::Int16,
            Scalar::I32 => DataType::Int32,
            Scalar::I64 => DataType::Int64,
            Scalar::F32 => DataType::Float32,
            Scalar::F64 => DataType::Float64,
            Scalar::Numeric { precision, scale } if precision <= 38 => {
                DataType::Decimal128(precision, scale)
            }
            Scalar::Numeric { precision, scale } => DataType::Decimal256(precision, scale),
            Scalar::Text | Scalar::Jsonb | Scalar::Interval | Scalar::NumericText => DataType::Utf8,
            Scalar::Bytea => DataType::Binary,
            Scalar::Date => DataType::Date32,
            Scalar::Time => DataType::Time64(TimeUnit::Microsecond),
            Scalar::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Scalar::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Scalar::Uuid => DataType::FixedSizeBinary(16),
        }
    }
}

/// A column as read: scalar, or a one-dimensional array of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnKind {
    pub scalar: Scalar,
    pub array: bool,
}

/// Decodes an unconstrained `numeric` into this Decimal128.
pub const UNCONSTRAINED_NUMERIC: (u8, i8) = (38, 10);

/// The scalar for a (non-array) type OID and type modifier; `None` when unsupported.
pub fn scalar_for(type_oid: u32, typmod: i32, is_enum: bool) -> Option<Scalar> {
    if is_enum {
        return Some(Scalar::Text);
    }
    Some(match type_oid {
        oid::BOOL => Scalar::Bool,
        oid::INT2 => Scalar::I16,
        oid::INT4 => Scalar::I32,
        oid::INT8 => Scalar::I64,
        oid::FLOAT4 => Scalar::F32,
        oid::FLOAT8 => Scalar::F64,
        oid::NUMERIC => {
            if typmod < 4 {
                let (precision, scale) = UNCONSTRAINED_NUMERIC;
                Scalar::Numeric { precision, scale }
            } else {
                let t = typmod - 4;
                let precision = (t >> 16) & 0xffff;
                let scale = ((t & 0x7ff) ^ 1024) - 1024;
                if !(1..=76).contains(&precision) || scale < 0 || scale > precision {
                    return None;
                }
                Scalar::Numeric {
                    precision: precision as u8,
                    scale: scale as i8,
                }
            }
        }
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON => Scalar::Text,
        oid::JSONB => Scalar::Jsonb,
        oid::BYTEA => Scalar::Bytea,
        oid::DATE => Scalar::Date,
        oid::TIME => Scalar::Time,
        oid::TIMESTAMP => Scalar::Timestamp,
        oid::TIMESTAMPTZ => Scalar::TimestampTz,
        oid::INTERVAL => Scalar::Interval,
        oid::UUID => Scalar::Uuid,
        _ => return None,
    })
}

/// The Arrow field for a column read from PostgreSQL.
pub fn arrow_field(name: &str, kind: ColumnKind, pg_type: &str) -> Field {
    let item = Field::new("item", kind.scalar.data_type(), true);
    let mut meta = HashMap::from([(PG_TYPE_KEY.to_string(), pg_type.to_string())]);
    let dt = if kind.array {
        DataType::List(Arc::new(item))
    } else {
        if kind.scalar == Scalar::Uuid {
            crate::contract::field_meta::tag_uuid(&mut meta);
        }
        kind.scalar.data_type()
    };
    Field::new(name, dt, true).with_metadata(meta)
}

// ------------------------------------------------------------------------------------------
// Decoding (binary COPY -> Arrow)

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}
fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

fn want(b: &[u8], n: usize, what: &str) -> Result<(), String> {
    if b.len() == n {
        Ok(())
    } else {
        Err(format!(
            "malformed {what}: {} bytes where {n} were expected",
            b.len()
        ))
    }
}

/// Appends one binary COPY field (`None`: NULL) to a column read as `kind`.
#[inline]
pub fn append(b: &mut ColumnBuilder, kind: ColumnKind, v: Option<&[u8]>) -> Result<(), String> {
    let Some(v) = v else {
        b.append_null();
        return Ok(());
    };
    if !kind.array {
        return append_scalar(b, kind.scalar, v);
    }
    let n = append_array(b.list_items()?, kind.scalar, v)?;
    b.end_list(n)
}

/// Appends a one-dimensional array's elements; returns their number.
fn append_array(items: &mut ColumnBuilder, s: Scalar, v: &[u8]) -> Result<i32, String> {
    let bad = || "malformed array".to_string();
    if v.len() < 12 {
        return Err(bad());
    }
    let ndim = be_i32(v);
    if ndim == 0 {
        return Ok(0);
    }
    if ndim != 1 {
        return Err(format!(
            "{ndim}-dimensional array: only one-dimensional arrays map to an Arrow List (cast the column to text)"
        ));
    }
    if v.len() < 20 {
        return Err(bad());
    }
    let n = be_i32(&v[12..]);
    let mut pos = 20;
    for _ in 0..n {
        let len = be_i32(v.get(pos..pos + 4).ok_or_else(bad)?);
        pos += 4;
        if len < 0 {
            items.append_null();
        } else {
            let e = v.get(pos..pos + len as usize).ok_or_else(bad)?;
            append_scalar(items, s, e)?;
            pos += len as usize;
        }
    }
    Ok(n)
}

/// Appends one non-NULL scalar field.
#[inline]
fn append_scalar(b: &mut ColumnBuilder, s: Scalar, v: &[u8]) -> Result<(), String> {
    match s {
        Scalar::Bool => {
            want(v, 1, "boolean")?;
            b.append_bool(v[0] != 0)
        }
        Scalar::I16 => {
            want(v, 2, "smallint")?;
            b.append_i16(be_i16(v))
        }
        Scalar::I32 => {
            want(v, 4, "integer")?;
            b.append_i32(be_i32(v))
        }
        Scalar::I64 => {
            want(v, 8, "bigint")?;
            b.append_i64(be_i64(v))
        }
        Scalar::F32 => {
            want(v, 4, "real")?;
            b.append_f32(f32::from_bits(be_i32(v) as u32))
        }
        Scalar::F64 => {
            want(v, 8, "double precision")?;
            b.append_f64(f64::from_bits(be_i64(v) as u64))
        }
        Scalar::Numeric { precision, scale } if precision <= 38 => {
            let u = numeric_to_unscaled(v, precision, scale)?;
            let u = u
                .to_i128()
                .ok_or_else(|| "numeric out of range".to_string())?;
            b.append_decimal128(u)
        }
        Scalar::Numeric { precision, scale } => {
            b.append_decimal256(numeric_to_unscaled(v, precision, scale)?)
        }
        Scalar::NumericText => b.append_str(&numeric_to_text(v)?),
        Scalar::Jsonb => match v.split_first() {
            Some((1, rest)) => b.append_str(utf8(rest)?),
            _ => Err("unsupported jsonb binary version".into()),
        },
        Scalar::Interval => {
            want(v, 16, "interval")?;
            b.append_str(&iso_interval(be_i64(v), be_i32(&v[8..]), be_i32(&v[12..])))
        }
        Scalar::Text => b.append_str(utf8(v)?),
        Scalar::Bytea => b.append_bytes(v),
        Scalar::Uuid => {
            want(v, 16, "uuid")?;
            b.append_fixed(v)
        }
        Scalar::Date => {
            want(v, 4, "date")?;
            let d = be_i32(v);
            if d == i32::MAX || d == i32::MIN {
                return Err(
                    "date is ±infinity, which Arrow cannot hold (cast the column to text)".into(),
                );
            }
            b.append_date32(
                d.checked_add(PG_EPOCH_DAYS)
                    .ok_or_else(|| "date out of range".to_string())?,
            )
        }
        Scalar::Time => {
            want(v, 8, "time")?;
            let t = be_i64(v);
            if !(0..86_400_000_000).contains(&t) {
                return Err(
                    "time 24:00:00 is outside Arrow's Time64 range (cast the column to text)"
                        .into(),
                );
            }
            b.append_time_us(t)
        }
        Scalar::Timestamp | Scalar::TimestampTz => {
            want(v, 8, "timestamp")?;
            let t = be_i64(v);
            if t == i64::MAX || t == i64::MIN {
                return Err(
                    "timestamp is ±infinity, which Arrow cannot hold (cast the column to text)"
                        .into(),
                );
            }
            b.append_timestamp_us(
                t.checked_add(PG_EPOCH_US)
                    .ok_or_else(|| "timestamp out of range".to_string())?,
            )
        }
    }
}

fn utf8(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("text is not valid UTF-8: {e}"))
}

/// PostgreSQL binary `numeric` -> its exact text as PostgreSQL prints it (`-12.50`, `0.005`,
/// `NaN`, `Infinity`): base-10000 digit groups, the first at exponent `weight`, shown to the
/// value's display scale.
fn numeric_to_text(v: &[u8]) -> Result<String, String> {
    if v.len() < 8 {
        return Err("malformed numeric".into());
    }
    let ndigits = usize::try_from(be_i16(v)).map_err(|_| "malformed numeric".to_string())?;
    let weight = be_i16(&v[2..]) as i32;
    let sign = u16::from_be_bytes([v[4], v[5]]);
    let dscale = usize::from(u16::from_be_bytes([v[6], v[7]]) & 0x3fff);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => return Err("malformed numeric".into()),
    }
    if v.len() != 8 + 2 * ndigits {
        return Err("malformed numeric".into());
    }
    let group = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .filter(|&i| i < ndigits)
            .map_or(0, |i| be_i16(&v[8 + 2 * i..]))
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            match i {
                0 => s.push_str(&group(0).to_string()),
                _ => s.push_str(&format!("{:04}", group(i))),
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

/// PostgreSQL binary `numeric` -> the unscaled integer at `scale`, checked against
/// `precision`. Never rounds: extra fractional digits fail.
fn numeric_to_unscaled(v: &[u8], precision: u8, scale: i8) -> Result<i256, String> {
    if v.len() < 8 {
        return Err("malformed numeric".into());
    }
    let ndigits = be_i16(v) as usize;
    let weight = be_i16(&v[2..]) as i32;
    let sign = u16::from_be_bytes([v[4], v[5]]);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("numeric is NaN, which a decimal cannot hold".into()),
        _ => return Err("numeric is ±Infinity, which a decimal cannot hold".into()),
    }
    if v.len() != 8 + 2 * ndigits {
        return Err("malformed numeric".into());
    }
    let scale = scale as i32;
    let ten = i256::from_i128(10);
    let mut acc = i256::ZERO;
    let mut frac_rest = false;
    for i in 0..ndigits {
        let d = be_i16(&v[8 + 2 * i..]) as i32;
        // This base-10000 digit's 4 decimal digits have exponents 4*(weight-i) + {3,2,1,0}.
        let base_exp = 4 * (weight - i as i32);
        for k in (0..4).rev() {
            let digit = (d / 10i32.pow(k as u32)) % 10;
            let exp = base_exp + k;
            if exp < -scale {
                if digit != 0 {
                    frac_rest = true;
                }
                continue;
            }
            acc = acc
                .checked_mul(ten)
                .and_then(|a| a.checked_add(i256::from_i128(digit as i128)))
                .ok_or_else(|| "numeric too large".to_string())?;
        }
    }
    if frac_rest {
        return Err(format!(
            "numeric has more than {scale} fractional digits (declare numeric(p,s) or cast the column)"
        ));
    }
    // Digits consumed so far end at exponent min(lowest digit exponent, ...); scale up to -scale.
    let lowest = if ndigits == 0 {
        0
    } else {
        4 * (weight - ndigits as i32 + 1)
    };
    let mut missing = lowest.max(-scale) + scale;
    if ndigits == 0 {
        missing = 0;
    }
    for _ in 0..missing {
        acc = acc
            .checked_mul(ten)
            .ok_or_else(|| "numeric too large".to_string())?;
    }
    let limit = ten
        .checked_pow(precision as u32)
        .ok_or_else(|| "precision too large".to_string())?;
    if acc >= limit {
        return Err(format!(
            "numeric has more than {} integer digits, which numeric({precision},{scale}) cannot hold (cast the column)",
            precision as i32 - scale
        ));
    }
    Ok(if sign == 0x4000 {
        acc.wrapping_neg()
    } else {
        acc
    })
}

/// ISO 8601 duration text for a PostgreSQL interval.
pub fn iso_interval(micros: i64, days: i32, months: i32) -> String {
    let mut s = String::from("P");
    let (y, m) = (months / 12, months % 12);
    if y != 0 {
        s.push_str(&format!("{y}Y"));
    }
    if m != 0 {
        s.push_str(&format!("{m}M"));
    }
    if days != 0 {
        s.push_str(&format!("{days}D"));
    }
    if micros != 0 {
        s.push('T');
        let neg = micros < 0;
        let a = micros.unsigned_abs();
        let (h, rest) = (a / 3_600_000_000, a % 3_600_000_000);
        let (mi, rest) = (rest / 60_000_000, rest % 60_000_000);
        let (sec, us) = (rest / 1_000_000, rest % 1_000_000);
        let sign = if neg { "-" } else { "" };
        if h != 0 {
            s.push_str(&format!("{sign}{h}H"));
        }
        if mi != 0 {
            s.push_str(&format!("{sign}{mi}M"));
        }
        if sec != 0 || us != 0 {
            if us != 0 {
                s.push_str(&format!("{sign}{sec}.{us:06}S"));
            } else {
                s.push_str(&format!("{sign}{sec}S"));
            }
        }
    }
    if s == "P" {
        s.push_str("T0S");
    }
    s
}

// ------------------------------------------------------------------------------------------
// Encoding (Arrow -> binary COPY)

/// The PostgreSQL column type for an Arrow field: the `postgresql.type` hint is used by the
/// destination separately; this is the natural type of the Arrow data.
pub fn column_type(dt: &DataType, uuid_ext: bool) -> Result<String, String> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) if is_array(dt) => {
            Ok(format!("{}[]", column_type(f.data_type(), false)?))
        }
        other if is_jsonb(other) => Ok(Enc::Jsonb.sql_type()),
        other => encoder_scalar(other, uuid_ext).map(|e| e.sql_type()),
    }
}

/// Whether a column of this type is a PostgreSQL array: a one-dimensional list of scalars.
fn is_array(dt: &DataType) -> bool {
    matches!(dt, DataType::List(f) | DataType::LargeList(f)
        if !crate::formats::nested::is_nested(f.data_type()))
}

/// Whether a column of this type is stored as `jsonb` (its JSON text, see formats::nested):
/// nested lists, structs and maps — every nested type but a one-dimensional list of scalars.
pub fn is_jsonb(dt: &DataType) -> bool {
    crate::formats::nested::is_nested(dt) && !is_array(dt)
}

/// How an Arrow scalar type is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    /// Decimal128/256 at this scale, declared numeric(p,s).
    Numeric(u8, i8),
    /// UInt64 as numeric(20,0).
    U64,
    Text,
    Bytea,
    Uuid,
    Date,
    Time,
    Ts,
    TsTz,
    Interval,
    /// JSON text (a nested value), sent in jsonb's binary form.
    Jsonb,
    Null,
}

impl Enc {
    fn sql_type(self) -> String {
        match self {
            Enc::Bool => "boolean".into(),
            Enc::I16 => "smallint".into(),
            Enc::I32 => "integer".into(),
            Enc::I64 => "bigint".into(),
            Enc::F32 => "real".into(),
            Enc::F64 => "double precision".into(),
            Enc::Numeric(p, s) => format!("numeric({p},{s})"),
            Enc::U64 => "numeric(20,0)".into(),
            Enc::Text | Enc::Null => "text".into(),
            Enc::Bytea => "bytea".into(),
            Enc::Uuid => "uuid".into(),
            Enc::Date => "date".into(),
            Enc::Time => "time".into(),
            Enc::Ts => "timestamp".into(),
            Enc::TsTz => "timestamptz".into(),
            Enc::Interval => "interval".into(),
            Enc::Jsonb => "jsonb".into(),
        }
    }
    fn oid(self) -> u32 {
        match self {
            Enc::Bool => oid::BOOL,
            Enc::I16 => oid::INT2,
            Enc::I32 => oid::INT4,
            Enc::I64 => oid::INT8,
            Enc::F32 => oid::FLOAT4,
            Enc::F64 => oid::FLOAT8,
            Enc::Numeric(..) | Enc::U64 => oid::NUMERIC,
            Enc::Text | Enc::Null => oid::TEXT,
            Enc::Bytea => oid::BYTEA,
            Enc::Uuid => oid::UUID,
            Enc::Date => oid::DATE,
            Enc::Time => oid::TIME,
            Enc::Ts => oid::TIMESTAMP,
            Enc::TsTz => oid::TIMESTAMPTZ,
            Enc::Interval => oid::INTERVAL,
            Enc::Jsonb => oid::JSONB,
        }
    }
}

fn encoder_scalar(dt: &DataType, uuid_ext: bool) -> Result<Enc, String> {
    Ok(match dt {
        DataType::Boolean => Enc::Bool,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Enc::I16,
        DataType::Int32 | DataType::UInt16 => Enc::I32,
        DataType::Int64 | DataType::UInt32 => Enc::I64,
        DataType::UInt64 => Enc::U64,
        DataType::Float16 | DataType::Float32 => Enc::F32,
        DataType::Float64 => Enc::F64,
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            if *s < 0 || (*s as u8) > *p {
                return Err(format!("{dt} has a scale PostgreSQL cannot declare"));
            }
            Enc::Numeric(*p, *s)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Enc::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Enc::Bytea,
        DataType::FixedSizeBinary(16) if uuid_ext => Enc::Uuid,
        DataType::FixedSizeBinary(_) => Enc::Bytea,
        DataType::Date32 | DataType::Date64 => Enc::Date,
        DataType::Time32(_) | DataType::Time64(_) => Enc::Time,
        DataType::Timestamp(_, None) => Enc::Ts,
        DataType::Timestamp(_, Some(_)) => Enc::TsTz,
        DataType::Interval(IntervalUnit::MonthDayNano) => Enc::Interval,
        DataType::Null => Enc::Null,
        other => return Err(crate::connectors::sql::no_column_type("PostgreSQL", other)),
    })
}

/// Whether a field is a UUID (Arrow's `arrow.uuid` extension, or PostgreSQL's own `uuid` hint).
pub fn is_uuid_field(f: &Field) -> bool {
    crate::contract::field_meta::is_uuid(f)
        || (matches!(f.data_type(), DataType::FixedSizeBinary(16))
            && f.metadata().get(PG_TYPE_KEY).map(String::as_str) == Some("uuid"))
}

/// Writes one Arrow column's values into binary COPY rows.
pub struct ColumnEncoder {
    enc: Enc,
    list: bool,
}

impl ColumnEncoder {
    pub fn new(field: &Field) -> Result<Self, String> {
        let uuid = is_uuid_field(field);
        match field.data_type() {
            other if is_jsonb(other) => Ok(ColumnEncoder {
                enc: Enc::Jsonb,
                list: false,
            }),
            DataType::List(f) | DataType::LargeList(f) => Ok(ColumnEncoder {
                enc: encoder_scalar(f.data_type(), false)?,
                list: true,
            }),
            other => Ok(ColumnEncoder {
                enc: encoder_scalar(other, uuid)?,
                list: false,
            }),
        }
    }

    /// Appends field `row` of `array` (length-prefixed, or -1 for NULL) to `out`.
    pub fn write(&self, array: &dyn Array, row: usize, out: &mut BytesMut) -> Result<(), String> {
        if array.is_null(row) {
            out.put_i32(-1);
            return Ok(());
        }
        if !self.list {
            return write_scalar(self.enc, array, row, out);
        }
        let values = match array.data_type() {
            DataType::List(_) => array
                .as_any()
                .downcast_ref::<ListArray>()
                .map(|l| l.value(row)),
            DataType::LargeList(_) => array
                .as_any()
                .downcast_ref::<arrow::array::LargeListArray>()
                .map(|l| l.value(row)),
            _ => None,
        }
        .ok_or_else(|| "internal: list column is not a list".to_string())?;
        let len_at = out.len();
        out.put_i32(0); // length, patched below
        let n = values.len();
        if n == 0 {
            out.put_i32(0);
            out.put_i32(0);
            out.put_u32(self.enc.oid());
        } else {
            out.put_i32(1);
            out.put_i32(i32::from(values.null_count() > 0));
            out.put_u32(self.enc.oid());
            out.put_i32(i32::try_from(n).map_err(|_| "array too long")?);
            out.put_i32(1);
            for i in 0..n {
                if values.is_null(i) {
                    out.put_i32(-1);
                } else {
                    write_scalar(self.enc, values.as_ref(), i, out)?;
                }
            }
        }
        let len = i32::try_from(out.len() - len_at - 4).map_err(|_| "array too large")?;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

/// One binary COPY field of a fixed-size value: its length, then the value (big-endian).
macro_rules! fixed_fields {
    ($($name:ident($t:ty) => $put:ident;)*) => {
        $(
            #[inline]
            fn $name(out: &mut BytesMut, v: $t) {
                out.put_i32(std::mem::size_of::<$t>() as i32);
                out.$put(v);
            }
        )*
    };
}

fixed_fields! {
    field_i16(i16) => put_i16;
    field_i32(i32) => put_i32;
    field_i64(i64) => put_i64;
    field_f32(f32) => put_f32;
    field_f64(f64) => put_f64;
}

macro_rules! prim {
    ($array:expr, $t:ty) => {
        $array
            .as_any()
            .downcast_ref::<$t>()
            .ok_or_else(|| format!("internal: expected {}", stringify!($t)))?
    };
}

fn write_scalar(enc: Enc, a: &dyn Array, row: usize, out: &mut BytesMut) -> Result<(), String> {
    use arrow::array::*;
    use arrow::datatypes::*;
    match (enc, a.data_type()) {
        (Enc::Bool, _) => {
            out.put_i32(1);
            out.put_u8(u8::from(prim!(a, BooleanArray).value(row)));
        }
        (Enc::I16, DataType::Int8) => field_i16(out, prim!(a, Int8Array).value(row) as i16),
        (Enc::I16, DataType::UInt8) => field_i16(out, prim!(a, UInt8Array).value(row) as i16),
        (Enc::I16, _) => field_i16(out, prim!(a, Int16Array).value(row)),
        (Enc::I32, DataType::UInt16) => field_i32(out, prim!(a, UInt16Array).value(row) as i32),
        (Enc::I32, _) => field_i32(out, prim!(a, Int32Array).value(row)),
        (Enc::I64, DataType::UInt32) => field_i64(out, prim!(a, UInt32Array).value(row) as i64),
        (Enc::I64, _) => field_i64(out, prim!(a, Int64Array).value(row)),
        (Enc::U64, _) => write_numeric(
            i256::from_i128(prim!(a, UInt64Array).value(row) as i128),
            0,
            out,
        ),
        (Enc::F32, DataType::Float16) => field_f32(out, prim!(a, Float16Array).value(row).to_f32()),
        (Enc::F32, _) => field_f32(out, prim!(a, Float32Array).value(row)),
        (Enc::F64, _) => field_f64(out, prim!(a, Float64Array).value(row)),
        (Enc::Numeric(_, s), DataType::Decimal128(..)) => write_numeric(
            i256::from_i128(prim!(a, Decimal128Array).value(row)),
            s,
            out,
        ),
        (Enc::Numeric(_, s), _) => write_numeric(prim!(a, Decimal256Array).value(row), s, out),
        (Enc::Text, DataType::Utf8) => put_text(out, prim!(a, StringArray).value(row))?,
        (Enc::Text, DataType::LargeUtf8) => put_text(out, prim!(a, LargeStringArray).value(row))?,
        (Enc::Text, _) => put_text(out, prim!(a, StringViewArray).value(row))?,
        // jsonb's binary input: a version byte (1), then the JSON text.
        (Enc::Jsonb, _) => {
            let text = prim!(a, StringArray).value(row).as_bytes();
            let len = i32::try_from(text.len() + 1).map_err(|_| "JSON value too large")?;
            out.put_i32(len);
            out.put_u8(1);
            out.put_slice(text);
        }
        (Enc::Bytea | Enc::Uuid, DataType::FixedSizeBinary(_)) => {
            put_bytes(out, prim!(a, FixedSizeBinaryArray).value(row))?
        }
        (Enc::Bytea, DataType::Binary) => put_bytes(out, prim!(a, BinaryArray).value(row))?,
        (Enc::Bytea, DataType::LargeBinary) => {
            put_bytes(out, prim!(a, LargeBinaryArray).value(row))?
        }
        (Enc::Bytea, _) => put_bytes(out, prim!(a, BinaryViewArray).value(row))?,
        (Enc::Date, DataType::Date64) => {
            let ms = prim!(a, Date64Array).value(row);
            if ms % 86_400_000 != 0 {
                return Err(format!("Date64 value {ms} ms is not a whole day"));
            }
            field_i32(out, (ms / 86_400_000) as i32 - PG_EPOCH_DAYS);
        }
        (Enc::Date, _) => field_i32(
            out,
            prim!(a, Date32Array)
                .value(row)
                .checked_sub(PG_EPOCH_DAYS)
                .ok_or("date out of range")?,
        ),
        (Enc::Time, dt) => {
            let us = match dt {
                DataType::Time32(TimeUnit::Second) => {
                    prim!(a, Time32SecondArray).value(row) as i64 * 1_000_000
                }
                DataType::Time32(_) => prim!(a, Time32MillisecondArray).value(row) as i64 * 1000,
                DataType::Time64(TimeUnit::Microsecond) => {
                    prim!(a, Time64MicrosecondArray).value(row)
                }
                _ => nanos_to_micros(prim!(a, Time64NanosecondArray).value(row))?,
            };
            field_i64(out, us);
        }
        (Enc::Ts | Enc::TsTz, DataType::Timestamp(unit, _)) => {
            let us = match unit {
                TimeUnit::Second => prim!(a, TimestampSecondArray)
                    .value(row)
                    .checked_mul(1_000_000),
                TimeUnit::Millisecond => prim!(a, TimestampMillisecondArray)
                    .value(row)
                    .checked_mul(1000),
                TimeUnit::Microsecond => Some(prim!(a, TimestampMicrosecondArray).value(row)),
                TimeUnit::Nanosecond => {
                    let ns = prim!(a, TimestampNanosecondArray).value(row);
                    Some(nanos_to_micros(ns).map_err(|_| {
                        format!(
                            "timestamp {} has a fraction below a microsecond, which PostgreSQL cannot store",
                            crate::values::timestamp_nanos_text(ns)
                        )
                    })?)
                }
            }
            .and_then(|us| us.checked_sub(PG_EPOCH_US))
            .ok_or("timestamp out of range")?;
            field_i64(out, us);
        }
        (Enc::Interval, _) => {
            let v = prim!(a, IntervalMonthDayNanoArray).value(row);
            out.put_i32(16);
            out.put_i64(nanos_to_micros(v.nanoseconds)?);
            out.put_i32(v.days);
            out.put_i32(v.months);
        }
        (Enc::Null, _) => out.put_i32(-1),
        (enc, dt) => return Err(format!("internal: cannot write {dt} as {enc:?}")),
    }
    Ok(())
}

fn nanos_to_micros(ns: i64) -> Result<i64, String> {
    if ns % 1000 != 0 {
        return Err(format!(
            "{ns} ns has a fraction below a microsecond, which PostgreSQL cannot store"
        ));
    }
    Ok(ns / 1000)
}

/// Text, refusing U+0000: PostgreSQL's text types cannot hold it (the server's own error,
/// `invalid byte sequence for encoding "UTF8": 0x00`, reads as if the text were not UTF-8).
fn put_text(out: &mut BytesMut, s: &str) -> Result<(), String> {
    if s.as_bytes().contains(&0) {
        return Err(
            "text contains the character U+0000 (NUL), which PostgreSQL text cannot hold; \
             remove it with a `transform:` before loading"
                .into(),
        );
    }
    put_bytes(out, s.as_bytes())
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) -> Result<(), String> {
    let n = i32::try_from(b.len()).map_err(|_| "value larger than 2 GiB".to_string())?;
    out.put_i32(n);
    out.put_slice(b);
    Ok(())
}

/// Writes an unscaled decimal at `scale` as a binary `numeric` field.
fn write_numeric(unscaled: i256, scale: i8, out: &mut BytesMut) {
    let neg = unscaled < i256::ZERO;
    let digits = unscaled.to_string();
    let digits = digits.trim_start_matches('-');
    let scale = scale.max(0) as usize;
    // Split into integer and fraction digit strings.
    let (int_part, frac_part) = if digits.len() > scale {
        (
            digits[..digits.len() - scale].to_string(),
            digits[digits.len() - scale..].to_string(),
        )
    } else {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(scale - digits.len())),
        )
    };
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_s = format!("{}{int_part}", "0".repeat(int_pad));
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_s = format!("{frac_part}{}", "0".repeat(frac_pad));
    let mut groups: Vec<i16> = Vec::new();
    let parse = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + (d - b'0') as i16))
            .collect()
    };
    let int_groups = parse(&int_s);
    let mut weight = int_groups.len() as i16 - 1;
    groups.extend(int_groups);
    groups.extend(parse(&frac_s));
    // Strip leading zero groups (adjusting the weight) and trailing zero groups.
    let lead = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..lead);
    weight -= lead as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i32(8 + 2 * groups.len() as i32);
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if neg && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_u16(scale as u16);
    for g in groups {
        out.put_i16(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(unscaled: i128, scale: i8) -> Vec<u8> {
        let mut b = BytesMut::new();
        write_numeric(i256::from_i128(unscaled), scale, &mut b);
        b[4..].to_vec()
    }

    #[test]
    fn numeric_text_is_exact() {
        for (u, sc, want) in [
            (0i128, 0i8, "0"),
            (0, 2, "0.00"),
            (-1250, 2, "-12.50"),
            (5, 3, "0.005"),
            (10000, 0, "10000"),
            (123456789, 4, "12345.6789"),
            (142857142857142857142857, 24, "0.142857142857142857142857"),
            (
                -99999999999999999999999999999999999999,
                0,
                "-99999999999999999999999999999999999999",
            ),
        ] {
            assert_eq!(numeric_to_text(&numeric_bytes(u, sc)).unwrap(), want);
        }
        let nan = [0u8, 0, 0, 0, 0xC0, 0, 0, 0];
        assert_eq!(numeric_to_text(&nan).unwrap(), "NaN");
        assert!(numeric_to_text(&[0u8, 1, 0, 0]).is_err());
    }

    #[test]
    fn numeric_round_trips_through_binary() {
        for (u, s) in [
            (0i128, 2i8),
            (12345, 2),
            (-12345, 2),
            (1, 10),
            (-99999999999999999999999999999999999999, 10),
            (100000000, 0),
            (5, 0),
            (120000, 4),
        ] {
            let b = numeric_bytes(u, s);
            let back = numeric_to_unscaled(&b, 38, s).unwrap();
            assert_eq!(back, i256::from_i128(u), "{u} scale {s}");
        }
        // 1.5 read at scale 0 loses a digit: refused.
        let b = numeric_bytes(15, 1);
        assert!(numeric_to_unscaled(&b, 38, 0)
            .unwrap_err()
            .contains("fractional"));
        // 12345.67 does not fit numeric(5,2).
        let b = numeric_bytes(1234567, 2);
        assert!(numeric_to_unscaled(&b, 5, 2)
            .unwrap_err()
            .contains("integer digits"));
        // 1.5 read at a larger scale is scaled up.
        let b = numeric_bytes(15, 1);
        assert_eq!(
            numeric_to_unscaled(&b, 38, 3).unwrap(),
            i256::from_i128(1500)
        );
    }

    #[test]
    fn sub_microsecond_values_are_refused_not_truncated() {
        use arrow::array::TimestampNanosecondArray;
        let f = Field::new("t", DataType::Timestamp(TimeUnit::Nanosecond, None), true);
        let enc = ColumnEncoder::new(&f).unwrap();
        let a = TimestampNanosecondArray::from(vec![1_000, 1_001]);
        let mut out = BytesMut::new();
        enc.write(&a, 0, &mut out).unwrap();
        assert!(enc
            .write(&a, 1, &mut out)
            .unwrap_err()
            .contains("below a microsecond"));
    }

    #[test]
    fn flat_lists_are_arrays_and_other_nested_values_jsonb() {
        use arrow::array::{ArrayRef, Int64Builder, ListBuilder, StringArray};
        let flat = DataType::new_list(DataType::Int64, true);
        let nested = DataType::new_list(flat.clone(), true);
        assert_eq!(column_type(&flat, false).unwrap(), "bigint[]");
        assert_eq!(column_type(&nested, false).unwrap(), "jsonb");
        let map = DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(
                    vec![
                        Field::new("key", DataType::Int64, false),
                        Field::new("value", DataType::Utf8, true),
                    ]
                    .into(),
                ),
                false,
            )),
            false,
        );
        assert_eq!(column_type(&map, false).unwrap(), "jsonb");
        // The batch reaches the encoder as JSON text; jsonb's binary form is version 1 + text.
        let mut b = ListBuilder::new(ListBuilder::new(Int64Builder::new()));
        b.values().values().append_value(7);
        b.values().append(true);
        b.append(true);
        let list: ArrayRef = Arc::new(b.finish());
        let field = Arc::new(Field::new("ll", list.data_type().clone(), true));
        let text = crate::formats::nested::json_text(&field, list.as_ref()).unwrap();
        assert_eq!(
            text.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "[[7]]"
        );
        let enc = ColumnEncoder::new(&field).unwrap();
        let mut out = BytesMut::new();
        enc.write(text.as_ref(), 0, &mut out).unwrap();
        assert_eq!(&out[..], b"\0\0\0\x06\x01[[7]]");
    }

    #[test]
    fn intervals_are_iso_8601() {
        assert_eq!(iso_interval(0, 0, 0), "PT0S");
        assert_eq!(
            iso_interval(4 * 3_600_000_000 + 5 * 60_000_000 + 6_000_007, 3, 14),
            "P1Y2M3DT4H5M6.000007S"
        );
        assert_eq!(iso_interval(-1_500_000, -1, 0), "P-1DT-1.500000S");
    }
}
