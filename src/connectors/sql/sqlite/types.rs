//! SQLite <-> Arrow type mapping.
//!
//! SQLite stores values in five storage classes whatever a column declares, so the declared type
//! decides the Arrow type and every value is checked against it: a value that does not fit fails
//! the run with the column and row named; nothing is silently coerced.
//!
//! | declared type (case-insensitive)                       | Arrow                    | values accepted                                          |
//! |--------------------------------------------------------|--------------------------|----------------------------------------------------------|
//! | BOOLEAN, BOOL                                          | Boolean                  | 0/1, 'true'/'false'                                      |
//! | DATE                                                   | Date32                   | 'YYYY-MM-DD'                                             |
//! | DATETIME, TIMESTAMP                                    | Timestamp(µs)            | ISO-8601 text (an offset is converted to UTC); Unix seconds |
//! | TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE                  | Timestamp(µs, UTC)       | ISO-8601 text (no offset = UTC); Unix seconds            |
//! | TIME                                                   | Time64(µs)               | 'HH:MM[:SS[.ffffff]]'                                    |
//! | DECIMAL(p,s), NUMERIC(p,s)                             | Decimal128(p,s)          | integers, text, REAL with at most 15 significant digits |
//! | DECIMAL, NUMERIC (no precision)                        | Decimal128(38,10)        | as above                                                 |
//! | DECIMAL_TEXT(p,s) (written by etl for p > 15)          | Decimal128(p,s)          | exact decimal text (TEXT affinity keeps every digit)     |
//! | any name containing INT                                | Int64                    | integers                                                 |
//! | names containing CHAR, CLOB or TEXT; JSON; UUID        | Utf8                     | UTF-8 text (numbers as their text)                       |
//! | names containing BLOB                                  | Binary                   | blobs and text bytes                                     |
//! | names containing REAL, FLOA or DOUB                    | Float64                  | reals; integers up to 2^53                               |
//! | no declared type (expressions in a query)              | from the first value     | that value's storage class                               |
//!
//! Any other declared type fails with the column named; `CAST` it in a `query:`.
//! Writing reverses the table; timestamps are stored as text with six fractional digits
//! (`+00:00` appended when the Arrow type has a time zone), decimals as exact text.

use crate::connectors::sql::builder::ColumnBuilder;
use crate::values::{
    format_date, format_decimal, format_time_micros, format_timestamp_micros, parse_date,
    parse_decimal, parse_time, parse_timestamp,
};
use arrow::array::*;
use arrow::datatypes::*;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

/// The Arrow type for a declared SQLite column type.
pub fn arrow_type(decl: &str) -> Result<DataType, String> {
    let upper = decl.trim().to_ascii_uppercase();
    let (base, params) = match upper.find('(') {
        Some(i) => (
            upper[..i].trim(),
            Some(upper[i + 1..].trim_end_matches(')').trim()),
        ),
        None => (upper.as_str(), None),
    };
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(match base.as_str() {
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "DATE" => DataType::Date32,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" | "DATETIMETZ" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        "TIME" => DataType::Time64(TimeUnit::Microsecond),
        "DECIMAL" | "NUMERIC" | "DECIMAL_TEXT" => {
            let (p, s) = match params {
                None => (38, 10),
                Some(params) => {
                    let nums: Vec<&str> = params.split(',').map(str::trim).collect();
                    let parse = |s: &str| {
                        s.parse::<u8>()
                            .map_err(|_| format!("bad precision in `{decl}`"))
                    };
                    match nums.as_slice() {
                        [p] => (parse(p)?, 0),
                        [p, s] => (parse(p)?, parse(s)?),
                        _ => return Err(format!("bad precision in `{decl}`")),
                    }
                }
            };
            if p == 0 || p > 38 || s > p {
                return Err(format!(
                    "`{decl}`: precision must be 1..=38 and scale at most the precision"
                ));
            }
            DataType::Decimal128(p, s as i8)
        }
        "JSON" | "UUID" => DataType::Utf8,
        b if b.contains("INT") => DataType::Int64,
        b if b.contains("CHAR") || b.contains("CLOB") || b.contains("TEXT") => DataType::Utf8,
        b if b.contains("BLOB") => DataType::Binary,
        b if b.contains("REAL") || b.contains("FLOA") || b.contains("DOUB") => DataType::Float64,
        _ => {
            return Err(format!(
                "declared type `{decl}` has no exact Arrow mapping; CAST the column in a `query:`"
            ))
        }
    })
}

