//! Loads a stream with `LOAD DATA LOCAL INFILE`, fed from memory through mysql_async's local
//! infile handler (no temporary file): batches are encoded as tab-separated text while the
//! server reads them, into a staging table that `commit` swaps in with one `RENAME TABLE`.

use super::types::{declared_arrow_type, field_column_type, loads_as_hex, write_field};
use super::{connect, quote, run_err, table_exists, MysqlConfig, MysqlDialect};
use crate::connectors::sql::drift::TableColumn;
use crate::connectors::sql::engine::{verb, Driver, Load, Publish, SqlDestination, Step};
use crate::connectors::sql::Dialect;
use crate::connectors::BatchStream;
use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Strict mode for everything but `LOAD DATA LOCAL` (which turns errors into warnings: those
/// are checked after the load).
const WRITE_INIT: &[&str] =
    &["SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'"];

/// Bytes of encoded rows handed to the driver at a time.
const CHUNK: usize = 1 << 20;

/// The MySQL / MariaDB destination: the SQL engine with [`MysqlConfig`] as its driver.
pub type MysqlDestination = SqlDestination<MysqlConfig>;

async fn ensure_local_infile(conn: &mut Conn, config: &MysqlConfig) -> Result<()> {
    let on: Option<i64> = conn
        .query_first("SELECT @@local_infile")
        .await
        .map_err(|e| run_err(&config.describe(), e))?;
    if on != Some(1) {
        return Err(Error::run(format!(
            "{} has local_infile=OFF; etl loads with LOAD DATA LOCAL INFILE: enable it with SET GLOBAL local_infile = 1",
            config.describe()
        )));
    }
    Ok(())
}

/// Encodes every batch as `LOAD DATA` text into `out`. Returns the number of rows.
async fn feed(
    schema: SchemaRef,
    batches: &mut BatchStream,
    out: mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<u64> {
    let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        if batch.schema().fields().len() != schema.fields().len() {
            return Err(Error::run(format!(
                "a batch has {} columns, the stream's schema {}",
                batch.num_columns(),
                schema.fields().len()
            )));
        }
        let batch = crate::connectors::sql::nested_as_json(&batch)?;
        let cols = batch.columns();
        for r in 0..batch.num_rows() {
            rows += 1;
            for (c, col) in cols.iter().enumerate() {
                if c > 0 {
                    buf.push(b'\t');
                }
                write_field(col.as_ref(), r, &mut buf).map_err(|e| {
                    Error::Value(format!(
                        "column `{}`, row {rows}: {e}",
                        schema.field(c).name()
                    ))
                })?;
            }
            buf.push(b'\n');
            if buf.len() >= CHUNK {
                let chunk = Bytes::from(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK + 64 * 1024),
                ));
                if out.send(Ok(chunk)).await.is_err() {
                    return Err(Error::run("the server stopped reading the load"));
                }
            }
        }
    }
    if !buf.is_empty() && out.send(Ok(Bytes::from(buf))).await.is_err() {
        return Err(Error::run("the server stopped reading the load"));
    }
    Ok(rows)
}

/// `MODIFY COLUMN`, which restates the whole column: its type and whether it takes NULL.
fn modify_sql(table: &str, column: &str, declared: &str, nullable: bool) -> String {
    let null = if nullable { "NULL" } else { "NOT NULL" };
    format!(
        "ALTER TABLE {} MODIFY COLUMN {} {declared} {null}",
        quote(table),
        quote(column)
    )
}

#[async_trait]
impl Driver for MysqlConfig {
    type Conn = Conn;

    const DIALECT: &'static dyn Dialect = &MysqlDialect;

    fn describe(&self, table: &str) -> String {
        format!(
            "table `{}`.`{table}` on {}:{}",
            self.database, self.host, self.port
        )
    }

    const MAX_IDENT: usize = 64;
    const TRANSACTIONAL_DDL: bool = false;

    async fn connect(&self) -> Result<Conn> {
        connect(self, WRITE_INIT).await
    }

    /// The bulk load needs `local_infile` on the server.
    async fn check(&self, conn: &mut Conn) -> Result<()> {
        ensure_local_infile(conn, self).await
    }

    async fn execute(&self, conn: &mut Conn, sql: &str) -> Result<()> {
        conn.query_drop(sql)
            .await
            .map_err(|e| run_err(&verb(sql), e))
    }

    async fn table_exists(&self, conn: &mut Conn, table: &str) -> Result<bool> {
        table_exists(conn, None, table).await
    }

