//! Type names of `cast:` (`decimal(18,2)`, `timestamp[us, UTC]`, `string`, ...), the Arrow
//! type each one means, and the polars type that computes it.

use arrow::datatypes::{DataType, TimeUnit};
use polars::prelude::{DataType as PlType, TimeUnit as PlUnit, TimeZone};

// `cast:` names types with the spec's one type parser (also used by file streams' `schema:`).
pub use crate::spec::datatype::parse;

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
    use crate::spec::datatype::KNOWN;

    #[test]
    fn cast_names_polars_cannot_compute_are_refused() {
        // The spec's parser accepts decimal(40,2) (Decimal256) for file schemas; polars
        // computes decimals up to 38 digits only, so a cast to it fails to plan.
        let wide = parse("decimal(40,2)").unwrap();
        assert!(to_polars(&wide).unwrap_err().contains("no polars type"));
        for bad in ["decimal(5,6)", "decimal(x)", "timestamp[h]", "money", ""] {
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
