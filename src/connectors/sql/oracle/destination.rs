//! Loads a stream with batched array DML (`INSERT` executed for up to `ROWS_PER_EXECUTE` rows
//! at a time) into a staging table, then publishes it: a rename swap (full refresh) or a
//! `MERGE` on the primary key / `INSERT ... SELECT` in one transaction (incremental).
//!
//! Oracle DDL commits on its own, so the two renames of a full refresh are two statements: for
//! the moment between them the table name does not exist (readers get ORA-00942, never partial
//! data); if the second rename fails, the first is undone.

use super::types::{bind_type, bind_value, BindValue};
use super::{
    blocking, check_ident, connect, merge_sql, ora_err, qualified, table_exists, OracleConfig,
    OracleDialect, MAX_IDENT,
};
use crate::connectors::sql::{side_table_name, Dialect};
use crate::connectors::{BatchStream, Destination, Staged, WriteReport, WriteTarget};
use crate::error::{Error, Result};
use crate::spec::Mode;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use oracle::Connection;
use std::sync::Arc;

/// Rows bound per array DML execution.
const ROWS_PER_EXECUTE: usize = 1000;

pub struct OracleDestination {
    config: OracleConfig,
}

impl OracleDestination {
    pub fn new(config: OracleConfig) -> Self {
        OracleDestination { config }
    }
}

/// `INSERT INTO staging (cols) VALUES (:1, :2, ...)`.
pub fn insert_sql(staging: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| super::quote(c)).collect();
    let binds: Vec<String> = (1..=columns.len()).map(|i| format!(":{i}")).collect();
    format!(
        "INSERT INTO {staging} ({}) VALUES ({})",
        cols.join(", "),
        binds.join(", ")
    )
}

/// Inserts one Arrow batch with array DML.
fn insert_batch(
    conn: &Connection,
    sql: &str,
    schema: &SchemaRef,
    primary_key: &[String],
    batch: &RecordBatch,
    rows_before: u64,
) -> Result<()> {
    let mut dml = conn
        .batch(sql, ROWS_PER_EXECUTE)
        .build()
        .map_err(|e| ora_err("preparing the insert", &e))?;
    for (i, f) in schema.fields().iter().enumerate() {
        let in_key = primary_key.iter().any(|k| k == f.name());
        let t = bind_type(f.data_type(), in_key)
            .map_err(|e| Error::run(format!("column `{}`: {e}", f.name())))?;
        dml.set_type(i + 1, &t)
            .map_err(|e| ora_err(&format!("column `{}`", f.name()), &e))?;
    }
    let mut values: Vec<BindValue> = Vec::with_capacity(batch.num_columns());
    for r in 0..batch.num_rows() {
        let row_no = rows_before + r as u64 + 1;
        values.clear();
        for (c, col) in batch.columns().iter().enumerate() {
            values.push(bind_value(col.as_ref(), r).map_err(|e| {
                Error::Value(format!(
                    "column `{}`, row {row_no}: {e}",
                    schema.field(c).name()
                ))
            })?);
        }
        let params: Vec<&dyn oracle::sql_type::ToSql> = values.iter().map(|v| v.as_sql()).collect();
        dml.append_row(&params)
            .map_err(|e| ora_err(&format!("inserting row {row_no}"), &e))?;
    }
    dml.execute().map_err(|e| {
        ora_err(
            &format!(
                "inserting rows up to {}",
                rows_before + batch.num_rows() as u64
            ),
            &e,
        )
    })?;
    Ok(())
}

#[async_trait]
impl Destination for OracleDestination {
    async fn check(&self) -> Result<()> {
        super::check(&self.config).await
    }

    fn describe(&self, target: &WriteTarget) -> String {
        format!(
            "table {} on Oracle `{}`",
            qualified(self.config.schema.as_deref(), &target.stream.name),
            self.config.dsn
        )
    }

