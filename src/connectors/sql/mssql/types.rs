//! SQL Server <-> Arrow type mapping. Every value is converted exactly or the run fails naming
//! the column and row; nothing is rounded, truncated or wrapped silently.
//!
//! Reading (the column types come from `sp_describe_first_result_set`, so tables and queries
//! map the same way):
//!
//! | SQL Server | Arrow |
//! |---|---|
//! | `bit` | Boolean |
//! | `tinyint`, `smallint`, `int`, `bigint` | UInt8, Int16, Int32, Int64 |
//! | `decimal(p,s)`, `numeric(p,s)` | Decimal128(p,s) |
//! | `money`, `smallmoney` | Decimal128(19,4), Decimal128(10,4) (read through a server-side CAST: the driver would hand them over as floats) |
//! | `real`, `float` | Float32, Float64 |
//! | `char`, `varchar`, `nchar`, `nvarchar` (n or max), `text`, `ntext`, `xml` | Utf8 |
//! | `binary`, `varbinary` (n or max), `image`, `rowversion`/`timestamp` | Binary |
//! | `uniqueidentifier` | FixedSizeBinary(16), tagged `arrow.uuid` |
//! | `date` | Date32 |
//! | `time(p)` | Time64(µs) for p ≤ 6, Time64(ns) for p = 7 |
//! | `datetime`, `smalldatetime` | Timestamp(µs) (`datetime` as the milliseconds SQL Server shows: .000/.003/.007) |
//! | `datetime2(p)` | Timestamp(µs) for p ≤ 6, Timestamp(ns) for p = 7 |
//! | `datetimeoffset(p)` | Timestamp(µs or ns, UTC) — the instant; the original offset is not kept |
//!
//! `sql_variant`, `hierarchyid`, `geometry`, `geography` and CLR types fail naming the column:
//! CAST them in a `query:`. A `datetime2(7)`/`time(7)` value outside Arrow's nanosecond range
//! (years 1677–2262) fails too: CAST the column to `datetime2(6)`.
//!
//! Writing (`CREATE TABLE` from an Arrow schema):
//!
//! | Arrow | SQL Server |
//! |---|---|
//! | Boolean | `BIT` |
//! | Int8, Int16, Int32, Int64 | `SMALLINT`, `SMALLINT`, `INT`, `BIGINT` |
//! | UInt8, UInt16, UInt32, UInt64 | `TINYINT`, `INT`, `BIGINT`, `DECIMAL(20,0)` |
//! | Float16/32, Float64 | `REAL`, `FLOAT` |
//! | Decimal(p,s), p ≤ 38, 0 ≤ s ≤ p | `DECIMAL(p,s)` |
//! | Utf8, LargeUtf8 | `NVARCHAR(MAX)` (`NVARCHAR(450)` in a primary key) |
//! | Binary, LargeBinary | `VARBINARY(MAX)` (`VARBINARY(900)` in a primary key) |
//! | FixedSizeBinary(16) tagged uuid | `UNIQUEIDENTIFIER` |
//! | FixedSizeBinary(n), n ≤ 8000 | `BINARY(n)` |
//! | Date32, Date64 | `DATE` |
//! | Time32, Time64(µs) / Time64(ns) | `TIME(6)` / `TIME(7)` |
//! | Timestamp(s, ms, µs) / Timestamp(ns) | `DATETIME2(6)` / `DATETIME2(7)` |
//! | the same with a time zone | `DATETIMEOFFSET(6)` / `DATETIMEOFFSET(7)` (offset +00:00) |
//! | Null | `NVARCHAR(1)` (all NULL) |
//!
//! A stream read from SQL Server carries each column's declared type as field metadata
//! ([`TYPE_KEY`]); an `mssql` destination re-creates that type (`varchar(20)`, `money`,
//! `datetime`, ...) when the field still has the Arrow type the declared type reads as, so
//! SQL Server -> Parquet -> SQL Server keeps declared types. Types that cannot be loaded
//! exactly through bulk insert (`xml`, `text`, `ntext`, `image`, `rowversion`) fall back to the
//! table above.

use crate::connectors::sql::builder::ColumnBuilder;
use arrow::array::*;
use arrow::datatypes::*;
use std::borrow::Cow;
use std::collections::HashMap;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
use tiberius::{ColumnData, Uuid};

/// Arrow field metadata key holding a column's SQL Server type (`system_type_name`).
pub const TYPE_KEY: &str = crate::contract::field_meta::MSSQL_TYPE;

/// Days from 0001-01-01 (SQL Server's `date` origin) to 1970-01-01.
const DATE_EPOCH_DAYS: i64 = 719_162;
/// Days from 1900-01-01 (`datetime`'s origin) to 1970-01-01.
const DATETIME_EPOCH_DAYS: i64 = 25_567;
/// Last day `date`/`datetime2` can hold (9999-12-31), counted from 0001-01-01.
const MAX_DATE_DAYS: i64 = 3_652_058;
const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// What kind of SQL Server column a type name denotes; decides the Arrow type on reading and
/// the driver value on writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Decimal(u8, u8),
    Money,
    SmallMoney,
    Real,
    Float,
    /// char/varchar/nchar/nvarchar/text/ntext/xml
    Text,
    /// binary/varbinary/image/rowversion
    Binary,
    Guid,
    Date,
    Time(u8),
    DateTime,
    SmallDateTime,
    DateTime2(u8),
    DateTimeOffset(u8),
}

/// A SQL Server type recognised in full: its kind and its canonical DDL spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlType {
    pub kind: Kind,
    /// Upper-case DDL text built from the parsed parts (never copied from input).
    pub ddl: String,
    /// Whether bulk insert loads it exactly (false for xml, text, ntext, image, rowversion).
    pub loadable: bool,
    /// `(max)` or a LOB type: cannot be part of a primary key.
    pub unbounded: bool,
}

