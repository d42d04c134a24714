//! Type names of `cast:` (`decimal(18,2)`, `timestamp[us, UTC]`, `string`, ...), the Arrow
//! type each one means, and the polars type that computes it.

use arrow::datatypes::{DataType, TimeUnit, DECIMAL128_MAX_PRECISION};
use polars::prelude::{DataType as PlType, TimeUnit as PlUnit, TimeZone};

/// The type names `cast:` accepts, for error messages.
pub const KNOWN: &str = "bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, decimal(p,s), string, binary, date, time, timestamp, timestamp[unit], timestamp[unit, tz]";

/// Parses a `cast:` type name into the exact Arrow type of the output column.
pub fn parse(text: &str) -> Result<DataType, String> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let unknown = || format!("unknown type `{text}` (known: {KNOWN})");
    Ok(match t.as_str() {
        "bool" | "boolean" => DataType::Boolean,
        "int8" | "tinyint" => DataType::Int8,
        "int16" | "smallint" => DataType::Int16,
        "int32" | "int" | "integer" => DataType::Int32,
        "int64" | "bigint" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" | "real" => DataType::Float32,
        "float64" | "float" | "double" => DataType::Float64,
        "string" | "text" | "utf8" | "varchar" => DataType::Utf8,
        "binary" | "bytea" | "blob" => DataType::Binary,
        "date" => DataType::Date32,
        "time" => DataType::Time64(TimeUnit::Microsecond),
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => {
            if let Some(args) = inside(&t, "decimal(", ')').or_else(|| inside(&t, "numeric(", ')'))
            {
                let mut parts = args.split(',');
                let num = |s: Option<&str>| s.map(|s| s.parse::<u8>().map_err(|_| unknown()));
                let p = num(parts.next()).unwrap_or_else(|| Err(unknown()))?;
                let s = num(parts.next()).unwrap_or(Ok(0))?;
                if parts.next().is_some() {
                    return Err(unknown());
                }
                if !(1..=DECIMAL128_MAX_PRECISION).contains(&p) || s > p {
                    return Err(format!(
                        "`{text}`: precision must be from 1 to {DECIMAL128_MAX_PRECISION} and the scale at most the precision"
                    ));
                }
                DataType::Decimal128(p, s as i8)
            } else if let Some(args) = inside(&t, "timestamp[", ']') {
                // Keep the time zone's spelling (`Europe/Paris`): take it from the original.
                let mut parts = args.splitn(2, ',');
                let unit = match parts.next() {
                    Some("s") => TimeUnit::Second,
                    Some("ms") => TimeUnit::Millisecond,
                    Some("us") => TimeUnit::Microsecond,
                    Some("ns") => TimeUnit::Nanosecond,
                    _ => return Err(format!("`{text}`: the unit must be s, ms, us or ns")),
                };
                let tz = match parts.next() {
                    None => None,
                    Some(_) => {
                        let raw = text.split_once(',').map(|(_, tz)| tz).unwrap_or("");
                        let tz = raw.trim().trim_end_matches(']').trim();
                        if tz.is_empty() {
                            return Err(unknown());
                        }
                        Some(tz.into())
                    }
                };
                DataType::Timestamp(unit, tz)
            } else {
                return Err(unknown());
            }
        }
    })
}

fn inside<'a>(t: &'a str, prefix: &str, close: char) -> Option<&'a str> {
    t.strip_prefix(prefix)?.strip_suffix(close)
}

/// The polars type that computes `arrow` (the output is then exactly `arrow`).
pub fn to_polars(arrow: &DataType) -> Result<PlType, String> {
    let unit = |u: &TimeUnit| match u {
        // polars has no seconds unit: milliseconds hold them exactly.
        TimeUnit::Second | TimeUnit::Millisecond => PlUnit::Milliseconds,
        TimeUnit::Microsecond => PlUnit::Microseconds,
        TimeUnit::Nanosecond => PlUnit::Nanoseconds,
    };
    Ok(match arrow {
        DataType::Boolean => PlType::Boolean,
        DataType::Int8 => PlType::Int8,
        DataType::Int16 => PlType::Int16,
        DataType::Int32 => PlType::Int32,
        DataType::Int64 => PlType::Int64,
        DataType::UInt8 => PlType::UInt8,
        DataType::UInt16 => PlType::UInt16,
        DataType::UInt32 => PlType::UInt32,
        DataType::UInt64 => PlType::UInt64,
        DataType::Float32 => PlType::Float32,
        DataType::Float64 => PlType::Float64,
        DataType::Utf8 => PlType::String,
        DataType::Binary => PlType::Binary,
        DataType::Date32 => PlType::Date,
        DataType::Time64(_) => PlType::Time,
        DataType::Decimal128(p, s) => PlType::Decimal(*p as usize, *s as usize),
        DataType::Timestamp(u, tz) => PlType::Datetime(
            unit(u),
            match tz {
                None => None,
                Some(tz) => Some(
                    TimeZone::opt_try_new(Some(tz.as_ref()))
                        .map_err(|e| format!("time zone `{tz}`: {e}"))?
                        .ok_or_else(|| format!("time zone `{tz}` is empty"))?,
                ),
            },
        ),
        other => return Err(format!("no polars type for {other}")),
    })
}

/// The Arrow type a computed column is written as when no `cast` says otherwise: polars'
/// own type, with its view and large string/binary layouts turned into the plain ones the
/// connectors produce.
pub fn natural(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::LargeList(f) | DataType::List(f) | DataType::ListView(f) => DataType::List(
            std::sync::Arc::new(f.as_ref().clone().with_data_type(natural(f.data_type()))),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_names() {
        assert_eq!(parse("decimal(18,2)").unwrap(), DataType::Decimal128(18, 2));
        assert_eq!(parse("DECIMAL( 10 )").unwrap(), DataType::Decimal128(10, 0));
        assert_eq!(
            parse("timestamp[us, UTC]").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            parse("timestamp[ms, Europe/Paris]").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Paris".into()))
        );
        assert_eq!(
            parse("timestamp[ns]").unwrap(),
            DataType::Timestamp(TimeUnit::Nanosecond, None)
        );
        assert_eq!(parse("string").unwrap(), DataType::Utf8);
        assert_eq!(parse("Int64").unwrap(), DataType::Int64);
        for bad in [
            "decimal(40,2)",
            "decimal(5,6)",
            "decimal(x)",
            "timestamp[h]",
            "money",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("money").unwrap_err().contains("decimal(p,s)"));
    }

    #[test]
    fn every_cast_type_has_a_polars_type() {
        let names = KNOWN
            .replace("(p,s)", "(10,2)")
            .replace("[unit]", "[ms]")
            .replace("[unit, tz]", "[us; UTC]");
        for name in names.split(", ") {
            let t = parse(&name.replace(';', ",")).unwrap();
            to_polars(&t).unwrap();
        }
    }
}
