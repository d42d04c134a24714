use super::types::{append, arrow_type, infer_type};
use super::{sqlite_err, SqliteConfig, SqliteDialect};
use crate::connectors::sql::names::{schema_of_name, table_candidates, table_not_found};
use crate::connectors::sql::reader::{spawn_blocking_reader, BatchTx, Batcher, SchemaSlot};
use crate::connectors::sql::{hook_failed, keys_select, Dialect};
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::spec::{Defaults, StreamSpec};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Arc;

pub struct SqliteSource {
    config: SqliteConfig,
    batch_size: Option<usize>,
    /// The run's read transaction (one snapshot for every stream of the run).
    run: Arc<std::sync::Mutex<RunRead>>,
}

/// How the streams of one run read the database.
enum RunRead {
    /// No stream has read yet.
    Unopened,
    /// WAL mode: one connection holds one read transaction for the whole run; every stream
    /// reads through it (one after another), so all see the same moment while writers go on.
    Shared(Connection),
    /// Rollback-journal mode: a read transaction would keep every writer out for the whole run
    /// (a destination in the same file too), so each stream reads in its own transaction.
    PerStream,
}

impl SqliteSource {
    pub fn new(config: SqliteConfig, _defaults: &Defaults) -> Self {
        let batch_size = config.batch_size;
        SqliteSource {
            config,
            batch_size,
            run: Arc::new(std::sync::Mutex::new(RunRead::Unopened)),
        }
    }
}

/// Reads `request` through the run's read transaction (see [`RunRead`]); `delete_missing`'s key
/// reads use a connection of their own, so that they never wait for another stream's read.
fn read_in_run(
    run: &std::sync::Mutex<RunRead>,
    path: &str,
    request: &ReadRequest,
    batch_size: usize,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    if !request.keys_only.is_empty() {
        return read_blocking(&open(path)?, path, request, batch_size, slot, tx);
    }
    let mut held = run
        .lock()
        .map_err(|_| Error::run("the run's sqlite read transaction failed earlier"))?;
    if matches!(*held, RunRead::Unopened) {
        let conn = open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        *held = if mode.eq_ignore_ascii_case("wal") {
            // BEGIN is deferred: the first SELECT takes the snapshot.
            conn.execute_batch("BEGIN")?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
            RunRead::Shared(conn)
        } else {
            RunRead::PerStream
        };
    }
    match &*held {
        RunRead::Shared(conn) => read_blocking(conn, path, request, batch_size, slot, tx),
        _ => {
            drop(held);
            read_blocking(&open(path)?, path, request, batch_size, slot, tx)
        }
    }
}