/// Parses a SQL Server type name (`decimal(12, 2)`, `nvarchar(max)`, `datetime2(7)`, `int`),
/// or says why it has no mapping.
pub fn parse_type(name: &str) -> Result<SqlType, String> {
    let lower = name.trim().to_ascii_lowercase();
    let (base, args) = match lower.split_once('(') {
        Some((b, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("SQL Server type `{name}` is not recognised"))?;
            (b.trim(), Some(inner))
        }
        None => (lower.as_str(), None),
    };
    let args: Vec<&str> = args
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let nums: Option<Vec<u32>> = args.iter().map(|a| a.parse::<u32>().ok()).collect();
    let bad = || format!("SQL Server type `{name}` is not recognised");
    let hint = |what: &str| {
        format!("SQL Server type `{name}` has no Arrow mapping ({what}); CAST it in a `query:` (e.g. to nvarchar(max))")
    };
    let simple = |kind: Kind, ddl: &str| -> Result<SqlType, String> {
        if !args.is_empty() {
            return Err(bad());
        }
        Ok(SqlType {
            kind,
            ddl: ddl.to_string(),
            loadable: true,
            unbounded: false,
        })
    };
    let frac = |default: u32| -> Result<u8, String> {
        match nums.as_deref() {
            Some([]) => Ok(default as u8),
            Some([p]) if *p <= 7 => Ok(*p as u8),
            _ => Err(bad()),
        }
    };
    let sized = |kind: Kind, ddl: &str, max_len: u32| -> Result<SqlType, String> {
        let (len, unbounded) = match args.as_slice() {
            [] => ("1".to_string(), false),
            ["max"] => ("MAX".to_string(), true),
            [n] => match n.parse::<u32>() {
                Ok(n) if (1..=max_len).contains(&n) => (n.to_string(), false),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        Ok(SqlType {
            kind,
            ddl: format!("{ddl}({len})"),
            loadable: true,
            unbounded,
        })
    };
    let lob = |kind: Kind, ddl: &str| -> Result<SqlType, String> {
        if !args.is_empty() {
            return Err(bad());
        }
        Ok(SqlType {
            kind,
            ddl: ddl.to_string(),
            loadable: false,
            unbounded: true,
        })
    };
    match base {
        "bit" => simple(Kind::Bit, "BIT"),
        "tinyint" => simple(Kind::TinyInt, "TINYINT"),
        "smallint" => simple(Kind::SmallInt, "SMALLINT"),
        "int" => simple(Kind::Int, "INT"),
        "bigint" => simple(Kind::BigInt, "BIGINT"),
        "decimal" | "numeric" => {
            let (p, s) = match nums.as_deref() {
                Some([]) => (18, 0),
                Some([p]) => (*p, 0),
                Some([p, s]) => (*p, *s),
                _ => return Err(bad()),
            };
            if !(1..=38).contains(&p) || s > p {
                return Err(bad());
            }
            Ok(SqlType {
                kind: Kind::Decimal(p as u8, s as u8),
                ddl: format!("DECIMAL({p},{s})"),
                loadable: true,
                unbounded: false,
            })
        }
        "money" => simple(Kind::Money, "MONEY"),
        "smallmoney" => simple(Kind::SmallMoney, "SMALLMONEY"),
        "real" => simple(Kind::Real, "REAL"),
        "float" => match nums.as_deref() {
            Some([]) => simple(Kind::Float, "FLOAT"),
            Some([n]) if (1..=24).contains(n) => Ok(SqlType {
                kind: Kind::Real,
                ddl: "REAL".into(),
                loadable: true,
                unbounded: false,
            }),
            Some([n]) if (25..=53).contains(n) => Ok(SqlType {
                kind: Kind::Float,
                ddl: "FLOAT".into(),
                loadable: true,
                unbounded: false,
            }),
            _ => Err(bad()),
        },
        "char" => sized(Kind::Text, "CHAR", 8000).and_then(no_max(name)),
        "varchar" => sized(Kind::Text, "VARCHAR", 8000),
        "nchar" => sized(Kind::Text, "NCHAR", 4000).and_then(no_max(name)),
        "sysname" => simple(Kind::Text, "NVARCHAR(128)"),
        "nvarchar" => sized(Kind::Text, "NVARCHAR", 4000),
        "binary" => sized(Kind::Binary, "BINARY", 8000).and_then(no_max(name)),
        "varbinary" => sized(Kind::Binary, "VARBINARY", 8000),
        "text" => lob(Kind::Text, "TEXT"),
        "ntext" => lob(Kind::Text, "NTEXT"),
        "xml" => lob(Kind::Text, "XML"),
        "image" => lob(Kind::Binary, "IMAGE"),
        "timestamp" | "rowversion" => Ok(SqlType {
            kind: Kind::Binary,
            ddl: "ROWVERSION".into(),
            loadable: false,
            unbounded: false,
        }),
        "uniqueidentifier" => simple(Kind::Guid, "UNIQUEIDENTIFIER"),
        "date" => simple(Kind::Date, "DATE"),
        "time" => {
            let p = frac(7)?;
            Ok(SqlType {
                kind: Kind::Time(p),
                ddl: format!("TIME({p})"),
                loadable: true,
                unbounded: false,
            })
        }
        "datetime" => simple(Kind::DateTime, "DATETIME"),
        "smalldatetime" => simple(Kind::SmallDateTime, "SMALLDATETIME"),
        "datetime2" => {
            let p = frac(7)?;
            Ok(SqlType {
                kind: Kind::DateTime2(p),
                ddl: format!("DATETIME2({p})"),
                loadable: true,
                unbounded: false,
            })
        }
        "datetimeoffset" => {
            let p = frac(7)?;
            Ok(SqlType {
                kind: Kind::DateTimeOffset(p),
                ddl: format!("DATETIMEOFFSET({p})"),
                loadable: true,
                unbounded: false,
            })
        }
        "sql_variant" => Err(hint("a value of any type")),
        "hierarchyid" | "geometry" | "geography" => Err(hint("a CLR type")),
        _ => Err(hint("unknown type")),
    }
}

/// `char(max)`, `nchar(max)` and `binary(max)` do not exist.
fn no_max(name: &str) -> impl Fn(SqlType) -> Result<SqlType, String> + '_ {
    move |t| {
        if t.unbounded {
            Err(format!("SQL Server type `{name}` is not recognised"))
        } else {
            Ok(t)
        }
    }
}

impl SqlType {
    /// The Arrow type values of this SQL Server type are read as.
    pub fn arrow_type(&self) -> DataType {
        let ts_unit = |p: u8| {
            if p <= 6 {
                TimeUnit::Microsecond
            } else {
                TimeUnit::Nanosecond
            }
        };
        match self.kind {
            Kind::Bit => DataType::Boolean,
            Kind::TinyInt => DataType::UInt8,
            Kind::SmallInt => DataType::Int16,
            Kind::Int => DataType::Int32,
            Kind::BigInt => DataType::Int64,
            Kind::Decimal(p, s) => DataType::Decimal128(p, s as i8),
            Kind::Money => DataType::Decimal128(19, 4),
            Kind::SmallMoney => DataType::Decimal128(10, 4),
            Kind::Real => DataType::Float32,
            Kind::Float => DataType::Float64,
            Kind::Text => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Guid => DataType::FixedSizeBinary(16),
            Kind::Date => DataType::Date32,
            Kind::Time(p) => DataType::Time64(ts_unit(p)),
            Kind::DateTime | Kind::SmallDateTime => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Kind::DateTime2(p) => DataType::Timestamp(ts_unit(p), None),
            Kind::DateTimeOffset(p) => DataType::Timestamp(ts_unit(p), Some("UTC".into())),
        }
    }

    /// The expression a SELECT reads the column `quoted` through: money goes through DECIMAL
    /// on the server, because the driver decodes money into a float.
    pub fn select_expr(&self, quoted: &str) -> String {
        match self.kind {
            Kind::Money => format!("CAST({quoted} AS DECIMAL(19,4)) AS {quoted}"),
            Kind::SmallMoney => format!("CAST({quoted} AS DECIMAL(10,4)) AS {quoted}"),
            _ => quoted.to_string(),
        }
    }

    pub fn needs_cast(&self) -> bool {
        matches!(self.kind, Kind::Money | Kind::SmallMoney)
    }
}

/// The Arrow field of a result column: its type, nullability, and the declared type (plus
/// the UUID tag) as metadata.
pub fn field_for(name: &str, type_name: &str, nullable: bool) -> Result<Field, String> {
    let t = parse_type(type_name)?;
    let mut meta = HashMap::from([(TYPE_KEY.to_string(), t.ddl.to_ascii_lowercase())]);
    if t.kind == Kind::Guid {
        crate::contract::field_meta::tag_uuid(&mut meta);
    }
    Ok(Field::new(name, t.arrow_type(), nullable).with_metadata(meta))
}

/// A UUID column: Arrow's `arrow.uuid` extension, or SQL Server's own `uniqueidentifier`.
fn is_uuid_field(f: &Field) -> bool {
    crate::contract::field_meta::is_uuid(f)
        || (matches!(f.data_type(), DataType::FixedSizeBinary(16))
            && f.metadata().get(TYPE_KEY).map(String::as_str) == Some("uniqueidentifier"))
}

/// The SQL Server type `CREATE TABLE` uses for a field: its declared SQL Server type when the
/// metadata holds one that still reads as the field's Arrow type, else the mapping of the
/// Arrow type. `in_key`: the column is part of the primary key (bounded types only).
pub fn field_sql_type(field: &Field, in_key: bool) -> Result<SqlType, String> {
    if let Some(decl) = field.metadata().get(TYPE_KEY) {
        if let Ok(t) = parse_type(decl) {
            let same = match (t.arrow_type(), field.data_type()) {
                (DataType::Timestamp(u, a), DataType::Timestamp(v, b)) => {
                    u == *v && a.is_some() == b.is_some()
                }
                (a, b) => a == *b,
            };
            if same && t.loadable && !(in_key && t.unbounded) {
                return Ok(t);
            }
        }
    }
    if is_uuid_field(field) {
        return parse_type("uniqueidentifier");
    }
    let name = column_type_name(field.data_type(), in_key)?;
    parse_type(&name)
}

/// The SQL Server type name for an Arrow type.
pub fn column_type_name(d: &DataType, in_key: bool) -> Result<String, String> {
    let fits = |p: u8, s: i8| s >= 0 && p <= 38 && s as u8 <= p;
    let limits = "precision ≤ 38, 0 ≤ scale ≤ precision";
    if let Some(t) =
        crate::connectors::sql::decimal_column_type(d, "SQL Server", "DECIMAL", limits, fits)
    {
        return t;
    }
    let frac = |u: &TimeUnit| if *u == TimeUnit::Nanosecond { 7 } else { 6 };
    Ok(match d {
        DataType::Boolean => "BIT".into(),
        DataType::Int8 | DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt16 => "INT".into(),
        DataType::Int64 | DataType::UInt32 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT".into(),
        DataType::UInt64 => "DECIMAL(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "FLOAT".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => if in_key {
            "NVARCHAR(450)"
        } else {
            "NVARCHAR(MAX)"
        }
        .into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => if in_key {
            "VARBINARY(900)"
        } else {
            "VARBINARY(MAX)"
        }
        .into(),
        DataType::FixedSizeBinary(n) if (1..=8000).contains(n) => format!("BINARY({n})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) => "TIME(6)".into(),
        DataType::Time64(u) => format!("TIME({})", frac(u)),
        DataType::Timestamp(u, None) => format!("DATETIME2({})", frac(u)),
        DataType::Timestamp(u, Some(_)) => format!("DATETIMEOFFSET({})", frac(u)),
        DataType::Null => "NVARCHAR(1)".into(),
        // Lists, structs and maps are stored as their JSON text (see formats::nested).
        d if crate::formats::nested::is_nested(d) => "NVARCHAR(MAX)".into(),
        other => return Err(crate::connectors::sql::no_column_type("SQL Server", other)),
    })
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Appends one driver value to a column of its mapped Arrow type, or says why it does not fit.
pub fn append(b: &mut ColumnBuilder, v: &ColumnData<'_>) -> Result<(), String> {
    if is_null(v) {
        b.append_null();
        return Ok(());
    }
    let mismatch = || format!("{} does not fit the column's type", show(v));
    match (b.data_type(), v) {
        (DataType::Boolean, ColumnData::Bit(Some(x))) => b.append_bool(*x),
        (DataType::UInt8, ColumnData::U8(Some(x))) => b.append_u8(*x),
        (DataType::Int16, ColumnData::I16(Some(x))) => b.append_i16(*x),
        (DataType::Int16, ColumnData::U8(Some(x))) => b.append_i16(*x as i16),
        (DataType::Int32, ColumnData::I32(Some(x))) => b.append_i32(*x),
        (DataType::Int32, ColumnData::I16(Some(x))) => b.append_i32(*x as i32),
        (DataType::Int64, ColumnData::I64(Some(x))) => b.append_i64(*x),
        (DataType::Int64, ColumnData::I32(Some(x))) => b.append_i64(*x as i64),
        (DataType::Float32, ColumnData::F32(Some(x))) => b.append_f32(*x),
        (DataType::Float64, ColumnData::F64(Some(x))) => b.append_f64(*x),
        (DataType::Float64, ColumnData::F32(Some(x))) => b.append_f64(*x as f64),
        (&DataType::Decimal128(p, s), ColumnData::Numeric(Some(n))) => {
            b.append_decimal128(rescale(n.value(), n.scale() as i8, p, s)?)
        }
        (DataType::Utf8, ColumnData::String(Some(x))) => b.append_str(x),
        (DataType::Utf8, ColumnData::Xml(Some(x))) => b.append_str(&x.to_string()),
        (DataType::Binary, ColumnData::Binary(Some(x))) => b.append_bytes(x),
        (DataType::FixedSizeBinary(16), ColumnData::Guid(Some(u))) => b.append_fixed(u.as_bytes()),
        (DataType::Date32, ColumnData::Date(Some(d))) => {
            b.append_date32((d.days() as i64 - DATE_EPOCH_DAYS) as i32)
        }
        (DataType::Time64(TimeUnit::Microsecond), ColumnData::Time(Some(t))) => {
            b.append_time_us(to_micros(time_nanos(t))?)
        }
        (DataType::Time64(TimeUnit::Nanosecond), ColumnData::Time(Some(t))) => {
            b.append_time_ns(time_nanos(t) as i64)
        }
        (DataType::Timestamp(TimeUnit::Microsecond, _), v) => {
            b.append_timestamp_us(to_micros(timestamp_nanos(v).ok_or_else(mismatch)?)?)
        }
        (DataType::Timestamp(TimeUnit::Nanosecond, _), v) => {
            let ns = timestamp_nanos(v).ok_or_else(mismatch)?;
            b.append_timestamp_ns(i64::try_from(ns).map_err(|_| {
                format!(
                    "{} is outside the nanosecond timestamp range (years 1677-2262); CAST the column to datetime2(6) in a `query:`",
                    show(v)
                )
            })?)
        }
        _ => Err(mismatch()),
    }
}

fn is_null(v: &ColumnData<'_>) -> bool {
    matches!(
        v,
        ColumnData::U8(None)
            | ColumnData::I16(None)
            | ColumnData::I32(None)
            | ColumnData::I64(None)
            | ColumnData::F32(None)
            | ColumnData::F64(None)
            | ColumnData::Bit(None)
            | ColumnData::String(None)
            | ColumnData::Guid(None)
            | ColumnData::Binary(None)
            | ColumnData::Numeric(None)
            | ColumnData::Xml(None)
            | ColumnData::DateTime(None)
            | ColumnData::SmallDateTime(None)
            | ColumnData::Time(None)
            | ColumnData::Date(None)
            | ColumnData::DateTime2(None)
            | ColumnData::DateTimeOffset(None)
    )
}

/// Nanoseconds since midnight of a `time(p)` value.
fn time_nanos(t: &Time) -> i128 {
    t.increments() as i128 * 10i128.pow(9u32.saturating_sub(t.scale() as u32))
}

fn datetime2_nanos(dt: &DateTime2) -> i128 {
    (dt.date().days() as i128 - DATE_EPOCH_DAYS as i128) * NANOS_PER_DAY + time_nanos(&dt.time())
}

/// Nanoseconds since the Unix epoch (UTC for datetimeoffset) of a date-time value.
fn timestamp_nanos(v: &ColumnData<'_>) -> Option<i128> {
    Some(match v {
        ColumnData::DateTime2(Some(dt)) => datetime2_nanos(dt),
        // TDS carries datetimeoffset as the UTC date-time plus the offset in minutes.
        ColumnData::DateTimeOffset(Some(dto)) => datetime2_nanos(&dto.datetime2()),
        ColumnData::DateTime(Some(dt)) => {
            // 1/300 s ticks, shown by SQL Server rounded to milliseconds (.000/.003/.007).
            let ms = (dt.seconds_fragments() as i128 * 10 + 1) / 3;
            (dt.days() as i128 - DATETIME_EPOCH_DAYS as i128) * NANOS_PER_DAY + ms * 1_000_000
        }
        ColumnData::SmallDateTime(Some(dt)) => {
            (dt.days() as i128 - DATETIME_EPOCH_DAYS as i128) * NANOS_PER_DAY
                + dt.seconds_fragments() as i128 * 60_000_000_000
        }
        ColumnData::Date(Some(d)) => (d.days() as i128 - DATE_EPOCH_DAYS as i128) * NANOS_PER_DAY,
        _ => return None,
    })
}

fn to_micros(ns: i128) -> Result<i64, String> {
    if ns % 1000 != 0 {
        return Err(format!(
            "a value with 100-nanosecond digits ({ns} ns) does not fit microseconds"
        ));
    }
    i64::try_from(ns / 1000).map_err(|_| "timestamp out of range".to_string())
}

/// `value` at `from` decimal places, as DECIMAL(p,s): exact or an error.
fn rescale(value: i128, from: i8, p: u8, s: i8) -> Result<i128, String> {
    let shown = || crate::values::format_decimal(value, from.clamp(0, 38));
    let pow = |n: i32| 10i128.checked_pow(n as u32);
    let v = if s >= from {
        pow(s as i32 - from as i32)
            .and_then(|f| value.checked_mul(f))
            .ok_or_else(|| format!("{} does not fit DECIMAL({p},{s})", shown()))?
    } else {
        match pow(from as i32 - s as i32) {
            Some(f) if value % f == 0 => value / f,
            Some(_) => return Err(format!("{} has more than {s} decimal places", shown())),
            // More than 38 digits to drop: only zero divides exactly.
            None if value == 0 => 0,
            None => return Err(format!("a value has more than {s} decimal places")),
        }
    };
    if v.unsigned_abs() >= 10u128.pow(p.min(38) as u32) {
        return Err(format!("{} does not fit DECIMAL({p},{s})", shown()));
    }
    Ok(v)
}

/// A driver value as a user would read it, for error messages (long text is cut).
pub fn show(v: &ColumnData<'_>) -> String {
    let s = match v {
        ColumnData::String(Some(s)) => format!("'{s}'"),
        ColumnData::Numeric(Some(n)) => crate::values::format_decimal(n.value(), n.scale() as i8),
        other => format!("{other:?}"),
    };
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

// ---------------------------------------------------------------------------------------------
// Writing (bulk insert)

/// Row `i` of `array` as the driver value a column of kind `kind` takes, or why it cannot be
/// stored exactly.
pub fn to_column_data(
    array: &dyn Array,
    i: usize,
    kind: Kind,
) -> Result<ColumnData<'static>, String> {
    if array.is_null(i) {
        return Ok(null_of(kind));
    }
    Ok(match kind {
        Kind::Bit => match array.data_type() {
            DataType::Boolean => ColumnData::Bit(Some(array.as_boolean().value(i))),
            _ => ColumnData::Bit(Some(int_fits::<u8>(array, i, "BIT")? != 0)),
        },
        Kind::TinyInt => ColumnData::U8(Some(int_fits(array, i, "TINYINT")?)),
        Kind::SmallInt => ColumnData::I16(Some(int_fits(array, i, "SMALLINT")?)),
        Kind::Int => ColumnData::I32(Some(int_fits(array, i, "INT")?)),
        Kind::BigInt => ColumnData::I64(Some(int_fits(array, i, "BIGINT")?)),
        Kind::Decimal(p, s) => ColumnData::Numeric(Some(numeric(array, i, p, s)?)),
        Kind::Money => ColumnData::Numeric(Some(numeric(array, i, 19, 4)?)),
        Kind::SmallMoney => ColumnData::Numeric(Some(numeric(array, i, 10, 4)?)),
        Kind::Real => ColumnData::F32(Some(match array.data_type() {
            DataType::Float16 => array.as_primitive::<Float16Type>().value(i).to_f32(),
            DataType::Float32 => array.as_primitive::<Float32Type>().value(i),
            other => return Err(format!("Arrow {other} does not load into REAL")),
        })),
        Kind::Float => ColumnData::F64(Some(match array.data_type() {
            DataType::Float16 => array.as_primitive::<Float16Type>().value(i).to_f64(),
            DataType::Float32 => array.as_primitive::<Float32Type>().value(i) as f64,
            DataType::Float64 => array.as_primitive::<Float64Type>().value(i),
            other => return Err(format!("Arrow {other} does not load into FLOAT")),
        }))
        .check_finite()?,
        Kind::Text => ColumnData::String(Some(Cow::Owned(match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
            DataType::LargeUtf8 => array.as_string::<i64>().value(i).to_string(),
            DataType::Utf8View => array.as_string_view().value(i).to_string(),
            other => return Err(format!("Arrow {other} does not load into a text column")),
        }))),
        Kind::Binary => ColumnData::Binary(Some(Cow::Owned(match array.data_type() {
            DataType::Binary => array.as_binary::<i32>().value(i).to_vec(),
            DataType::LargeBinary => array.as_binary::<i64>().value(i).to_vec(),
            DataType::BinaryView => array.as_binary_view().value(i).to_vec(),
            DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(i).to_vec(),
            other => return Err(format!("Arrow {other} does not load into a binary column")),
        }))),
        Kind::Guid => match array.data_type() {
            DataType::FixedSizeBinary(16) => {
                let b = array.as_fixed_size_binary().value(i);
                let bytes: [u8; 16] = b.try_into().map_err(|_| "a UUID has 16 bytes")?;
                ColumnData::Guid(Some(Uuid::from_bytes(bytes)))
            }
            other => return Err(format!("Arrow {other} does not load into UNIQUEIDENTIFIER")),
        },
        Kind::Date => {
            let ns = arrow_nanos(array, i)?;
            if ns.rem_euclid(NANOS_PER_DAY) != 0 {
                return Err("a date value with a time of day does not fit DATE".into());
            }
            ColumnData::Date(Some(date_of(ns.div_euclid(NANOS_PER_DAY))?))
        }
        Kind::Time(p) => ColumnData::Time(Some(time_of(arrow_nanos(array, i)?, p)?)),
        Kind::DateTime2(p) => ColumnData::DateTime2(Some(datetime2_of(arrow_nanos(array, i)?, p)?)),
        Kind::DateTimeOffset(p) => ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
            datetime2_of(arrow_nanos(array, i)?, p)?,
            0,
        ))),
        Kind::DateTime => {
            let ns = arrow_nanos(array, i)?;
            let days = ns.div_euclid(NANOS_PER_DAY);
            let tod = ns.rem_euclid(NANOS_PER_DAY);
            let frags = (tod * 3 + 5_000_000) / 10_000_000; // nearest 1/300 s
            let back = (frags * 10 + 1) / 3 * 1_000_000;
            if back != tod {
                return Err(format!(
                    "{} is not a DATETIME value (1/300 s steps: .000/.003/.007); store it as DATETIME2",
                    fmt_nanos(ns)
                ));
            }
            let d = i32::try_from(days + DATETIME_EPOCH_DAYS as i128)
                .map_err(|_| "timestamp out of DATETIME's range".to_string())?;
            ColumnData::DateTime(Some(DateTime::new(d, frags as u32)))
        }
        Kind::SmallDateTime => {
            let ns = arrow_nanos(array, i)?;
            let tod = ns.rem_euclid(NANOS_PER_DAY);
            if tod % 60_000_000_000 != 0 {
                return Err(format!(
                    "{} has seconds, which SMALLDATETIME cannot keep",
                    fmt_nanos(ns)
                ));
            }
            let d = u16::try_from(ns.div_euclid(NANOS_PER_DAY) + DATETIME_EPOCH_DAYS as i128)
                .map_err(|_| "timestamp out of SMALLDATETIME's range".to_string())?;
            ColumnData::SmallDateTime(Some(SmallDateTime::new(d, (tod / 60_000_000_000) as u16)))
        }
    })
}