/// The Arrow type for a column without a declared type, from its first non-NULL value.
pub fn infer_type(v: ValueRef<'_>) -> Option<DataType> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(_) => Some(DataType::Int64),
        ValueRef::Real(_) => Some(DataType::Float64),
        ValueRef::Text(_) => Some(DataType::Utf8),
        ValueRef::Blob(_) => Some(DataType::Binary),
    }
}

/// The declared type a destination table gets for an Arrow type.
pub fn declared_type(d: &DataType) -> Result<String, String> {
    Ok(match d {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "INTEGER".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            "INTEGER".into()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "REAL".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "TEXT".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BLOB".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        // SQLite's NUMERIC affinity keeps 15 significant digits; wider decimals are declared
        // with TEXT affinity so their exact text is stored.
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
            if *s >= 0 =>
        {
            if *p <= 15 {
                format!("DECIMAL({p},{s})")
            } else {
                format!("DECIMAL_TEXT({p},{s})")
            }
        }
        DataType::Null => "TEXT".into(),
        // Lists, structs and maps are stored as their JSON text (see formats::nested).
        d if crate::formats::nested::is_nested(d) => "JSON".into(),
        other => return Err(crate::connectors::sql::no_column_type("SQLite", other)),
    })
}

/// Appends one SQLite value to a column of its mapped Arrow type, or says why it does not fit.
pub fn append(b: &mut ColumnBuilder, v: ValueRef<'_>) -> Result<(), String> {
    if let ValueRef::Null = v {
        b.append_null();
        return Ok(());
    }
    match *b.data_type() {
        DataType::Int64 => match v {
            ValueRef::Integer(i) => b.append_i64(i),
            other => Err(misfit(other, "INTEGER")),
        },
        DataType::Float64 => match v {
            ValueRef::Real(f) => b.append_f64(f),
            ValueRef::Integer(i) if i.unsigned_abs() <= 1 << 53 => b.append_f64(i as f64),
            other => Err(misfit(other, "REAL")),
        },
        DataType::Binary => match v {
            ValueRef::Blob(x) | ValueRef::Text(x) => b.append_bytes(x),
            other => Err(misfit(other, "BLOB")),
        },
        DataType::Boolean => match v {
            ValueRef::Integer(0) => b.append_bool(false),
            ValueRef::Integer(1) => b.append_bool(true),
            ValueRef::Text(t) => match t.to_ascii_lowercase().as_slice() {
                b"true" | b"t" | b"1" => b.append_bool(true),
                b"false" | b"f" | b"0" => b.append_bool(false),
                _ => Err(misfit(v, "BOOLEAN")),
            },
            other => Err(misfit(other, "BOOLEAN")),
        },
        DataType::Date32 => match v {
            ValueRef::Text(t) => b.append_date32(
                std::str::from_utf8(t)
                    .ok()
                    .and_then(parse_date)
                    .ok_or_else(|| misfit(v, "DATE (YYYY-MM-DD)"))?,
            ),
            other => Err(misfit(other, "DATE")),
        },
        DataType::Time64(_) => match v {
            ValueRef::Text(t) => b.append_time_us(
                std::str::from_utf8(t)
                    .ok()
                    .and_then(|s| parse_time(s).transpose())
                    .transpose()?
                    .ok_or_else(|| misfit(v, "TIME (HH:MM:SS[.ffffff])"))?,
            ),
            other => Err(misfit(other, "TIME")),
        },
        DataType::Timestamp(..) => match v {
            ValueRef::Integer(secs) => b.append_timestamp_us(
                secs.checked_mul(1_000_000)
                    .ok_or_else(|| misfit(v, "TIMESTAMP (Unix seconds)"))?,
            ),
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t).map_err(|_| misfit(v, "TIMESTAMP"))?;
                match parse_timestamp(s)? {
                    Some(us) => b.append_timestamp_us(us),
                    None => Err(misfit(
                        v,
                        "TIMESTAMP (YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])",
                    )),
                }
            }
            other => Err(misfit(other, "TIMESTAMP")),
        },
        DataType::Decimal128(p, s) => {
            let x = match v {
                ValueRef::Integer(i) => parse_decimal(&i.to_string(), p, s)?,
                ValueRef::Real(f) => {
                    let text = f.to_string();
                    let digits = significant_digits(&text);
                    if digits > 15 {
                        return Err(format!(
                            "REAL {text} has {digits} significant digits; SQLite keeps only 15 exactly, so it cannot be carried as DECIMAL({p},{s})"
                        ));
                    }
                    parse_decimal(&text, p, s)?
                }
                ValueRef::Text(t) => std::str::from_utf8(t)
                    .ok()
                    .filter(|t| looks_numeric(t))
                    .ok_or_else(|| misfit(v, &format!("DECIMAL({p},{s})")))
                    .and_then(|t| parse_decimal(t, p, s))?,
                other => return Err(misfit(other, "DECIMAL")),
            };
            b.append_decimal128(x)
        }
        _ => match v {
            ValueRef::Text(t) => b.append_str(
                std::str::from_utf8(t).map_err(|_| "text is not valid UTF-8".to_string())?,
            ),
            ValueRef::Integer(i) => b.append_str(&i.to_string()),
            ValueRef::Real(f) => b.append_str(&f.to_string()),
            other => Err(misfit(other, "TEXT")),
        },
    }
}

