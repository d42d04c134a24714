//! The SQL Server driver of the SQL destination engine: TDS bulk insert into a staging table,
//! published by an `sp_rename` swap in one transaction (full refresh) or a `MERGE` on the
//! primary key / `INSERT` (incremental).

use super::source::describe;
use super::types::{field_sql_type, parse_type, to_column_data, Kind};
use super::{
    connect, exec, rename_sql, run_err, swap_sql, table_exists, MssqlClient, MssqlConfig,
    MssqlDialect, MAX_IDENT,
};
use crate::connectors::sql::drift::{declared_length, TableColumn};
use crate::connectors::sql::engine::{verb, Driver, Load, Publish, SqlDestination, Step};
use crate::connectors::sql::Dialect;
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures::StreamExt;
use tiberius::TokenRow;

/// The SQL Server destination: the SQL engine with [`MssqlConfig`] as its driver.
pub type MssqlDestination = SqlDestination<MssqlConfig>;

impl MssqlConfig {
    /// `ALTER COLUMN`, which restates the column's type and whether it takes NULL.
    fn alter_column_sql(
        &self,
        table: &str,
        column: &str,
        declared: &str,
        nullable: bool,
    ) -> String {
        let null = if nullable { "NULL" } else { "NOT NULL" };
        format!(
            "ALTER TABLE {} ALTER COLUMN {} {declared} {null}",
            self.qualified(table),
            MssqlDialect.quote_ident(column)
        )
    }
}

#[async_trait]
impl Driver for MssqlConfig {
    type Conn = MssqlClient;

    const DIALECT: &'static dyn Dialect = &MssqlDialect;

    fn schema(&self) -> Option<&str> {
        Some(&self.schema)
    }

    fn describe(&self, table: &str) -> String {
        format!(
            "table [{}].[{table}] in database `{}` on {}:{}",
            self.schema, self.database, self.host, self.port
        )
    }

    const MAX_IDENT: usize = MAX_IDENT;
    const TRANSACTIONAL_DDL: bool = false;

    async fn connect(&self) -> Result<MssqlClient> {
        connect(self).await
    }

    async fn check(&self, client: &mut MssqlClient) -> Result<()> {
        exec(client, "SELECT 1", &self.describe()).await
    }

    async fn execute(&self, client: &mut MssqlClient, sql: &str) -> Result<()> {
        exec(client, sql, &verb(sql)).await
    }

    /// T-SQL's `BEGIN` opens a block, not a transaction.
    async fn begin(&self, client: &mut MssqlClient) -> Result<()> {
        self.execute(client, "BEGIN TRANSACTION").await
    }

    async fn table_exists(&self, client: &mut MssqlClient, table: &str) -> Result<bool> {
        table_exists(client, &self.schema, table).await
    }

    /// The table's columns as the SQL Server source describes them
    /// (`sp_describe_first_result_set`), each `system_type_name` read by the source's mapping.
    async fn table_columns(
        &self,
        client: &mut MssqlClient,
        table: &str,
    ) -> Result<Vec<TableColumn>> {
        let sql = format!("SELECT * FROM {}", self.qualified(table));
        let what = format!("listing the columns of {}", self.qualified(table));
        let described = describe(client, &sql, &what).await?;
        Ok(described
            .into_iter()
            .map(|c| {
                let parsed = parse_type(&c.type_name);
                let declared = parsed
                    .as_ref()
                    .map_or(c.type_name.clone(), |t| t.ddl.clone());
                let sized = parsed
                    .as_ref()
                    .is_ok_and(|t| matches!(t.kind, Kind::Text | Kind::Binary) && !t.unbounded);
                let max_len = sized.then(|| declared_length(&declared)).flatten();
                let mapped = parsed.map(|t| t.arrow_type());
                TableColumn::new(c.name, declared, mapped, max_len, c.nullable)
            })
            .collect())
    }