trait CheckFinite: Sized {
    fn check_finite(self) -> Result<Self, String>;
}
impl CheckFinite for ColumnData<'static> {
    fn check_finite(self) -> Result<Self, String> {
        match &self {
            ColumnData::F64(Some(v)) if !v.is_finite() => Err(format!(
                "{v} cannot be stored in SQL Server (no NaN or infinity)"
            )),
            _ => Ok(self),
        }
    }
}

fn null_of(kind: Kind) -> ColumnData<'static> {
    match kind {
        Kind::Bit => ColumnData::Bit(None),
        Kind::TinyInt => ColumnData::U8(None),
        Kind::SmallInt => ColumnData::I16(None),
        Kind::Int => ColumnData::I32(None),
        Kind::BigInt => ColumnData::I64(None),
        Kind::Decimal(..) | Kind::Money | Kind::SmallMoney => ColumnData::Numeric(None),
        Kind::Real => ColumnData::F32(None),
        Kind::Float => ColumnData::F64(None),
        Kind::Text => ColumnData::String(None),
        Kind::Binary => ColumnData::Binary(None),
        Kind::Guid => ColumnData::Guid(None),
        Kind::Date => ColumnData::Date(None),
        Kind::Time(_) => ColumnData::Time(None),
        Kind::DateTime => ColumnData::DateTime(None),
        Kind::SmallDateTime => ColumnData::SmallDateTime(None),
        Kind::DateTime2(_) => ColumnData::DateTime2(None),
        Kind::DateTimeOffset(_) => ColumnData::DateTimeOffset(None),
    }
}

