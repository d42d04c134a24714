//! MySQL/MariaDB <-> Arrow type mapping. Every value is converted exactly or the run fails
//! naming the column and row; nothing is rounded, truncated or wrapped silently.
//!
//! Reading (binary protocol, so integers and floats arrive as their exact machine values):
//!
//! | MySQL / MariaDB | Arrow |
//! |---|---|
//! | `TINYINT(1)`, `BOOL`, `BIT(1)` | Boolean (a value other than 0/1 fails) |
//! | `TINYINT`, `SMALLINT`, `MEDIUMINT`/`INT`, `BIGINT` | Int8, Int16, Int32, Int64 |
//! | the same `UNSIGNED` | UInt8, UInt16, UInt32, UInt64 |
//! | `DECIMAL(p,s)` | Decimal128(p,s) for p ≤ 38, Decimal256(p,s) above |
//! | `FLOAT`, `DOUBLE` | Float32, Float64 |
//! | `CHAR`, `VARCHAR`, `*TEXT`, `ENUM`, `SET`, `JSON` | Utf8 |
//! | `BINARY`, `VARBINARY`, `*BLOB` | Binary |
//! | `DATE` | Date32 |
//! | `TIME(n)` | Time64(µs); a value outside 00:00:00–23:59:59.999999 fails |
//! | `DATETIME(n)` | Timestamp(µs) |
//! | `TIMESTAMP(n)` | Timestamp(µs, UTC) (the session runs in UTC) |
//! | `YEAR` | Int16 |
//! | `BIT(n)`, n > 1 | UInt64 |
//!
//! Zero and invalid dates (`'0000-00-00'`, `'2024-00-10'`) in `DATE`, `DATETIME` and
//! `TIMESTAMP` columns fail the run unless the stream sets `zero_dates: null`, which reads them
//! as NULL. `GEOMETRY` and other types fail naming the column: CAST them in a `query:`.
//!
//! Writing (`CREATE TABLE` from an Arrow schema):
//!
//! | Arrow | MySQL / MariaDB |
//! |---|---|
//! | Boolean | `BOOLEAN` (`TINYINT(1)`) |
//! | Int8..Int64, UInt8..UInt64 | `TINYINT`..`BIGINT` [`UNSIGNED`] |
//! | Float16/32, Float64 | `FLOAT`, `DOUBLE` |
//! | Decimal(p,s), p ≤ 65, 0 ≤ s ≤ 38 | `DECIMAL(p,s)` |
//! | Utf8, LargeUtf8 | `LONGTEXT` (`VARCHAR(768)` in a primary key) |
//! | Binary, LargeBinary | `LONGBLOB` (`VARBINARY(3072)` in a primary key) |
//! | FixedSizeBinary(n), n ≤ 255 | `BINARY(n)` |
//! | Date32, Date64 | `DATE` |
//! | Time32/Time64 | `TIME(6)` |
//! | Timestamp without / with time zone | `DATETIME(6)` (holding UTC when the zone is set) |
//! | Null | `LONGTEXT` (all NULL) |
//!
//! A table stream's fields carry their declared MySQL type as metadata ([`COLUMN_TYPE_KEY`]);
//! a MySQL destination re-creates that type instead of the table above when the field's Arrow
//! type still matches it, so MySQL -> Parquet -> MySQL keeps `VARCHAR(20)`, `ENUM(...)`, `YEAR`.

use crate::connectors::sql::builder::ColumnBuilder;
pub use crate::spec::ZeroDates;
use arrow::array::*;
use arrow::datatypes::*;
use chrono::{NaiveDate, NaiveDateTime};
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value};
use std::io::Write;

/// MySQL's `binary` character set id: a string column with it holds bytes, not text.
const BINARY_CHARSET: u16 = 63;
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Arrow field metadata key holding a table column's MySQL type (`information_schema`
/// `COLUMN_TYPE`, e.g. `varchar(20)`, `enum('a','b')`). A MySQL destination re-creates that
/// exact type when the field still has the Arrow type the column reads as; other destinations
/// ignore it. Parquet keeps field metadata, so MySQL -> Parquet -> MySQL keeps declared types.
/// (Files written before carry the same under `mysql.column_type`, which is still read.)
pub const COLUMN_TYPE_KEY: &str = crate::contract::field_meta::MYSQL_TYPE;