    fn add_column_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} ADD {} {} NULL",
            self.qualified(table),
            MssqlDialect.quote_ident(&column.name),
            column.declared
        )]
    }

    fn widen_column_sql(&self, table: &str, old: &TableColumn, new: &TableColumn) -> Vec<String> {
        vec![self.alter_column_sql(table, &new.name, &new.declared, old.nullable)]
    }

    fn allow_null_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![self.alter_column_sql(table, &column.name, &column.declared, true)]
    }

    async fn etl_tables(&self, client: &mut MssqlClient) -> Result<Vec<String>> {
        let what = "listing etl's tables";
        let rows = client
            .query(
                "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES \
                 WHERE TABLE_SCHEMA = @P1 AND LEFT(TABLE_NAME, 5) = '_etl_'",
                &[&self.schema],
            )
            .await
            .map_err(|e| run_err(what, e))?
            .into_first_result()
            .await
            .map_err(|e| run_err(what, e))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<&str, _>(0).map(str::to_string))
            .collect())
    }

    async fn close(&self, client: MssqlClient) {
        let _ = client.close().await;
    }

    /// One TDS bulk insert into the (empty) staging table.
    async fn bulk_load(&self, client: &mut MssqlClient, load: Load<'_>) -> Result<u64> {
        let (staging, schema, primary_key) = (load.staging, load.schema, load.primary_key);
        let batches = load.batches;
        let kinds = schema
            .fields()
            .iter()
            .map(|f| {
                let in_key = primary_key.iter().any(|k| k == f.name());
                field_sql_type(f, in_key)
                    .map(|t| t.kind)
                    .map_err(|e| Error::run(format!("column `{}`: {e}", f.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        let staging = self.qualified(staging);
        let mut req = client
            .bulk_insert(&staging)
            .await
            .map_err(|e| run_err("starting the bulk insert", e))?;
        let mut rows = 0u64;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            let batch = crate::connectors::sql::nested_as_json(&batch)?;
            if batch.num_columns() != kinds.len() {
                return Err(Error::run(format!(
                    "a batch has {} columns, the stream's schema {}",
                    batch.num_columns(),
                    kinds.len()
                )));
            }
            for r in 0..batch.num_rows() {
                rows += 1;
                let mut row = TokenRow::with_capacity(kinds.len());
                for (c, kind) in kinds.iter().enumerate() {
                    let v = to_column_data(batch.column(c).as_ref(), r, *kind).map_err(|e| {
                        Error::Value(format!(
                            "column `{}`, row {rows}: {e}",
                            schema.field(c).name()
                        ))
                    })?;
                    row.push(v);
                }
                req.send(row)
                    .await
                    .map_err(|e| run_err(&format!("bulk insert, row {rows}"), e))?;
            }
        }
        req.finalize()
            .await
            .map_err(|e| run_err("finishing the bulk insert", e))?;
        Ok(rows)
    }

    fn rename_sql(&self, from: &str, to: &str) -> String {
        rename_sql(&self.schema, from, to)
    }

    /// Several statements are one batch inside `BEGIN TRANSACTION` ... `COMMIT`, with
    /// `XACT_ABORT` so that any error rolls the whole batch back.
    fn dml_steps(&self, statements: Vec<String>) -> Vec<Step> {
        match statements.as_slice() {
            [one] => vec![Step::sql(one.clone())],
            _ => vec![Step::sql(format!(
                "SET XACT_ABORT ON; BEGIN TRANSACTION; {}; COMMIT TRANSACTION;",
                statements.join("; ")
            ))],
        }
    }

    /// Both renames in one transaction (`sp_rename` twice), then the old table is dropped.
    fn swap_steps(&self, p: &Publish<'_>) -> Vec<Step> {
        vec![
            Step::sql(swap_sql(&self.schema, p.table, p.staging, p.old)),
            Step::sql(self.drop_sql(p.old)),
        ]
    }
}