/// An integer (or boolean) Arrow value, checked against the target integer type.
fn int_fits<T: TryFrom<i128>>(array: &dyn Array, i: usize, ty: &str) -> Result<T, String> {
    let v: i128 = match array.data_type() {
        DataType::Boolean => array.as_boolean().value(i) as i128,
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i) as i128,
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i) as i128,
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i) as i128,
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i) as i128,
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i) as i128,
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i) as i128,
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i) as i128,
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i) as i128,
        other => return Err(format!("Arrow {other} does not load into {ty}")),
    };
    T::try_from(v).map_err(|_| format!("{v} does not fit {ty}"))
}

/// A decimal or integer Arrow value as DECIMAL(p,s), exactly.
fn numeric(array: &dyn Array, i: usize, p: u8, s: u8) -> Result<Numeric, String> {
    let (value, from): (i128, i8) = match array.data_type() {
        DataType::Decimal32(_, sc) => (array.as_primitive::<Decimal32Type>().value(i) as i128, *sc),
        DataType::Decimal64(_, sc) => (array.as_primitive::<Decimal64Type>().value(i) as i128, *sc),
        DataType::Decimal128(_, sc) => (array.as_primitive::<Decimal128Type>().value(i), *sc),
        DataType::Decimal256(_, sc) => {
            let v = array.as_primitive::<Decimal256Type>().value(i);
            (
                v.to_i128()
                    .ok_or_else(|| format!("{v} does not fit DECIMAL({p},{s})"))?,
                *sc,
            )
        }
        _ => (int_fits::<i128>(array, i, "DECIMAL")?, 0),
    };
    let v = rescale(value, from, p, s as i8)?;
    Ok(Numeric::new_with_scale(v, s))
}

