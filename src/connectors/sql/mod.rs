//! SQL connectors and the dialect layer they share: identifier quoting, `CREATE TABLE` from an
//! Arrow schema, and the staging-table names used for full refresh.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use crate::spec::StreamSpec;
use arrow::datatypes::Schema;

/// What differs between SQL databases when writing.
pub trait Dialect {
    /// The database's column type for an Arrow type, or why it cannot be stored.
    fn column_type(&self, data_type: &arrow::datatypes::DataType) -> Result<String, String>;

    /// The column type for one field; defaults to [`Dialect::column_type`] of its data type.
    /// Dialects override it to read field metadata (e.g. a UUID extension type).
    fn field_type(&self, field: &arrow::datatypes::Field) -> Result<String, String> {
        self.column_type(field.data_type())
    }

    /// Quotes one identifier (the ANSI form; dialects with backticks or brackets override it).
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// A quoted SQL literal for a text, decimal, date or timestamp cursor value.
    fn cursor_literal(&self, value: &crate::runner::cursor::CursorValue) -> String {
        format!("'{}'", value.text().replace('\'', "''"))
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
            let is_key = primary_key.iter().any(|k| k == f.name());
            let def = self
                .column_definition(f, is_key)
                .map_err(|e| format!("column `{}`: {e}", f.name()))?;
            cols.push(format!("{} {def}", self.quote_ident(f.name())));
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
            "CREATE TABLE {quoted_table} (\n  {}\n){}",
            cols.join(",\n  "),
            self.table_options()
        ))
    }

    /// A column's type and nullability in `CREATE TABLE` (`is_key`: part of the primary key).
    fn column_definition(
        &self,
        field: &arrow::datatypes::Field,
        is_key: bool,
    ) -> Result<String, String> {
        let _ = is_key;
        let ty = self.field_type(field)?;
        Ok(if field.is_nullable() {
            ty
        } else {
            format!("{ty} NOT NULL")
        })
    }

    /// Text after the column list of `CREATE TABLE` (storage engine, character set, ...).
    fn table_options(&self) -> &'static str {
        ""
    }
}

/// Merge rows of `staging` into `target` (both quoted). The default is the `INSERT ... ON
/// CONFLICT (key) DO UPDATE` form that PostgreSQL and SQLite share; without a key it appends.
pub fn default_merge_sql(
    d: &dyn Dialect,
    target: &str,
    staging: &str,
    columns: &[String],
    primary_key: &[String],
) -> String {
    let cols: Vec<String> = columns.iter().map(|c| d.quote_ident(c)).collect();
    let list = cols.join(", ");
    let mut sql = format!("INSERT INTO {target} ({list}) SELECT {list} FROM {staging} WHERE true");
    if !primary_key.is_empty() {
        let keys: Vec<String> = primary_key.iter().map(|k| d.quote_ident(k)).collect();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| !primary_key.contains(c))
            .map(|c| format!("{q} = excluded.{q}", q = d.quote_ident(c)))
            .collect();
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            ));
        }
    }
    sql
}

/// `"field" >= literal` for an incremental read. A literal, not a parameter, because it also
/// goes into PostgreSQL's `COPY (SELECT ...)`, which takes none; text is quoted with `''`.
pub fn cursor_predicate(
    d: &dyn Dialect,
    field: &str,
    value: &crate::runner::cursor::CursorValue,
) -> String {
    use crate::runner::cursor::CursorValue;
    let literal = match value {
        CursorValue::Int(i) => i.to_string(),
        CursorValue::Float(f) => f.to_string(),
        other => d.cursor_literal(other),
    };
    format!("{} >= {literal}", d.quote_ident(field))
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
        if s.mode == crate::spec::Mode::Incremental && s.cursor_field.is_none() {
            return Err(format!(
                "stream `{}`: mode `incremental` needs a `cursor_field`",
                s.name
            ));
        }
        if s.file_path.is_some()
            || s.glob_pattern.is_some()
            || s.format.is_some()
            || !s.schema.is_empty()
        {
            return Err(format!(
                "stream `{}`: `file_path`, `glob_pattern`, `format` and `schema` apply to file sources only; a SQL source reads `table` or `query` (use `cast:` to change a column's type)",
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
    fn merge_upserts_on_the_key_or_appends() {
        let cols = vec!["id".to_string(), "v".to_string()];
        let sql = default_merge_sql(&Ansi, "\"t\"", "\"s\"", &cols, &["id".into()]);
        assert_eq!(
            sql,
            "INSERT INTO \"t\" (\"id\", \"v\") SELECT \"id\", \"v\" FROM \"s\" WHERE true ON CONFLICT (\"id\") DO UPDATE SET \"v\" = excluded.\"v\""
        );
        assert!(!default_merge_sql(&Ansi, "t", "s", &cols, &[]).contains("CONFLICT"));
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
