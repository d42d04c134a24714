//! `partition_by`: rows split into Hive-style `column=value/` folders, the layout Spark, Hive,
//! pyarrow, DuckDB and Athena read back as partition columns.
//!
//! The partition columns are not repeated inside the files (readers rebuild them from the
//! folder names). Values are written as text with Hive's escaping (`/` -> `%2F`, `=` -> `%3D`,
//! `:` -> `%3A`, ...); NULL and the empty string both become `__HIVE_DEFAULT_PARTITION__`.

use crate::error::{Error, Result};
use crate::spec::StreamSpec;
use arrow::array::{Array, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// The folder name Hive, Spark and pyarrow use for NULL (and empty) partition values.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Spec checks: names that readers would skip, repeated columns.
pub fn validate(streams: &[StreamSpec]) -> std::result::Result<(), String> {
    for s in streams {
        for (i, c) in s.partition_by.iter().enumerate() {
            if c.is_empty() || c.starts_with('.') || c.starts_with('_') {
                return Err(format!(
                    "stream `{}`: partition_by column `{c}`: folders named `.…` or `_…` are skipped by readers (pyarrow, Spark); rename the column, e.g. with a `query:`",
                    s.name
                ));
            }
            if s.partition_by[..i].contains(c) {
                return Err(format!(
                    "stream `{}`: partition_by names `{c}` twice",
                    s.name
                ));
            }
        }
    }
    Ok(())
}

/// Splits a stream's batches by the values of its partition columns.
#[derive(Debug, Clone)]
pub struct Partitioner {
    /// Indexes of the partition columns, in `partition_by` order.
    keys: Vec<usize>,
    /// Indexes of the columns written into the files.
    kept: Vec<usize>,
    /// The schema of the files (without the partition columns).
    pub file_schema: SchemaRef,
}

impl Partitioner {
    /// Checks the columns against the stream's schema: present, of a type with an exact text
    /// form, and not every column.
    pub fn new(stream: &str, schema: &SchemaRef, columns: &[String]) -> Result<Self> {
        let mut keys = Vec::new();
        for c in columns {
            let i = schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::spec(format!(
                    "stream `{stream}`: partition_by column `{c}` is not a column of the stream (columns: {})",
                    names.join(", ")
                ))
            })?;
            let t = schema.field(i).data_type();
            if !partitionable(t) {
                return Err(Error::spec(format!(
                    "stream `{stream}`: partition_by column `{c}` has type {t}; partition by an integer, text, date, timestamp, decimal or boolean column"
                )));
            }
            keys.push(i);
        }
        let kept: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !keys.contains(i))
            .collect();
        if kept.is_empty() {
            return Err(Error::spec(format!(
                "stream `{stream}`: partition_by names every column; the files would hold none"
            )));
        }
        let file_schema = Arc::new(schema.project(&kept)?);
        Ok(Partitioner {
            keys,
            kept,
            file_schema,
        })
    }

    /// The batch's rows grouped by folder (`a=1/b=x`), in the order the folders first appear,
    /// each without the partition columns.
    pub fn split(&self, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>> {
        let schema = batch.schema_ref();
        let options = FormatOptions::default();
        let formatters = self
            .keys
            .iter()
            .map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut order: Vec<String> = Vec::new();
        let mut rows: HashMap<String, Vec<u32>> = HashMap::new();
        let mut folder = String::new();
        let mut value = String::new();
        for row in 0..batch.num_rows() {
            folder.clear();
            for (k, f) in self.keys.iter().zip(&formatters) {
                if !folder.is_empty() {
                    folder.push('/');
                }
                folder.push_str(schema.field(*k).name());
                folder.push('=');
                if batch.column(*k).is_null(row) {
                    folder.push_str(NULL_PARTITION);
                    continue;
                }
                value.clear();
                write!(value, "{}", f.value(row)).map_err(|e| Error::run(e.to_string()))?;
                if value.is_empty() {
                    folder.push_str(NULL_PARTITION);
                } else {
                    escape_into(&value, &mut folder);
                }
            }
            match rows.get_mut(folder.as_str()) {
                Some(v) => v.push(row as u32),
                None => {
                    order.push(folder.clone());
                    rows.insert(folder.clone(), vec![row as u32]);
                }
            }
        }
        let data = batch.project(&self.kept)?;
        if order.len() == 1 {
            return Ok(vec![(order.remove(0), data)]);
        }
        order
            .into_iter()
            .map(|folder| {
                let idx = UInt32Array::from(rows.remove(&folder).unwrap_or_default());
                Ok((folder, take_record_batch(&data, &idx)?))
            })
            .collect()
    }
}

fn partitionable(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Date32
            | Date64
            | Boolean
            | Decimal128(..)
            | Decimal256(..)
            | Timestamp(..)
    )
}

/// Hive's escaping of a partition value, plus the characters object stores advise against
/// in keys, so the folder name is the same on disk and on S3.
fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        if c.is_ascii_control() || "\"#%'*/:=?\\{}[]^<>|~`".contains(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn batch() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("country", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(StringArray::from(vec![
                    Some("de"),
                    None,
                    Some("a/b=c:d%"),
                    Some("de"),
                    Some(""),
                ])),
                Arc::new(Int32Array::from(vec![
                    Some(7),
                    Some(7),
                    None,
                    Some(8),
                    Some(7),
                ])),
            ],
        )
        .expect("batch");
        (schema, b)
    }

    #[test]
    fn rows_go_to_escaped_folders_in_first_seen_order() {
        let (schema, b) = batch();
        let p = Partitioner::new("s", &schema, &["country".into(), "n".into()]).expect("ok");
        assert_eq!(p.file_schema.fields().len(), 1);
        let parts = p.split(&b).expect("split");
        let folders: Vec<&str> = parts.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            folders,
            [
                "country=de/n=7",
                "country=__HIVE_DEFAULT_PARTITION__/n=7",
                "country=a%2Fb%3Dc%3Ad%25/n=__HIVE_DEFAULT_PARTITION__",
                "country=de/n=8",
            ]
        );
        let ids = |i: usize| {
            let a = parts[i]
                .1
                .column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .expect("i32");
            a.values().to_vec()
        };
        assert_eq!(ids(0), [1]);
        // NULL and '' share Hive's default partition.
        assert_eq!(ids(1), [2, 5]);
        assert_eq!(ids(2), [3]);
        assert_eq!(ids(3), [4]);
    }

    #[test]
    fn bad_columns_are_refused_with_the_stream_named() {
        let (schema, _) = batch();
        let e = Partitioner::new("s", &schema, &["nope".into()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("stream `s`: partition_by column `nope` is not a column"),
            "{e}"
        );
        let e = Partitioner::new("s", &schema, &["id".into(), "country".into(), "n".into()])
            .unwrap_err();
        assert!(e.to_string().contains("names every column"), "{e}");
        let mut s = StreamSpec::named("x");
        s.partition_by = vec!["_y".into()];
        assert!(validate(&[s.clone()])
            .unwrap_err()
            .contains("skipped by readers"));
        s.partition_by = vec!["y".into(), "y".into()];
        assert!(validate(&[s]).unwrap_err().contains("twice"));
    }
}
