//! The runner's side of incremental cursors: the largest value of `cursor_field` seen in the
//! batches a run moved (the value type itself, [`CursorValue`], is part of the contract).

use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::values::{format_date, format_decimal, format_timestamp_micros};
use arrow::array::{Array, AsArray};
use arrow::compute::kernels::aggregate;
use arrow::datatypes::*;

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
}
