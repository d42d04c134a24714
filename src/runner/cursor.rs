//! The runner's side of incremental cursors: the largest value of `cursor_field` seen in the
//! batches a run moved, and the rows sitting at that value (the value type itself,
//! [`CursorValue`], is part of the contract).
//!
//! A read starts at the saved cursor inclusive (`>=`), so rows that arrive later with the same
//! value are not lost; the rows already written at that value come back too. The
//! [`CursorTracker`] drops exactly those: the state keeps what identifies them (a
//! [`Boundary`]), at most [`MAX_BOUNDARY_IDS`] of them.

use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::values::{format_date, format_decimal, format_timestamp_micros};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Scalar, StringArray};
use arrow::compute::kernels::aggregate;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};

/// Rows identified at the boundary cursor value, at most: past it the state keeps none and the
/// next run re-reads (and re-writes) the rows at that value: at-least-once for them.
pub const MAX_BOUNDARY_IDS: usize = 10_000;

/// How boundary rows are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// The `primary_key` values (one column: its text; several: a JSON array of texts), then
    /// `@` and a 64-bit hash of the whole row: a row changed at the boundary value without
    /// moving its cursor is a new version, not one already written.
    PrimaryKey,
    /// SHA-256 (first 128 bits, hex) of every column's text: streams without a key.
    RowHash,
}

/// The rows at a stream's saved cursor value that were written, as the state keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boundary {
    pub key: IdKind,
    /// Sorted ids of the rows whose cursor equals the saved one (empty when `overflow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// More rows than [`MAX_BOUNDARY_IDS`] share the value (or the earlier ones are unknown):
    /// the next run cannot tell them apart and writes them again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflow: bool,
}

/// Filters the rows already written at the saved boundary out of an incremental read, and
/// follows the largest cursor value and the ids of the rows at it.
pub struct CursorTracker {
    cursor: usize,
    kind: IdKind,
    /// The key columns ([`IdKind::PrimaryKey`]; none for [`IdKind::RowHash`]).
    key: Vec<usize>,
    /// The saved value and the ids of the rows at it to drop.
    skip: Option<(CursorValue, HashSet<String>)>,
    max: Option<CursorValue>,
    ids: BTreeSet<String>,
    overflow: bool,
    cap: usize,
    /// Rows dropped as already written.
    pub dropped: u64,
}

impl CursorTracker {
    /// `previous` is the saved cursor and boundary; `filter` drops the boundary rows (an
    /// incremental read), otherwise they only seed the new boundary (a full refresh).
    pub fn new(
        schema: &Schema,
        cursor: usize,
        primary_key: &[String],
        previous: (Option<CursorValue>, Option<Boundary>),
        filter: bool,
        cap: usize,
    ) -> Self {
        let keys: Option<Vec<usize>> = primary_key
            .iter()
            .map(|k| schema.index_of(k).ok())
            .collect();
        let (kind, key) = match keys {
            Some(k) if !k.is_empty() => (IdKind::PrimaryKey, k),
            _ => (IdKind::RowHash, Vec::new()),
        };
        let (max, boundary) = previous;
        // The previous ids carry over only if they were made the same way and are complete.
        let usable = boundary.filter(|b| b.key == kind && !b.overflow);
        let overflow = max.is_some() && usable.is_none();
        if overflow && filter {
            if let Some(m) = &max {
                tracing::warn!(
                    cursor = %m.text(),
                    "the rows at the saved cursor value are not known (more than {cap} of them, an older state, or a changed primary_key): they are read and written again"
                );
            }
        }
        let ids: BTreeSet<String> = usable
            .map(|b| b.ids.into_iter().collect())
            .unwrap_or_default();
        let skip = match (&max, filter && !ids.is_empty()) {
            (Some(m), true) => Some((m.clone(), ids.iter().cloned().collect())),
            _ => None,
        };
        CursorTracker {
            cursor,
            kind,
            key,
            skip,
            max,
            ids,
            overflow,
            cap,
            dropped: 0,
        }
    }

    /// `batch` without the rows already written at the saved boundary; follows the maximum.
    pub fn next(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let batch = self.drop_written(batch)?;
        let array = batch.column(self.cursor).clone();
        let Some(value) = column_max(array.as_ref())? else {
            return Ok(batch);
        };
        let order = match &self.max {
            None => Ordering::Greater,
            Some(m) => value.compare(m).ok_or_else(|| {
                Error::run(format!(
                    "cursor value {} ({}) cannot be compared with the saved cursor {} ({}); reset the stream's state (`etl state reset`) after changing the cursor column's type",
                    value.text(),
                    value.kind(),
                    m.text(),
                    m.kind()
                ))
            })?,
        };
        if order == Ordering::Less {
            return Ok(batch);
        }
        if order == Ordering::Greater {
            self.max = Some(value);
            self.ids.clear();
            self.overflow = false;
        }
        if self.overflow {
            return Ok(batch);
        }
        // The rows at the batch's largest value, found exactly in the column's own type.
        let top = arrow::compute::sort_to_indices(
            array.as_ref(),
            Some(arrow::compute::SortOptions {
                descending: true,
                nulls_first: false,
            }),
            Some(1),
        )?;
        let at = array.slice(top.value(0) as usize, 1);
        let rows = equal_rows(&array, &at)?;
        if self.ids.len() + rows.len() > self.cap {
            self.ids.clear();
            self.overflow = true;
            return Ok(batch);
        }
        let ids = self.ids_of(&batch, &rows)?;
        self.ids.extend(ids);
        if self.ids.len() > self.cap {
            self.ids.clear();
            self.overflow = true;
        }
        Ok(batch)
    }

