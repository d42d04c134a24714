//! Arrow data types written in a spec — a file stream's `schema:` and a transform's `cast:`:
//! `int64`, `string`, `decimal(12,2)`, `timestamp[us, UTC]`, `date`, ... One parser for every
//! place a spec names a type.

use arrow::datatypes::{DataType, Field, TimeUnit};
use std::sync::Arc;

/// The type names accepted, for error messages.
pub const KNOWN: &str = "bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, decimal(p,s), string, binary, date, time, timestamp, timestamptz, timestamp[unit], timestamp[unit, tz]";

/// The nested type forms accepted (file `schema:` only: a transform cannot cast to them).
pub const NESTED: &str = "list<type>, struct<name: type, ...>, map<key type, value type>";

/// Parses a type name (case-insensitive, spaces ignored; common SQL spellings accepted), or a
/// nested type of them: `list<int64>`, `struct<a: string, b: list<float64>>`,
/// `map<int64, string>` (what etl writes to JSON for lists, structs and maps).
pub fn parse(text: &str) -> Result<DataType, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    for (prefix, kind) in [("list<", 0), ("struct<", 1), ("map<", 2)] {
        if !(lower.starts_with(prefix) && lower.ends_with('>')) {
            continue;
        }
        let inner = &trimmed[prefix.len()..trimmed.len() - 1];
        let parts = split_top(inner);
        let bad = || {
            format!("type `{text}`: expected list<type>, struct<name: type, ...> or map<key type, value type>")
        };
        return Ok(match kind {
            0 if parts.len() == 1 => DataType::new_list(parse(parts[0])?, true),
            1 if !parts[0].trim().is_empty() => {
                let mut fields = Vec::with_capacity(parts.len());
                for p in parts {
                    let (name, ty) = p.split_once(':').ok_or_else(bad)?;
                    fields.push(Field::new(name.trim(), parse(ty)?, true));
                }
                DataType::Struct(fields.into())
            }
            2 if parts.len() == 2 => {
                let entries = DataType::Struct(
                    vec![
                        Field::new("key", parse(parts[0])?, false),
                        Field::new("value", parse(parts[1])?, true),
                    ]
                    .into(),
                );
                DataType::Map(Arc::new(Field::new("entries", entries, false)), false)
            }
            _ => return Err(bad()),
        });
    }
    scalar(text)
}

/// `text` split at the commas outside `<...>`, `(...)` and `[...]`.
fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A type name that is not nested.
fn scalar(text: &str) -> Result<DataType, String> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let bad = || format!("unknown type `{text}` (known: {KNOWN}; nested: {NESTED})");
    Ok(match t.as_str() {
        "bool" | "boolean" => DataType::Boolean,
        "int8" | "tinyint" => DataType::Int8,
        "int16" | "smallint" => DataType::Int16,
        "int32" | "int" | "integer" => DataType::Int32,
        "int64" | "bigint" | "long" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        // As in PostgreSQL: `real` is 4 bytes, `float` and `double` are 8.
        "float32" | "real" => DataType::Float32,
        "float64" | "float" | "double" => DataType::Float64,
        "string" | "utf8" | "text" | "varchar" => DataType::Utf8,
        "binary" | "bytes" | "blob" | "bytea" => DataType::Binary,
        "date" | "date32" => DataType::Date32,
        "time" | "time64[us]" => DataType::Time64(TimeUnit::Microsecond),
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => {
            if let Some(args) = t
                .strip_prefix("decimal(")
                .or_else(|| t.strip_prefix("numeric("))
                .and_then(|r| r.strip_suffix(')'))
            {
                let (p, s) = args.split_once(',').unwrap_or((args, "0"));
                let p: u8 = p.parse().map_err(|_| bad())?;
                let s: i8 = s.parse().map_err(|_| bad())?;
                if p == 0 || p > 76 || s < 0 || s as u8 > p {
                    return Err(format!(
                        "type `{text}`: precision must be 1 to 76 and scale 0 to the precision"
                    ));
                }
                return Ok(if p <= 38 {
                    DataType::Decimal128(p, s)
                } else {
                    DataType::Decimal256(p, s)
                });
            }
            if let Some(args) = t
                .strip_prefix("timestamp[")
                .and_then(|r| r.strip_suffix(']'))
            {
                // Keep the zone as written (case matters: `Europe/Berlin`).
                let raw: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                let raw_args = &raw["timestamp[".len()..raw.len() - 1];
                let (unit, tz) = match args.split_once(',') {
                    Some((u, _)) => (u, raw_args.split_once(',').map(|(_, z)| z)),
                    None => (args, None),
                };
                let unit = match unit {
                    "s" => TimeUnit::Second,
                    "ms" => TimeUnit::Millisecond,
                    "us" | "µs" => TimeUnit::Microsecond,
                    "ns" => TimeUnit::Nanosecond,
                    _ => return Err(format!("type `{text}`: the unit must be s, ms, us or ns")),
                };
                if let Some(z) = tz {
                    if z.is_empty() || z.parse::<arrow::array::timezone::Tz>().is_err() {
                        return Err(format!("type `{text}`: unknown time zone `{z}`"));
                    }
                }
                return Ok(DataType::Timestamp(unit, tz.map(Into::into)));
            }
            return Err(bad());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parameters() {
        assert_eq!(parse("Int64").unwrap(), DataType::Int64);
        assert_eq!(
            parse("decimal(12, 2)").unwrap(),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(parse("decimal(50,5)").unwrap(), DataType::Decimal256(50, 5));
        assert_eq!(parse("numeric(7)").unwrap(), DataType::Decimal128(7, 0));
        assert_eq!(
            parse("timestamp[us, UTC]").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            parse("timestamp[ms, Europe/Berlin]").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Berlin".into()))
        );
        assert_eq!(
            parse("timestamp").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(parse("decimal(40)").is_ok());
        assert!(parse("decimal(2,3)").unwrap_err().contains("scale"));
        assert!(parse("timestamp[us, Mars/Base]")
            .unwrap_err()
            .contains("time zone"));
        assert!(parse("varchar2").unwrap_err().contains("known: bool,"));
        assert_eq!(
            parse("list<int64>").unwrap(),
            DataType::new_list(DataType::Int64, true)
        );
        assert_eq!(
            parse("struct<a: string, b: list<decimal(12, 2)>>").unwrap(),
            DataType::Struct(
                vec![
                    Field::new("a", DataType::Utf8, true),
                    Field::new(
                        "b",
                        DataType::new_list(DataType::Decimal128(12, 2), true),
                        true
                    ),
                ]
                .into()
            )
        );
        assert!(matches!(
            parse("MAP<int64, string>").unwrap(),
            DataType::Map(..)
        ));
        assert!(parse("map<int64>").unwrap_err().contains("map<key type"));
        assert!(parse("struct<a>").unwrap_err().contains("struct<name"));
    }
}
