//! The Oracle driver of the SQL destination engine: batched array DML (`INSERT` executed for up
//! to `ROWS_PER_EXECUTE` rows at a time) into a staging table, then a rename swap (full
//! refresh) or a `MERGE` on the primary key / `INSERT ... SELECT` (incremental).
//!
//! Oracle DDL commits on its own, so the two renames of a full refresh are two statements: for
//! the moment between them the table name does not exist (readers get ORA-00942, never partial
//! data); if the second rename fails, the first is undone.

use super::types::{arrow_type, bind_type, bind_value, BindValue};
use super::{
    blocking, check_ident, connect, etl_tables, ora_err, qualified, table_exists, OracleConfig,
    OracleDialect, MAX_IDENT,
};
use crate::connectors::sql::drift::TableColumn;
use crate::connectors::sql::engine::{verb, Driver, Load, Publish, SqlDestination, Step};
use crate::connectors::sql::Dialect;
use crate::error::{Error, Result};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use oracle::sql_type::OracleType;
use oracle::Connection;
use std::sync::Arc;

/// Rows bound per array DML execution.
const ROWS_PER_EXECUTE: usize = 1000;

/// The Oracle destination: the SQL engine with [`OracleConfig`] as its driver.
pub type OracleDestination = SqlDestination<OracleConfig>;

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
    let batch = &*crate::connectors::sql::nested_as_json(batch)?;
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

/// `ALTER TABLE "schema"."from" RENAME TO "to"`.
pub fn rename_sql(schema: Option<&str>, from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {} RENAME TO {}",
        qualified(schema, from),
        super::quote(to)
    )
}

#[async_trait]
impl Driver for OracleConfig {
    type Conn = Arc<Connection>;

    const DIALECT: &'static dyn Dialect = &OracleDialect;

    fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    fn describe(&self, table: &str) -> String {
        format!("table {} on Oracle `{}`", self.qualified(table), self.dsn)
    }

    const MAX_IDENT: usize = MAX_IDENT;
    const TRANSACTIONAL_DDL: bool = false;