/// The Arrow type a `COLUMN_TYPE` string reads as, if the string is one etl recognises in full
/// (and may therefore put in DDL: anything else, such as a crafted file's metadata, is refused).
pub fn declared_arrow_type(column_type: &str) -> Option<DataType> {
    let ct = column_type.trim().to_ascii_lowercase();
    let (ct, unsigned) = match ct.strip_suffix(" unsigned zerofill") {
        Some(rest) => (rest, true),
        None => match ct.strip_suffix(" unsigned") {
            Some(rest) => (rest, true),
            None => (ct.as_str(), false),
        },
    };
    let (base, args) = match ct.split_once('(') {
        Some((b, rest)) => (b, Some(rest.strip_suffix(')')?)),
        None => (ct, None),
    };
    let nums = |args: Option<&str>| -> Option<Vec<u32>> {
        match args {
            None => Some(Vec::new()),
            Some(a) => a.split(',').map(|n| n.trim().parse::<u32>().ok()).collect(),
        }
    };
    let int = |s: DataType, u: DataType| if unsigned { u } else { s };
    if matches!(base, "enum" | "set") {
        return (!unsigned && quoted_list(args?)).then_some(DataType::Utf8);
    }
    let n = nums(args)?;
    let len_ok = |max: usize| n.len() <= max;
    Some(match base {
        "tinyint" if n == [1] => DataType::Boolean,
        "tinyint" if len_ok(1) => int(DataType::Int8, DataType::UInt8),
        "smallint" if len_ok(1) => int(DataType::Int16, DataType::UInt16),
        "mediumint" | "int" if len_ok(1) => int(DataType::Int32, DataType::UInt32),
        "bigint" if len_ok(1) => int(DataType::Int64, DataType::UInt64),
        "decimal" if n.len() == 2 && n[0] <= 38 && n[1] <= n[0] => {
            DataType::Decimal128(n[0] as u8, n[1] as i8)
        }
        "decimal" if n.len() == 2 && n[0] <= 76 && n[1] <= n[0] => {
            DataType::Decimal256(n[0] as u8, n[1] as i8)
        }
        "float" if n.is_empty() && !unsigned => DataType::Float32,
        "double" if n.is_empty() && !unsigned => DataType::Float64,
        _ if unsigned => return None,
        "char" | "varchar" if n.len() == 1 => DataType::Utf8,
        "tinytext" | "text" | "mediumtext" | "longtext" | "json" if n.is_empty() => DataType::Utf8,
        "binary" | "varbinary" if n.len() == 1 => DataType::Binary,
        "tinyblob" | "blob" | "mediumblob" | "longblob" if n.is_empty() => DataType::Binary,
        "date" if n.is_empty() => DataType::Date32,
        "time" if len_ok(1) => DataType::Time64(TimeUnit::Microsecond),
        "datetime" if len_ok(1) => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamp" if len_ok(1) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "year" if len_ok(1) => DataType::Int16,
        "bit" if n == [1] => DataType::Boolean,
        "bit" if n.len() == 1 && n[0] <= 64 => DataType::UInt64,
        _ => return None,
    })
}

/// `'a','b c','it''s'`: single-quoted literals (quotes doubled, no backslashes), comma-separated.
fn quoted_list(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) != Some(&b'\'') {
            return false;
        }
        i += 1;
        loop {
            match b.get(i) {
                None | Some(b'\\') => return false,
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => break,
                Some(_) => i += 1,
            }
        }
        i += 1;
        match b.get(i) {
            None => return true,
            Some(b',') => i += 1,
            Some(_) => return false,
        }
    }
}

/// The column type for a field: its source MySQL type when the metadata holds one that still
/// matches the field's Arrow type, else the mapping of the Arrow type.
pub fn field_column_type(field: &Field, in_key: bool) -> Result<String, String> {
    use crate::contract::field_meta::{source_type, MYSQL_TYPE_BEFORE};
    if let Some(ct) = source_type(field, COLUMN_TYPE_KEY, &[MYSQL_TYPE_BEFORE]) {
        let same = match (declared_arrow_type(ct), field.data_type()) {
            (Some(DataType::Timestamp(u, Some(_))), DataType::Timestamp(v, Some(_))) => u == *v,
            (Some(t), d) => t == *d,
            (None, _) => false,
        };
        let lower = ct.to_ascii_lowercase();
        let unbounded = ["text", "blob", "json"].iter().any(|t| lower.contains(t))
            && !lower.starts_with("enum")
            && !lower.starts_with("set");
        if same && !(in_key && unbounded) {
            return Ok(ct.trim().to_string());
        }
    }
    if in_key {
        key_column_type(field.data_type())
    } else {
        column_type(field.data_type())
    }
}

