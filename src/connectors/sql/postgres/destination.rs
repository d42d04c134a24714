use super::types::{ColumnEncoder, DIRECT_TYPE_KEY, PG_TYPE_KEY};
use super::{connect, describe, pg_err, qualified, PostgresConfig, PostgresDialect};
use crate::connectors::sql::{default_merge_sql, staging_table_name, Dialect};
use crate::connectors::{BatchStream, Destination, Staged, WriteReport, WriteTarget};
use crate::error::{Error, Result};
use crate::spec::Mode;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio_postgres::Client;

/// Bytes of encoded rows sent to the server per CopyData message.
const SEND_AT: usize = 1 << 20;
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

pub struct PostgresDestination {
    config: PostgresConfig,
}

impl PostgresDestination {
    pub fn new(config: PostgresConfig) -> Self {
        PostgresDestination { config }
    }

    /// The schema exists and the user may create tables in it.
    async fn check_schema(&self, client: &Client) -> Result<()> {
        let schema = &self.config.schema;
        let row = client
            .query_opt(
                "SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
                &[schema],
            )
            .await
            .map_err(|e| pg_err(describe(&self.config), &e))?;
        match row {
            None => Err(Error::run(format!(
                "schema `{schema}` does not exist in {} (create it, or set `schema`)",
                describe(&self.config)
            ))),
            Some(r) if !r.try_get::<_, bool>(0).unwrap_or(false) => Err(Error::run(format!(
                "permission denied: user `{}` may not create tables in schema `{schema}` of {}",
                self.config.user,
                describe(&self.config)
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// A loaded staging table inside an open transaction, waiting to be swapped in or appended.
struct StagedTable {
    client: Client,
    schema: String,
    staging: String,
    table: String,
    columns: Vec<String>,
    primary_key: Vec<String>,
    mode: Mode,
    rows: u64,
}

async fn exec(client: &Client, sql: &str, what: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_err(&what, &e))
}

/// Creates the staging table and copies every batch into it (inside the open transaction).
async fn load(
    client: &Client,
    staging_q: &str,
    schema: &SchemaRef,
    primary_key: &[String],
    batches: &mut BatchStream,
    what: &str,
) -> Result<u64> {
    let declared = direct_types(client, schema).await;
    let ddl = PostgresDialect
        .create_table(staging_q, &declared, primary_key)
        .map_err(|e| Error::run(format!("{what}: {e}")))?;
    exec(client, &ddl, what).await?;
    let encoders = schema
        .fields()
        .iter()
        .map(|f| {
            ColumnEncoder::new(f)
                .map_err(|e| Error::run(format!("{what}, column `{}`: {e}", f.name())))
        })
        .collect::<Result<Vec<_>>>()?;
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| PostgresDialect.quote_ident(f.name()))
        .collect();
    let copy = format!(
        "COPY {staging_q} ({}) FROM STDIN (FORMAT binary)",
        cols.join(", ")
    );
    let sink = client
        .copy_in::<_, bytes::Bytes>(&copy)
        .await
        .map_err(|e| pg_err(&what, &e))?;
    futures::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(SEND_AT + 64 * 1024);
    buf.put_slice(COPY_SIGNATURE);
    buf.put_i32(0);
    buf.put_i32(0);
    let ncols = i16::try_from(encoders.len())
        .map_err(|_| Error::run(format!("{what}: too many columns")))?;
    let send_err = |e: tokio_postgres::Error| pg_err(&what, &e);
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?; // a source error: dropping the sink aborts the COPY
        if batch.num_columns() != encoders.len() {
            return Err(Error::run(format!(
                "{what}: a batch has {} columns, the stream's schema {}",
                batch.num_columns(),
                encoders.len()
            )));
        }
        for r in 0..batch.num_rows() {
            buf.put_i16(ncols);
            for (c, enc) in encoders.iter().enumerate() {
                enc.write(batch.column(c).as_ref(), r, &mut buf)
                    .map_err(|e| {
                        Error::Value(format!(
                            "{what}, column `{}`, row {}: {e}",
                            schema.field(c).name(),
                            rows + r as u64 + 1
                        ))
                    })?;
            }
            if buf.len() >= SEND_AT {
                sink.send(buf.split().freeze()).await.map_err(send_err)?;
            }
        }
        rows += batch.num_rows() as u64;
    }
    buf.put_i16(-1);
    sink.send(buf.split().freeze()).await.map_err(send_err)?;
    sink.as_mut().finish().await.map_err(send_err)?;
    Ok(rows)
}

/// The schema to declare: a field whose `postgresql.type` hint names a type with the same
/// binary input as its Arrow-derived type (text -> varchar(n), char(n), json, an enum;
/// numeric(p,s) -> numeric) is declared with the hint directly, so no conversion is needed
/// after the copy.
async fn direct_types(client: &Client, schema: &SchemaRef) -> SchemaRef {
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let mut f = f.as_ref().clone();
        let natural = match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => &[
                "textrecv",
                "varcharrecv",
                "bpcharrecv",
                "json_recv",
                "enum_recv",
            ][..],
            DataType::Decimal128(..) | DataType::Decimal256(..) => &["numeric_recv"][..],
            _ => &[][..],
        };
        if let Some(hint) = f.metadata().get(PG_TYPE_KEY).cloned() {
            if !natural.is_empty() {
                let recv: Option<String> = client
                    .query_opt(
                        "SELECT typreceive::text FROM pg_catalog.pg_type WHERE oid = to_regtype($1::text)",
                        &[&hint],
                    )
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| r.try_get(0).ok());
                if recv.is_some_and(|r| natural.contains(&r.as_str())) {
                    let mut meta = f.metadata().clone();
                    meta.insert(DIRECT_TYPE_KEY.to_string(), hint);
                    f = f.with_metadata(meta);
                }
            }
        }
        fields.push(f);
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Columns whose source type (`postgresql.type` metadata) differs from the type created from
/// the Arrow type are converted in the staging table (e.g. text -> jsonb, text -> interval).
async fn apply_type_hints(
    client: &Client,
    schema_name: &str,
    staging: &str,
    schema: &SchemaRef,
    what: &str,
) -> Result<()> {
    let hinted: Vec<(usize, &String)> = schema
        .fields()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.metadata().get(PG_TYPE_KEY).map(|h| (i, h)))
        .collect();
    if hinted.is_empty() {
        return Ok(());
    }
    let rows = client
        .query(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&qualified(schema_name, staging)],
        )
        .await
        .map_err(|e| pg_err(&what, &e))?;
    let actual: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<_, String>(0).unwrap_or_default())
        .collect();
    let mut alters = Vec::new();
    for (i, hint) in hinted {
        if actual.get(i) == Some(hint) {
            continue;
        }
        // Only a type that exists here (an enum may not) and that the hint names exactly.
        let exists = client
            .query_one("SELECT to_regtype($1::text) IS NOT NULL", &[hint])
            .await
            .ok()
            .and_then(|r| r.try_get::<_, bool>(0).ok())
            .unwrap_or(false);
        if !exists {
            continue;
        }
        let col = PostgresDialect.quote_ident(schema.field(i).name());
        alters.push(format!(
            "ALTER COLUMN {col} TYPE {hint} USING {col}::{hint}"
        ));
    }
    if alters.is_empty() {
        return Ok(());
    }
    exec(
        client,
        &format!(
            "ALTER TABLE {} {}",
            qualified(schema_name, staging),
            alters.join(", ")
        ),
        &format!("{what}: restoring the source's column types"),
    )
    .await
}

