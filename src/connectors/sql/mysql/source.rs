use super::types::{arrow_type, nullable, ColumnBuilder, ZeroDates, COLUMN_TYPE_KEY};
use super::{connect, list_tables, quote, run_err, table_exists, MysqlConfig, MysqlDialect};
use crate::connectors::sql::cursor_predicate;
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::contract::CursorValue;
use crate::error::{Error, Result};
use crate::spec::StreamSpec;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Column name -> `information_schema.columns.COLUMN_TYPE`.
pub(super) type ColumnTypes = HashMap<String, String>;

async fn column_types(conn: &mut Conn, schema: Option<&str>, table: &str) -> Result<ColumnTypes> {
    let rows: Vec<(String, String)> = conn
        .exec(
            "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) FROM information_schema.columns \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
            (schema, table),
        )
        .await
        .map_err(|e| run_err(&format!("reading the columns of table `{table}`"), e))?;
    Ok(rows.into_iter().collect())
}
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

/// Session settings of a reading connection: a slow destination must not make the server give
/// up on sending a large result.
pub(super) const READ_INIT: &[&str] = &["SET SESSION net_write_timeout = 3600"];

pub struct MysqlSource {
    config: MysqlConfig,
}

impl MysqlSource {
    pub fn new(config: MysqlConfig) -> Self {
        MysqlSource { config }
    }
}

/// The FROM target of a stream: its SQL and how errors name it.
struct Target {
    /// `SELECT * FROM ...` or the stream's query.
    sql: String,
    /// The quoted table, when the stream reads a table.
    table: Option<String>,
    /// Column name -> declared MySQL type, when the stream reads a table.
    column_types: ColumnTypes,
    what: String,
}