    /// `information_schema.columns`: `COLUMN_TYPE` read as the MySQL source reads it, and the
    /// character (or byte) length of text and binary columns.
    async fn table_columns(&self, conn: &mut Conn, table: &str) -> Result<Vec<TableColumn>> {
        let rows: Vec<(String, String, String, Option<u64>)> = conn
            .exec(
                "SELECT column_name, column_type, is_nullable, character_maximum_length \
                 FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
            .await
            .map_err(|e| run_err(&format!("listing the columns of `{table}`"), e))?;
        Ok(rows
            .into_iter()
            .map(|(name, declared, nullable, max_len)| {
                let mapped = declared_arrow_type(&declared)
                    .ok_or_else(|| format!("`{declared}` has no Arrow mapping"));
                TableColumn::new(name, declared, mapped, max_len, nullable == "YES")
            })
            .collect())
    }

    /// `ADD COLUMN ... NULL`: explicit, as in `CREATE TABLE` (see the dialect).
    fn add_column_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {} NULL",
            quote(table),
            quote(&column.name),
            column.declared
        )]
    }

    fn widen_column_sql(&self, table: &str, old: &TableColumn, new: &TableColumn) -> Vec<String> {
        vec![modify_sql(table, &new.name, &new.declared, old.nullable)]
    }

    fn allow_null_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![modify_sql(table, &column.name, &column.declared, true)]
    }

    async fn etl_tables(&self, conn: &mut Conn) -> Result<Vec<String>> {
        conn.query::<String, _>(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND LEFT(table_name, 5) = '_etl_'",
        )
        .await
        .map_err(|e| run_err("listing etl's tables", e))
    }

    async fn close(&self, conn: Conn) {
        let _ = conn.disconnect().await;
    }

    /// One `LOAD DATA LOCAL INFILE` into the (empty) staging table, fed while it runs.
    async fn bulk_load(&self, conn: &mut Conn, load: Load<'_>) -> Result<u64> {
        let (staging, schema, primary_key) = (load.staging, load.schema, load.primary_key);
        let batches = load.batches;
        let mut targets = Vec::new();
        let mut sets = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let in_key = primary_key.iter().any(|k| k == f.name());
            let declared = field_column_type(f, in_key)
                .unwrap_or_default()
                .to_ascii_lowercase();
            // LOAD DATA reads every field as text: bytes arrive hex-encoded, and BIT columns would
            // take the digits' bytes, so both go through a variable and a conversion.
            let convert = if loads_as_hex(f.data_type()) {
                Some(format!("UNHEX(@v{i})"))
            } else if declared.starts_with("bit") {
                Some(format!("CAST(@v{i} AS UNSIGNED)"))
            } else {
                None
            };
            match convert {
                Some(expr) => {
                    targets.push(format!("@v{i}"));
                    sets.push(format!("{} = {expr}", quote(f.name())));
                }
                None => targets.push(quote(f.name())),
            }
        }
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'etl-stream' INTO TABLE {} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({}){}",
            quote(staging),
            targets.join(", "),
            if sets.is_empty() {
                String::new()
            } else {
                format!(" SET {}", sets.join(", "))
            }
        );
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
        conn.set_infile_handler(async move {
            let data: mysql_async::InfileData = Box::pin(ReceiverStream::new(rx));
            Ok(data)
        });
        let (loaded, fed) = {
            let feeder = feed(schema.clone(), batches, tx);
            let query = conn.query_drop(sql);
            tokio::pin!(feeder);
            tokio::pin!(query);
            let mut fed: Option<Result<u64>> = None;
            let loaded = loop {
                tokio::select! {
                    r = &mut query => break r,
                    f = &mut feeder, if fed.is_none() => fed = Some(f),
                }
            };
            (loaded, fed)
        };
        // An encoding or upstream error ends the data early: report it, not the partial load.
        if let Some(Err(e)) = fed {
            return Err(e);
        }
        loaded.map_err(|e| run_err("LOAD DATA", e))?;
        let rows = match fed {
            Some(Ok(rows)) => rows,
            _ => return Err(Error::run("LOAD DATA finished before all rows were sent")),
        };
        let warnings = conn.get_warnings();
        if warnings > 0 {
            let shown: Vec<(String, u32, String)> = conn
                .query("SHOW WARNINGS LIMIT 3")
                .await
                .map_err(|e| run_err("SHOW WARNINGS", e))?;
            let list: Vec<String> = shown
                .into_iter()
                .map(|(level, code, msg)| format!("{level} {code}: {msg}"))
                .collect();
            return Err(Error::Value(format!(
                "the server did not store {warnings} value(s) exactly ({})",
                list.join("; ")
            )));
        }
        Ok(rows)
    }

    fn rename_sql(&self, from: &str, to: &str) -> String {
        format!("RENAME TABLE {} TO {}", quote(from), quote(to))
    }

    /// One `RENAME TABLE` swaps both names atomically (readers see the old table or the new
    /// one, never neither); then the old table is dropped.
    fn swap_steps(&self, p: &Publish<'_>) -> Vec<Step> {
        let (t, s, old) = (quote(p.table), quote(p.staging), quote(p.old));
        vec![
            Step::sql(format!("RENAME TABLE {t} TO {old}, {s} TO {t}")),
            Step::sql(format!("DROP TABLE {old}")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_renames_both_tables_in_one_statement() {
        let w: MysqlConfig = serde_yaml_ng::from_str("host: h\ndatabase: d\nuser: u\n").unwrap();
        let cols = ["id".to_string()];
        let p = Publish {
            mode: crate::spec::Mode::FullRefresh,
            exists: true,
            table: "t",
            staging: "_etl_stage_t_x",
            old: "_etl_old_t_x",
            columns: &cols,
            primary_key: &[],
            strategy: Default::default(),
        };
        assert_eq!(
            w.swap_steps(&p),
            vec![
                Step::sql("RENAME TABLE `t` TO `_etl_old_t_x`, `_etl_stage_t_x` TO `t`"),
                Step::sql("DROP TABLE `_etl_old_t_x`"),
            ]
        );
    }
}