#[async_trait]
impl Destination for PostgresDestination {
    async fn check(&self) -> Result<()> {
        let client = connect(&self.config).await?;
        self.check_schema(&client).await
    }

    fn describe(&self, target: &WriteTarget) -> String {
        format!(
            "table {} in {}",
            qualified(&self.config.schema, &target.stream.name),
            describe(&self.config)
        )
    }

    async fn preflight(&self, _target: &WriteTarget) -> Result<()> {
        let client = connect(&self.config).await?;
        self.check_schema(&client).await
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        mut batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let client = connect(&self.config).await?;
        let table = target.stream.name.clone();
        let staging = staging_table_name(&table, &target.run_id);
        let schema_name = self.config.schema.clone();
        let what = format!("table {}", qualified(&schema_name, &table));
        exec(&client, "BEGIN", &what).await?;
        let staging_q = qualified(&schema_name, &staging);
        let loaded = async {
            let rows = load(
                &client,
                &staging_q,
                &schema,
                &target.stream.primary_key,
                &mut batches,
                &what,
            )
            .await?;
            apply_type_hints(&client, &schema_name, &staging, &schema, &what).await?;
            Ok::<_, Error>(rows)
        }
        .await;
        match loaded {
            Ok(rows) => Ok(Box::new(StagedTable {
                client,
                schema: schema_name,
                staging,
                table,
                primary_key: target.stream.primary_key.clone(),
                columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
                mode: target.mode,
                rows,
            })),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Staged for StagedTable {
    async fn commit(self: Box<Self>) -> Result<WriteReport> {
        let target = qualified(&self.schema, &self.table);
        let staging = qualified(&self.schema, &self.staging);
        let q = |s: &str| PostgresDialect.quote_ident(s);
        let exists = self
            .client
            .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&target])
            .await
            .and_then(|r| r.try_get::<_, bool>(0))
            .map_err(|e| pg_err(format!("table {target}"), &e))?;
        let sql = if self.mode == Mode::Incremental && exists {
            // Merge on the primary key (INSERT ... ON CONFLICT DO UPDATE), or append without
            // one; the existing table keeps its definition and values are cast to its types.
            format!(
                "{}; DROP TABLE {staging}; COMMIT",
                default_merge_sql(
                    &PostgresDialect,
                    &target,
                    &staging,
                    &self.columns,
                    &self.primary_key
                )
            )
        } else {
            // The staging table's primary key constraint takes the usual `<table>_pkey` name.
            let pkey: Option<String> = self
                .client
                .query_opt(
                    "SELECT conname::text FROM pg_catalog.pg_constraint \
                     WHERE conrelid = $1::text::regclass AND contype = 'p'",
                    &[&staging],
                )
                .await
                .map_err(|e| pg_err(format!("table {target}"), &e))?
                .and_then(|r| r.try_get(0).ok());
            let drop = if exists {
                format!("DROP TABLE {target}; ")
            } else {
                String::new()
            };
            let rename_pkey = match pkey {
                Some(p) => format!(
                    "ALTER TABLE {target} RENAME CONSTRAINT {} TO {}; ",
                    q(&p),
                    q(&format!("{}_pkey", self.table))
                ),
                None => String::new(),
            };
            format!(
                "{drop}ALTER TABLE {staging} RENAME TO {}; {rename_pkey}COMMIT",
                q(&self.table)
            )
        };
        if let Err(e) = self.client.batch_execute(&sql).await {
            let _ = self.client.batch_execute("ROLLBACK").await;
            return Err(pg_err(format!("table {target}"), &e));
        }
        Ok(WriteReport {
            rows: self.rows,
            outputs: vec![format!("{}.{}", self.schema, self.table)],
        })
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| pg_err(format!("rollback"), &e))
    }
}
