//! Typed cursor values for incremental streams: the largest value of `cursor_field` seen in the
//! batches a run moved, saved in the state in a canonical text form.

use crate::error::{Error, Result};
use crate::values::{
    format_date, format_decimal, format_timestamp_micros, parse_date, parse_decimal,
    parse_timestamp, MICROS_PER_DAY,
};
use arrow::array::{Array, AsArray};
use arrow::compute::kernels::aggregate;
use arrow::datatypes::*;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A cursor value. Dates and timestamps are kept as canonical text (`YYYY-MM-DD`,
/// `YYYY-MM-DD HH:MM:SS.ffffff[+00:00]`), decimals as exact text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum CursorValue {
    Int(i64),
    Float(f64),
    Decimal(String),
    Date(String),
    Timestamp(String),
    #[serde(rename = "timestamptz")]
    TimestampTz(String),
    Text(String),
}

impl CursorValue {
    /// Orders two values of the same kind; `None` when the kinds differ.
    pub fn compare(&self, other: &CursorValue) -> Option<Ordering> {
        use CursorValue::*;
        match (self, other) {
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Float(a), Float(b)) => a.partial_cmp(b),
            (Decimal(a), Decimal(b)) => {
                let scale = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len()) as i8;
                let s = scale(a).max(scale(b));
                Some(
                    parse_decimal(a, 38, s)
                        .ok()?
                        .cmp(&parse_decimal(b, 38, s).ok()?),
                )
            }
            (Date(a), Date(b))
            | (Timestamp(a), Timestamp(b))
            | (TimestampTz(a), TimestampTz(b))
            | (Text(a), Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// The larger of two values (the second wins when they cannot be compared).
    pub fn max(self, other: CursorValue) -> CursorValue {
        match self.compare(&other) {
            Some(Ordering::Greater) => self,
            _ => other,
        }
    }

    /// This value moved back by `lookback` (for late-arriving rows).
    pub fn minus(&self, lookback: &Lookback) -> Result<CursorValue> {
        use CursorValue::*;
        let bad = || {
            Error::spec(format!(
                "lookback {lookback:?} does not apply to a cursor of type {}",
                self.kind()
            ))
        };
        Ok(match (self, lookback) {
            (Int(v), Lookback::Number(n)) => {
                Int(v.saturating_sub(n.parse::<i64>().map_err(|_| bad())?))
            }
            (Float(v), Lookback::Number(n)) => Float(v - n.parse::<f64>().map_err(|_| bad())?),
            (Decimal(v), Lookback::Number(n)) => {
                let scale = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len()) as i8;
                let s = scale(v).max(scale(n));
                let a = parse_decimal(v, 38, s).map_err(Error::run)?;
                let b = parse_decimal(n, 38, s).map_err(|_| bad())?;
                Decimal(format_decimal(a - b, s))
            }
            (Date(v), Lookback::Micros(us)) => {
                let days = parse_date(v).ok_or_else(bad)? as i64
                    - (us + MICROS_PER_DAY - 1) / MICROS_PER_DAY;
                Date(format_date(days as i32).ok_or_else(bad)?)
            }
            (Timestamp(v), Lookback::Micros(us)) | (TimestampTz(v), Lookback::Micros(us)) => {
                let t = parse_timestamp(v).map_err(Error::run)?.ok_or_else(bad)?;
                let text = format_timestamp_micros(t - us, matches!(self, TimestampTz(_)))
                    .ok_or_else(bad)?;
                if matches!(self, TimestampTz(_)) {
                    TimestampTz(text)
                } else {
                    Timestamp(text)
                }
            }
            _ => return Err(bad()),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CursorValue::Int(_) => "integer",
            CursorValue::Float(_) => "float",
            CursorValue::Decimal(_) => "decimal",
            CursorValue::Date(_) => "date",
            CursorValue::Timestamp(_) => "timestamp",
            CursorValue::TimestampTz(_) => "timestamptz",
            CursorValue::Text(_) => "text",
        }
    }

    /// The value as text, for SQL parameters and messages.
    pub fn text(&self) -> String {
        match self {
            CursorValue::Int(v) => v.to_string(),
            CursorValue::Float(v) => v.to_string(),
            CursorValue::Decimal(s)
            | CursorValue::Date(s)
            | CursorValue::Timestamp(s)
            | CursorValue::TimestampTz(s)
            | CursorValue::Text(s) => s.clone(),
        }
    }
}

/// How far back an incremental read starts before the saved cursor: a duration (`2h`, `30m`,
/// `1d`, `45s`) for dates and timestamps, or a number for numeric cursors.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookback {
    Micros(i64),
    Number(String),
}

/// A duration written as a whole number with a unit: `45s`, `30m`, `2h`, `1d`, in microseconds.
/// `None` when the text is not such a duration; `Some(Err)` when it overflows.
pub fn parse_duration_micros(s: &str) -> Option<std::result::Result<i64, String>> {
    let t = s.trim();
    let unit = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let digits = &t[..t.len() - unit.len()];
    let per = match unit {
        "s" => 1_000_000i64,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => MICROS_PER_DAY,
        _ => return None,
    };
    let n = digits.parse::<i64>().ok()?;
    Some(
        n.checked_mul(per)
            .ok_or_else(|| format!("`{t}` is too large")),
    )
}