fn misfit(v: ValueRef<'_>, ty: &str) -> String {
    let shown = match v {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Integer(i) => format!("integer {i}"),
        ValueRef::Real(f) => format!("real {f}"),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let cut: String = s.chars().take(60).collect();
            format!("text '{cut}'{}", if cut.len() < s.len() { "…" } else { "" })
        }
        ValueRef::Blob(b) => format!("blob of {} bytes", b.len()),
    };
    format!("{shown} does not fit {ty}")
}

fn looks_numeric(t: &str) -> bool {
    let t = t.trim().trim_start_matches(['-', '+']);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn significant_digits(text: &str) -> usize {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if text.contains('.') {
        trimmed
    } else {
        trimmed.trim_end_matches('0')
    };
    trimmed.len().max(1)
}

/// A REAL, refusing NaN: SQLite stores NaN as NULL (so a `NOT NULL` column fails with a bare
/// constraint error, and a nullable one silently loses the value). Infinities are kept.
fn real(v: f64) -> Result<ToSqlOutput<'static>, String> {
    if v.is_nan() {
        return Err(
            "NaN cannot be stored: SQLite stores NaN as NULL. Filter the row out or \
             turn the value into NULL or text with a `transform:` before loading"
                .into(),
        );
    }
    Ok(ToSqlOutput::Owned(Value::Real(v)))
}

