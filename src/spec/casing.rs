//! `column_casing`: the column names a destination receives. Applied once, by renaming the
//! Arrow schema (and each batch's) between the source (after any `transform:`) and the
//! destination, so every destination gets the same names; `primary_key` and `partition_by`
//! are mapped with them.

use crate::contract::BatchStream;
use crate::error::{Error, Result};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use std::sync::Arc;

crate::keyword_enum! {
    /// How column names are written to the destination.
    #[derive(Default)]
    pub enum ColumnCasing: "column_casing" {
        /// As the source names them.
        #[default]
        Keep = "keep",
        Lower = "lower",
        Upper = "upper",
        /// `OrderID` -> `order_id`, `customerName` -> `customer_name`, `Mixed Col` -> `mixed_col`.
        Snake = "snake",
    }
}

impl ColumnCasing {
    /// `name` as this casing writes it.
    pub fn apply(self, name: &str) -> String {
        match self {
            ColumnCasing::Keep => name.to_string(),
            ColumnCasing::Lower => name.to_lowercase(),
            ColumnCasing::Upper => name.to_uppercase(),
            ColumnCasing::Snake => snake(name),
        }
    }
}

/// snake_case: words split at non-alphanumeric characters, at a lower-case letter or digit
/// followed by an upper-case letter, and before the last capital of a run of capitals
/// followed by a lower-case letter (`HTTPStatus` -> `http_status`); lower-cased, joined by `_`.
fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase() && !word.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.join("_")
}

/// The destination's names for `schema`'s columns under `casing`: `None` when nothing
/// changes; an error naming the columns when two map to one name, or one to an empty name.
pub fn renamed(schema: &Schema, casing: ColumnCasing) -> Result<Option<Vec<String>>> {
    if casing == ColumnCasing::Keep {
        return Ok(None);
    }
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| casing.apply(f.name()))
        .collect();
    let mut seen: std::collections::HashMap<&str, &str> = Default::default();
    for (f, n) in schema.fields().iter().zip(&names) {
        if n.is_empty() {
            return Err(Error::spec(format!(
                "column_casing: {casing} leaves nothing of column `{}`; rename it in the source or a transform",
                f.name()
            )));
        }
        if let Some(first) = seen.insert(n, f.name()) {
            return Err(Error::spec(format!(
                "column_casing: {casing} maps columns `{first}` and `{}` both to `{n}`; rename one in the source or a transform, or choose another casing",
                f.name()
            )));
        }
    }
    let unchanged = schema
        .fields()
        .iter()
        .zip(&names)
        .all(|(f, n)| f.name() == n);
    Ok((!unchanged).then_some(names))
}

/// `stream`'s columns renamed as `casing` says, with `primary_key` and `partition_by` of the
/// stream mapped the same way (a name that is not a column is mapped as a name would be, and
/// the destination reports it as missing).
pub fn apply(
    stream: &super::StreamSpec,
    casing: ColumnCasing,
    schema: SchemaRef,
    batches: BatchStream,
) -> Result<(super::StreamSpec, SchemaRef, BatchStream)> {
    let Some(names) = renamed(&schema, casing)? else {
        return Ok((stream.clone(), schema, batches));
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&names)
        .map(|(f, n)| f.as_ref().clone().with_name(n))
        .collect();
    let to: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let map = |cols: &[String]| -> Vec<String> {
        cols.iter()
            .map(|c| match schema.index_of(c) {
                Ok(i) => names[i].clone(),
                Err(_) => casing.apply(c),
            })
            .collect()
    };
    let mut mapped = stream.clone();
    mapped.primary_key = map(&stream.primary_key);
    mapped.partition_by = map(&stream.partition_by);
    let target = to.clone();
    let batches: BatchStream = Box::pin(batches.map(move |b| {
        b.and_then(|b| {
            RecordBatch::try_new(target.clone(), b.columns().to_vec()).map_err(Error::from)
        })
    }));
    Ok((mapped, to, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[test]
    fn snake_case() {
        for (from, to) in [
            ("OrderID", "order_id"),
            ("customerName", "customer_name"),
            ("Mixed Col", "mixed_col"),
            ("HTTPStatus", "http_status"),
            ("line2Total", "line2_total"),
            ("already_snake", "already_snake"),
            ("  spaced--out  ", "spaced_out"),
            ("ÄrgerWert", "ärger_wert"),
            ("id", "id"),
            ("ID", "id"),
        ] {
            assert_eq!(snake(from), to, "{from}");
        }
    }

    #[test]
    fn collisions_and_empty_names_are_refused() {
        let schema = |names: &[&str]| {
            Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Int64, true))
                    .collect::<Vec<_>>(),
            )
        };
        let e = renamed(&schema(&["OrderId", "order_id"]), ColumnCasing::Snake)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`OrderId` and `order_id` both to `order_id`"),
            "{e}"
        );
        let e = renamed(&schema(&["a", "A"]), ColumnCasing::Upper)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`a` and `A` both to `A`"), "{e}");
        assert!(renamed(&schema(&["--"]), ColumnCasing::Snake).is_err());
        assert_eq!(
            renamed(&schema(&["a", "b"]), ColumnCasing::Lower).unwrap(),
            None
        );
        assert_eq!(
            renamed(&schema(&["a", "B"]), ColumnCasing::Lower).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
    }
}