    fn check_names(&self, table: &str, schema: Option<&Schema>) -> Result<()> {
        check_ident(table, "table").map_err(Error::run)?;
        for f in schema.iter().flat_map(|s| s.fields()) {
            check_ident(f.name(), "column").map_err(Error::run)?;
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Arc<Connection>> {
        Ok(Arc::new(connect(self).await?))
    }

    async fn check(&self, conn: &mut Arc<Connection>) -> Result<()> {
        let (conn, what) = (conn.clone(), self.describe());
        blocking(move || {
            conn.query_row("SELECT 1 FROM DUAL", &[])
                .map(|_| ())
                .map_err(|e| ora_err(&what, &e))
        })
        .await
    }

    async fn execute(&self, conn: &mut Arc<Connection>, sql: &str) -> Result<()> {
        let (conn, sql) = (conn.clone(), sql.to_string());
        blocking(move || {
            conn.execute(&sql, &[])
                .map(|_| ())
                .map_err(|e| ora_err(&verb(&sql), &e))
        })
        .await
    }

    async fn table_exists(&self, conn: &mut Arc<Connection>, table: &str) -> Result<bool> {
        let (conn, schema, table) = (conn.clone(), self.schema.clone(), table.to_string());
        blocking(move || table_exists(&conn, schema.as_deref(), &table)).await
    }

    /// The columns of `SELECT * FROM table` as ODPI describes them, each read by the Oracle
    /// source's mapping, except `NUMBER(p,s)`, compared as decimal(p,s): the source reads every
    /// `NUMBER(p,0)` up to p = 18 as Int64, which would hide a NUMBER(5) → NUMBER(10) change.
    async fn table_columns(
        &self,
        conn: &mut Arc<Connection>,
        table: &str,
    ) -> Result<Vec<TableColumn>> {
        let (conn, table) = (conn.clone(), self.qualified(table));
        blocking(move || {
            let what = format!("listing the columns of {table}");
            let sql = format!("SELECT * FROM {table} WHERE 1 = 0");
            let rows = conn.query(&sql, &[]).map_err(|e| ora_err(&what, &e))?;
            Ok(rows
                .column_info()
                .iter()
                .map(|c| {
                    let t = c.oracle_type();
                    let mapped = match t {
                        OracleType::Number(p, s) if *p > 0 && *p <= 38 && *s >= 0 => {
                            Ok(DataType::Decimal128(*p, *s))
                        }
                        other => arrow_type(other),
                    };
                    let max_len = match t {
                        OracleType::Varchar2(n)
                        | OracleType::NVarchar2(n)
                        | OracleType::Char(n)
                        | OracleType::NChar(n)
                        | OracleType::Raw(n) => Some(u64::from(*n)),
                        _ => None,
                    };
                    TableColumn::new(c.name(), t.to_string(), mapped, max_len, c.nullable())
                })
                .collect())
        })
        .await
    }

    fn add_column_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} ADD ({} {})",
            self.qualified(table),
            super::quote(&column.name),
            column.declared
        )]
    }

    /// `MODIFY`, except into a LOB (VARCHAR2 -> CLOB, RAW -> BLOB), which Oracle cannot
    /// alter in place (ORA-22858): the column is rebuilt.
    fn widen_column_sql(&self, table: &str, old: &TableColumn, new: &TableColumn) -> Vec<String> {
        let lob = |t: &str| t.to_ascii_uppercase().ends_with("LOB");
        if lob(&new.declared) && !lob(&old.declared) {
            return self.rebuild_column_sql(table, &new.name, &new.declared);
        }
        vec![format!(
            "ALTER TABLE {} MODIFY ({} {})",
            self.qualified(table),
            super::quote(&new.name),
            new.declared
        )]
    }

    fn allow_null_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} MODIFY ({} NULL)",
            self.qualified(table),
            super::quote(&column.name)
        )]
    }

    async fn etl_tables(&self, conn: &mut Arc<Connection>) -> Result<Vec<String>> {
        let (conn, schema) = (conn.clone(), self.schema.clone());
        blocking(move || etl_tables(&conn, schema.as_deref())).await
    }

    /// Oracle starts a transaction with the first DML statement: nothing to run.
    async fn begin(&self, _conn: &mut Arc<Connection>) -> Result<()> {
        Ok(())
    }

    async fn commit(&self, conn: &mut Arc<Connection>) -> Result<()> {
        let conn = conn.clone();
        blocking(move || conn.commit().map_err(|e| ora_err("commit", &e))).await
    }

    async fn rollback(&self, conn: &mut Arc<Connection>) -> Result<()> {
        let conn = conn.clone();
        blocking(move || conn.rollback().map_err(|e| ora_err("rollback", &e))).await
    }

    async fn close(&self, conn: Arc<Connection>) {
        let _ = blocking(move || {
            let _ = conn.close();
            Ok(())
        })
        .await;
    }

    async fn bulk_load(&self, conn: &mut Arc<Connection>, load: Load<'_>) -> Result<u64> {
        let (staging, schema, primary_key) = (load.staging, load.schema, load.primary_key);
        let batches = load.batches;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let insert = insert_sql(&self.qualified(staging), &columns);
        let mut rows = 0u64;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            let n = batch.num_rows() as u64;
            let (conn, insert, schema, pk) = (
                conn.clone(),
                insert.clone(),
                schema.clone(),
                primary_key.to_vec(),
            );
            let before = rows;
            blocking(move || insert_batch(&conn, &insert, &schema, &pk, &batch, before)).await?;
            rows += n;
        }
        self.commit(conn).await?;
        Ok(rows)
    }

    /// `DROP TABLE ... PURGE`; a table that was never created (ORA-00942) is fine.
    async fn drop_if_exists(&self, conn: &mut Arc<Connection>, table: &str) -> Result<()> {
        let (conn, sql) = (conn.clone(), self.drop_sql(table));
        blocking(move || match conn.execute(&sql, &[]) {
            Ok(_) => Ok(()),
            Err(e) if e.oci_code() == Some(942) => Ok(()),
            Err(e) => Err(ora_err(&verb(&sql), &e)),
        })
        .await
    }

    fn drop_sql(&self, table: &str) -> String {
        format!("DROP TABLE {} PURGE", self.qualified(table))
    }

    fn rename_sql(&self, from: &str, to: &str) -> String {
        rename_sql(self.schema.as_deref(), from, to)
    }

    /// Two renames (each DDL commits on its own): the first is undone if the second fails.
    fn swap_steps(&self, p: &Publish<'_>) -> Vec<Step> {
        vec![
            Step::undoable(
                self.rename_sql(p.table, p.old),
                self.rename_sql(p.old, p.table),
            ),
            Step::sql(self.rename_sql(p.staging, p.table)),
            Step::sql(self.drop_sql(p.old)),
        ]
    }

    /// DML runs in Oracle's implicit transaction: committed before the staging table is
    /// dropped (a failure before the commit is rolled back with the connection).
    fn dml_steps(&self, statements: Vec<String>) -> Vec<Step> {
        let mut steps: Vec<Step> = statements.into_iter().map(Step::sql).collect();
        steps.push(Step::Commit);
        steps
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