/// The Arrow type of a result column, or why it has none.
pub fn arrow_type(col: &Column) -> Result<DataType, String> {
    use ColumnType::*;
    let flags = col.flags();
    let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let int = |s: DataType, u: DataType| if unsigned { u } else { s };
    Ok(match col.column_type() {
        MYSQL_TYPE_TINY if col.column_length() == 1 => DataType::Boolean,
        MYSQL_TYPE_TINY => int(DataType::Int8, DataType::UInt8),
        MYSQL_TYPE_SHORT => int(DataType::Int16, DataType::UInt16),
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG => int(DataType::Int32, DataType::UInt32),
        MYSQL_TYPE_LONGLONG => int(DataType::Int64, DataType::UInt64),
        MYSQL_TYPE_YEAR => DataType::Int16,
        MYSQL_TYPE_BIT if col.column_length() == 1 => DataType::Boolean,
        MYSQL_TYPE_BIT => DataType::UInt64,
        MYSQL_TYPE_FLOAT => DataType::Float32,
        MYSQL_TYPE_DOUBLE => DataType::Float64,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            let scale = col.decimals();
            // The display length counts the sign (signed columns) and the decimal point.
            let p = col.column_length() as i64
                - i64::from(!unsigned)
                - i64::from(scale > 0);
            let p = p.max(scale as i64).max(1);
            if p > 76 {
                return Err(format!("DECIMAL({p},{scale}) has more digits than Arrow's Decimal256 (76)"));
            }
            if p > 38 {
                DataType::Decimal256(p as u8, scale as i8)
            } else {
                DataType::Decimal128(p as u8, scale as i8)
            }
        }
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => DataType::Date32,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => DataType::Time64(TimeUnit::Microsecond),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        MYSQL_TYPE_JSON | MYSQL_TYPE_ENUM | MYSQL_TYPE_SET => DataType::Utf8,
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            let text_like = flags.intersects(ColumnFlags::ENUM_FLAG | ColumnFlags::SET_FLAG);
            if col.character_set() == BINARY_CHARSET && !text_like {
                DataType::Binary
            } else {
                DataType::Utf8
            }
        }
        MYSQL_TYPE_NULL => DataType::Null,
        other => {
            return Err(format!(
                "MySQL type {other:?} has no Arrow mapping; CAST it in a `query:` (e.g. ST_AsText() for geometry)"
            ))
        }
    })
}

/// Whether the column may hold NULL in Arrow: the server's NOT NULL flag, except that zero
/// dates read as NULL make any date column nullable.
pub fn nullable(col: &Column, data_type: &DataType, zero_dates: ZeroDates) -> bool {
    let datey = matches!(data_type, DataType::Date32 | DataType::Timestamp(..));
    !col.flags().contains(ColumnFlags::NOT_NULL_FLAG) || (datey && zero_dates == ZeroDates::Null)
}

