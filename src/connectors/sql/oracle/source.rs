use super::types::{append, arrow_type, Fetched};
use super::{
    blocking, check_ident, connect, list_tables, ora_err, qualified, table_exists, OracleConfig,
    OracleDialect,
};
use crate::connectors::sql::names::{schema_of_name, table_candidates, table_not_found};
use crate::connectors::sql::reader::{since_cursor, spawn_reader, BatchTx, Batcher, SchemaSlot};
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::error::{Error, Result};
use crate::spec::StreamSpec;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use oracle::sql_type::OracleType;
use oracle::{Connection, SqlValue};
use std::sync::Arc;

pub struct OracleSource {
    config: OracleConfig,
}

impl OracleSource {
    pub fn new(config: OracleConfig) -> Self {
        OracleSource { config }
    }
}

struct Target {
    sql: String,
    what: String,
}

/// Finds a stream's table: the exact name, then the upper-case one (how Oracle stores
/// unquoted names), in the configured schema, then as `schema.table`.
fn resolve(conn: &Connection, stream: &StreamSpec, config: &OracleConfig) -> Result<Target> {
    if let Some(q) = &stream.query {
        return Ok(Target {
            sql: q.clone(),
            what: format!("query of stream `{}`", stream.name),
        });
    }
    let table = stream.table.as_deref().unwrap_or(&stream.name);
    let schema = config.schema.as_deref();
    let mut candidates = Vec::new();
    for (s, t) in table_candidates(table) {
        let s = s.or_else(|| schema.map(str::to_string));
        candidates.push((s.clone(), t.clone()));
        candidates.push((s.map(|s| s.to_uppercase()), t.to_uppercase()));
    }
    for (s, t) in candidates {
        if check_ident(&t, "table").is_err()
            || s.as_deref()
                .is_some_and(|s| check_ident(s, "schema").is_err())
        {
            continue;
        }
        if table_exists(conn, s.as_deref(), &t)? {
            return Ok(Target {
                sql: format!("SELECT * FROM {}", qualified(s.as_deref(), &t)),
                what: format!("table `{table}`"),
            });
        }
    }
    let named = schema_of_name(table, schema.unwrap_or_default());
    let owner = (!named.is_empty()).then_some(named.as_str());
    // A schema is a user in Oracle; the user's own always exists.
    let exists = match owner {
        None => true,
        Some(o) => {
            conn.query_row_as::<i64>(
                "SELECT COUNT(*) FROM all_users WHERE username = :1 OR username = UPPER(:2)",
                &[&o, &o],
            )
            .map_err(|e| ora_err(&format!("looking up schema `{o}`"), &e))?
                > 0
        }
    };
    let known = if exists {
        list_tables(conn, owner)?
    } else {
        Vec::new()
    };
    Err(table_not_found(
        table,
        ("schema", owner.unwrap_or("(the user's own)")),
        exists,
        &known,
        "Oracle",
    ))
}

