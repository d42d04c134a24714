use super::types::{append, arrow_type, nullable, ZeroDates, COLUMN_TYPE_KEY};
use super::{connect, list_tables, quote, run_err, table_exists, MysqlConfig, MysqlDialect};
use crate::connectors::sql::names::{schema_of_name, table_candidates, table_not_found};
use crate::connectors::sql::reader::{since_cursor, spawn_reader, BatchTx, Batcher, SchemaSlot};
use crate::connectors::sql::{hook_failed, keys_select};
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::error::{Error, Result};
use crate::spec::StreamSpec;
use arrow::datatypes::{Field, Schema, SchemaRef};
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

/// Session settings of a reading connection: a slow destination must not make the server give
/// up on sending a large result.
pub(super) const READ_INIT: &[&str] = &["SET SESSION net_write_timeout = 3600"];

pub struct MysqlSource {
    config: MysqlConfig,
    /// `consistent_snapshot: true`: the run's one connection, inside its snapshot.
    run: Arc<tokio::sync::Mutex<Option<Conn>>>,
}

impl MysqlSource {
    pub fn new(config: MysqlConfig) -> Self {
        MysqlSource {
            config,
            run: Arc::default(),
        }
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
    for (schema, t) in table_candidates(table) {
        if table_exists(conn, schema.as_deref(), &t).await? {
            let q = match &schema {
                Some(s) => format!("{}.{}", quote(s), quote(&t)),
                None => quote(&t),
            };
            return Ok(Target {
                sql: format!("SELECT * FROM {q}"),
                table: Some(q),
                column_types: column_types(conn, schema.as_deref(), &t).await?,
                what: format!("table `{table}`"),
            });
        }
    }
    let database = schema_of_name(table, &config.database);
    let what = format!("looking up database `{database}`");
    let exists: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            (&database,),
        )
        .await
        .map_err(|e| run_err(&what, e))?;
    let exists = exists.unwrap_or(0) > 0;
    let known: Vec<String> = if exists {
        conn.exec(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_name NOT LIKE '\\_etl\\_%' ORDER BY 1",
            (&database,),
        )
        .await
    } else {
        conn.query(
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
             WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY 1",
        )
        .await
    }
    .map_err(|e| run_err(&what, e))?;
    Err(table_not_found(
        table,
        ("database", &database),
        exists,
        &known,
        &config.describe(),
    ))
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

/// Runs `sql` and sends its rows as batches of `batch_size` into `tx`, handing the schema to
/// `slot` first. The result set is read row by row from the socket (never buffered whole).
pub(super) async fn stream_rows(
    conn: &mut Conn,
    sql: &str,
    what: &str,
    stream: &StreamRead<'_>,
    slot: &SchemaSlot,
    tx: &BatchTx,
) -> Result<()> {
    let mut result = conn
        .exec_iter(sql, ())
        .await
        .map_err(|e| run_err(what, e))?;
    let columns: Arc<[Column]> = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
    let schema = schema_of(&columns, what, stream.zero_dates, stream.column_types)?;
    slot.send(schema.clone());
    let mut batcher = Batcher::new(schema, stream.batch_size, what)?;
    while let Some(row) = result.next().await.map_err(|e| run_err(what, e))? {
        batcher.start_row();
        for (i, v) in row.unwrap_raw().into_iter().enumerate() {
            if let Some(b) = batcher.builders.get_mut(i) {
                if let Err(e) = append(b, v.unwrap_or(Value::NULL), stream.zero_dates) {
                    return Err(batcher.value_error(i, e));
                }
            }
        }
        if !batcher.end_row(tx).await? {
            return Ok(()); // the reader went away: stop quietly
        }
    }
    batcher.close(tx).await?;
    Ok(())
}

/// What every read of one stream shares (each partition's read too).
pub(super) struct StreamRead<'a> {
    pub zero_dates: ZeroDates,
    pub column_types: &'a ColumnTypes,
    pub batch_size: usize,
}

/// The stream's hooks run, its target resolved and its SELECT made (incremental: from the
/// cursor; `delete_missing`: its keys).
async fn prepare(conn: &mut Conn, config: &MysqlConfig, request: &ReadRequest) -> Result<Target> {
    let stream = &request.stream;
    for sql in &stream.source_pre_sql {
        conn.query_drop(sql.as_str())
            .await
            .map_err(|e| hook_failed("source_pre_sql", sql, run_err(&stream.name, e)))?;
    }
    let mut target = resolve(conn, stream, config).await?;
    if request.cursor.is_some() || !request.keys_only.is_empty() {
        // Partitions split the SELECT filtered by the cursor rather than the whole table.
        target.table = None;
    }
    target.sql = if request.keys_only.is_empty() {
        since_cursor(&MysqlDialect, target.sql, request.cursor.as_ref(), "AS ")
    } else {
        keys_select(&MysqlDialect, &target.sql, &request.keys_only, "AS ")
    };
    Ok(target)
}

