//! What the runner does for the modes beyond `full_refresh` and `incremental`: which mode a
//! stream runs in (`--range` makes a backfill), a backfill's cursor range, and the snapshot's
//! `_etl_loaded_at` column. Destinations do the rest (see the README's "Modes").

use super::RunOptions;
use crate::contract::{BatchStream, CursorValue};
use crate::error::{Error, Result};
use crate::spec::{Mode, StreamSpec};
use crate::values::{format_date, format_timestamp_micros, parse_date, parse_timestamp};
use arrow::array::{Array, ArrayRef, BooleanArray, Scalar, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use std::sync::Arc;

/// The column a snapshot adds: the run's start time, UTC, one value for the whole run.
pub const LOADED_AT: &str = "_etl_loaded_at";

/// `START,END` of `--range`.
pub fn parse_range(text: &str) -> Result<(String, String)> {
    match text.split_once(',') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && !b.contains(',') => {
            Ok((a.trim().to_string(), b.trim().to_string()))
        }
        _ => Err(Error::spec(format!(
            "--range `{text}`: expected START,END (two cursor values, both included), e.g. --range 2024-01-01,2024-01-31"
        ))),
    }
}

/// The mode `stream` runs in: `--full-refresh` makes every stream a full refresh; `--range`
/// makes each selected incremental or backfill stream a backfill of that range (and refuses any
/// other selected stream); a backfill needs a range from one or the other.
pub fn planned_mode(stream: &mut StreamSpec, options: &RunOptions) -> Result<Mode> {
    if let Some((start, end)) = &options.range {
        if options.full_refresh {
            return Err(Error::spec(
                "--range and --full-refresh cannot be used together",
            ));
        }
        if !matches!(stream.mode, Mode::Incremental | Mode::Backfill)
            || stream.cursor_field.is_none()
        {
            return Err(Error::spec(format!(
                "--range applies to incremental and backfill streams with a `cursor_field`; stream `{}` is `{}`{} (choose the streams with --select)",
                stream.name,
                stream.mode,
                if stream.cursor_field.is_none() { " without a cursor_field" } else { "" }
            )));
        }
        stream.range = vec![start.clone(), end.clone()];
        return Ok(Mode::Backfill);
    }
    if options.full_refresh {
        return Ok(Mode::FullRefresh);
    }
    if stream.mode == Mode::Snapshot
        && !stream.primary_key.is_empty()
        && !stream.primary_key.iter().any(|k| k == LOADED_AT)
    {
        // Each run appends every key again: the load time tells the runs apart.
        stream.primary_key.push(LOADED_AT.to_string());
    }
    if stream.mode == Mode::Backfill && stream.range.len() != 2 {
        return Err(Error::spec(format!(
            "stream `{}`: mode `backfill` needs a cursor range: `range: [start, end]` in the spec or `etl run --range START,END`",
            stream.name
        )));
    }
    Ok(stream.mode)
}

/// A backfill's cursor range, both ends included.
#[derive(Debug, Clone)]
pub struct Range {
    pub field: String,
    pub start: String,
    pub end: String,
    /// The start as a typed cursor value, when its type is known (from the saved cursor, or an
    /// integer): the source then reads from it on. Otherwise the source reads every row and
    /// [`Range::filter`] keeps the range.
    typed_start: Option<CursorValue>,
}

impl Range {
    /// The range of `stream` (its `range`, set from `--range` when given); `saved` is the
    /// stream's saved cursor, whose type types the range's text.
    pub fn new(stream: &StreamSpec, saved: Option<&CursorValue>) -> Result<Self> {
        let (Some(field), [start, end]) = (&stream.cursor_field, stream.range.as_slice()) else {
            return Err(Error::spec(format!(
                "stream `{}`: a backfill needs a `cursor_field` and a range [start, end]",
                stream.name
            )));
        };
        Ok(Range {
            field: field.clone(),
            start: start.clone(),
            end: end.clone(),
            typed_start: typed(start, saved),
        })
    }

    /// The source-side bound (`cursor_field >= start`), when the start's type is known.
    pub fn pushdown(&self) -> Option<(String, CursorValue)> {
        self.typed_start
            .clone()
            .map(|start| (self.field.clone(), start))
    }

