//! The SQLite driver of the SQL destination engine: multi-row `INSERT`s into the staging table,
//! everything (staging, load, publish) in one `BEGIN IMMEDIATE` transaction.

use super::types::{arrow_type, sql_value};
use super::{SqliteConfig, SqliteDialect};
use crate::connectors::sql::drift::TableColumn;
use crate::connectors::sql::engine::{Driver, Load, SqlDestination};
use crate::connectors::sql::{nested_as_json, Dialect};
use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// SQLite's limit on bound parameters in one statement.
const MAX_PARAMS: usize = 32_766;
const DEFAULT_ROWS_PER_INSERT: usize = 1000;

/// The SQLite destination.
pub type SqliteDestination = SqlDestination<SqliteWriter>;

pub struct SqliteWriter {
    config: SqliteConfig,
    /// SQLite has one writer per database: streams running at the same time take turns from
    /// their `BEGIN` to their commit instead of failing with "database is locked".
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl From<SqliteConfig> for SqliteWriter {
    fn from(config: SqliteConfig) -> Self {
        SqliteWriter {
            config,
            writer: Default::default(),
        }
    }
}

/// A connection, shared with the blocking threads that use it, and the writer's turn while a
/// transaction is open.
pub struct SqliteConn {
    db: Arc<Mutex<Connection>>,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
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

/// Runs `f` on the connection on a blocking thread.
async fn blocking<T: Send + 'static>(
    db: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    })
    .await
    .map_err(|e| Error::run(format!("sqlite writer panicked: {e}")))?
}

/// Inserts every batch from `batches` into `staging_q` with multi-row `INSERT`s.
fn insert_all(
    conn: &Connection,
    staging_q: &str,
    schema: &SchemaRef,
    rows_per_insert: usize,
    batches: std::sync::mpsc::Receiver<RecordBatch>,
) -> Result<u64> {
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
        let batch = nested_as_json(&batch)?;
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
impl Driver for SqliteWriter {
    type Conn = SqliteConn;

    const DIALECT: &'static dyn Dialect = &SqliteDialect;

    fn describe(&self, table: &str) -> String {
        format!("table `{table}` in {}", self.config.database_path)
    }

    const MAX_IDENT: usize = usize::MAX;
    const TRANSACTIONAL_DDL: bool = true;

    async fn connect(&self) -> Result<SqliteConn> {
        let path = self.config.database_path.clone();
        let db = tokio::task::spawn_blocking(move || open_rw(&path))
            .await
            .map_err(|e| Error::run(format!("sqlite open panicked: {e}")))??;
        Ok(SqliteConn {
            db: Arc::new(Mutex::new(db)),
            turn: None,
        })
    }

    async fn check(&self, _conn: &mut SqliteConn) -> Result<()> {
        Ok(())
    }

    async fn execute(&self, conn: &mut SqliteConn, sql: &str) -> Result<()> {
        let sql = sql.to_string();
        blocking(&conn.db, move |c| Ok(c.execute_batch(&sql)?)).await
    }

    async fn table_exists(&self, conn: &mut SqliteConn, table: &str) -> Result<bool> {
        let table = table.to_string();
        blocking(&conn.db, move |c| {
            Ok(c.query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&table],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// `PRAGMA table_info`, each declared type read as the SQLite source reads it. SQLite keeps
    /// no length for text, so text columns are all unbounded.
    async fn table_columns(&self, conn: &mut SqliteConn, table: &str) -> Result<Vec<TableColumn>> {
        let table = table.to_string();
        blocking(&conn.db, move |c| {
            let mut stmt = c.prepare(
                "SELECT name, type, \"notnull\" FROM pragma_table_info(?1) ORDER BY cid",
            )?;
            let rows = stmt.query_map([&table], |r| {
                let (name, declared): (String, String) = (r.get(0)?, r.get(1)?);
                let not_null: bool = r.get(2)?;
                let mapped = arrow_type(&declared);
                Ok(TableColumn::new(name, declared, mapped, None, !not_null))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// SQLite cannot change a column's type or NOT NULL: the column is rebuilt (see
    /// [`Driver::rebuild_column_sql`]).
    fn widen_column_sql(&self, table: &str, old: &TableColumn, new: &TableColumn) -> Vec<String> {
        let _ = old;
        self.rebuild_column_sql(table, &new.name, &new.declared)
    }

    fn allow_null_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        self.rebuild_column_sql(table, &column.name, &column.declared)
    }

    /// Waits for the database's writer turn, then `BEGIN IMMEDIATE`.
    async fn begin(&self, conn: &mut SqliteConn) -> Result<()> {
        conn.turn = Some(self.writer.clone().lock_owned().await);
        self.execute(conn, "BEGIN IMMEDIATE").await
    }

    async fn bulk_load(&self, conn: &mut SqliteConn, load: Load<'_>) -> Result<u64> {
        let (staging, schema, batches) = (load.staging, load.schema, load.batches);
        let rows_per_insert = self.config.batch_size.unwrap_or(DEFAULT_ROWS_PER_INSERT);
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<RecordBatch>(crate::contract::CHANNEL_CAPACITY);
        let staging_q = self.qualified(staging);
        let schema = schema.clone();
        let worker = {
            let db = conn.db.clone();
            tokio::task::spawn_blocking(move || {
                let c = db.lock().unwrap_or_else(|p| p.into_inner());
                insert_all(&c, &staging_q, &schema, rows_per_insert, rx)
            })
        };
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
        let loaded = worker
            .await
            .map_err(|e| Error::run(format!("sqlite writer panicked: {e}")))?;
        match (feed_err, loaded) {
            (_, Err(e)) | (Some(e), Ok(_)) => Err(e),
            (None, Ok(rows)) => Ok(rows),
        }
    }
}
