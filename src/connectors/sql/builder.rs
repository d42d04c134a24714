//! One Arrow column under construction, for every SQL source: the builders for each Arrow type a
//! SQL database reads as, created, finished and given NULLs here once. A driver converts its
//! native value and calls the typed `append_*` for the column's Arrow type; a value of the wrong
//! kind for the column is refused with an error, never a panic.

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Decimal256Builder,
    DurationMicrosecondBuilder, DurationNanosecondBuilder, FixedSizeBinaryBuilder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, Int8Builder,
    IntervalYearMonthBuilder, ListArray, NullBufferBuilder, NullBuilder, StringBuilder,
    Time64MicrosecondBuilder, Time64NanosecondBuilder, TimestampMicrosecondBuilder,
    TimestampNanosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{i256, DataType, FieldRef, IntervalUnit, TimeUnit};
use arrow::error::ArrowError;
use std::sync::Arc;

/// Bytes reserved per row for text and binary columns.
const BYTES_PER_VALUE: usize = 16;

/// The Arrow builder of one column.
enum Values {
    Null(NullBuilder),
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec128(Decimal128Builder),
    Dec256(Decimal256Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Fixed(FixedSizeBinaryBuilder),
    Date(Date32Builder),
    TimeUs(Time64MicrosecondBuilder),
    TimeNs(Time64NanosecondBuilder),
    TsUs(TimestampMicrosecondBuilder),
    TsNs(TimestampNanosecondBuilder),
    DurUs(DurationMicrosecondBuilder),
    DurNs(DurationNanosecondBuilder),
    YearMonth(IntervalYearMonthBuilder),
    List(Box<List>),
}

/// A list column: its items' builder, offsets and validity.
struct List {
    item: FieldRef,
    values: ColumnBuilder,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

/// Builds one Arrow column of a fixed type from a source's values.
pub struct ColumnBuilder {
    data_type: DataType,
    values: Values,
}

/// `match` over every builder: `$scalar` for each Arrow builder (bound to `$b`), `$list` for a
/// list (bound to `$l`).
macro_rules! each_builder {
    ($values:expr, $b:ident => $scalar:expr, $l:ident => $list:expr) => {
        match $values {
            Values::Null($b) => $scalar,
            Values::Bool($b) => $scalar,
            Values::I8($b) => $scalar,
            Values::I16($b) => $scalar,
            Values::I32($b) => $scalar,
            Values::I64($b) => $scalar,
            Values::U8($b) => $scalar,
            Values::U16($b) => $scalar,
            Values::U32($b) => $scalar,
            Values::U64($b) => $scalar,
            Values::F32($b) => $scalar,
            Values::F64($b) => $scalar,
            Values::Dec128($b) => $scalar,
            Values::Dec256($b) => $scalar,
            Values::Str($b) => $scalar,
            Values::Bin($b) => $scalar,
            Values::Fixed($b) => $scalar,
            Values::Date($b) => $scalar,
            Values::TimeUs($b) => $scalar,
            Values::TimeNs($b) => $scalar,
            Values::TsUs($b) => $scalar,
            Values::TsNs($b) => $scalar,
            Values::DurUs($b) => $scalar,
            Values::DurNs($b) => $scalar,
            Values::YearMonth($b) => $scalar,
            Values::List($l) => $list,
        }
    };
}

/// Defines the typed `append_*` methods: each appends to one kind of builder and refuses a
/// column of another type.
macro_rules! typed_appends {
    ($($(#[$doc:meta])* $name:ident($t:ty) => $($variant:ident)|+;)*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(&mut self, v: $t) -> Result<(), String> {
                match &mut self.values {
                    $(Values::$variant(b) => b.append_value(v),)+
                    _ => return Err(self.mismatch(stringify!($t))),
                }
                Ok(())
            }
        )*
    };
}

impl ColumnBuilder {
    /// A builder for `data_type` with room for `capacity` rows; an error for a type no SQL
    /// source reads as.
    pub fn new(data_type: &DataType, capacity: usize) -> Result<Self, String> {
        let bytes = capacity.saturating_mul(BYTES_PER_VALUE);
        let values = match data_type {
            DataType::Null => Values::Null(NullBuilder::new()),
            DataType::Boolean => Values::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Int8 => Values::I8(Int8Builder::with_capacity(capacity)),
            DataType::Int16 => Values::I16(Int16Builder::with_capacity(capacity)),
            DataType::Int32 => Values::I32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Values::I64(Int64Builder::with_capacity(capacity)),
            DataType::UInt8 => Values::U8(UInt8Builder::with_capacity(capacity)),
            DataType::UInt16 => Values::U16(UInt16Builder::with_capacity(capacity)),
            DataType::UInt32 => Values::U32(UInt32Builder::with_capacity(capacity)),
            DataType::UInt64 => Values::U64(UInt64Builder::with_capacity(capacity)),
            DataType::Float32 => Values::F32(Float32Builder::with_capacity(capacity)),
            DataType::Float64 => Values::F64(Float64Builder::with_capacity(capacity)),
            DataType::Decimal128(p, s) => Values::Dec128(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            ),
            DataType::Decimal256(p, s) => Values::Dec256(
                Decimal256Builder::with_capacity(capacity)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            ),
            DataType::Utf8 => Values::Str(StringBuilder::with_capacity(capacity, bytes)),
            DataType::Binary => Values::Bin(BinaryBuilder::with_capacity(capacity, bytes)),
            DataType::FixedSizeBinary(n) => {
                Values::Fixed(FixedSizeBinaryBuilder::with_capacity(capacity, *n))
            }
            DataType::Date32 => Values::Date(Date32Builder::with_capacity(capacity)),
            DataType::Time64(TimeUnit::Microsecond) => {
                Values::TimeUs(Time64MicrosecondBuilder::with_capacity(capacity))
            }
            DataType::Time64(TimeUnit::Nanosecond) => {
                Values::TimeNs(Time64NanosecondBuilder::with_capacity(capacity))
            }
            DataType::Timestamp(TimeUnit::Microsecond, tz) => Values::TsUs(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            DataType::Timestamp(TimeUnit::Nanosecond, tz) => Values::TsNs(
                TimestampNanosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            DataType::Duration(TimeUnit::Microsecond) => {
                Values::DurUs(DurationMicrosecondBuilder::with_capacity(capacity))
            }
            DataType::Duration(TimeUnit::Nanosecond) => {
                Values::DurNs(DurationNanosecondBuilder::with_capacity(capacity))
            }
            DataType::Interval(IntervalUnit::YearMonth) => {
                Values::YearMonth(IntervalYearMonthBuilder::with_capacity(capacity))
            }
            DataType::List(item) if !matches!(item.data_type(), DataType::List(_)) => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Values::List(Box::new(List {
                    item: item.clone(),
                    values: ColumnBuilder::new(item.data_type(), capacity)?,
                    offsets,
                    nulls: NullBufferBuilder::new(capacity),
                }))
            }
            other => return Err(format!("no reader for Arrow type {other}")),
        };
        Ok(ColumnBuilder {
            data_type: data_type.clone(),
            values,
        })
    }

    /// The column's Arrow type.
    #[inline]
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    fn mismatch(&self, what: &str) -> String {
        format!(
            "internal: a {what} value for a column of Arrow type {}",
            self.data_type
        )
    }

    /// Appends a NULL.
    pub fn append_null(&mut self) {
        each_builder!(&mut self.values, b => b.append_null(), l => {
            let last = l.offsets.last().copied().unwrap_or(0);
            l.offsets.push(last);
            l.nulls.append_null();
        })
    }

    typed_appends! {
        /// A Boolean value.
        append_bool(bool) => Bool;
        /// An Int8 value.
        append_i8(i8) => I8;
        /// An Int16 value.
        append_i16(i16) => I16;
        /// An Int32 value.
        append_i32(i32) => I32;
        /// An Int64 value.
        append_i64(i64) => I64;
        /// A UInt8 value.
        append_u8(u8) => U8;
        /// A UInt16 value.
        append_u16(u16) => U16;
        /// A UInt32 value.
        append_u32(u32) => U32;
        /// A UInt64 value.
        append_u64(u64) => U64;
        /// A Float32 value.
        append_f32(f32) => F32;
        /// A Float64 value.
        append_f64(f64) => F64;
        /// A Decimal128 value, unscaled at the column's scale.
        append_decimal128(i128) => Dec128;
        /// A Decimal256 value, unscaled at the column's scale.
        append_decimal256(i256) => Dec256;
        /// A Utf8 value.
        append_str(&str) => Str;
        /// A Binary value.
        append_bytes(&[u8]) => Bin;
        /// Days since 1970-01-01 (Date32).
        append_date32(i32) => Date;
        /// Microseconds since midnight (Time64(µs)).
        append_time_us(i64) => TimeUs;
        /// Nanoseconds since midnight (Time64(ns)).
        append_time_ns(i64) => TimeNs;
        /// Microseconds since the epoch (Timestamp(µs)).
        append_timestamp_us(i64) => TsUs;
        /// Nanoseconds since the epoch (Timestamp(ns)).
        append_timestamp_ns(i64) => TsNs;
        /// A Duration(µs).
        append_duration_us(i64) => DurUs;
        /// A Duration(ns).
        append_duration_ns(i64) => DurNs;
        /// An Interval(YearMonth) in months.
        append_year_month(i32) => YearMonth;
    }

    /// A FixedSizeBinary value (its length must be the column's).
    #[inline]
    pub fn append_fixed(&mut self, v: &[u8]) -> Result<(), String> {
        match &mut self.values {
            Values::Fixed(b) => b.append_value(v).map_err(|e| e.to_string()),
            _ => Err(self.mismatch("fixed-size binary")),
        }
    }

    /// A list column's item builder: append a list's items to it, then call
    /// [`ColumnBuilder::end_list`] with their number.
    #[inline]
    pub fn list_items(&mut self) -> Result<&mut ColumnBuilder, String> {
        if !matches!(self.values, Values::List(_)) {
            return Err(self.mismatch("list"));
        }
        match &mut self.values {
            Values::List(l) => Ok(&mut l.values),
            _ => Err("internal: not a list".into()),
        }
    }

    /// Ends a list value of `len` items appended through [`ColumnBuilder::list_items`].
    #[inline]
    pub fn end_list(&mut self, len: i32) -> Result<(), String> {
        if let Values::List(l) = &mut self.values {
            let last = l.offsets.last().copied().unwrap_or(0);
            let end = last
                .checked_add(len)
                .ok_or_else(|| "a batch's lists hold more than 2^31 items".to_string())?;
            l.offsets.push(end);
            l.nulls.append_non_null();
            return Ok(());
        }
        Err(self.mismatch("list"))
    }

    /// The array built since the last call; the builder is left empty for the next batch.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(
            each_builder!(&mut self.values, b => Arc::new(b.finish()), l => {
                let values = l.values.finish()?;
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                Arc::new(ListArray::try_new(
                    l.item.clone(),
                    OffsetBuffer::new(offsets.into()),
                    values,
                    l.nulls.finish(),
                )?)
            }),
        )
    }
}