/// The SQLite value for row `i` of `array`, or why it cannot be stored exactly.
pub fn sql_value(array: &dyn Array, i: usize) -> Result<ToSqlOutput<'_>, String> {
    use ToSqlOutput::{Borrowed, Owned};
    if array.is_null(i) {
        return Ok(Borrowed(ValueRef::Null));
    }
    let owned_text = |s: Option<String>| {
        s.map(|s| Owned(Value::Text(s)))
            .ok_or_else(|| "value is out of the representable date range".to_string())
    };
    Ok(match array.data_type() {
        // A Null-typed column has no validity buffer: `is_null` above says false.
        DataType::Null => Borrowed(ValueRef::Null),
        DataType::Boolean => Borrowed(ValueRef::Integer(array.as_boolean().value(i) as i64)),
        DataType::Int8 => Borrowed(ValueRef::Integer(
            array.as_primitive::<Int8Type>().value(i) as i64
        )),
        DataType::Int16 => Borrowed(ValueRef::Integer(
            array.as_primitive::<Int16Type>().value(i) as i64,
        )),
        DataType::Int32 => Borrowed(ValueRef::Integer(
            array.as_primitive::<Int32Type>().value(i) as i64,
        )),
        DataType::Int64 => Borrowed(ValueRef::Integer(
            array.as_primitive::<Int64Type>().value(i),
        )),
        DataType::UInt8 => Borrowed(ValueRef::Integer(
            array.as_primitive::<UInt8Type>().value(i) as i64,
        )),
        DataType::UInt16 => Borrowed(ValueRef::Integer(
            array.as_primitive::<UInt16Type>().value(i) as i64,
        )),
        DataType::UInt32 => Borrowed(ValueRef::Integer(
            array.as_primitive::<UInt32Type>().value(i) as i64,
        )),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(i);
            Borrowed(ValueRef::Integer(i64::try_from(v).map_err(|_| {
                format!("{v} does not fit SQLite's 64-bit signed INTEGER")
            })?))
        }
        DataType::Float16 => real(array.as_primitive::<Float16Type>().value(i).to_f64())?,
        DataType::Float32 => real(array.as_primitive::<Float32Type>().value(i) as f64)?,
        DataType::Float64 => real(array.as_primitive::<Float64Type>().value(i))?,
        DataType::Utf8 => Borrowed(ValueRef::Text(array.as_string::<i32>().value(i).as_bytes())),
        DataType::LargeUtf8 => {
            Borrowed(ValueRef::Text(array.as_string::<i64>().value(i).as_bytes()))
        }
        DataType::Utf8View => Borrowed(ValueRef::Text(array.as_string_view().value(i).as_bytes())),
        DataType::Binary => Borrowed(ValueRef::Blob(array.as_binary::<i32>().value(i))),
        DataType::LargeBinary => Borrowed(ValueRef::Blob(array.as_binary::<i64>().value(i))),
        DataType::BinaryView => Borrowed(ValueRef::Blob(array.as_binary_view().value(i))),
        DataType::FixedSizeBinary(_) => {
            Borrowed(ValueRef::Blob(array.as_fixed_size_binary().value(i)))
        }
        DataType::Date32 => owned_text(format_date(array.as_primitive::<Date32Type>().value(i)))?,
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(i);
            owned_text(format_date(ms.div_euclid(86_400_000) as i32))?
        }
        DataType::Time32(TimeUnit::Second) => Owned(Value::Text(format_time_micros(
            array.as_primitive::<Time32SecondType>().value(i) as i64 * 1_000_000,
        ))),
        DataType::Time32(_) => Owned(Value::Text(format_time_micros(
            array.as_primitive::<Time32MillisecondType>().value(i) as i64 * 1_000,
        ))),
        DataType::Time64(TimeUnit::Microsecond) => Owned(Value::Text(format_time_micros(
            array.as_primitive::<Time64MicrosecondType>().value(i),
        ))),
        DataType::Time64(_) => {
            let ns = array.as_primitive::<Time64NanosecondType>().value(i);
            if ns % 1000 != 0 {
                return Err(format!("time {ns}ns has sub-microsecond digits"));
            }
            Owned(Value::Text(format_time_micros(ns / 1000)))
        }
        DataType::Timestamp(unit, tz) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            let us = match unit {
                TimeUnit::Second => raw.checked_mul(1_000_000),
                TimeUnit::Millisecond => raw.checked_mul(1_000),
                TimeUnit::Microsecond => Some(raw),
                TimeUnit::Nanosecond if raw % 1000 == 0 => Some(raw / 1000),
                TimeUnit::Nanosecond => {
                    return Err(format!(
                        "timestamp {} has digits below the microsecond, which etl's SQLite text keeps no room for",
                        crate::values::timestamp_nanos_text(raw)
                    ))
                }
            };
            let text = us.and_then(|us| format_timestamp_micros(us, tz.is_some()));
            // Years past 9999 (or before 1) are written with a sign (`+14645-06-30 ...`), which
            // SQLite's date and time functions do not read.
            if let Some(t) = text.as_deref().filter(|t| t.starts_with(['+', '-'])) {
                return Err(format!(
                    "timestamp {t} is outside years 1-9999, which SQLite's date and time functions take"
                ));
            }
            owned_text(text)?
        }
        DataType::Decimal32(_, s) => Owned(Value::Text(format_decimal(
            array.as_primitive::<Decimal32Type>().value(i) as i128,
            *s,
        ))),
        DataType::Decimal64(_, s) => Owned(Value::Text(format_decimal(
            array.as_primitive::<Decimal64Type>().value(i) as i128,
            *s,
        ))),
        DataType::Decimal128(_, s) => Owned(Value::Text(format_decimal(
            array.as_primitive::<Decimal128Type>().value(i),
            *s,
        ))),
        other => return Err(crate::connectors::sql::no_column_type("SQLite", other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_arrow() {
        assert_eq!(arrow_type("integer").unwrap(), DataType::Int64);
        assert_eq!(arrow_type("UNSIGNED BIG INT").unwrap(), DataType::Int64);
        assert_eq!(arrow_type("varchar(20)").unwrap(), DataType::Utf8);
        assert_eq!(
            arrow_type("DECIMAL(12, 2)").unwrap(),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(arrow_type("numeric").unwrap(), DataType::Decimal128(38, 10));
        assert_eq!(arrow_type("boolean").unwrap(), DataType::Boolean);
        assert_eq!(
            arrow_type("timestamp with time zone").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(arrow_type("double precision").unwrap(), DataType::Float64);
        assert!(arrow_type("MONEY").unwrap_err().contains("CAST"));
        assert!(arrow_type("DECIMAL(40,2)").is_err());
        assert_eq!(
            arrow_type("DECIMAL_TEXT(20,2)").unwrap(),
            DataType::Decimal128(20, 2)
        );
        assert_eq!(
            declared_type(&DataType::Decimal128(20, 2)).unwrap(),
            "DECIMAL_TEXT(20,2)"
        );
        assert_eq!(
            declared_type(&DataType::Decimal128(12, 2)).unwrap(),
            "DECIMAL(12,2)"
        );
    }

    #[test]
    fn real_with_too_many_digits_is_refused() {
        let mut b = ColumnBuilder::new(&DataType::Decimal128(20, 2), 1).unwrap();
        assert!(append(&mut b, ValueRef::Real(12.5)).is_ok());
        assert!(append(&mut b, ValueRef::Real(12345678901234567.0))
            .unwrap_err()
            .contains("significant digits"));
    }

    #[test]
    fn values_that_do_not_fit_are_refused() {
        let mut b = ColumnBuilder::new(&DataType::Int64, 1).unwrap();
        assert!(append(&mut b, ValueRef::Text(b"abc"))
            .unwrap_err()
            .contains("text 'abc' does not fit INTEGER"));
        let mut b = ColumnBuilder::new(&DataType::Boolean, 1).unwrap();
        assert!(append(&mut b, ValueRef::Integer(2)).is_err());
        let mut b = ColumnBuilder::new(&DataType::Date32, 1).unwrap();
        assert!(append(&mut b, ValueRef::Text(b"2024-02-30")).is_err());
    }
}