async fn resolve(conn: &mut Conn, stream: &StreamSpec, config: &MysqlConfig) -> Result<Target> {
    if let Some(q) = &stream.query {
        return Ok(Target {
            sql: q.clone(),
            table: None,
            column_types: ColumnTypes::new(),
            what: format!("query of stream `{}`", stream.name),
        });
    }
    let table = stream.table.as_deref().unwrap_or(&stream.name);
    let quoted = if table_exists(conn, None, table).await? {
        Some((quote(table), column_types(conn, None, table).await?))
    } else {
        match table.split_once('.') {
            Some((schema, t)) if table_exists(conn, Some(schema), t).await? => Some((
                format!("{}.{}", quote(schema), quote(t)),
                column_types(conn, Some(schema), t).await?,
            )),
            _ => None,
        }
    };
    match quoted {
        Some((q, column_types)) => Ok(Target {
            sql: format!("SELECT * FROM {q}"),
            table: Some(q),
            column_types,
            what: format!("table `{table}`"),
        }),
        None => {
            let known = list_tables(conn).await?;
            Err(Error::run(format!(
                "table `{table}` not found in MySQL database `{}` (tables: {})",
                config.database,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

fn schema_of(
    columns: &[Column],
    what: &str,
    zero_dates: ZeroDates,
    column_types: &ColumnTypes,
) -> Result<SchemaRef> {
    let mut fields = Vec::with_capacity(columns.len());
    for c in columns {
        let name = c.name_str();
        let t = arrow_type(c).map_err(|e| Error::run(format!("{what}, column `{name}`: {e}")))?;
        let null = nullable(c, &t, zero_dates);
        let mut field = Field::new(name.as_ref(), t, null);
        if let Some(ct) = column_types.get(name.as_ref()) {
            field = field.with_metadata(std::collections::HashMap::from([(
                COLUMN_TYPE_KEY.to_string(),
                ct.clone(),
            )]));
        }
        fields.push(field);
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Runs `sql` and sends its rows as batches of `batch_size` into `tx`. The result set is read
/// row by row from the socket (never buffered whole); `tx` is bounded, so a slow destination
/// slows the read down instead of growing memory.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream_rows(
    conn: &mut Conn,
    sql: &str,
    what: &str,
    zero_dates: ZeroDates,
    column_types: &ColumnTypes,
    batch_size: usize,
    schema_tx: &mut Option<oneshot::Sender<Result<SchemaRef>>>,
    tx: &mpsc::Sender<Result<RecordBatch>>,
) -> Result<()> {
    let mut result = conn
        .exec_iter(sql, ())
        .await
        .map_err(|e| run_err(what, e))?;
    let columns: Arc<[Column]> = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
    let schema = schema_of(&columns, what, zero_dates, column_types)?;
    if let Some(stx) = schema_tx.take() {
        let _ = stx.send(Ok(schema.clone()));
    }
    let mut builders = schema
        .fields()
        .iter()
        .map(|f| ColumnBuilder::new(f.data_type(), batch_size))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::run(format!("{what}: {e}")))?;
    let flush = |builders: &mut Vec<ColumnBuilder>| -> Result<RecordBatch> {
        let cols = builders.iter_mut().map(|b| b.finish()).collect::<Vec<_>>();
        Ok(RecordBatch::try_new(schema.clone(), cols)?)
    };
    let mut row_no = 0u64;
    let mut in_batch = 0usize;
    while let Some(row) = result.next().await.map_err(|e| run_err(what, e))? {
        row_no += 1;
        for (i, v) in row.unwrap_raw().into_iter().enumerate() {
            if let Some(b) = builders.get_mut(i) {
                b.append(v.unwrap_or(Value::NULL), zero_dates)
                    .map_err(|e| {
                        Error::Value(format!(
                            "{what}, column `{}`, row {row_no}: {e}",
                            schema.field(i).name()
                        ))
                    })?;
            }
        }
        in_batch += 1;
        if in_batch == batch_size {
            in_batch = 0;
            if tx.send(Ok(flush(&mut builders)?)).await.is_err() {
                return Ok(()); // the reader went away: stop quietly
            }
        }
    }
    if in_batch > 0 {
        let _ = tx.send(Ok(flush(&mut builders)?)).await;
    }
    Ok(())
}

async fn read_task(
    config: MysqlConfig,
    stream: StreamSpec,
    cursor: Option<(String, CursorValue)>,
    batch_size: usize,
    schema_tx: oneshot::Sender<Result<SchemaRef>>,
    tx: mpsc::Sender<Result<RecordBatch>>,
) {
    let mut schema_tx = Some(schema_tx);
    let zero_dates = stream.zero_dates.unwrap_or_default();
    let result = async {
        let mut conn = connect(&config, READ_INIT).await?;
        let mut target = resolve(&mut conn, &stream, &config).await?;
        if let Some((field, value)) = &cursor {
            // Incremental: rows at or after the saved cursor (>= keeps boundary rows); partitions
            // then split this filtered SELECT rather than the whole table.
            target.sql = format!(
                "SELECT * FROM ({}) AS _etl_src WHERE {}",
                target.sql,
                cursor_predicate(&MysqlDialect, field, value)
            );
            target.table = None;
        }
        match &stream.partition {
            Some(p) => {
                super::source_partition::read_partitioned(
                    conn,
                    &config,
                    &target.sql,
                    target.table.as_deref(),
                    &target.what,
                    p,
                    zero_dates,
                    &target.column_types,
                    batch_size,
                    &mut schema_tx,
                    &tx,
                )
                .await
            }
            None => {
                stream_rows(
                    &mut conn,
                    &target.sql,
                    &target.what,
                    zero_dates,
                    &target.column_types,
                    batch_size,
                    &mut schema_tx,
                    &tx,
                )
                .await?;
                let _ = conn.disconnect().await;
                Ok(())
            }
        }
    }
    .await;
    if let Err(e) = result {
        match schema_tx.take() {
            Some(stx) => {
                let _ = stx.send(Err(e));
            }
            None => {
                let _ = tx.send(Err(e)).await;
            }
        }
    }
}

#[async_trait]
impl Source for MysqlSource {
    async fn check(&self) -> Result<()> {
        let mut conn = connect(&self.config, &[]).await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| run_err(&self.config.describe(), e))?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let mut conn = connect(&self.config, &[]).await?;
        // information_schema.TABLES.TABLE_ROWS: InnoDB's sampled estimate (exact for MyISAM).
        let estimates: std::collections::HashMap<String, Option<u64>> = conn
            .query(
                "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE()",
            )
            .await
            .map_err(|e| run_err("reading row estimates", e))?
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for t in list_tables(&mut conn).await? {
            let what = format!("table `{t}`");
            let stmt = conn
                .prep(format!("SELECT * FROM {}", quote(&t)))
                .await
                .map_err(|e| run_err(&what, e))?;
            let types = column_types(&mut conn, None, &t).await?;
            let schema = schema_of(&stmt.columns(), &what, ZeroDates::Fail, &types)?;
            conn.close(stmt).await.map_err(|e| run_err(&what, e))?;
            out.push(StreamInfo {
                rows_estimate: estimates.get(&t).copied().flatten(),
                name: t,
                schema,
            });
        }
        let _ = conn.disconnect().await;
        Ok(out)
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        let mut conn = connect(&self.config, &[]).await?;
        let tables = list_tables(&mut conn).await?;
        let _ = conn.disconnect().await;
        Ok(tables.into_iter().map(StreamSpec::named).collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let (schema_tx, schema_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(read_task(
            self.config.clone(),
            request.stream,
            request.cursor,
            request.batch_size.max(1),
            schema_tx,
            tx,
        ));
        let schema = schema_rx
            .await
            .map_err(|_| Error::run("MySQL reader stopped before it produced a schema"))??;
        Ok(Reader::new(schema, Box::pin(ReceiverStream::new(rx))))
    }
}