/// Appends one value to a column of its mapped Arrow type, or says why it does not fit.
pub fn append(b: &mut ColumnBuilder, v: Value, zero_dates: ZeroDates) -> Result<(), String> {
    if v == Value::NULL {
        b.append_null();
        return Ok(());
    }
    match *b.data_type() {
        DataType::Boolean => match integer(&v)? {
            Int::S(0) | Int::U(0) => b.append_bool(false),
            Int::S(1) | Int::U(1) => b.append_bool(true),
            _ => Err(format!(
                "{} does not fit BOOLEAN (a TINYINT(1) holding a value other than 0 or 1: CAST it to SIGNED in a `query:`)",
                show(&v)
            )),
        },
        DataType::Int8 => b.append_i8(fit(&v, "TINYINT")?),
        DataType::Int16 => b.append_i16(fit(&v, "SMALLINT")?),
        DataType::Int32 => b.append_i32(fit(&v, "INT")?),
        DataType::Int64 => b.append_i64(fit(&v, "BIGINT")?),
        DataType::UInt8 => b.append_u8(fit(&v, "TINYINT UNSIGNED")?),
        DataType::UInt16 => b.append_u16(fit(&v, "SMALLINT UNSIGNED")?),
        DataType::UInt32 => b.append_u32(fit(&v, "INT UNSIGNED")?),
        DataType::UInt64 => b.append_u64(fit(&v, "BIGINT UNSIGNED")?),
        DataType::Float32 => b.append_f32(match v {
            Value::Float(f) => f,
            Value::Double(d) if (d as f32) as f64 == d || d.is_nan() => d as f32,
            Value::Bytes(ref s) => parse_text(s, "FLOAT")?,
            _ => return Err(format!("{} does not fit FLOAT", show(&v))),
        }),
        DataType::Float64 => b.append_f64(match v {
            Value::Double(d) => d,
            Value::Float(f) => f as f64,
            Value::Bytes(ref s) => parse_text(s, "DOUBLE")?,
            _ => return Err(format!("{} does not fit DOUBLE", show(&v))),
        }),
        DataType::Decimal128(p, s) => match &v {
            Value::Bytes(t) => b.append_decimal128(parse_decimal(t, p, s)?),
            Value::Int(i) => b.append_decimal128(parse_decimal(i.to_string().as_bytes(), p, s)?),
            Value::UInt(i) => b.append_decimal128(parse_decimal(i.to_string().as_bytes(), p, s)?),
            _ => Err(format!("{} does not fit DECIMAL({p},{s})", show(&v))),
        },
        DataType::Decimal256(p, s) => match &v {
            Value::Bytes(t) => b.append_decimal256(parse_decimal256(t, p, s)?),
            _ => Err(format!("{} does not fit DECIMAL({p},{s})", show(&v))),
        },
        DataType::Date32 => match date_time(&v)? {
            Some(dt) => b.append_date32(dt.date().num_days_from_ce_opt_epoch()),
            None => zero(zero_dates, &v, b),
        },
        DataType::Time64(_) => {
            let us = match v {
                Value::Time(neg, days, h, m, s, us) => {
                    let t = (((days as i64 * 24 + h as i64) * 60 + m as i64) * 60 + s as i64)
                        * 1_000_000
                        + us as i64;
                    if neg && t != 0 {
                        -t
                    } else {
                        t
                    }
                }
                _ => return Err(format!("{} does not fit TIME", show(&v))),
            };
            if !(0..MICROS_PER_DAY).contains(&us) {
                return Err(format!(
                    "TIME {} is not a time of day (Arrow Time64 holds 00:00:00 to 23:59:59.999999); CAST it to CHAR in a `query:`",
                    show(&v)
                ));
            }
            b.append_time_us(us)
        }
        DataType::Timestamp(..) => match date_time(&v)? {
            Some(dt) => b.append_timestamp_us(dt.and_utc().timestamp_micros()),
            None => zero(zero_dates, &v, b),
        },
        DataType::Utf8 => match &v {
            Value::Bytes(t) => b.append_str(
                std::str::from_utf8(t).map_err(|e| format!("text is not valid UTF-8: {e}"))?,
            ),
            // Expressions in a query can mix types; keep their exact text.
            Value::Int(i) => b.append_str(&i.to_string()),
            Value::UInt(i) => b.append_str(&i.to_string()),
            _ => Err(format!("{} does not fit a text column", show(&v))),
        },
        DataType::Binary => match &v {
            Value::Bytes(t) => b.append_bytes(t),
            _ => Err(format!("{} does not fit a binary column", show(&v))),
        },
        DataType::Null => Err(format!("{} in a column typed NULL", show(&v))),
        ref other => Err(format!("no reader for Arrow type {other}")),
    }
}

trait EpochDays {
    fn num_days_from_ce_opt_epoch(&self) -> i32;
}
impl EpochDays for NaiveDate {
    fn num_days_from_ce_opt_epoch(&self) -> i32 {
        chrono::Datelike::num_days_from_ce(self) - UNIX_EPOCH_DAYS_FROM_CE
    }
}

/// A zero or invalid date: NULL, or an error, as the stream's `zero_dates` says.
fn zero(zero_dates: ZeroDates, v: &Value, b: &mut ColumnBuilder) -> Result<(), String> {
    match zero_dates {
        ZeroDates::Null => {
            b.append_null();
            Ok(())
        }
        ZeroDates::Fail => Err(format!(
            "zero or invalid date {} (set `zero_dates: null` on the stream to read such dates as NULL)",
            show(v)
        )),
    }
}