impl std::str::FromStr for Lookback {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        match parse_duration_micros(t) {
            Some(micros) => Ok(Lookback::Micros(micros?)),
            None if parse_decimal(t, 38, 18).is_ok() => Ok(Lookback::Number(t.to_string())),
            None => Err(format!(
                "lookback `{s}`: expected a duration such as 2h, 30m, 1d, 45s, or a number"
            )),
        }
    }
}

impl crate::spec::env::Kind for Lookback {
    const KIND: &'static str = "a duration such as 2h, 30m, 1d, or a number";
}

/// The largest non-NULL value of one column of a batch.
pub fn column_max(array: &dyn Array) -> Result<Option<CursorValue>> {
    if array.null_count() == array.len() {
        return Ok(None);
    }
    let unsupported = || {
        Error::spec(format!("a cursor_field of type {} is not supported (use an integer, decimal, date, timestamp or text column)", array.data_type()))
    };
    Ok(match array.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let a = arrow::compute::cast(array, &DataType::Int64)?;
            aggregate::max(a.as_primitive::<Int64Type>()).map(CursorValue::Int)
        }
        DataType::UInt64 => {
            let m = aggregate::max(array.as_primitive::<UInt64Type>());
            match m {
                Some(v) => Some(CursorValue::Int(i64::try_from(v).map_err(|_| {
                    Error::run(format!("cursor value {v} exceeds a 64-bit signed integer"))
                })?)),
                None => None,
            }
        }
        DataType::Float32 | DataType::Float64 => {
            let a = arrow::compute::cast(array, &DataType::Float64)?;
            aggregate::max(a.as_primitive::<Float64Type>()).map(CursorValue::Float)
        }
        DataType::Decimal128(_, s) => aggregate::max(array.as_primitive::<Decimal128Type>())
            .map(|v| CursorValue::Decimal(format_decimal(v, *s))),
        DataType::Date32 => match aggregate::max(array.as_primitive::<Date32Type>()) {
            Some(d) => Some(CursorValue::Date(
                format_date(d).ok_or_else(|| Error::run("cursor date out of range"))?,
            )),
            None => None,
        },
        DataType::Timestamp(_, tz) => {
            let a = arrow::compute::cast(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            )?;
            match aggregate::max(a.as_primitive::<TimestampMicrosecondType>()) {
                Some(us) => {
                    let text = format_timestamp_micros(us, tz.is_some())
                        .ok_or_else(|| Error::run("cursor timestamp out of range"))?;
                    Some(if tz.is_some() {
                        CursorValue::TimestampTz(text)
                    } else {
                        CursorValue::Timestamp(text)
                    })
                }
                None => None,
            }
        }
        DataType::Utf8 => aggregate::max_string(array.as_string::<i32>())
            .map(|s| CursorValue::Text(s.to_string())),
        DataType::LargeUtf8 => aggregate::max_string(array.as_string::<i64>())
            .map(|s| CursorValue::Text(s.to_string())),
        _ => return Err(unsupported()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray, TimestampMicrosecondArray};

    #[test]
    fn column_max_by_type() {
        let a = Int32Array::from(vec![Some(3), None, Some(9)]);
        assert_eq!(column_max(&a).unwrap(), Some(CursorValue::Int(9)));
        let t = TimestampMicrosecondArray::from(vec![0, 1_500_000]).with_timezone("UTC");
        assert_eq!(
            column_max(&t).unwrap(),
            Some(CursorValue::TimestampTz(
                "1970-01-01 00:00:01.500000+00:00".into()
            ))
        );
        let s = StringArray::from(vec![None::<&str>, None]);
        assert_eq!(column_max(&s).unwrap(), None);
    }

    #[test]
    fn lookback_moves_cursors_back() {
        let lb: Lookback = "2h".parse().unwrap();
        let ts = CursorValue::Timestamp("2024-03-01 01:00:00.000000".into());
        assert_eq!(
            ts.minus(&lb).unwrap(),
            CursorValue::Timestamp("2024-02-29 23:00:00.000000".into())
        );
        assert_eq!(
            CursorValue::Int(100).minus(&"10".parse().unwrap()).unwrap(),
            CursorValue::Int(90)
        );
        assert_eq!(
            CursorValue::Decimal("1.50".into())
                .minus(&"0.5".parse().unwrap())
                .unwrap(),
            CursorValue::Decimal("1.00".into())
        );
        assert_eq!(
            CursorValue::Date("2024-03-01".into())
                .minus(&"1d".parse().unwrap())
                .unwrap(),
            CursorValue::Date("2024-02-29".into())
        );
        assert!(CursorValue::Text("x".into()).minus(&lb).is_err());
        assert!("2 weeks".parse::<Lookback>().is_err());
    }

    #[test]
    fn max_and_serialisation() {
        let a = CursorValue::Decimal("9.5".into());
        let b = CursorValue::Decimal("10.25".into());
        assert_eq!(a.clone().max(b.clone()), b);
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"type":"decimal","value":"10.25"}"#
        );
    }
}
