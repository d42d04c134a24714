//! SQL connectors and the dialect layer they share: identifier quoting, `CREATE TABLE` from an
//! Arrow schema, and the staging-table names used for full refresh.

pub mod mysql;
pub mod sqlite;

use crate::spec::StreamSpec;
use arrow::datatypes::Schema;

/// What differs between SQL databases when writing.
pub trait Dialect {
    /// The database's column type for an Arrow type, or why it cannot be stored.
    fn column_type(&self, data_type: &arrow::datatypes::DataType) -> Result<String, String>;

    /// Quotes one identifier (the ANSI form; dialects with backticks or brackets override it).
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// `CREATE TABLE` for `schema`, with an optional primary key.
    fn create_table(
        &self,
        quoted_table: &str,
        schema: &Schema,
        primary_key: &[String],
    ) -> Result<String, String> {
        let mut cols = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let ty = self
                .column_type(f.data_type())
                .map_err(|e| format!("column `{}`: {e}", f.name()))?;
            let null = if f.is_nullable() { "" } else { " NOT NULL" };
            cols.push(format!("{} {ty}{null}", self.quote_ident(f.name())));
        }
        if !primary_key.is_empty() {
            for k in primary_key {
                if schema.field_with_name(k).is_err() {
                    return Err(format!(
                        "primary_key column `{k}` is not in the stream's columns"
                    ));
                }
            }
            let keys: Vec<String> = primary_key.iter().map(|k| self.quote_ident(k)).collect();
            cols.push(format!("PRIMARY KEY ({})", keys.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE {quoted_table} (\n  {}\n)",
            cols.join(",\n  ")
        ))
    }
}

/// The staging table a full refresh loads before swapping it in.
pub fn staging_table_name(table: &str, run_id: &str) -> String {
    let short: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!(
        "_etl_stage_{table}_{}",
        &short[short.len().saturating_sub(12)..]
    )
}

/// Spec checks shared by every SQL source.
pub fn validate_streams(streams: &[StreamSpec]) -> Result<(), String> {
    for s in streams {
        if s.file_path.is_some() || s.glob_pattern.is_some() || s.format.is_some() {
            return Err(format!(
                "stream `{}`: `file_path`, `glob_pattern` and `format` apply to file sources only; a SQL source reads `table` or `query`",
                s.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    struct Ansi;
    impl Dialect for Ansi {
        fn column_type(&self, d: &DataType) -> Result<String, String> {
            match d {
                DataType::Int64 => Ok("BIGINT".into()),
                other => Err(format!("unsupported {other}")),
            }
        }
    }

    #[test]
    fn ddl_quotes_odd_identifiers_and_keys() {
        let schema = Schema::new(vec![
            Field::new("select", DataType::Int64, false),
            Field::new("we\"ird", DataType::Int64, true),
        ]);
        let sql = Ansi
            .create_table("\"t\"", &schema, &["select".to_string()])
            .unwrap();
        assert!(sql.contains("\"select\" BIGINT"), "{sql}");
        assert!(sql.contains("\"we\"\"ird\" BIGINT"), "{sql}");
        assert!(sql.contains("PRIMARY KEY (\"select\")"), "{sql}");
        let bad = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
        assert!(Ansi
            .create_table("t", &bad, &[])
            .unwrap_err()
            .contains("column `x`"));
        assert!(Ansi
            .create_table("t", &schema, &["nope".into()])
            .unwrap_err()
            .contains("`nope`"));
    }
}