/// `consistent_snapshot: true`: reads on the run's one connection, opening it and its
/// snapshot on the first read. Streams wait for each other here. A failed read closes the
/// connection (it may be lost); the next stream opens a new snapshot.
async fn read_in_snapshot(
    config: &MysqlConfig,
    request: &ReadRequest,
    run: &tokio::sync::Mutex<Option<Conn>>,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    let mut held = run.lock().await;
    if held.is_none() {
        let mut conn = connect(config, READ_INIT).await?;
        for sql in [
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
        ] {
            conn.query_drop(sql)
                .await
                .map_err(|e| run_err("starting the run's consistent snapshot", e))?;
        }
        *held = Some(conn);
    }
    let Some(conn) = held.as_mut() else {
        return Err(Error::run("the run's snapshot connection is gone"));
    };
    let stream = &request.stream;
    if stream.partition.is_some() {
        tracing::warn!(stream = %stream.name, "consistent_snapshot: `partition` is not used, the run's streams read on one connection");
    }
    let read = async {
        let target = prepare(conn, config, request).await?;
        let read = StreamRead {
            zero_dates: stream.zero_dates.unwrap_or_default(),
            column_types: &target.column_types,
            batch_size: request.batch_size,
        };
        stream_rows(conn, &target.sql, &target.what, &read, &slot, &tx).await
    };
    let r = read.await;
    if r.is_err() {
        *held = None;
    }
    r
}

async fn read_task(
    config: MysqlConfig,
    request: ReadRequest,
    run: Arc<tokio::sync::Mutex<Option<Conn>>>,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    if config.consistent_snapshot && request.keys_only.is_empty() {
        return read_in_snapshot(&config, &request, &run, slot, tx).await;
    }
    let stream = &request.stream;
    let zero_dates = stream.zero_dates.unwrap_or_default();
    let mut conn = connect(&config, READ_INIT).await?;
    let target = prepare(&mut conn, &config, &request).await?;
    let read = StreamRead {
        zero_dates,
        column_types: &target.column_types,
        batch_size: request.batch_size,
    };
    match &stream.partition {
        Some(p) if request.keys_only.is_empty() => {
            super::source_partition::read_partitioned(
                conn,
                &config,
                &target.sql,
                target.table.as_deref(),
                &target.what,
                p,
                &read,
                &slot,
                &tx,
            )
            .await
        }
        _ => {
            stream_rows(&mut conn, &target.sql, &target.what, &read, &slot, &tx).await?;
            let _ = conn.disconnect().await;
            Ok(())
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

    /// Finds each stream's table and prepares its SELECT (the server checks the query and
    /// describes its columns; no row is read).
    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        let mut conn = connect(&self.config, &[]).await?;
        let mut out = Vec::with_capacity(streams.len());
        for s in streams {
            let checked = async {
                let target = resolve(&mut conn, s, &self.config).await?;
                let stmt = conn
                    .prep(target.sql.as_str())
                    .await
                    .map_err(|e| run_err(&target.what, e))?;
                let zero_dates = s.zero_dates.unwrap_or_default();
                schema_of(
                    &stmt.columns(),
                    &target.what,
                    zero_dates,
                    &target.column_types,
                )?;
                conn.close(stmt).await.map_err(|e| run_err(&target.what, e))
            };
            out.push(checked.await);
        }
        let _ = conn.disconnect().await;
        Ok(out)
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
        for t in list_tables(&mut conn, None).await? {
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
        let tables = list_tables(&mut conn, None).await?;
        let _ = conn.disconnect().await;
        Ok(tables.into_iter().map(StreamSpec::named).collect())
    }

    /// `table: sales.*` lists the base tables of database `sales` (read as `sales.<table>`).
    async fn pattern_candidates(&self, schema: Option<&str>) -> Result<Vec<StreamSpec>> {
        let Some(database) = schema else {
            return self.default_streams().await;
        };
        let mut conn = connect(&self.config, &[]).await?;
        let tables = list_tables(&mut conn, Some(database))
            .await
            .map_err(|e| e.context(format!("database `{database}`")))?;
        let _ = conn.disconnect().await;
        Ok(tables
            .into_iter()
            .map(|t| StreamSpec {
                table: Some(format!("{database}.{t}")),
                ..StreamSpec::named(t)
            })
            .collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let (config, run) = (self.config.clone(), self.run.clone());
        spawn_reader("MySQL", move |slot, tx| {
            read_task(config, request, run, slot, tx)
        })
        .await
    }
}