/// A DATE/DATETIME/TIMESTAMP value; `None` for a zero or otherwise invalid date.
fn date_time(v: &Value) -> Result<Option<NaiveDateTime>, String> {
    match *v {
        Value::Date(y, mo, d, h, mi, s, us) => {
            Ok(NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
                .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us)))
        }
        Value::Bytes(ref t) => {
            let t = std::str::from_utf8(t).map_err(|_| format!("{} is not a date", show(v)))?;
            if t.starts_with("0000-00-00") {
                return Ok(None);
            }
            let parsed = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").or_else(|_| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
            });
            Ok(parsed.ok())
        }
        _ => Err(format!("{} is not a date", show(v))),
    }
}

enum Int {
    S(i64),
    U(u64),
}

fn integer(v: &Value) -> Result<Int, String> {
    match v {
        Value::Int(i) => Ok(Int::S(*i)),
        Value::UInt(u) => Ok(Int::U(*u)),
        // BIT(n) arrives as big-endian bytes (integers never arrive as bytes in the binary
        // protocol).
        Value::Bytes(b) if b.len() <= 8 => {
            Ok(Int::U(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64)))
        }
        _ => Err(format!("{} is not an integer", show(v))),
    }
}

fn fit<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, ty: &str) -> Result<T, String> {
    let ok = match integer(v)? {
        Int::S(i) => T::try_from(i).ok(),
        Int::U(u) => T::try_from(u).ok(),
    };
    ok.ok_or_else(|| format!("{} does not fit {ty}", show(v)))
}

fn parse_text<T: std::str::FromStr>(t: &[u8], ty: &str) -> Result<T, String> {
    std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("'{}' does not fit {ty}", String::from_utf8_lossy(t)))
}

/// A value as a user would write it, for error messages (long text is cut).
fn show(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            let cut: String = s.chars().take(40).collect();
            if cut.len() < s.len() {
                format!("'{cut}...'")
            } else {
                format!("'{cut}'")
            }
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
        }
        Value::Time(neg, d, h, m, s, us) => format!(
            "'{}{:02}:{m:02}:{s:02}.{us:06}'",
            if *neg { "-" } else { "" },
            *d as u64 * 24 + *h as u64
        ),
    }
}

/// Exact decimal text (`-12.50`) to an i128 scaled by `s`; fails rather than rounding
/// (the shared [`crate::values::parse_decimal`], over MySQL's text bytes).
pub fn parse_decimal(text: &[u8], p: u8, s: i8) -> Result<i128, String> {
    let t = std::str::from_utf8(text).unwrap_or("");
    crate::values::parse_decimal(t, p, s).map_err(|_| {
        format!(
            "'{}' does not fit DECIMAL({p},{s})",
            String::from_utf8_lossy(text)
        )
    })
}

/// As [`parse_decimal`], for precisions above 38.
pub fn parse_decimal256(text: &[u8], p: u8, s: i8) -> Result<i256, String> {
    let bad = || {
        format!(
            "'{}' does not fit DECIMAL({p},{s})",
            String::from_utf8_lossy(text)
        )
    };
    let digits = scaled_digits(text, p, s).ok_or_else(bad)?;
    i256::from_string(&digits).ok_or_else(bad)
}