/// Opens the database read-only, with a clear error when the file is missing or not SQLite.
fn open(path: &str) -> Result<Connection> {
    if !Path::new(path).is_file() {
        return Err(Error::Connection(format!(
            "sqlite database file not found: {path}"
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::Connection(format!("cannot open sqlite database {path}: {e}")))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| Error::Connection(format!("cannot read sqlite database {path}: {e}")))?;
    Ok(conn)
}

/// User tables (not SQLite's own, not our staging tables), in name order.
fn tables(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_etl\\_stage\\_%' ESCAPE '\\' \
         ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// Whether table or view `name` exists in attached database `schema` (`main` when `None`).
fn object_exists(conn: &Connection, schema: Option<&str>, name: &str) -> Result<bool> {
    let master = match schema {
        Some(s) if !databases(conn)?.iter().any(|d| d == s) => return Ok(false),
        Some(s) => format!("{}.sqlite_master", SqliteDialect.quote_ident(s)),
        None => "sqlite_master".into(),
    };
    Ok(conn.query_row(
        &format!(
            "SELECT count(*) FROM {master} WHERE type IN ('table','view') AND name = ?1 COLLATE NOCASE"
        ),
        [name],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// The attached databases (`main`, and any `ATTACH`ed), SQLite's schemas.
fn databases(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_database_list ORDER BY seq")?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// The SELECT a stream reads, and how to name it in errors.
fn stream_sql(conn: &Connection, stream: &StreamSpec, path: &str) -> Result<(String, String)> {
    if let Some(q) = &stream.query {
        return Ok((q.clone(), format!("query of stream `{}`", stream.name)));
    }
    let table = stream.table.as_deref().unwrap_or(&stream.name);
    for (schema, t) in table_candidates(table) {
        if object_exists(conn, schema.as_deref(), &t)? {
            let q = SqliteDialect.quote_ident(&t);
            let q = match &schema {
                Some(s) => format!("{}.{q}", SqliteDialect.quote_ident(s)),
                None => q,
            };
            return Ok((format!("SELECT * FROM {q}"), format!("table `{table}`")));
        }
    }
    let schema = schema_of_name(table, "main");
    let exists = databases(conn)?.contains(&schema);
    let known = if exists && schema == "main" {
        tables(conn)?
    } else {
        databases(conn)?
    };
    Err(table_not_found(
        table,
        ("schema", &schema),
        exists,
        &known,
        &format!("sqlite database {path}"),
    ))
}

/// Checks one stream: its table is there and its SELECT prepares.
fn check_stream(conn: &Connection, stream: &StreamSpec, path: &str) -> Result<()> {
    let (sql, what) = stream_sql(conn, stream, path)?;
    let stmt = conn.prepare(&sql).map_err(|e| sqlite_err(&what, e))?;
    declared_fields(&stmt, &what).map(|_| ())
}

/// Arrow fields from declared column types; `None` where a column has no declared type.
fn declared_fields(
    stmt: &rusqlite::Statement<'_>,
    what: &str,
) -> Result<Vec<(String, Option<DataType>)>> {
    stmt.columns()
        .map(|c| {
            let ty = match c.decl_type() {
                Some(decl) if !decl.trim().is_empty() => Some(
                    arrow_type(decl)
                        .map_err(|e| Error::run(format!("{what}, column `{}`: {e}", c.name())))?,
                ),
                _ => None,
            };
            Ok((c.name().to_string(), ty))
        })
        .collect()
}

fn schema_of(fields: &[(String, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Reads a stream on the calling (blocking) thread, sending batches into `tx`.
fn read_blocking(
    conn: &Connection,
    path: &str,
    request: &ReadRequest,
    batch_size: usize,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    let stream = &request.stream;
    for sql in &stream.source_pre_sql {
        conn.execute_batch(sql)
            .map_err(|e| hook_failed("source_pre_sql", sql, sqlite_err(&stream.name, e)))?;
    }
    let (sql, what) = stream_sql(conn, stream, path)?;
    // Incremental: rows at or after the cursor (>= keeps rows sharing the boundary value).
    let (sql, param) = match &request.cursor {
        _ if !request.keys_only.is_empty() => (
            keys_select(&SqliteDialect, &sql, &request.keys_only, "AS "),
            None,
        ),
        Some((field, value)) => (
            format!(
                "SELECT * FROM ({sql}) AS _etl_src WHERE {} >= ?1",
                SqliteDialect.quote_ident(field)
            ),
            Some(match value {
                CursorValue::Int(i) => rusqlite::types::Value::Integer(*i),
                CursorValue::Float(f) => rusqlite::types::Value::Real(*f),
                other => rusqlite::types::Value::Text(other.text()),
            }),
        ),
        None => (sql, None),
    };
    let mut stmt = conn.prepare(&sql).map_err(|e| sqlite_err(&what, e))?;
    let declared = declared_fields(&stmt, &what)?;
    let ncols = declared.len();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(param.iter()))
        .map_err(|e| sqlite_err(&what, e))?;

    // Columns without a declared type take the type of their first value in the first batch.
    let mut first: Vec<Vec<Value>> = Vec::new();
    let mut exhausted = false;
    if declared.iter().any(|(_, t)| t.is_none()) {
        while first.len() < batch_size {
            match rows.next().map_err(|e| sqlite_err(&what, e))? {
                Some(r) => first.push(
                    (0..ncols)
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<rusqlite::Result<_>>()?,
                ),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
    }
    let fields: Vec<(String, DataType)> = declared
        .into_iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let t = t.unwrap_or_else(|| {
                first
                    .iter()
                    .find_map(|r| infer_type((&r[i]).into()))
                    .unwrap_or(DataType::Utf8)
            });
            (name, t)
        })
        .collect();
    let schema = schema_of(&fields);
    slot.send(schema.clone());

    let mut batcher = Batcher::new(schema, batch_size, &what)?;
    for r in &first {
        batcher.start_row();
        for (i, v) in r.iter().enumerate() {
            if let Err(e) = append(&mut batcher.builders[i], v.into()) {
                return Err(batcher.value_error(i, e));
            }
        }
        if !batcher.end_row_blocking(&tx)? {
            return Ok(());
        }
    }
    if !exhausted {
        while let Some(r) = rows.next().map_err(|e| sqlite_err(&what, e))? {
            batcher.start_row();
            for i in 0..ncols {
                if let Err(e) = append(&mut batcher.builders[i], r.get_ref(i)?) {
                    return Err(batcher.value_error(i, e));
                }
            }
            if !batcher.end_row_blocking(&tx)? {
                return Ok(()); // the reader went away: stop quietly
            }
        }
    }
    batcher.close_blocking(&tx)?;
    Ok(())
}

#[async_trait]
impl Source for SqliteSource {
    async fn check(&self) -> Result<()> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || open(&path).map(|_| ()))
            .await
            .map_err(|e| Error::run(format!("sqlite check panicked: {e}")))?
    }

    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        let (path, streams) = (self.config.database_path.clone(), streams.to_vec());
        tokio::task::spawn_blocking(move || {
            let conn = open(&path)?;
            Ok(streams
                .iter()
                .map(|s| check_stream(&conn, s, &path))
                .collect())
        })
        .await
        .map_err(|e| Error::run(format!("sqlite check panicked: {e}")))?
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<StreamInfo>> {
            let conn = open(&path)?;
            let mut out = Vec::new();
            for t in tables(&conn)? {
                let stmt =
                    conn.prepare(&format!("SELECT * FROM {}", SqliteDialect.quote_ident(&t)))?;
                let what = format!("table `{t}`");
                let fields: Vec<(String, DataType)> = declared_fields(&stmt, &what)?
                    .into_iter()
                    .map(|(n, t)| (n, t.unwrap_or(DataType::Utf8)))
                    .collect();
                // SQLite keeps no row statistics unless ANALYZE ran; counting is a scan of the
                // table's smallest index, fast for a local file.
                let rows: i64 = conn.query_row(
                    &format!("SELECT count(*) FROM {}", SqliteDialect.quote_ident(&t)),
                    [],
                    |r| r.get(0),
                )?;
                out.push(StreamInfo {
                    name: t,
                    schema: schema_of(&fields),
                    rows_estimate: u64::try_from(rows).ok(),
                });
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::run(format!("sqlite discover panicked: {e}")))?
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<StreamSpec>> {
            Ok(tables(&open(&path)?)?
                .into_iter()
                .map(StreamSpec::named)
                .collect())
        })
        .await
        .map_err(|e| Error::run(format!("sqlite panicked: {e}")))?
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let path = self.config.database_path.clone();
        let batch_size = self.batch_size.unwrap_or(request.batch_size).max(1);
        let run = self.run.clone();
        spawn_blocking_reader("sqlite", move |slot, tx| {
            read_in_run(&run, &path, &request, batch_size, slot, tx)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A query with an untyped column infers its type from the first batch; the batches after
    /// it keep the batch size.
    #[tokio::test]
    async fn batches_after_type_inference_keep_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 7) INSERT INTO t SELECT i FROM n;",
        )
        .unwrap();
        let source = SqliteSource::new(
            SqliteConfig {
                database_path: path.to_string_lossy().into_owned(),
                batch_size: Some(2),
            },
            &Defaults::default(),
        );
        let stream = StreamSpec {
            query: Some("SELECT id, id * 2 AS twice FROM t ORDER BY id".into()),
            ..StreamSpec::named("q")
        };
        let reader = source.read(ReadRequest::new(stream, 2)).await.unwrap();
        assert_eq!(reader.schema.field(1).data_type(), &DataType::Int64);
        let sizes: Vec<usize> = reader
            .batches
            .map(|b| b.unwrap().num_rows())
            .collect()
            .await;
        assert_eq!(sizes, vec![2, 2, 2, 1]);
    }
}
