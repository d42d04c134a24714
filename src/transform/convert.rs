//! Arrow (arrow-rs) <-> polars through the Arrow C Data Interface.
//!
//! arrow-rs exports an array as the two C structs (`FFI_ArrowArray`, `FFI_ArrowSchema`);
//! polars-arrow imports the very same structs (its `ArrowArray`, `ArrowSchema` are the same
//! `#[repr(C)]` layout), so the buffers cross without a copy and are released by their owner's
//! release callback. The way back is the mirror image.
//!
//! Copies happen only where polars' layout differs: polars keeps strings and binaries as
//! views (`Utf8View`/`BinaryView`), so a `Utf8`/`Binary` column that an expression reads is
//! copied into views on the way in, and a computed string column is copied back to `Utf8` on
//! the way out. Columns that no expression reads never go through polars at all.

use arrow::array::{make_array, Array, ArrayRef};
use arrow::datatypes::{DataType, Field};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::{CompatLevel, DataType as PlType, PlSmallStr, Series};
use polars_arrow::ffi::{ArrowArray, ArrowSchema};

// The two pairs of structs are the same C structs: refuse to build if their sizes ever differ.
const _: () = assert!(std::mem::size_of::<FFI_ArrowArray>() == std::mem::size_of::<ArrowArray>());
const _: () = assert!(std::mem::size_of::<FFI_ArrowSchema>() == std::mem::size_of::<ArrowSchema>());

/// An arrow-rs array as a polars Series named `name`.
pub fn to_polars(name: &str, array: &dyn Array) -> Result<Series, String> {
    if array.data_type() == &DataType::Null {
        // No buffers to share, and the two sides disagree on how many a null array has.
        return Ok(Series::full_null(name.into(), array.len(), &PlType::Null));
    }
    let (c_array, c_schema) =
        arrow::ffi::to_ffi(&array.to_data()).map_err(|e| format!("column `{name}`: {e}"))?;
    // SAFETY: both types are the C Data Interface's `struct ArrowArray` / `struct ArrowSchema`
    // (`#[repr(C)]`, same fields, sizes checked above); ownership moves with the value and the
    // producer's release callback frees the buffers exactly once.
    let (c_array, c_schema) = unsafe {
        (
            std::mem::transmute::<FFI_ArrowArray, ArrowArray>(c_array),
            std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(c_schema),
        )
    };
    // SAFETY: the structs were just filled in by arrow-rs from a valid array.
    let field = unsafe { polars_arrow::ffi::import_field_from_c(&c_schema) }
        .map_err(|e| format!("column `{name}`: {e}"))?;
    let imported =
        unsafe { polars_arrow::ffi::import_array_from_c(c_array, field.dtype().clone()) }
            .map_err(|e| format!("column `{name}`: {e}"))?;
    Series::from_arrow(PlSmallStr::from_str(name), imported).map_err(|e| {
        format!(
            "column `{name}` ({}) cannot be read by polars: {e}",
            array.data_type()
        )
    })
}

/// A polars Series (one chunk is made if it has several) as an arrow-rs array.
pub fn to_arrow(series: &Series) -> Result<ArrayRef, String> {
    let name = series.name().to_string();
    if series.dtype() == &PlType::Null {
        return Ok(arrow::array::new_null_array(&DataType::Null, series.len()));
    }
    let series = if series.n_chunks() == 1 {
        series.clone()
    } else {
        series.rechunk()
    };
    let array = series.to_arrow(0, CompatLevel::newest());
    let field = polars_arrow::datatypes::Field::new(
        PlSmallStr::from_str(&name),
        array.dtype().clone(),
        true,
    );
    let c_schema = polars_arrow::ffi::export_field_to_c(&field);
    let c_array = polars_arrow::ffi::export_array_to_c(array);
    // SAFETY: as in `to_polars`, the other way round.
    let (c_array, c_schema) = unsafe {
        (
            std::mem::transmute::<ArrowArray, FFI_ArrowArray>(c_array),
            std::mem::transmute::<ArrowSchema, FFI_ArrowSchema>(c_schema),
        )
    };
    // SAFETY: polars-arrow filled both structs from a valid array.
    let data = unsafe { arrow::ffi::from_ffi(c_array, &c_schema) }
        .map_err(|e| format!("column `{name}`: {e}"))?;
    Ok(make_array(data))
}

/// The arrow-rs type of a polars Series' exported arrays.
pub fn arrow_type(series: &Series) -> Result<DataType, String> {
    let field = series
        .dtype()
        .to_arrow_field(series.name().clone(), CompatLevel::newest());
    let c_schema = polars_arrow::ffi::export_field_to_c(&field);
    // SAFETY: as in `to_polars`.
    let c_schema = unsafe { std::mem::transmute::<ArrowSchema, FFI_ArrowSchema>(c_schema) };
    Field::try_from(&c_schema)
        .map(|f| f.data_type().clone())
        .map_err(|e| format!("column `{}`: {e}", series.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::*;
    use arrow::datatypes::TimeUnit;
    use std::sync::Arc;

    fn round_trip(a: ArrayRef) -> ArrayRef {
        let s = to_polars("c", a.as_ref()).unwrap();
        assert_eq!(s.len(), a.len());
        to_arrow(&s).unwrap()
    }

    #[test]
    fn primitives_cross_without_copying() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(i64::MIN)]));
        let s = to_polars("c", a.as_ref()).unwrap();
        // The polars chunk points at the arrow buffer itself.
        let before = a.to_data().buffers()[0].as_ptr();
        let back = to_arrow(&s).unwrap();
        assert_eq!(back.to_data().buffers()[0].as_ptr(), before);
        assert_eq!(back.as_ref(), a.as_ref());
    }

    #[test]
    fn exact_types_come_back() {
        let dec: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(12345), None, Some(-1)])
                .with_precision_and_scale(12, 2)
                .unwrap(),
        );
        assert_eq!(round_trip(dec.clone()).as_ref(), dec.as_ref());
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1), None, Some(1_700_000_000_000_000)])
                .with_timezone("UTC"),
        );
        assert_eq!(round_trip(ts.clone()).as_ref(), ts.as_ref());
        let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(5), None]));
        assert_eq!(round_trip(naive.clone()).data_type(), naive.data_type());
        let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(19000), None]));
        assert_eq!(round_trip(d.clone()).as_ref(), d.as_ref());
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        assert_eq!(round_trip(b.clone()).as_ref(), b.as_ref());
        let nulls: ArrayRef = Arc::new(NullArray::new(3));
        let back = round_trip(nulls);
        assert_eq!(
            (back.data_type(), back.logical_null_count()),
            (&DataType::Null, 3)
        );
        assert_eq!(
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            *ts.data_type()
        );
    }

    #[test]
    fn strings_come_back_as_views_and_slices_keep_their_offset() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("héllo"),
            Some(""),
        ]));
        let back = round_trip(s.clone());
        assert_eq!(back.data_type(), &DataType::Utf8View);
        let back = arrow::compute::cast(&back, &DataType::Utf8).unwrap();
        assert_eq!(back.as_ref(), s.as_ref());
        let sliced = s.slice(1, 2);
        let back = arrow::compute::cast(&round_trip(sliced.clone()), &DataType::Utf8).unwrap();
        assert_eq!(back.as_ref(), sliced.as_ref());
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3, 4]));
        assert_eq!(
            round_trip(ints.slice(1, 2)).as_ref(),
            ints.slice(1, 2).as_ref()
        );
    }
}