/// `-12.5` at scale 3 -> `-12500`; `None` when not exact decimal text or too many digits.
fn scaled_digits(text: &[u8], p: u8, s: i8) -> Option<String> {
    let t = std::str::from_utf8(text).ok()?.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let scale = s.max(0) as usize;
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    if frac.len() > scale || int.len() + scale > p as usize {
        return None;
    }
    let mut out = String::with_capacity(int.len() + scale + 2);
    if neg {
        out.push('-');
    }
    out.push_str(int);
    out.push_str(frac);
    out.extend(std::iter::repeat_n('0', scale - frac.len()));
    if out.is_empty() || out == "-" {
        out.push('0');
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The column type `CREATE TABLE` uses for an Arrow type.
pub fn column_type(d: &DataType) -> Result<String, String> {
    let fits = |p: u8, s: i8| (0..=38).contains(&s) && p <= 65 && s as u8 <= p;
    if let Some(t) = crate::connectors::sql::decimal_column_type(
        d,
        "MySQL",
        "DECIMAL",
        "precision ≤ 65, 0 ≤ scale ≤ 38",
        fits,
    ) {
        return t;
    }
    Ok(match d {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 | DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "LONGTEXT".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "LONGBLOB".into(),
        DataType::FixedSizeBinary(n) if *n <= 255 => format!("BINARY({n})"),
        DataType::FixedSizeBinary(_) => "LONGBLOB".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME(6)".into(),
        DataType::Timestamp(_, _) => "DATETIME(6)".into(),
        DataType::Null => "LONGTEXT".into(),
        // Lists, structs and maps are stored as their JSON text (see formats::nested).
        d if crate::formats::nested::is_nested(d) => "JSON".into(),
        other => return Err(crate::connectors::sql::no_column_type("MySQL", other)),
    })
}

/// As [`column_type`], bounded so that the column can be part of a primary key.
pub fn key_column_type(d: &DataType) -> Result<String, String> {
    Ok(match d {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR(768)".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "VARBINARY(3072)".into(),
        DataType::FixedSizeBinary(n) if *n > 255 => "VARBINARY(3072)".into(),
        other => column_type(other)?,
    })
}

/// Whether `LOAD DATA` receives this type hex-encoded (and `UNHEX`es it into the column).
pub fn loads_as_hex(d: &DataType) -> bool {
    matches!(
        d,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

/// Appends `\`-escaped text as `LOAD DATA` reads it (`FIELDS ESCAPED BY '\\'`).
fn escaped(out: &mut Vec<u8>, s: &[u8]) {
    if !s
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0))
    {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

fn hex(out: &mut Vec<u8>, s: &[u8]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() * 2);
    for &b in s {
        out.push(H[(b >> 4) as usize]);
        out.push(H[(b & 15) as usize]);
    }
}

fn decimal_text(out: &mut Vec<u8>, digits: String, scale: i8) {
    out.extend_from_slice(crate::values::format_decimal_digits(&digits, scale).as_bytes());
}

fn date_text(out: &mut Vec<u8>, days: i64) -> Result<(), String> {
    let d = i32::try_from(days)
        .ok()
        .and_then(|d| d.checked_add(UNIX_EPOCH_DAYS_FROM_CE))
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| format!("date {days} days from 1970-01-01 is out of range"))?;
    use chrono::Datelike;
    let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
    Ok(())
}

fn time_text(out: &mut Vec<u8>, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        us.rem_euclid(1_000_000)
    );
}

fn timestamp_text(out: &mut Vec<u8>, us: i64) -> Result<(), String> {
    let dt = chrono::DateTime::from_timestamp_micros(us)
        .ok_or_else(|| format!("timestamp {us}µs is out of range"))?
        .naive_utc();
    use chrono::{Datelike, Timelike};
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond() / 1000
    );
    Ok(())
}

