//! SQL connectors and the dialect layer they share: identifier quoting, `CREATE TABLE` from an
//! Arrow schema, and the staging-table names used for full refresh.

#[cfg(feature = "mssql")]
pub mod mssql;
pub mod mysql;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod postgres;
pub mod sqlite;

use crate::connectors::Reader;
use crate::error::{Error, Result as EtlResult};
use crate::spec::StreamSpec;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

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
    fn cursor_literal(&self, value: &crate::contract::CursorValue) -> String {
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
    value: &crate::contract::CursorValue,
) -> String {
    use crate::contract::CursorValue;
    let literal = match value {
        CursorValue::Int(i) => i.to_string(),
        CursorValue::Float(f) => f.to_string(),
        other => d.cursor_literal(other),
    };
    format!("{} >= {literal}", d.quote_ident(field))
}

/// Whether `s` is plain decimal text (`-12.50`), safe to put into SQL unquoted.
pub fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
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

/// `prefix` + table + the run's suffix (as [`staging_table_name`]), shortened to `max_chars`
/// by cutting the table part, for databases with short identifier limits.
pub fn side_table_name(prefix: &str, table: &str, run_id: &str, max_chars: usize) -> String {
    let name = staging_table_name(table, run_id).replacen("_etl_stage_", prefix, 1);
    if name.chars().count() <= max_chars {
        return name;
    }
    let suffix: String = name
        .chars()
        .rev()
        .take(13)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let room = max_chars.saturating_sub(prefix.chars().count() + suffix.chars().count());
    format!(
        "{prefix}{}{suffix}",
        table.chars().take(room).collect::<String>()
    )
}

/// How a database spells the SQL:2003 `MERGE` statement.
#[derive(Debug, Clone, Copy)]
pub struct MergeSyntax {
    /// Between the target table and its alias (MSSQL: `WITH (HOLDLOCK) AS`; Oracle takes no
    /// `AS` before a table alias).
    pub target_alias: &'static str,
    /// Between the source table and its alias.
    pub source_alias: &'static str,
    /// After the statement (MSSQL requires `;` after a MERGE).
    pub terminator: &'static str,
}

/// `MERGE` of `staging` into `target` (both quoted) on `primary_key`: matching rows take the
/// staging values, others are inserted. Key columns are never updated (Oracle refuses to
/// update columns of the ON clause); a table of key columns only just inserts what is new.
pub fn merge_statement_sql(
    d: &dyn Dialect,
    syntax: MergeSyntax,
    target: &str,
    staging: &str,
    columns: &[String],
    primary_key: &[String],
) -> String {
    let on: Vec<String> = primary_key
        .iter()
        .map(|k| format!("t.{q} = s.{q}", q = d.quote_ident(k)))
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !primary_key.contains(c))
        .map(|c| format!("t.{q} = s.{q}", q = d.quote_ident(c)))
        .collect();
    let cols: Vec<String> = columns.iter().map(|c| d.quote_ident(c)).collect();
    let values: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
    let mut sql = format!(
        "MERGE INTO {target} {}t USING {staging} {}s ON ({})",
        syntax.target_alias,
        syntax.source_alias,
        on.join(" AND ")
    );
    if !updates.is_empty() {
        sql.push_str(&format!(
            " WHEN MATCHED THEN UPDATE SET {}",
            updates.join(", ")
        ));
    }
    sql.push_str(&format!(
        " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({}){}",
        cols.join(", "),
        values.join(", "),
        syntax.terminator
    ));
    sql
}

/// Where a read task hands over the stream's schema, once, before its first batch.
#[derive(Clone)]
pub struct SchemaSlot(Arc<Mutex<Option<oneshot::Sender<EtlResult<SchemaRef>>>>>);

impl SchemaSlot {
    fn take(&self) -> Option<oneshot::Sender<EtlResult<SchemaRef>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Hands the schema to the runner (later calls do nothing).
    pub fn send(&self, schema: SchemaRef) {
        if let Some(tx) = self.take() {
            let _ = tx.send(Ok(schema));
        }
    }
}

/// Runs a source's read on its own task and returns the [`Reader`] once the task has sent the
/// schema. The task sends batches into a bounded channel (so a slow destination slows the read
/// instead of growing memory); an error before the schema fails the `read` call itself, an
/// error after it ends the batch stream. `db` names the database in messages.
pub async fn spawn_reader<F, Fut>(db: &str, task: F) -> EtlResult<Reader>
where
    F: FnOnce(SchemaSlot, mpsc::Sender<EtlResult<RecordBatch>>) -> Fut,
    Fut: Future<Output = EtlResult<()>> + Send + 'static,
{
    let (schema_tx, schema_rx) = oneshot::channel();
    let slot = SchemaSlot(Arc::new(Mutex::new(Some(schema_tx))));
    let (tx, rx) = mpsc::channel(crate::contract::CHANNEL_CAPACITY);
    let fut = task(slot.clone(), tx.clone());
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            match slot.take() {
                Some(stx) => {
                    let _ = stx.send(Err(e));
                }
                None => {
                    let _ = tx.send(Err(e)).await;
                }
            }
        }
    });
    let schema = schema_rx
        .await
        .map_err(|_| Error::run(format!("{db} reader stopped before it produced a schema")))??;
    Ok(Reader::new(
        schema,
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    ))
}

