//! Loads a stream with `LOAD DATA LOCAL INFILE`, fed from memory through mysql_async's local
//! infile handler (no temporary file): batches are encoded as tab-separated text while the
//! server reads them, into a staging table that `commit` swaps in with one `RENAME TABLE`.

use super::types::{field_column_type, loads_as_hex, write_field};
use super::{connect, exec_drop, quote, run_err, table_exists, MysqlConfig, MysqlDialect};
use crate::connectors::sql::{side_table_name, Dialect};
use crate::connectors::{BatchStream, Destination, Staged, WriteReport, WriteTarget};
use crate::error::{Error, Result};
use crate::spec::Mode;
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
/// MySQL's limit on identifier length.
const MAX_IDENT: usize = 64;

pub struct MysqlDestination {
    config: MysqlConfig,
}

impl MysqlDestination {
    pub fn new(config: MysqlConfig) -> Self {
        MysqlDestination { config }
    }
}

/// `prefix` + table + run suffix, shortened to MySQL's 64-character limit.
fn side_table(prefix: &str, table: &str, run_id: &str) -> String {
    side_table_name(prefix, table, run_id, MAX_IDENT)
}

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
    mut batches: BatchStream,
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

/// Streams `batches` into the (empty) table `staging` with one `LOAD DATA LOCAL INFILE`.
async fn load(
    conn: &mut Conn,
    staging: &str,
    schema: &SchemaRef,
    primary_key: &[String],
    batches: BatchStream,
) -> Result<u64> {
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

#[async_trait]
impl Destination for MysqlDestination {
    async fn check(&self) -> Result<()> {
        let mut conn = connect(&self.config, WRITE_INIT).await?;
        ensure_local_infile(&mut conn, &self.config).await?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    fn describe(&self, target: &WriteTarget) -> String {
        format!(
            "table `{}`.`{}` on {}:{}",
            self.config.database, target.stream.name, self.config.host, self.config.port
        )
    }

    /// Connects (and checks `local_infile`) before anything is read, so a wrong password or an
    /// unreachable destination fails the run up front.
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
        let staging = side_table("_etl_stage_", &table, &target.run_id);
        let what = format!("table `{table}`");
        let ddl = MysqlDialect
            .create_table(&quote(&staging), &schema, &target.stream.primary_key)
            .map_err(|e| Error::run(format!("{what}: {e}")))?;
        let mut conn = connect(&self.config, WRITE_INIT).await?;
        ensure_local_infile(&mut conn, &self.config).await?;
        exec_drop(
            &mut conn,
            &format!("DROP TABLE IF EXISTS {}", quote(&staging)),
            &what,
        )
        .await?;
        exec_drop(
            &mut conn,
            &ddl,
            &format!("{what}: creating the staging table"),
        )
        .await?;
        match load(
            &mut conn,
            &staging,
            &schema,
            &target.stream.primary_key,
            batches,
        )
        .await
        {
            Ok(rows) => Ok(Box::new(StagedTable {
                conn,
                table,
                staging,
                columns: schema.fields().iter().map(|f| quote(f.name())).collect(),
                primary_key: target.stream.primary_key.clone(),
                mode: target.mode,
                run_id: target.run_id.clone(),
                rows,
            })),
            Err(e) => {
                let _ = conn
                    .query_drop(format!("DROP TABLE IF EXISTS {}", quote(&staging)))
                    .await;
                Err(e.context(format!("loading {what}")))
            }
        }
    }
}

/// A loaded staging table, waiting to be swapped in (full refresh) or appended.
struct StagedTable {
    conn: Conn,
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
        let (t, s) = (quote(&self.table), quote(&self.staging));
        let what = format!("table `{}`", self.table);
        let exists = table_exists(&mut self.conn, None, &self.table).await?;
        if !exists {
            return exec_drop(&mut self.conn, &format!("RENAME TABLE {s} TO {t}"), &what).await;
        }
        match self.mode {
            Mode::FullRefresh => {
                // One RENAME TABLE swaps both names atomically: readers see the old table or
                // the new one, never neither.
                let old = quote(&side_table("_etl_old_", &self.table, &self.run_id));
                exec_drop(
                    &mut self.conn,
                    &format!("RENAME TABLE {t} TO {old}, {s} TO {t}"),
                    &what,
                )
                .await?;
                exec_drop(&mut self.conn, &format!("DROP TABLE {old}"), &what).await
            }
            Mode::Incremental => {
                let cols = self.columns.join(", ");
                // With a primary key, a row whose key exists replaces the old values (merge);
                // without one, rows are appended.
                let merge = if self.primary_key.is_empty() {
                    String::new()
                } else {
                    let keys: Vec<String> = self.primary_key.iter().map(|k| quote(k)).collect();
                    let updates: Vec<String> = self
                        .columns
                        .iter()
                        .filter(|c| !keys.contains(c))
                        .map(|c| format!("{c} = {s}.{c}"))
                        .collect();
                    match updates.is_empty() {
                        // Only key columns: nothing to update, keep the existing row.
                        true => format!(" ON DUPLICATE KEY UPDATE {k} = {t}.{k}", k = keys[0]),
                        false => format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")),
                    }
                };
                exec_drop(
                    &mut self.conn,
                    &format!("INSERT INTO {t} ({cols}) SELECT {cols} FROM {s}{merge}"),
                    &what,
                )
                .await?;
                exec_drop(&mut self.conn, &format!("DROP TABLE {s}"), &what).await
            }
        }
    }
}

#[async_trait]
impl Staged for StagedTable {
    async fn commit(mut self: Box<Self>) -> Result<WriteReport> {
        if let Err(e) = self.publish().await {
            let _ = self
                .conn
                .query_drop(format!("DROP TABLE IF EXISTS {}", quote(&self.staging)))
                .await;
            return Err(e);
        }
        let _ = self.conn.disconnect().await;
        Ok(WriteReport {
            rows: self.rows,
            outputs: vec![self.table.clone()],
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        let staging = quote(&self.staging);
        exec_drop(
            &mut self.conn,
            &format!("DROP TABLE IF EXISTS {staging}"),
            &format!("dropping staging table {staging}"),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::side_table;

    #[test]
    fn side_tables_fit_mysql_names() {
        let run = "20260101T000000Z-abcdef12";
        let s = side_table("_etl_stage_", "t", run);
        assert!(
            s.starts_with("_etl_stage_t_") && s.ends_with("abcdef12"),
            "{s}"
        );
        let long = "x".repeat(80);
        let s = side_table("_etl_old_", &long, run);
        assert_eq!(s.chars().count(), 64, "{s}");
        assert!(
            s.starts_with("_etl_old_xxx") && s.ends_with("abcdef12"),
            "{s}"
        );
    }
}
