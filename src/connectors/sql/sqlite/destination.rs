use super::types::sql_value;
use super::{SqliteConfig, SqliteDialect};
use crate::connectors::sql::{default_merge_sql, staging_table_name, Dialect};
use crate::connectors::{BatchStream, Destination, Staged, WriteReport, WriteTarget};
use crate::error::{Error, Result};
use crate::spec::Mode;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use rusqlite::Connection;
use std::path::Path;

/// SQLite's limit on bound parameters in one statement.
const MAX_PARAMS: usize = 32_766;
const DEFAULT_ROWS_PER_INSERT: usize = 1000;

pub struct SqliteDestination {
    config: SqliteConfig,
    /// SQLite has one writer per database: streams running at the same time take turns from
    /// their first insert to their commit instead of failing with "database is locked".
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteDestination {
    pub fn new(config: SqliteConfig) -> Self {
        SqliteDestination {
            config,
            writer: Default::default(),
        }
    }
}

fn open_rw(path: &str) -> Result<Connection> {
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            return Err(Error::Connection(format!(
                "cannot create sqlite database {path}: folder {} does not exist",
                parent.display()
            )));
        }
    }
    let conn = Connection::open(path)
        .map_err(|e| Error::Connection(format!("cannot open sqlite database {path}: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| Error::Connection(format!("cannot use sqlite database {path}: {e}")))?;
    Ok(conn)
}

/// A loaded staging table inside an open transaction, waiting to be swapped in.
struct StagedTable {
    conn: Connection,
    staging: String,
    table: String,
    rows: u64,
    /// Incremental: merge into (or append to) the table instead of replacing it.
    merge: bool,
    /// Held until commit or abort (see `SqliteDestination::writer`).
    _turn: tokio::sync::OwnedMutexGuard<()>,
    columns: Vec<String>,
    primary_key: Vec<String>,
}

/// Loads every batch into a new staging table inside one transaction.
fn load(
    conn: &Connection,
    staging_q: &str,
    schema: &SchemaRef,
    primary_key: &[String],
    rows_per_insert: usize,
    batches: std::sync::mpsc::Receiver<RecordBatch>,
) -> Result<u64> {
    let ddl = SqliteDialect
        .create_table(staging_q, schema, primary_key)
        .map_err(Error::run)?;
    conn.execute_batch(&ddl)?;
    let ncols = schema.fields().len().max(1);
    let per_stmt = rows_per_insert.clamp(1, (MAX_PARAMS / ncols).max(1));
    let row_params = format!("({})", vec!["?"; ncols].join(","));
    let insert = |n: usize| {
        format!(
            "INSERT INTO {staging_q} VALUES {}",
            vec![row_params.as_str(); n].join(",")
        )
    };
    let mut full = conn.prepare(&insert(per_stmt))?;
    let mut rows = 0u64;
    for batch in batches {
        let cols = batch.columns();
        let mut start = 0;
        while start < batch.num_rows() {
            let n = per_stmt.min(batch.num_rows() - start);
            let mut partial;
            let stmt = if n == per_stmt {
                &mut full
            } else {
                partial = conn.prepare_cached(&insert(n))?;
                &mut *partial
            };
            let mut p = 1;
            for r in start..start + n {
                for (c, col) in cols.iter().enumerate() {
                    let v = sql_value(col.as_ref(), r).map_err(|e| {
                        Error::Value(format!(
                            "column `{}`, row {}: {e}",
                            schema.field(c).name(),
                            rows + (r + 1) as u64
                        ))
                    })?;
                    stmt.raw_bind_parameter(p, v)?;
                    p += 1;
                }
            }
            stmt.raw_execute()?;
            start += n;
        }
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

#[async_trait]
impl Destination for SqliteDestination {
    async fn check(&self) -> Result<()> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || open_rw(&path).map(|_| ()))
            .await
            .map_err(|e| Error::run(format!("sqlite check panicked: {e}")))?
    }

    fn describe(&self, target: &WriteTarget) -> String {
        format!(
            "table `{}` in {}",
            target.stream.name, self.config.database_path
        )
    }

    async fn preflight(&self, _target: &WriteTarget) -> Result<()> {
        Ok(())
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        mut batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let path = self.config.database_path.clone();
        let table = target.stream.name.clone();
        let staging = staging_table_name(&table, &target.run_id);
        let primary_key = target.stream.primary_key.clone();
        let rows_per_insert = self.config.batch_size.unwrap_or(DEFAULT_ROWS_PER_INSERT);
        let merge = target.mode == Mode::Incremental;
        let turn = self.writer.clone().lock_owned().await;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let worker = tokio::task::spawn_blocking(move || -> Result<StagedTable> {
            let conn = open_rw(&path)?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let staging_q = SqliteDialect.quote_ident(&staging);
            match load(
                &conn,
                &staging_q,
                &schema,
                &primary_key,
                rows_per_insert,
                rx,
            ) {
                Ok(rows) => Ok(StagedTable {
                    conn,
                    staging,
                    table,
                    rows,
                    merge,
                    _turn: turn,
                    columns,
                    primary_key,
                }),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        });
        let mut feed_err = None;
        while let Some(item) = batches.next().await {
            match item {
                Ok(batch) => {
                    if tx.send(batch).is_err() {
                        break; // the loader failed; its error is reported below
                    }
                }
                Err(e) => {
                    feed_err = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let staged = worker
            .await
            .map_err(|e| Error::run(format!("sqlite writer panicked: {e}")))?;
        match (feed_err, staged) {
            (None, Ok(staged)) => Ok(Box::new(staged)),
            (Some(e), Ok(staged)) => {
                Box::new(staged).abort().await?;
                Err(e)
            }
            (_, Err(e)) => Err(e),
        }
    }
}

#[async_trait]
impl Staged for StagedTable {
    async fn commit(self: Box<Self>) -> Result<WriteReport> {
        tokio::task::spawn_blocking(move || -> Result<WriteReport> {
            let q = |s: &str| SqliteDialect.quote_ident(s);
            let (t, s) = (q(&self.table), q(&self.staging));
            let exists: bool = self.conn.query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&self.table],
                |r| r.get(0),
            )?;
            let sql = if self.merge && exists {
                // Incremental: upsert on the primary key (append without one), same transaction.
                format!(
                    "{}; DROP TABLE {s}; COMMIT",
                    default_merge_sql(&SqliteDialect, &t, &s, &self.columns, &self.primary_key)
                )
            } else {
                format!("DROP TABLE IF EXISTS {t}; ALTER TABLE {s} RENAME TO {t}; COMMIT")
            };
            crate::fault::point("sql-before-publish");
            if let Err(e) = self.conn.execute_batch(&sql) {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
            Ok(WriteReport {
                rows: self.rows,
                outputs: vec![self.table.clone()],
            })
        })
        .await
        .map_err(|e| Error::run(format!("sqlite commit panicked: {e}")))?
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        tokio::task::spawn_blocking(move || self.conn.execute_batch("ROLLBACK"))
            .await
            .map_err(|e| Error::run(format!("sqlite rollback panicked: {e}")))??;
        Ok(())
    }
}