    /// The largest cursor value and the boundary to save.
    pub fn finish(self) -> (Option<CursorValue>, Option<Boundary>) {
        let Some(max) = self.max else {
            return (None, None);
        };
        if self.overflow {
            tracing::warn!(
                cursor = %max.text(),
                "more than {} rows share the cursor value reached (or the earlier ones are unknown): the next run reads them again, and a destination without a primary_key merge gets them twice; a cursor with finer values avoids this",
                self.cap
            );
        }
        let boundary = Boundary {
            key: self.kind,
            ids: if self.overflow {
                Vec::new()
            } else {
                self.ids.into_iter().collect()
            },
            overflow: self.overflow,
        };
        (Some(max), Some(boundary))
    }

    fn drop_written(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some((value, ids)) = &self.skip else {
            return Ok(batch);
        };
        let array = batch.column(self.cursor);
        let text: ArrayRef = std::sync::Arc::new(StringArray::from(vec![value.text()]));
        // A saved value that no longer casts to the column's type matches no row: nothing is
        // dropped (at-least-once), nothing is lost.
        let Ok(at) = arrow::compute::cast(&text, array.data_type()) else {
            return Ok(batch);
        };
        if at.is_null(0) {
            return Ok(batch);
        }
        let rows = equal_rows(array, &at)?;
        if rows.is_empty() {
            return Ok(batch);
        }
        let candidates = self.ids_of(&batch, &rows)?;
        let mut keep = vec![true; batch.num_rows()];
        let mut dropped = 0u64;
        for (row, id) in rows.iter().zip(candidates) {
            if ids.contains(&id) {
                keep[*row] = false;
                dropped += 1;
            }
        }
        if dropped == 0 {
            return Ok(batch);
        }
        self.dropped += dropped;
        Ok(arrow::compute::filter_record_batch(
            &batch,
            &BooleanArray::from(keep),
        )?)
    }

    /// The ids of `rows` of `batch`.
    fn ids_of(&self, batch: &RecordBatch, rows: &[usize]) -> Result<Vec<String>> {
        let options = FormatOptions::default();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.iter()
            .map(|&r| {
                let texts: Vec<Option<String>> = formatters
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, c)| c.is_valid(r).then(|| f.value(r).to_string()))
                    .collect();
                let hash = row_hash(batch.schema_ref(), &texts);
                Ok(match self.kind {
                    IdKind::RowHash => hash[..32].to_string(),
                    IdKind::PrimaryKey => {
                        let key: Vec<&str> = self
                            .key
                            .iter()
                            .map(|&i| texts[i].as_deref().unwrap_or(""))
                            .collect();
                        let key = match key.as_slice() {
                            [one] => one.to_string(),
                            many => serde_json::to_string(many).map_err(Error::run)?,
                        };
                        format!("{key}@{}", &hash[..16])
                    }
                })
            })
            .collect()
    }
}

