//! Loads a stream with TDS bulk insert into a staging table, then publishes it: `sp_rename`
//! swap in one transaction (full refresh), `MERGE` on the primary key or `INSERT` (incremental).

use super::types::{field_sql_type, to_column_data, Kind};
use super::{
    connect, exec, merge_sql, qualified, rename_sql, run_err, swap_sql, table_exists, MssqlClient,
    MssqlConfig, MssqlDialect, MAX_IDENT,
};
use crate::connectors::sql::{side_table_name, Dialect};
use crate::connectors::{BatchStream, Destination, Staged, WriteReport, WriteTarget};
use crate::error::{Error, Result};
use crate::spec::Mode;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use tiberius::TokenRow;

pub struct MssqlDestination {
    config: MssqlConfig,
}

impl MssqlDestination {
    pub fn new(config: MssqlConfig) -> Self {
        MssqlDestination { config }
    }
}

/// Streams `batches` into the (empty) table `staging` with one bulk insert.
async fn load(
    client: &mut MssqlClient,
    staging: &str,
    schema: &SchemaRef,
    kinds: &[Kind],
    mut batches: BatchStream,
) -> Result<u64> {
    let mut req = client
        .bulk_insert(staging)
        .await
        .map_err(|e| run_err("starting the bulk insert", e))?;
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
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

#[async_trait]
impl Destination for MssqlDestination {
    async fn check(&self) -> Result<()> {
        super::check(&self.config).await
    }

    fn describe(&self, target: &WriteTarget) -> String {
        format!(
            "table [{}].[{}] in database `{}` on {}:{}",
            self.config.schema,
            target.stream.name,
            self.config.database,
            self.config.host,
            self.config.port
        )
    }

    /// Connects before anything is read, so a wrong password or an unreachable server fails
    /// the run up front.
    async fn preflight(&self, _target: &WriteTarget) -> Result<()> {
        self.check().await
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let table = target.stream.name.clone();
        let what = format!("table `{table}`");
        let db_schema = self.config.schema.clone();
        let staging = side_table_name("_etl_stage_", &table, &target.run_id, MAX_IDENT);
        let quoted_staging = qualified(&db_schema, &staging);
        let ddl = MssqlDialect
            .create_table(&quoted_staging, &schema, &target.stream.primary_key)
            .map_err(|e| Error::run(format!("{what}: {e}")))?;
        let kinds = schema
            .fields()
            .iter()
            .map(|f| {
                let in_key = target.stream.primary_key.iter().any(|k| k == f.name());
                field_sql_type(f, in_key)
                    .map(|t| t.kind)
                    .map_err(|e| Error::run(format!("{what}, column `{}`: {e}", f.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut client = connect(&self.config).await?;
        exec(
            &mut client,
            &format!("DROP TABLE IF EXISTS {quoted_staging}"),
            &what,
        )
        .await?;
        exec(
            &mut client,
            &ddl,
            &format!("{what}: creating the staging table"),
        )
        .await?;
        match load(&mut client, &quoted_staging, &schema, &kinds, batches).await {
            Ok(rows) => Ok(Box::new(StagedTable {
                client,
                schema: db_schema,
                table,
                staging,
                columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
                primary_key: target.stream.primary_key.clone(),
                mode: target.mode,
                run_id: target.run_id.clone(),
                rows,
            })),
            Err(e) => {
                // The bulk load may have left the connection mid-request: drop the staging
                // table over a fresh one.
                drop(client);
                if let Ok(mut c) = connect(&self.config).await {
                    let _ = exec(
                        &mut c,
                        &format!("DROP TABLE IF EXISTS {quoted_staging}"),
                        &what,
                    )
                    .await;
                    let _ = c.close().await;
                }
                Err(e.context(format!("loading {what}")))
            }
        }
    }
}

/// A loaded staging table, waiting to be swapped in (full refresh) or merged.
struct StagedTable {
    client: MssqlClient,
    schema: String,
    table: String,
    staging: String,
    columns: Vec<String>,
    primary_key: Vec<String>,
    mode: Mode,
    run_id: String,
    rows: u64,
}

impl StagedTable {
    async fn publish(&mut self) -> Result<()> {
        let what = format!("table `{}`", self.table);
        let exists = table_exists(&mut self.client, &self.schema, &self.table).await?;
        if !exists {
            let sql = rename_sql(&self.schema, &self.staging, &self.table);
            return exec(&mut self.client, &sql, &what).await;
        }
        match self.mode {
            Mode::FullRefresh => {
                let old = side_table_name("_etl_old_", &self.table, &self.run_id, MAX_IDENT);
                let sql = swap_sql(&self.schema, &self.table, &self.staging, &old);
                exec(&mut self.client, &sql, &what).await?;
                let drop = format!("DROP TABLE {}", qualified(&self.schema, &old));
                exec(&mut self.client, &drop, &what).await
            }
            Mode::Incremental => {
                let sql = merge_sql(
                    &self.schema,
                    &self.table,
                    &self.staging,
                    &self.columns,
                    &self.primary_key,
                );
                exec(&mut self.client, &sql, &what).await?;
                let drop = format!("DROP TABLE {}", qualified(&self.schema, &self.staging));
                exec(&mut self.client, &drop, &what).await
            }
        }
    }

    async fn drop_staging(&mut self) -> Result<()> {
        let staging = qualified(&self.schema, &self.staging);
        exec(
            &mut self.client,
            &format!("DROP TABLE IF EXISTS {staging}"),
            &format!("dropping staging table {staging}"),
        )
        .await
    }
}

#[async_trait]
impl Staged for StagedTable {
    async fn commit(mut self: Box<Self>) -> Result<WriteReport> {
        if let Err(e) = self.publish().await {
            let _ = self.drop_staging().await;
            return Err(e);
        }
        let report = WriteReport {
            rows: self.rows,
            outputs: vec![format!("{}.{}", self.schema, self.table)],
        };
        let _ = self.client.close().await;
        Ok(report)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.drop_staging().await
    }
}