/// Nanoseconds since the epoch (or since midnight, for times) of a date/time/timestamp value.
fn arrow_nanos(array: &dyn Array, i: usize) -> Result<i128, String> {
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
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().value(i) as i128 * 1_000_000_000
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().value(i) as i128 * 1_000_000
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().value(i) as i128 * 1000
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(i) as i128
        }
        other => {
            return Err(format!(
                "Arrow {other} does not load into a date/time column"
            ))
        }
    })
}

fn date_of(days_since_epoch: i128) -> Result<Date, String> {
    let d = days_since_epoch + DATE_EPOCH_DAYS as i128;
    if !(0..=MAX_DATE_DAYS as i128).contains(&d) {
        return Err("date outside SQL Server's range (0001-01-01 to 9999-12-31)".into());
    }
    Ok(Date::new(d as u32))
}

/// A time of day at `scale` fractional digits, exactly.
fn time_of(ns_of_day: i128, scale: u8) -> Result<Time, String> {
    if !(0..NANOS_PER_DAY).contains(&ns_of_day) {
        return Err("time of day outside 00:00:00-23:59:59.9999999".into());
    }
    let step = 10i128.pow(9 - scale as u32);
    if ns_of_day % step != 0 {
        return Err(format!(
            "{} has more fractional digits than the column's {scale}",
            fmt_nanos(ns_of_day)
        ));
    }
    Ok(Time::new((ns_of_day / step) as u64, scale))
}