    /// `batches` with only the rows whose cursor lies in the range (NULL cursors left out).
    /// Fails, naming the value, when an end does not read as the cursor column's type.
    pub fn filter(&self, schema: &SchemaRef, batches: BatchStream) -> Result<BatchStream> {
        let index = schema.index_of(&self.field).map_err(|_| {
            Error::spec(format!(
                "cursor_field `{}` is not a column of the stream",
                self.field
            ))
        })?;
        let data_type = schema.field(index).data_type().clone();
        let bound = |text: &str| -> Result<ArrayRef> {
            let raw: ArrayRef = Arc::new(StringArray::from(vec![text]));
            let options = arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow::compute::cast_with_options(&raw, &data_type, &options)
                .ok()
                .filter(|a| a.is_valid(0))
                .ok_or_else(|| {
                    Error::spec(format!(
                        "range value `{text}` is not a {data_type} (the type of cursor_field `{}`)",
                        self.field
                    ))
                })
        };
        let (lo, hi) = (bound(&self.start)?, bound(&self.end)?);
        let keep = move |batch: RecordBatch| -> Result<RecordBatch> {
            use arrow::compute::kernels::cmp::{gt_eq, lt_eq};
            let column = batch.column(index);
            let mask = arrow::compute::and(
                &gt_eq(column, &Scalar::new(lo.clone()))?,
                &lt_eq(column, &Scalar::new(hi.clone()))?,
            )?;
            // NULL compares to NULL: such rows are outside every range.
            let mask: BooleanArray = mask.iter().map(|v| Some(v == Some(true))).collect();
            Ok(arrow::compute::filter_record_batch(&batch, &mask)?)
        };
        Ok(Box::pin(batches.filter_map(move |item| {
            let kept = item.and_then(&keep);
            async move {
                match kept {
                    Ok(b) if b.num_rows() == 0 => None,
                    other => Some(other),
                }
            }
        })))
    }
}

/// `text` as a cursor value of the saved cursor's type (or an integer), if it reads as one.
fn typed(text: &str, saved: Option<&CursorValue>) -> Option<CursorValue> {
    let t = text.trim();
    Some(match saved {
        Some(CursorValue::Int(_)) | None => CursorValue::Int(t.parse().ok()?),
        Some(CursorValue::Float(_)) => CursorValue::Float(t.parse().ok()?),
        Some(CursorValue::Decimal(_)) => {
            if !crate::connectors::sql::is_decimal_text(t) {
                return None;
            }
            CursorValue::Decimal(t.to_string())
        }
        Some(CursorValue::Date(_)) => CursorValue::Date(format_date(parse_date(t)?)?),
        Some(CursorValue::Timestamp(_)) => {
            CursorValue::Timestamp(format_timestamp_micros(parse_timestamp(t).ok()??, false)?)
        }
        Some(CursorValue::TimestampTz(_)) => {
            CursorValue::TimestampTz(format_timestamp_micros(parse_timestamp(t).ok()??, true)?)
        }
        Some(CursorValue::Text(_)) => CursorValue::Text(t.to_string()),
    })
}

/// `schema` and `batches` with the snapshot column [`LOADED_AT`] (`timestamp[us, UTC]`, never
/// NULL) holding `started` on every row. A stream that has a column of that name is refused.
pub fn with_loaded_at(
    stream: &StreamSpec,
    schema: SchemaRef,
    batches: BatchStream,
    started: chrono::DateTime<chrono::Utc>,
) -> Result<(SchemaRef, BatchStream)> {
    if schema.field_with_name(LOADED_AT).is_ok() {
        return Err(Error::spec(format!(
            "stream `{}`: mode `snapshot` adds the column `{LOADED_AT}`, and the stream already has one (rename it in the stream's `transform:`)",
            stream.name
        )));
    }
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        LOADED_AT,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )));
    let out: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let micros = started.timestamp_micros();
    let to = out.clone();
    let batches = batches.map(move |item| {
        let batch = item?;
        let at =
            TimestampMicrosecondArray::from_value(micros, batch.num_rows()).with_timezone("UTC");
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(at));
        Ok(RecordBatch::try_new(to.clone(), columns)?)
    });
    Ok((out, Box::pin(batches)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_type() {
        assert_eq!(
            parse_range(" 5 , 9").unwrap(),
            ("5".to_string(), "9".to_string())
        );
        assert!(parse_range("5").is_err());
        assert!(parse_range("1,2,3").is_err());
        assert!(parse_range(",2").is_err());
        let ts = CursorValue::Timestamp("2024-01-01 00:00:00.000000".into());
        assert_eq!(
            typed("2024-02-01", Some(&ts)),
            Some(CursorValue::Timestamp("2024-02-01 00:00:00.000000".into()))
        );
        assert_eq!(typed("17", None), Some(CursorValue::Int(17)));
        assert_eq!(typed("2024-02-01", None), None);
        assert_eq!(typed("soon", Some(&ts)), None);
    }

    #[tokio::test]
    async fn the_filter_keeps_the_range_both_ends_included() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("u", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow::array::Int64Array::from(vec![
                Some(1),
                Some(3),
                None,
                Some(5),
                Some(7),
            ]))],
        )
        .unwrap();
        let stream = StreamSpec {
            cursor_field: Some("u".into()),
            range: vec!["3".into(), "5".into()],
            ..StreamSpec::named("s")
        };
        let range = Range::new(&stream, None).unwrap();
        let out: Vec<_> = range
            .filter(&schema, Box::pin(futures::stream::iter(vec![Ok(batch)])))
            .unwrap()
            .collect()
            .await;
        let kept = out[0].as_ref().unwrap();
        assert_eq!(kept.num_rows(), 2);
        let bad = StreamSpec {
            range: vec!["x".into(), "5".into()],
            ..stream
        };
        let e = Range::new(&bad, None)
            .unwrap()
            .filter(&schema, Box::pin(futures::stream::empty()))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("range value `x` is not a Int64"),
            "{e}"
        );
    }
}