fn schema_of(columns: &[oracle::ColumnInfo], what: &str) -> Result<SchemaRef> {
    let fields = columns
        .iter()
        .map(|c| {
            let t = arrow_type(c.oracle_type())
                .map_err(|e| Error::run(format!("{what}, column `{}`: {e}", c.name())))?;
            Ok(Field::new(c.name(), t, c.nullable()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// One value as the builder for `data_type` takes it: numbers as exact text.
fn fetch(v: &SqlValue, data_type: &DataType) -> std::result::Result<Fetched, oracle::Error> {
    if v.is_null()? {
        return Ok(Fetched::Null);
    }
    let native_int = matches!(v.oracle_type()?, OracleType::Int64);
    Ok(match data_type {
        DataType::Boolean => Fetched::Bool(v.get()?),
        DataType::Int64 if native_int => Fetched::Int(v.get()?),
        DataType::Float32 => Fetched::F32(v.get()?),
        DataType::Float64 => match v.oracle_type()? {
            OracleType::BinaryDouble => Fetched::F64(v.get()?),
            _ => Fetched::Text(v.get()?),
        },
        DataType::Int64 | DataType::Decimal128(..) | DataType::Utf8 => Fetched::Text(v.get()?),
        DataType::Binary => Fetched::Bytes(v.get()?),
        DataType::Timestamp(..) => Fetched::Ts(v.get()?),
        DataType::Duration(_) => Fetched::Ds(v.get()?),
        _ => Fetched::Ym(v.get()?),
    })
}

/// Runs `sql` with array fetches of `batch_size` rows and sends Arrow batches into `tx`.
fn read_blocking(
    config: OracleConfig,
    conn: Connection,
    request: ReadRequest,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    let mut target = resolve(&conn, &request.stream, &config)?;
    target.sql = since_cursor(&OracleDialect, target.sql, request.cursor.as_ref(), "");
    let batch_size = request.batch_size;
    let what = target.what;
    let fetch_size = u32::try_from(batch_size)
        .unwrap_or(u32::MAX)
        .clamp(1, 100_000);
    let mut stmt = conn
        .statement(&target.sql)
        .fetch_array_size(fetch_size)
        .prefetch_rows(fetch_size.saturating_add(1))
        .build()
        .map_err(|e| ora_err(&what, &e))?;
    let rows = stmt.query(&[]).map_err(|e| ora_err(&what, &e))?;
    let schema = schema_of(rows.column_info(), &what)?;
    slot.send(schema.clone());
    let mut batcher = Batcher::new(schema.clone(), batch_size, &what)?;
    for row in rows {
        let row = row.map_err(|e| ora_err(&what, &e))?;
        batcher.start_row();
        for (i, v) in row.sql_values().iter().enumerate() {
            let appended = match fetch(v, schema.field(i).data_type()) {
                Ok(value) => append(&mut batcher.builders[i], value),
                Err(e) => Err(crate::error::full_message(&e)),
            };
            if let Err(e) = appended {
                return Err(batcher.value_error(i, e));
            }
        }
        if !batcher.end_row_blocking(&tx)? {
            return Ok(()); // the reader went away: stop quietly
        }
    }
    batcher.close_blocking(&tx)?;
    let _ = conn.close();
    Ok(())
}

#[async_trait]
impl Source for OracleSource {
    async fn check(&self) -> Result<()> {
        super::check(&self.config).await
    }

    /// Finds each stream's table and runs its SELECT under `WHERE 1 = 0` (Oracle parses and
    /// describes it; no row is read).
    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        let conn = connect(&self.config).await?;
        let (config, streams) = (self.config.clone(), streams.to_vec());
        blocking(move || {
            let check = |s: &StreamSpec| -> Result<()> {
                let target = resolve(&conn, s, &config)?;
                let sql = format!("SELECT * FROM ({}) WHERE 1 = 0", target.sql);
                let mut stmt = conn
                    .statement(&sql)
                    .build()
                    .map_err(|e| ora_err(&target.what, &e))?;
                let rows = stmt.query(&[]).map_err(|e| ora_err(&target.what, &e))?;
                schema_of(rows.column_info(), &target.what).map(|_| ())
            };
            let out = streams.iter().map(check).collect();
            let _ = conn.close();
            Ok(out)
        })
        .await
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let conn = connect(&self.config).await?;
        let schema = self.config.schema.clone();
        blocking(move || {
            let mut out = Vec::new();
            let estimates = super::row_estimates(&conn, schema.as_deref());
            for t in list_tables(&conn, schema.as_deref())? {
                let what = format!("table `{t}`");
                let sql = format!(
                    "SELECT * FROM {} WHERE 1 = 0",
                    qualified(schema.as_deref(), &t)
                );
                let mut stmt = conn
                    .statement(&sql)
                    .build()
                    .map_err(|e| ora_err(&what, &e))?;
                let rows = stmt.query(&[]).map_err(|e| ora_err(&what, &e))?;
                let s = schema_of(rows.column_info(), &what)?;
                out.push(StreamInfo {
                    rows_estimate: estimates.get(&t).copied(),
                    name: t,
                    schema: s,
                });
            }
            let _ = conn.close();
            Ok(out)
        })
        .await
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        let conn = connect(&self.config).await?;
        let schema = self.config.schema.clone();
        let tables = blocking(move || list_tables(&conn, schema.as_deref())).await?;
        Ok(tables.into_iter().map(StreamSpec::named).collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let config = self.config.clone();
        spawn_reader("Oracle", move |slot, tx| async move {
            let conn = connect(&config).await?;
            blocking(move || read_blocking(config, conn, request, slot, tx)).await
        })
        .await
    }
}