fn datetime2_of(ns: i128, scale: u8) -> Result<DateTime2, String> {
    Ok(DateTime2::new(
        date_of(ns.div_euclid(NANOS_PER_DAY))?,
        time_of(ns.rem_euclid(NANOS_PER_DAY), scale)?,
    ))
}

fn fmt_nanos(ns: i128) -> String {
    match i64::try_from(ns) {
        Ok(n) => chrono::DateTime::from_timestamp_nanos(n)
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.9f")
            .to_string(),
        Err(_) => format!("{ns} ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_type_map() {
        let cases: &[(&str, DataType)] = &[
            ("bit", DataType::Boolean),
            ("tinyint", DataType::UInt8),
            ("smallint", DataType::Int16),
            ("int", DataType::Int32),
            ("bigint", DataType::Int64),
            ("decimal(12,2)", DataType::Decimal128(12, 2)),
            ("numeric(38, 38)", DataType::Decimal128(38, 38)),
            ("money", DataType::Decimal128(19, 4)),
            ("smallmoney", DataType::Decimal128(10, 4)),
            ("real", DataType::Float32),
            ("float", DataType::Float64),
            ("float(24)", DataType::Float32),
            ("char(5)", DataType::Utf8),
            ("varchar(max)", DataType::Utf8),
            ("nchar(10)", DataType::Utf8),
            ("nvarchar(max)", DataType::Utf8),
            ("NVARCHAR(4000)", DataType::Utf8),
            ("text", DataType::Utf8),
            ("ntext", DataType::Utf8),
            ("xml", DataType::Utf8),
            ("binary(16)", DataType::Binary),
            ("varbinary(max)", DataType::Binary),
            ("image", DataType::Binary),
            ("timestamp", DataType::Binary),
            ("uniqueidentifier", DataType::FixedSizeBinary(16)),
            ("date", DataType::Date32),
            ("time(7)", DataType::Time64(TimeUnit::Nanosecond)),
            ("time(3)", DataType::Time64(TimeUnit::Microsecond)),
            ("datetime", DataType::Timestamp(TimeUnit::Microsecond, None)),
            (
                "smalldatetime",
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                "datetime2(6)",
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                "datetime2(7)",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
            ),
            (
                "datetimeoffset(7)",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ),
            (
                "datetimeoffset(0)",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
        ];
        for (name, want) in cases {
            assert_eq!(&parse_type(name).unwrap().arrow_type(), want, "{name}");
        }
        for bad in [
            "sql_variant",
            "geometry",
            "hierarchyid",
            "decimal(39,0)",
            "decimal(5,6)",
            "char(max)",
            "varchar(9000)",
            "datetime2(8)",
            "int); DROP TABLE t; --",
            "nvarchar(max",
        ] {
            assert!(parse_type(bad).is_err(), "{bad}");
        }
        assert!(parse_type("sql_variant").unwrap_err().contains("CAST"));
    }

    #[test]
    fn write_type_map() {
        let f = |d: DataType| {
            field_sql_type(&Field::new("c", d, true), false)
                .unwrap()
                .ddl
        };
        assert_eq!(f(DataType::Boolean), "BIT");
        assert_eq!(f(DataType::Int8), "SMALLINT");
        assert_eq!(f(DataType::UInt8), "TINYINT");
        assert_eq!(f(DataType::UInt64), "DECIMAL(20,0)");
        assert_eq!(f(DataType::Float32), "REAL");
        assert_eq!(f(DataType::Float64), "FLOAT");
        assert_eq!(f(DataType::Decimal128(38, 10)), "DECIMAL(38,10)");
        assert_eq!(f(DataType::Utf8), "NVARCHAR(MAX)");
        assert_eq!(
            f(DataType::new_list(DataType::Int64, true)),
            "NVARCHAR(MAX)",
            "nested values are stored as JSON text"
        );
        assert_eq!(f(DataType::Binary), "VARBINARY(MAX)");
        assert_eq!(f(DataType::FixedSizeBinary(4)), "BINARY(4)");
        assert_eq!(f(DataType::Date32), "DATE");
        assert_eq!(f(DataType::Time64(TimeUnit::Nanosecond)), "TIME(7)");
        assert_eq!(
            f(DataType::Timestamp(TimeUnit::Millisecond, None)),
            "DATETIME2(6)"
        );
        assert_eq!(
            f(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+02:00".into())
            )),
            "DATETIMEOFFSET(7)"
        );
        let key = field_sql_type(&Field::new("k", DataType::Utf8, false), true).unwrap();
        assert_eq!(key.ddl, "NVARCHAR(450)");
        assert!(column_type_name(&DataType::Decimal128(40, 2), false).is_err());
        assert!(column_type_name(&DataType::Decimal128(10, -2), false).is_err());
        let uuid =
            Field::new("u", DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([(
                crate::contract::field_meta::EXTENSION_NAME.to_string(),
                crate::contract::field_meta::UUID.to_string(),
            )]));
        assert_eq!(
            field_sql_type(&uuid, false).unwrap().ddl,
            "UNIQUEIDENTIFIER"
        );
    }

    #[test]
    fn declared_types_are_reused_only_when_they_still_match() {
        let with = |d: DataType, decl: &str| {
            Field::new("c", d, true)
                .with_metadata(HashMap::from([(TYPE_KEY.to_string(), decl.to_string())]))
        };
        let t = |f: &Field, key: bool| field_sql_type(f, key).unwrap().ddl;
        assert_eq!(
            t(&with(DataType::Utf8, "varchar(20)"), false),
            "VARCHAR(20)"
        );
        assert_eq!(
            t(&with(DataType::Decimal128(19, 4), "money"), false),
            "MONEY"
        );
        assert_eq!(
            t(
                &with(DataType::Timestamp(TimeUnit::Microsecond, None), "datetime"),
                false
            ),
            "DATETIME"
        );
        // Changed type, unloadable type, unbounded key, or crafted text: the Arrow mapping.
        assert_eq!(t(&with(DataType::Int64, "varchar(20)"), false), "BIGINT");
        assert_eq!(t(&with(DataType::Utf8, "xml"), false), "NVARCHAR(MAX)");
        assert_eq!(
            t(&with(DataType::Utf8, "nvarchar(max)"), true),
            "NVARCHAR(450)"
        );
        assert_eq!(t(&with(DataType::Int32, "int; DROP TABLE x"), false), "INT");
    }

    #[test]
    fn values_read_exactly_or_fail() {
        let mut b = ColumnBuilder::new(&DataType::Decimal128(12, 2), 4).unwrap();
        append(
            &mut b,
            &ColumnData::Numeric(Some(Numeric::new_with_scale(-1250, 3))),
        )
        .unwrap();
        assert!(append(
            &mut b,
            &ColumnData::Numeric(Some(Numeric::new_with_scale(-1255, 3)))
        )
        .unwrap_err()
        .contains("decimal places"));
        append(&mut b, &ColumnData::Numeric(None)).unwrap();
        let a = b.finish().unwrap();
        let a = a.as_primitive::<Decimal128Type>();
        assert_eq!(a.value(0), -125);
        assert!(a.is_null(1));

        // 2024-02-29 23:59:59.1234567 as datetime2(7).
        let date = Date::new((19_782 + DATE_EPOCH_DAYS) as u32);
        let time = Time::new(863_991_234_567, 7);
        let v = ColumnData::DateTime2(Some(DateTime2::new(date, time)));
        let mut ns =
            ColumnBuilder::new(&DataType::Timestamp(TimeUnit::Nanosecond, None), 1).unwrap();
        append(&mut ns, &v).unwrap();
        let a = ns.finish().unwrap();
        assert_eq!(
            a.as_primitive::<TimestampNanosecondType>().value(0),
            19_782 * 86_400_000_000_000 + 86_399_123_456_700
        );
        let mut us =
            ColumnBuilder::new(&DataType::Timestamp(TimeUnit::Microsecond, None), 1).unwrap();
        assert!(append(&mut us, &v).unwrap_err().contains("100-nanosecond"));

        // datetime: 1900-01-01 00:00:00.003 is one 1/300 s tick.
        let mut us =
            ColumnBuilder::new(&DataType::Timestamp(TimeUnit::Microsecond, None), 1).unwrap();
        append(&mut us, &ColumnData::DateTime(Some(DateTime::new(0, 1)))).unwrap();
        append(&mut us, &ColumnData::DateTime(Some(DateTime::new(0, 2)))).unwrap();
        let a = us.finish().unwrap();
        let a = a.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(a.value(0), -DATETIME_EPOCH_DAYS * 86_400_000_000 + 3_000);
        assert_eq!(a.value(1), -DATETIME_EPOCH_DAYS * 86_400_000_000 + 7_000);

        let mut d = ColumnBuilder::new(&DataType::Date32, 1).unwrap();
        append(
            &mut d,
            &ColumnData::Date(Some(Date::new(DATE_EPOCH_DAYS as u32))),
        )
        .unwrap();
        assert_eq!(d.finish().unwrap().as_primitive::<Date32Type>().value(0), 0);

        let mut i = ColumnBuilder::new(&DataType::Int32, 1).unwrap();
        assert!(append(&mut i, &ColumnData::String(Some("x".into()))).is_err());
    }

    #[test]
    fn values_write_exactly_or_fail() {
        let dec = Decimal128Array::from(vec![Some(12345), None])
            .with_precision_and_scale(10, 3)
            .unwrap();
        match to_column_data(&dec, 0, Kind::Decimal(12, 4)).unwrap() {
            ColumnData::Numeric(Some(n)) => assert_eq!((n.value(), n.scale()), (123450, 4)),
            other => panic!("{other:?}"),
        }
        assert!(to_column_data(&dec, 0, Kind::Decimal(12, 2)).is_err());
        assert!(matches!(
            to_column_data(&dec, 1, Kind::Money).unwrap(),
            ColumnData::Numeric(None)
        ));
        let big = UInt64Array::from(vec![u64::MAX]);
        assert!(matches!(
            to_column_data(&big, 0, Kind::Decimal(20, 0)).unwrap(),
            ColumnData::Numeric(Some(_))
        ));
        assert!(to_column_data(&big, 0, Kind::BigInt)
            .unwrap_err()
            .contains("BIGINT"));
        let i8s = Int8Array::from(vec![-5]);
        assert!(matches!(
            to_column_data(&i8s, 0, Kind::SmallInt).unwrap(),
            ColumnData::I16(Some(-5))
        ));
        let ts = TimestampMicrosecondArray::from(vec![1_000_001, 3_000]);
        match to_column_data(&ts, 0, Kind::DateTime2(6)).unwrap() {
            ColumnData::DateTime2(Some(dt)) => {
                assert_eq!(dt.date().days() as i64, DATE_EPOCH_DAYS);
                assert_eq!((dt.time().increments(), dt.time().scale()), (1_000_001, 6));
            }
            other => panic!("{other:?}"),
        }
        assert!(to_column_data(&ts, 0, Kind::DateTime2(3)).is_err());
        assert!(to_column_data(&ts, 0, Kind::DateTime).is_err());
        match to_column_data(&ts, 1, Kind::DateTime).unwrap() {
            ColumnData::DateTime(Some(dt)) => {
                assert_eq!(
                    (dt.days() as i64, dt.seconds_fragments()),
                    (DATETIME_EPOCH_DAYS, 1)
                )
            }
            other => panic!("{other:?}"),
        }
        let wide =
            Decimal256Array::from(vec![i256::from_i128(5) * i256::from_i128(10i128.pow(30))])
                .with_precision_and_scale(76, 70)
                .unwrap();
        assert!(to_column_data(&wide, 0, Kind::Decimal(38, 2)).is_err());
        let neg = Decimal128Array::from(vec![12])
            .with_precision_and_scale(10, -3)
            .unwrap();
        match to_column_data(&neg, 0, Kind::Decimal(20, 0)).unwrap() {
            ColumnData::Numeric(Some(n)) => assert_eq!(n.value(), 12_000),
            other => panic!("{other:?}"),
        }
        let nan = Float64Array::from(vec![f64::NAN]);
        assert!(to_column_data(&nan, 0, Kind::Float).is_err());
        let old = Date32Array::from(vec![-719_163]);
        assert!(to_column_data(&old, 0, Kind::Date).is_err());
    }
}
