use super::types::{arrow_type, infer_type, ColumnBuilder};
use super::{quote_table, sqlite_err, SqliteConfig, SqliteDialect};
use crate::connectors::sql::Dialect;
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::spec::{Defaults, StreamSpec};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

pub struct SqliteSource {
    config: SqliteConfig,
    batch_size: Option<usize>,
}

impl SqliteSource {
    pub fn new(config: SqliteConfig, _defaults: &Defaults) -> Self {
        let batch_size = config.batch_size;
        SqliteSource { config, batch_size }
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

fn object_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = ?1 COLLATE NOCASE",
        [name],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// The SELECT a stream reads, and how to name it in errors.
fn stream_sql(conn: &Connection, stream: &StreamSpec, path: &str) -> Result<(String, String)> {
    if let Some(q) = &stream.query {
        return Ok((q.clone(), format!("query of stream `{}`", stream.name)));
    }
    let table = stream.table.as_deref().unwrap_or(&stream.name);
    let as_is = object_exists(conn, table)?;
    if !as_is {
        let dotted_ok = match table.split_once('.') {
            Some((_, t)) => object_exists(conn, t)?,
            None => false,
        };
        if !dotted_ok {
            let known = tables(conn)?;
            return Err(Error::run(format!(
                "table `{table}` not found in sqlite database {path} (tables: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok((
        format!("SELECT * FROM {}", quote_table(table, as_is)),
        format!("table `{table}`"),
    ))
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
    path: &str,
    stream: &StreamSpec,
    cursor: Option<&(String, CursorValue)>,
    batch_size: usize,
    schema_tx: oneshot::Sender<Result<SchemaRef>>,
    tx: mpsc::Sender<Result<RecordBatch>>,
) {
    let mut schema_tx = Some(schema_tx);
    let result = (|| -> Result<()> {
        let conn = open(path)?;
        let (sql, what) = stream_sql(&conn, stream, path)?;
        // Incremental: rows at or after the cursor (>= keeps rows sharing the boundary value).
        let (sql, param) = match cursor {
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
        if let Some(tx) = schema_tx.take() {
            let _ = tx.send(Ok(schema.clone()));
        }

        let mut builders: Vec<ColumnBuilder> = fields
            .iter()
            .map(|(_, t)| ColumnBuilder::new(t, batch_size))
            .collect();
        let mut in_batch = 0usize;
        let mut row_no = 0u64;
        let fail = |row_no: u64, col: usize, why: String| {
            Error::Value(format!(
                "{what}, column `{}`, row {row_no}: {why}",
                fields[col].0
            ))
        };
        let flush = |builders: &mut Vec<ColumnBuilder>| -> Result<RecordBatch> {
            let cols = builders
                .iter_mut()
                .map(|b| b.finish())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        };
        for r in &first {
            row_no += 1;
            for (i, v) in r.iter().enumerate() {
                builders[i]
                    .append(v.into())
                    .map_err(|e| fail(row_no, i, e))?;
            }
            in_batch += 1;
        }
        if !exhausted {
            while let Some(r) = rows.next().map_err(|e| sqlite_err(&what, e))? {
                row_no += 1;
                for (i, b) in builders.iter_mut().enumerate() {
                    b.append(r.get_ref(i)?).map_err(|e| fail(row_no, i, e))?;
                }
                in_batch += 1;
                if in_batch == batch_size {
                    in_batch = 0;
                    if tx.blocking_send(Ok(flush(&mut builders)?)).is_err() {
                        return Ok(()); // the reader went away: stop quietly
                    }
                }
            }
        }
        if in_batch > 0 {
            let _ = tx.blocking_send(Ok(flush(&mut builders)?));
        }
        Ok(())
    })();
    if let Err(e) = result {
        match schema_tx.take() {
            Some(stx) => {
                let _ = stx.send(Err(e));
            }
            None => {
                let _ = tx.blocking_send(Err(e));
            }
        }
    }
}

#[async_trait]
impl Source for SqliteSource {
    async fn check(&self) -> Result<()> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || open(&path).map(|_| ()))
            .await
            .map_err(|e| Error::run(format!("sqlite check panicked: {e}")))?
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let path = self.config.database_path.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<StreamInfo>> {
            let conn = open(&path)?;
            let mut out = Vec::new();
            for t in tables(&conn)? {
                let stmt = conn.prepare(&format!("SELECT * FROM {}", quote_table(&t, true)))?;
                let what = format!("table `{t}`");
                let fields: Vec<(String, DataType)> = declared_fields(&stmt, &what)?
                    .into_iter()
                    .map(|(n, t)| (n, t.unwrap_or(DataType::Utf8)))
                    .collect();
                // SQLite keeps no row statistics unless ANALYZE ran; counting is a scan of the
                // table's smallest index, fast for a local file.
                let rows: i64 = conn.query_row(
                    &format!("SELECT count(*) FROM {}", quote_table(&t, true)),
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
        let (schema_tx, schema_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(2);
        let stream = request.stream;
        let cursor = request.cursor;
        tokio::task::spawn_blocking(move || {
            read_blocking(&path, &stream, cursor.as_ref(), batch_size, schema_tx, tx)
        });
        let schema = schema_rx
            .await
            .map_err(|_| Error::run("sqlite reader stopped before it produced a schema"))??;
        Ok(Reader::new(schema, Box::pin(ReceiverStream::new(rx))))
    }
}