/// SHA-256 (hex) of one row: each column's name, whether it is NULL, and its text,
/// length-prefixed so that no two rows collide by concatenation.
fn row_hash(schema: &Schema, texts: &[Option<String>]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (field, text) in schema.fields().iter().zip(texts) {
        let name = field.name();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        match text {
            None => h.update([0u8]),
            Some(t) => {
                h.update([1u8]);
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The rows of `array` equal to the one value in `at` (same type).
fn equal_rows(array: &ArrayRef, at: &ArrayRef) -> Result<Vec<usize>> {
    let eq = arrow::compute::kernels::cmp::eq(array, &Scalar::new(at.clone()))?;
    Ok((0..eq.len())
        .filter(|&i| eq.is_valid(i) && eq.value(i))
        .collect())
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

    fn batch(ids: &[i64], at: &[i64]) -> RecordBatch {
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("at", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(arrow::array::Int64Array::from(ids.to_vec())),
                std::sync::Arc::new(arrow::array::Int64Array::from(at.to_vec())),
            ],
        )
        .unwrap()
    }

    /// The key part of boundary ids (`key@hash`).
    fn keys(b: &Boundary) -> Vec<&str> {
        b.ids.iter().map(|i| i.split('@').next().unwrap()).collect()
    }

    #[test]
    fn a_row_changed_at_the_boundary_value_is_a_new_version() {
        let key = ["id".to_string()];
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("at", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let make = |v: &str| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
                    std::sync::Arc::new(arrow::array::Int64Array::from(vec![5, 5])),
                    std::sync::Arc::new(StringArray::from(vec![Some("a"), Some(v)])),
                ],
            )
            .unwrap()
        };
        let mut t = CursorTracker::new(&schema, 1, &key, (None, None), true, 10);
        t.next(make("b")).unwrap();
        let saved = t.finish();
        let mut t = CursorTracker::new(&schema, 1, &key, saved, true, 10);
        assert_eq!(ids(&t.next(make("changed")).unwrap()), [2]);
    }

    fn ids(b: &RecordBatch) -> Vec<i64> {
        b.column(0).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn boundary_rows_are_dropped_once_and_new_ones_at_the_same_value_kept() {
        let b = batch(&[1, 2, 3, 4], &[5, 7, 7, 6]);
        let key = ["id".to_string()];
        let mut t = CursorTracker::new(&b.schema(), 1, &key, (None, None), true, 10);
        assert_eq!(ids(&t.next(b.clone()).unwrap()), [1, 2, 3, 4]);
        let (max, boundary) = t.finish();
        assert_eq!(max, Some(CursorValue::Int(7)));
        let boundary = boundary.unwrap();
        assert_eq!(boundary.key, IdKind::PrimaryKey);
        assert_eq!(keys(&boundary), ["2", "3"]);
        // The next run re-reads the boundary (>= 7): rows 2 and 3 go, row 9 (same value, new) stays.
        let again = batch(&[2, 3, 9], &[7, 7, 7]);
        let mut t = CursorTracker::new(&b.schema(), 1, &key, (max, Some(boundary)), true, 10);
        assert_eq!(ids(&t.next(again).unwrap()), [9]);
        assert_eq!(t.dropped, 2);
        let (max, boundary) = t.finish();
        assert_eq!(max, Some(CursorValue::Int(7)));
        assert_eq!(
            keys(&boundary.unwrap()),
            ["2", "3", "9"],
            "the boundary grows while the value stays"
        );
    }

    #[test]
    fn rows_without_a_key_are_identified_by_their_hash() {
        let b = batch(&[1, 2], &[3, 3]);
        let mut t = CursorTracker::new(&b.schema(), 1, &[], (None, None), true, 10);
        t.next(b.clone()).unwrap();
        let (max, boundary) = t.finish();
        let boundary = boundary.unwrap();
        assert_eq!(boundary.key, IdKind::RowHash);
        assert!(
            boundary.ids.iter().all(|i| i.len() == 32),
            "{:?}",
            boundary.ids
        );
        let mut t = CursorTracker::new(&b.schema(), 1, &[], (max, Some(boundary)), true, 10);
        assert_eq!(ids(&t.next(batch(&[1, 2, 5], &[3, 3, 3])).unwrap()), [5]);
    }

    #[test]
    fn too_many_rows_at_one_value_fall_back_to_at_least_once() {
        let key = ["id".to_string()];
        let b = batch(&[1, 2, 3, 4], &[1, 2, 2, 2]);
        let mut t = CursorTracker::new(&b.schema(), 1, &key, (None, None), true, 2);
        t.next(b.clone()).unwrap();
        let (max, boundary) = t.finish();
        let boundary = boundary.unwrap();
        assert!(boundary.overflow && boundary.ids.is_empty(), "{boundary:?}");
        // Nothing is dropped next time: the rows at 2 are written again, none is lost.
        let mut t = CursorTracker::new(&b.schema(), 1, &key, (max, Some(boundary)), true, 2);
        assert_eq!(
            ids(&t.next(batch(&[2, 3, 4], &[2, 2, 2])).unwrap()),
            [2, 3, 4]
        );
        // A larger value starts a new, complete boundary.
        t.next(batch(&[7], &[9])).unwrap();
        let (_, boundary) = t.finish();
        assert_eq!(
            boundary.map(|b| (b.overflow, keys(&b).join(","))),
            Some((false, "7".to_string()))
        );
    }

    #[test]
    fn a_full_refresh_drops_nothing() {
        let key = ["id".to_string()];
        let b = batch(&[1, 2], &[4, 4]);
        let mut t = CursorTracker::new(&b.schema(), 1, &key, (None, None), true, 10);
        t.next(b.clone()).unwrap();
        let saved = t.finish();
        let mut t = CursorTracker::new(&b.schema(), 1, &key, saved, false, 10);
        assert_eq!(ids(&t.next(b).unwrap()), [1, 2]);
    }

    #[test]
    fn timestamps_at_the_boundary_match_the_saved_text() {
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let make = |ids: Vec<i64>, ts: Vec<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    std::sync::Arc::new(arrow::array::Int64Array::from(ids)),
                    std::sync::Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                ],
            )
            .unwrap()
        };
        let key = ["id".to_string()];
        let mut t = CursorTracker::new(&schema, 1, &key, (None, None), true, 10);
        t.next(make(vec![1, 2], vec![1_500_000, 1_500_000]))
            .unwrap();
        let saved = t.finish();
        let mut t = CursorTracker::new(&schema, 1, &key, saved, true, 10);
        assert_eq!(
            ids(&t.next(make(vec![1, 2, 3], vec![1_500_000; 3])).unwrap()),
            [3]
        );
    }

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