/// A connector's builder of one Arrow column.
pub trait ColumnFinish {
    /// The column's values since the last call, as an Arrow array.
    fn finish(&mut self) -> arrow::array::ArrayRef;
}

/// Collects a source's rows into batches of `batch_size`: the connector appends a row's values
/// to `builders`, then calls [`Batcher::row_done`], which hands out each full batch.
pub struct Batcher<B> {
    schema: SchemaRef,
    pub builders: Vec<B>,
    batch_size: usize,
    in_batch: usize,
    /// Rows seen so far (1-based number of the current row, for messages).
    pub row_no: u64,
}

impl<B: ColumnFinish> Batcher<B> {
    /// `make` builds one column's builder from its Arrow type and the batch size.
    pub fn new(
        schema: SchemaRef,
        batch_size: usize,
        what: &str,
        make: impl Fn(&arrow::datatypes::DataType, usize) -> Result<B, String>,
    ) -> EtlResult<Self> {
        let builders = schema
            .fields()
            .iter()
            .map(|f| make(f.data_type(), batch_size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::run(format!("{what}: {e}")))?;
        Ok(Batcher {
            schema,
            builders,
            batch_size: batch_size.max(1),
            in_batch: 0,
            row_no: 0,
        })
    }

    /// Call before appending a row's values.
    pub fn start_row(&mut self) {
        self.row_no += 1;
    }

    /// Call after a row's values were appended: a full batch, when there is one.
    pub fn row_done(&mut self) -> EtlResult<Option<RecordBatch>> {
        self.in_batch += 1;
        if self.in_batch < self.batch_size {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// The last, partial batch (none when it would be empty).
    pub fn finish(&mut self) -> EtlResult<Option<RecordBatch>> {
        if self.in_batch == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    fn flush(&mut self) -> EtlResult<RecordBatch> {
        self.in_batch = 0;
        let cols = self.builders.iter_mut().map(|b| b.finish()).collect();
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }

    /// `{what}, column `name`, row N: {e}` for a value that does not fit column `i`.
    pub fn value_error(&self, what: &str, i: usize, e: impl std::fmt::Display) -> Error {
        let name = self
            .schema
            .fields()
            .get(i)
            .map(|f| f.name().as_str())
            .unwrap_or("?");
        Error::Value(format!("{what}, column `{name}`, row {}: {e}", self.row_no))
    }
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
    fn merge_statement_updates_non_keys_and_inserts_the_rest() {
        let syntax = MergeSyntax {
            target_alias: "AS ",
            source_alias: "AS ",
            terminator: ";",
        };
        let cols = vec!["id".to_string(), "v".to_string()];
        let sql = merge_statement_sql(&Ansi, syntax, "\"t\"", "\"s\"", &cols, &["id".into()]);
        assert_eq!(
            sql,
            "MERGE INTO \"t\" AS t USING \"s\" AS s ON (t.\"id\" = s.\"id\") WHEN MATCHED THEN UPDATE SET t.\"v\" = s.\"v\" WHEN NOT MATCHED THEN INSERT (\"id\", \"v\") VALUES (s.\"id\", s.\"v\");"
        );
        let only_keys = merge_statement_sql(&Ansi, syntax, "t", "s", &cols[..1], &["id".into()]);
        assert!(!only_keys.contains("MATCHED THEN UPDATE"), "{only_keys}");
    }

    struct Ints(arrow::array::Int64Builder);
    impl ColumnFinish for Ints {
        fn finish(&mut self) -> arrow::array::ArrayRef {
            Arc::new(self.0.finish())
        }
    }

    #[test]
    fn batcher_cuts_full_batches_and_a_last_partial_one() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let mut b = Batcher::new(schema, 2, "t", |_, n| {
            Ok(Ints(arrow::array::Int64Builder::with_capacity(n)))
        })
        .unwrap();
        let mut sizes = Vec::new();
        for v in 0..5 {
            b.start_row();
            b.builders[0].0.append_value(v);
            if let Some(batch) = b.row_done().unwrap() {
                sizes.push(batch.num_rows());
            }
        }
        sizes.extend(b.finish().unwrap().map(|x| x.num_rows()));
        assert_eq!(sizes, vec![2, 2, 1]);
        assert!(b.finish().unwrap().is_none());
        let e = b.value_error("table `t`", 0, "too big");
        assert_eq!(e.to_string(), "table `t`, column `n`, row 5: too big");
    }

    #[test]
    fn side_tables_fit_short_identifier_limits() {
        let run = "20260101T000000Z-abcdef12";
        let s = side_table_name("_etl_stage_", "t", run, 64);
        assert!(
            s.starts_with("_etl_stage_t_") && s.ends_with("abcdef12"),
            "{s}"
        );
        let s = side_table_name("_etl_old_", &"x".repeat(80), run, 30);
        assert_eq!(s.chars().count(), 30, "{s}");
        assert!(
            s.starts_with("_etl_old_x") && s.ends_with("abcdef12"),
            "{s}"
        );
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