/// Appends row `i` of `array` as one `LOAD DATA` field (`\N` for NULL), or says why the value
/// cannot be stored exactly.
pub fn write_field(array: &dyn Array, i: usize, out: &mut Vec<u8>) -> Result<(), String> {
    use arrow::array::AsArray;
    if array.is_null(i) {
        out.extend_from_slice(b"\\N");
        return Ok(());
    }
    macro_rules! num {
        ($t:ty) => {{
            let _ = write!(out, "{}", array.as_primitive::<$t>().value(i));
        }};
    }
    // A float is written as the shortest text of its value *as a double*: the server parses
    // a FLOAT column's text as a double, and f32::MAX's own shortest text (3.4028235e38) is a
    // double just past FLT_MAX, refused as out of range.
    macro_rules! float {
        ($t:ty) => {{
            let v = f64::from(array.as_primitive::<$t>().value(i));
            if !v.is_finite() {
                return Err(format!(
                    "{v} cannot be stored in MySQL (no NaN or infinity)"
                ));
            }
            let _ = write!(out, "{v}");
        }};
    }
    match array.data_type() {
        DataType::Null => out.extend_from_slice(b"\\N"),
        DataType::Boolean => out.push(if array.as_boolean().value(i) {
            b'1'
        } else {
            b'0'
        }),
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float16 => {
            let v = array.as_primitive::<Float16Type>().value(i).to_f64();
            if !v.is_finite() {
                return Err(format!(
                    "{v} cannot be stored in MySQL (no NaN or infinity)"
                ));
            }
            let _ = write!(out, "{v}");
        }
        DataType::Float32 => float!(Float32Type),
        DataType::Float64 => float!(Float64Type),
        DataType::Decimal32(_, s) => decimal_text(
            out,
            array.as_primitive::<Decimal32Type>().value(i).to_string(),
            *s,
        ),
        DataType::Decimal64(_, s) => decimal_text(
            out,
            array.as_primitive::<Decimal64Type>().value(i).to_string(),
            *s,
        ),
        DataType::Decimal128(_, s) => decimal_text(
            out,
            array.as_primitive::<Decimal128Type>().value(i).to_string(),
            *s,
        ),
        DataType::Decimal256(_, s) => decimal_text(
            out,
            array.as_primitive::<Decimal256Type>().value(i).to_string(),
            *s,
        ),
        DataType::Utf8 => escaped(out, array.as_string::<i32>().value(i).as_bytes()),
        DataType::LargeUtf8 => escaped(out, array.as_string::<i64>().value(i).as_bytes()),
        DataType::Utf8View => escaped(out, array.as_string_view().value(i).as_bytes()),
        DataType::Binary => hex(out, array.as_binary::<i32>().value(i)),
        DataType::LargeBinary => hex(out, array.as_binary::<i64>().value(i)),
        DataType::BinaryView => hex(out, array.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => hex(out, array.as_fixed_size_binary().value(i)),
        DataType::Date32 => date_text(out, array.as_primitive::<Date32Type>().value(i) as i64)?,
        DataType::Date64 => date_text(
            out,
            array
                .as_primitive::<Date64Type>()
                .value(i)
                .div_euclid(86_400_000),
        )?,
        DataType::Time32(TimeUnit::Second) => time_text(
            out,
            array.as_primitive::<Time32SecondType>().value(i) as i64 * 1_000_000,
        ),
        DataType::Time32(_) => time_text(
            out,
            array.as_primitive::<Time32MillisecondType>().value(i) as i64 * 1_000,
        ),
        DataType::Time64(TimeUnit::Microsecond) => {
            time_text(out, array.as_primitive::<Time64MicrosecondType>().value(i))
        }
        DataType::Time64(_) => {
            let ns = array.as_primitive::<Time64NanosecondType>().value(i);
            if ns % 1000 != 0 {
                return Err(format!(
                    "time {ns}ns has sub-microsecond digits MySQL cannot keep"
                ));
            }
            time_text(out, ns / 1000)
        }
        DataType::Timestamp(unit, _) => {
            let us = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(i)
                    .checked_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i)
                    .checked_mul(1_000),
                TimeUnit::Microsecond => {
                    Some(array.as_primitive::<TimestampMicrosecondType>().value(i))
                }
                TimeUnit::Nanosecond => {
                    let ns = array.as_primitive::<TimestampNanosecondType>().value(i);
                    if ns % 1000 != 0 {
                        return Err(format!(
                            "timestamp {} has digits below the microsecond, which MySQL cannot keep",
                            crate::values::timestamp_nanos_text(ns)
                        ));
                    }
                    Some(ns / 1000)
                }
            };
            timestamp_text(out, us.ok_or("timestamp is out of range")?)?
        }
        other => return Err(crate::connectors::sql::no_column_type("MySQL", other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(parse_decimal(b"12.50", 12, 2).unwrap(), 1250);
        assert_eq!(parse_decimal(b"-0.07", 12, 2).unwrap(), -7);
        assert_eq!(parse_decimal(b"5", 12, 2).unwrap(), 500);
        assert!(parse_decimal(b"12.505", 12, 2).is_err());
        assert!(parse_decimal(b"12345678901", 12, 2).is_err());
        assert!(parse_decimal(b"abc", 12, 2).is_err());
        assert_eq!(
            parse_decimal256(b"-12345678901234567890123456789012345678901234.5", 65, 2)
                .unwrap()
                .to_string(),
            "-1234567890123456789012345678901234567890123450"
        );
        assert_eq!(parse_decimal256(b"0.00", 40, 2).unwrap().to_string(), "0");
        assert!(parse_decimal256(b"1.234", 40, 2).is_err());
        let mut out = Vec::new();
        decimal_text(&mut out, "-7".into(), 2);
        assert_eq!(out, b"-0.07");
    }

    #[test]
    fn values_are_checked_against_the_column() {
        let mut b = ColumnBuilder::new(&DataType::Boolean, 1).unwrap();
        assert!(append(&mut b, Value::Int(2), ZeroDates::Fail).is_err());
        assert!(append(&mut b, Value::Int(1), ZeroDates::Fail).is_ok());
        let mut b = ColumnBuilder::new(&DataType::UInt64, 1).unwrap();
        assert!(append(&mut b, Value::UInt(u64::MAX), ZeroDates::Fail).is_ok());
        assert!(append(&mut b, Value::Int(-1), ZeroDates::Fail).is_err());
        let mut b = ColumnBuilder::new(&DataType::Date32, 1).unwrap();
        let zero = Value::Date(0, 0, 0, 0, 0, 0, 0);
        assert!(append(&mut b, zero.clone(), ZeroDates::Fail)
            .unwrap_err()
            .contains("zero_dates"));
        assert!(append(&mut b, zero, ZeroDates::Null).is_ok());
        let mut b = ColumnBuilder::new(&DataType::Time64(TimeUnit::Microsecond), 1).unwrap();
        assert!(append(&mut b, Value::Time(false, 1, 1, 0, 0, 0), ZeroDates::Fail).is_err());
        assert!(append(
            &mut b,
            Value::Time(false, 0, 23, 59, 59, 999_999),
            ZeroDates::Fail
        )
        .is_ok());
    }

    #[test]
    fn only_fully_recognised_column_types_are_reused() {
        use std::collections::HashMap;
        assert_eq!(declared_arrow_type("varchar(20)"), Some(DataType::Utf8));
        assert_eq!(
            declared_arrow_type("bigint(20) unsigned"),
            Some(DataType::UInt64)
        );
        assert_eq!(declared_arrow_type("tinyint(1)"), Some(DataType::Boolean));
        assert_eq!(
            declared_arrow_type("decimal(12,2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(
            declared_arrow_type("enum('a','b c','it''s')"),
            Some(DataType::Utf8)
        );
        assert_eq!(declared_arrow_type("enum('a'); DROP TABLE x; --')"), None);
        assert_eq!(declared_arrow_type("enum('a\\')"), None);
        assert_eq!(declared_arrow_type("int); DROP TABLE x"), None);
        assert_eq!(declared_arrow_type("geometry"), None);
        let f = Field::new("v", DataType::Utf8, true).with_metadata(HashMap::from([(
            COLUMN_TYPE_KEY.to_string(),
            "varchar(20)".to_string(),
        )]));
        assert_eq!(field_column_type(&f, false).unwrap(), "varchar(20)");
        let f = Field::new("v", DataType::Int64, true).with_metadata(HashMap::from([(
            COLUMN_TYPE_KEY.to_string(),
            "varchar(20)".to_string(),
        )]));
        assert_eq!(field_column_type(&f, false).unwrap(), "BIGINT");
        let f = Field::new("v", DataType::Utf8, true).with_metadata(HashMap::from([(
            COLUMN_TYPE_KEY.to_string(),
            "text".to_string(),
        )]));
        assert_eq!(field_column_type(&f, true).unwrap(), "VARCHAR(768)");
        let before = Field::new("v", DataType::Utf8, true).with_metadata(HashMap::from([(
            "mysql.column_type".to_string(),
            "char(3)".to_string(),
        )]));
        assert_eq!(field_column_type(&before, false).unwrap(), "char(3)");
    }

    #[test]
    fn fields_are_escaped_for_load_data() {
        let a = StringArray::from(vec![Some("a\tb\\c\nd"), None]);
        let mut out = Vec::new();
        write_field(&a, 0, &mut out).unwrap();
        out.push(b'|');
        write_field(&a, 1, &mut out).unwrap();
        assert_eq!(out, b"a\\tb\\\\c\\nd|\\N");
        let t = TimestampMicrosecondArray::from(vec![1_000_001]);
        let mut out = Vec::new();
        write_field(&t, 0, &mut out).unwrap();
        assert_eq!(out, b"1970-01-01 00:00:01.000001");
        let f = Float64Array::from(vec![f64::NAN]);
        assert!(write_field(&f, 0, &mut Vec::new()).is_err());
    }
}
