//! The value types of the Source/Destination contract, shared by the connectors, the spec and
//! the runner: cursor values and lookbacks, durations and timeouts, the batch stream and its
//! channel capacity, and the field metadata every connector reads the same way.
//!
//! This is a leaf: it imports only the error type and the canonical value texts, never a
//! connector, the spec or the runner.

use crate::error::{Error, Result};
use crate::values::{
    format_date, format_decimal, format_timestamp_micros, parse_date, parse_decimal,
    parse_timestamp, MICROS_PER_DAY,
};
use arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Batches flowing from a source to a destination.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Batches buffered between a source and a destination (and between a reader task and its
/// stream). Small on purpose: memory must not grow with table size, only with batch size.
pub const CHANNEL_CAPACITY: usize = 2;

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

impl FromStr for Lookback {
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

/// A stream's time budget (`defaults.timeout`), written `45s`, `30m`, `2h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub duration: std::time::Duration,
}

impl FromStr for Timeout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match parse_duration_micros(s) {
            Some(Ok(micros)) if micros > 0 => Ok(Timeout {
                duration: std::time::Duration::from_micros(micros as u64),
            }),
            Some(Err(e)) => Err(format!("timeout {e}")),
            _ => Err(format!(
                "timeout `{s}`: expected a duration such as 45s, 30m, 2h or 1d (more than zero)"
            )),
        }
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let s = self.duration.as_secs();
        match s {
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3_600) => write!(f, "{}h", s / 3_600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

/// One change an incremental write made (or, for `discarded`, declined to make) to the columns
/// of an existing destination: logged once and listed per stream in the run summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaChange {
    pub column: String,
    pub change: SchemaChangeKind,
    /// The column's type before the change (declared in the destination), if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The column's type after the change (declared in the destination).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What happened to one column (see [`SchemaChange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaChangeKind {
    /// A new source column, added to the destination (nullable).
    Added,
    /// The destination column's type was widened to hold the source's.
    Widened,
    /// The destination column now accepts NULL (the source no longer has it, or sends NULLs).
    MadeNullable,
    /// A new source column left out of the load (`schema_changes: discard_new_columns`).
    Discarded,
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let column = &self.column;
        let ty = |t: &Option<String>| t.clone().unwrap_or_else(|| "?".into());
        match self.change {
            SchemaChangeKind::Added => write!(f, "added column `{column}` {}", ty(&self.to)),
            SchemaChangeKind::Widened => write!(
                f,
                "widened column `{column}` from {} to {}",
                ty(&self.from),
                ty(&self.to)
            ),
            SchemaChangeKind::MadeNullable => write!(f, "column `{column}` now accepts NULL"),
            SchemaChangeKind::Discarded => write!(f, "left out new column `{column}`"),
        }
    }
}

/// Arrow field metadata that means the same to every connector. A destination learns a
/// column's origin only through these keys, never through another connector's module.
pub mod field_meta {
    use arrow::datatypes::{DataType, Field};
    use std::collections::HashMap;

    /// Arrow's canonical extension-type key.
    pub const EXTENSION_NAME: &str = "ARROW:extension:name";
    /// Arrow's canonical UUID extension: a FixedSizeBinary(16) holding a UUID's 16 bytes.
    pub const UUID: &str = "arrow.uuid";

    /// The key holding a column's declared type in the database it was read from:
    /// `<connector_type>.type` (`varchar(20)`, `jsonb`, `money`, ...). A destination of the same
    /// database re-creates that type; every other destination ignores it.
    pub const POSTGRESQL_TYPE: &str = "postgresql.type";
    pub const MYSQL_TYPE: &str = "mysql.type";
    pub const MSSQL_TYPE: &str = "mssql.type";
    /// The key MySQL sources wrote before `mysql.type`; files that carry it still load the same.
    pub const MYSQL_TYPE_BEFORE: &str = "mysql.column_type";

    /// The declared source type under `key` (or under one of `older` keys), if any.
    pub fn source_type<'a>(field: &'a Field, key: &str, older: &[&str]) -> Option<&'a str> {
        let meta = field.metadata();
        std::iter::once(key)
            .chain(older.iter().copied())
            .find_map(|k| meta.get(k))
            .map(String::as_str)
    }

    /// Whether `field` holds UUIDs: FixedSizeBinary(16) with the `arrow.uuid` extension.
    pub fn is_uuid(field: &Field) -> bool {
        matches!(field.data_type(), DataType::FixedSizeBinary(16))
            && field.metadata().get(EXTENSION_NAME).map(String::as_str) == Some(UUID)
    }

    /// Tags field metadata as the `arrow.uuid` extension.
    pub fn tag_uuid(meta: &mut HashMap<String, String>) {
        meta.insert(EXTENSION_NAME.to_string(), UUID.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn timeouts_parse_and_print_in_their_largest_unit() {
        let t: Timeout = "90m".parse().unwrap();
        assert_eq!(t.duration.as_secs(), 5400);
        assert_eq!(t.to_string(), "90m");
        assert_eq!("2h".parse::<Timeout>().unwrap().to_string(), "2h");
        assert!("0s".parse::<Timeout>().is_err());
        assert!("soon".parse::<Timeout>().is_err());
    }

    #[test]
    fn uuid_is_the_arrow_extension() {
        use arrow::datatypes::{DataType, Field};
        let mut meta = std::collections::HashMap::new();
        field_meta::tag_uuid(&mut meta);
        let f = Field::new("u", DataType::FixedSizeBinary(16), true).with_metadata(meta.clone());
        assert!(field_meta::is_uuid(&f));
        assert!(!field_meta::is_uuid(
            &Field::new("u", DataType::FixedSizeBinary(8), true).with_metadata(meta)
        ));
        let old =
            Field::new("t", DataType::Utf8, true).with_metadata(std::collections::HashMap::from([
                (
                    field_meta::MYSQL_TYPE_BEFORE.to_string(),
                    "char(3)".to_string(),
                ),
            ]));
        assert_eq!(
            field_meta::source_type(
                &old,
                field_meta::MYSQL_TYPE,
                &[field_meta::MYSQL_TYPE_BEFORE]
            ),
            Some("char(3)")
        );
    }
}