    /// Checks the names and connects before anything is read.
    async fn preflight(&self, target: &WriteTarget) -> Result<()> {
        check_ident(&target.stream.name, "table").map_err(Error::run)?;
        self.check().await
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        mut batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let table = target.stream.name.clone();
        let what = format!("table `{table}`");
        check_ident(&table, "table").map_err(Error::run)?;
        for f in schema.fields() {
            check_ident(f.name(), "column").map_err(|e| Error::run(format!("{what}: {e}")))?;
        }
        let db_schema = self.config.schema.clone();
        let staging = side_table_name("_etl_stage_", &table, &target.run_id, MAX_IDENT);
        let quoted_staging = qualified(db_schema.as_deref(), &staging);
        let ddl = OracleDialect
            .create_table(&quoted_staging, &schema, &target.stream.primary_key)
            .map_err(|e| Error::run(format!("{what}: {e}")))?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let insert = insert_sql(&quoted_staging, &columns);
        let conn = Arc::new(connect(&self.config).await?);
        {
            let (conn, ddl, what) = (conn.clone(), ddl.clone(), what.clone());
            blocking(move || {
                conn.execute(&ddl, &[])
                    .map_err(|e| ora_err(&format!("{what}: creating the staging table"), &e))?;
                Ok(())
            })
            .await?;
        }
        let mut rows = 0u64;
        let loaded: Result<()> = async {
            while let Some(batch) = batches.next().await {
                let batch = batch?;
                let n = batch.num_rows() as u64;
                let (conn, insert, schema, pk) = (
                    conn.clone(),
                    insert.clone(),
                    schema.clone(),
                    target.stream.primary_key.clone(),
                );
                let before = rows;
                blocking(move || insert_batch(&conn, &insert, &schema, &pk, &batch, before))
                    .await?;
                rows += n;
            }
            let c = conn.clone();
            blocking(move || {
                c.commit()
                    .map_err(|e| ora_err("committing the staging table", &e))
            })
            .await
        }
        .await;
        let staged = StagedTable {
            conn,
            schema: db_schema,
            table,
            staging,
            columns,
            primary_key: target.stream.primary_key.clone(),
            mode: target.mode,
            run_id: target.run_id.clone(),
            rows,
        };
        match loaded {
            Ok(()) => Ok(Box::new(staged)),
            Err(e) => {
                let _ = Box::new(staged).abort().await;
                Err(e.context(format!("loading {what}")))
            }
        }
    }
}

/// A loaded staging table, waiting to be renamed in (full refresh) or merged.
struct StagedTable {
    conn: Arc<Connection>,
    schema: Option<String>,
    table: String,
    staging: String,
    columns: Vec<String>,
    primary_key: Vec<String>,
    mode: Mode,
    run_id: String,
    rows: u64,
}

/// `ALTER TABLE "schema"."from" RENAME TO "to"`.
pub fn rename_sql(schema: Option<&str>, from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME TO {}",
        qualified(schema, from),
        super::quote(to)
    )
}

fn publish(s: &StagedTable) -> Result<()> {
    let schema = s.schema.as_deref();
    let what = format!("table `{}`", s.table);
    let run = |sql: &str| -> Result<()> {
        s.conn
            .execute(sql, &[])
            .map(|_| ())
            .map_err(|e| ora_err(&what, &e))
    };
    if !table_exists(&s.conn, schema, &s.table)? {
        return run(&rename_sql(schema, &s.staging, &s.table));
    }
    match s.mode {
        Mode::FullRefresh => {
            let old = side_table_name("_etl_old_", &s.table, &s.run_id, MAX_IDENT);
            run(&rename_sql(schema, &s.table, &old))?;
            if let Err(e) = run(&rename_sql(schema, &s.staging, &s.table)) {
                let _ = run(&rename_sql(schema, &old, &s.table));
                return Err(e);
            }
            run(&format!("DROP TABLE {} PURGE", qualified(schema, &old)))
        }
        Mode::Incremental => {
            let sql = merge_sql(
                &qualified(schema, &s.table),
                &qualified(schema, &s.staging),
                &s.columns,
                &s.primary_key,
            );
            if let Err(e) = run(&sql) {
                let _ = s.conn.rollback();
                return Err(e);
            }
            s.conn.commit().map_err(|e| ora_err(&what, &e))?;
            run(&format!(
                "DROP TABLE {} PURGE",
                qualified(schema, &s.staging)
            ))
        }
    }
}

fn drop_staging(s: &StagedTable) -> Result<()> {
    let staging = qualified(s.schema.as_deref(), &s.staging);
    let _ = s.conn.rollback();
    match s.conn.execute(&format!("DROP TABLE {staging} PURGE"), &[]) {
        Ok(_) => Ok(()),
        // ORA-00942: the table was never created.
        Err(e) if e.oci_code() == Some(942) => Ok(()),
        Err(e) => Err(ora_err(&format!("dropping staging table {staging}"), &e)),
    }
}

#[async_trait]
impl Staged for StagedTable {
    async fn commit(self: Box<Self>) -> Result<WriteReport> {
        blocking(move || {
            if let Err(e) = publish(&self) {
                let _ = drop_staging(&self);
                return Err(e);
            }
            let _ = self.conn.close();
            Ok(WriteReport {
                rows: self.rows,
                outputs: vec![match &self.schema {
                    Some(s) => format!("{s}.{}", self.table),
                    None => self.table.clone(),
                }],
            })
        })
        .await
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        blocking(move || drop_staging(&self)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_statements() {
        assert_eq!(
            insert_sql(
                "\"HR\".\"_etl_stage_t_x\"",
                &["a]b".into(), "select".into()]
            ),
            "INSERT INTO \"HR\".\"_etl_stage_t_x\" (\"a]b\", \"select\") VALUES (:1, :2)"
        );
        assert_eq!(
            rename_sql(Some("HR"), "_etl_stage_t_x", "t"),
            "ALTER TABLE \"HR\".\"_etl_stage_t_x\" RENAME TO \"t\""
        );
    }
}
