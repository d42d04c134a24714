//! The PostgreSQL driver of the SQL destination engine: binary `COPY ... FROM STDIN` into the
//! staging table, everything (staging, load, publish) in one transaction.

use super::types::{
    arrow_field, oid, scalar_for, ColumnEncoder, ColumnKind, DIRECT_TYPE_KEY, PG_TYPE_KEY,
};
use super::{connect, describe, pg_err, qualified, PostgresConfig, PostgresDialect};
use crate::connectors::sql::drift::TableColumn;
use crate::connectors::sql::engine::{
    default_publish_steps, Driver, Load, Publish, SqlDestination, Step,
};
use crate::connectors::sql::Dialect;
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

/// The PostgreSQL destination: the SQL engine with [`PostgresConfig`] as its driver.
pub type PostgresDestination = SqlDestination<PostgresConfig>;

/// The schema exists and the user may create tables in it.
async fn check_schema(config: &PostgresConfig, client: &Client) -> Result<()> {
    let schema = &config.schema;
    let row = client
        .query_opt(
            "SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
            &[schema],
        )
        .await
        .map_err(|e| pg_err(describe(config), &e))?;
    match row {
        None => Err(Error::run(format!(
            "schema `{schema}` does not exist in {} (create it, or set `schema`)",
            describe(config)
        ))),
        Some(r) if !r.try_get::<_, bool>(0).unwrap_or(false) => Err(Error::run(format!(
            "permission denied: user `{}` may not create tables in schema `{schema}` of {}",
            config.user,
            describe(config)
        ))),
        Some(_) => Ok(()),
    }
}

/// A driver error, with the kind its SQLSTATE says (the engine adds which table and step).
fn run_err(e: tokio_postgres::Error) -> Error {
    pg_err("", &e)
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
        .map_err(run_err)?;
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
    client
        .batch_execute(&format!(
            "ALTER TABLE {} {}",
            qualified(schema_name, staging),
            alters.join(", ")
        ))
        .await
        .map_err(|e| pg_err("restoring the source's column types", &e))
}

#[async_trait]
impl Driver for PostgresConfig {
    type Conn = Client;

    const DIALECT: &'static dyn Dialect = &PostgresDialect;

    fn schema(&self) -> Option<&str> {
        Some(&self.schema)
    }

    fn describe(&self, table: &str) -> String {
        format!("table {} in {}", self.qualified(table), describe(self))
    }

    /// NAMEDATALEN - 1.
    const MAX_IDENT: usize = 63;
    const TRANSACTIONAL_DDL: bool = true;

    async fn connect(&self) -> Result<Client> {
        connect(self).await
    }

    async fn check(&self, client: &mut Client) -> Result<()> {
        check_schema(self, client).await
    }

    async fn execute(&self, client: &mut Client, sql: &str) -> Result<()> {
        client.batch_execute(sql).await.map_err(run_err)
    }

    async fn table_exists(&self, client: &mut Client, table: &str) -> Result<bool> {
        client
            .query_one(
                "SELECT to_regclass($1::text) IS NOT NULL",
                &[&self.qualified(table)],
            )
            .await
            .and_then(|r| r.try_get::<_, bool>(0))
            .map_err(run_err)
    }

    /// `pg_attribute`, each type read as the PostgreSQL source reads its OID and modifier;
    /// `varchar(n)` and `char(n)` hold n characters.
    async fn table_columns(&self, client: &mut Client, table: &str) -> Result<Vec<TableColumn>> {
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                        CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END, \
                        t.typcategory = 'A', e.typtype = 'e', a.atttypmod, NOT a.attnotnull \
                 FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 JOIN pg_catalog.pg_type e ON e.oid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END \
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&self.qualified(table)],
            )
            .await
            .map_err(run_err)?;
        let mut columns = Vec::with_capacity(rows.len());
        for r in rows {
            let (name, declared): (String, String) = (
                r.try_get(0).map_err(run_err)?,
                r.try_get(1).map_err(run_err)?,
            );
            let oid: u32 = r.try_get(2).map_err(run_err)?;
            let (array, is_enum): (bool, bool) = (
                r.try_get(3).map_err(run_err)?,
                r.try_get(4).map_err(run_err)?,
            );
            let typmod: i32 = r.try_get(5).map_err(run_err)?;
            let nullable: bool = r.try_get(6).map_err(run_err)?;
            let mapped = scalar_for(oid, typmod, is_enum)
                .map(|s| ColumnKind { scalar: s, array })
                .map(|kind| arrow_field(&name, kind, &declared).data_type().clone())
                .ok_or_else(|| format!("`{declared}` has no Arrow mapping"));
            let sized = !array && matches!(oid, oid::VARCHAR | oid::BPCHAR) && typmod > 4;
            let max_len = sized.then(|| (typmod - 4) as u64);
            columns.push(TableColumn::new(name, declared, mapped, max_len, nullable));
        }
        Ok(columns)
    }

    /// Declares source types that take the same binary input directly (see [`direct_types`]).
    async fn create_staging(
        &self,
        client: &mut Client,
        staging: &str,
        schema: &SchemaRef,
        primary_key: &[String],
    ) -> Result<()> {
        let declared = direct_types(client, schema).await;
        let ddl = PostgresDialect
            .create_table(&self.qualified(staging), &declared, primary_key)
            .map_err(Error::run)?;
        self.execute(client, &ddl).await
    }

    /// `COPY ... FROM STDIN (FORMAT binary)`, encoding each row straight from the batch.
    async fn bulk_load(&self, client: &mut Client, load: Load<'_>) -> Result<u64> {
        let (staging, schema, batches) = (load.staging, load.schema, load.batches);
        let staging_q = self.qualified(staging);
        let encoders = schema
            .fields()
            .iter()
            .map(|f| {
                ColumnEncoder::new(f).map_err(|e| Error::run(format!("column `{}`: {e}", f.name())))
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
            .map_err(run_err)?;
        futures::pin_mut!(sink);
        let mut buf = BytesMut::with_capacity(SEND_AT + 64 * 1024);
        buf.put_slice(COPY_SIGNATURE);
        buf.put_i32(0);
        buf.put_i32(0);
        let ncols = i16::try_from(encoders.len()).map_err(|_| Error::run("too many columns"))?;
        let send_err = run_err;
        let mut rows = 0u64;
        while let Some(batch) = batches.next().await {
            // A source error: dropping the sink aborts the COPY.
            let batch = batch?;
            // Nested lists, structs and maps as their JSON text, for the jsonb encoders.
            let batch = crate::formats::nested::with_json_text(&batch, |f| {
                super::types::is_jsonb(f.data_type())
            })?;
            if batch.num_columns() != encoders.len() {
                return Err(Error::run(format!(
                    "a batch has {} columns, the stream's schema {}",
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
                                "column `{}`, row {}: {e}",
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

    async fn after_load(
        &self,
        client: &mut Client,
        staging: &str,
        schema: &SchemaRef,
    ) -> Result<()> {
        apply_type_hints(client, &self.schema, staging, schema).await
    }

    /// A table that is replaced (or created) keeps the usual `<table>_pkey` constraint name:
    /// the staging table's primary key is renamed after the staging table.
    async fn publish_steps(&self, client: &mut Client, p: &Publish<'_>) -> Result<Vec<Step>> {
        let mut steps = default_publish_steps(self, p);
        if p.exists && p.mode != Mode::FullRefresh {
            // The rows move into the existing table, which keeps its constraint names.
            return Ok(steps);
        }
        let pkey: Option<String> = client
            .query_opt(
                "SELECT conname::text FROM pg_catalog.pg_constraint \
                 WHERE conrelid = $1::text::regclass AND contype = 'p'",
                &[&self.qualified(p.staging)],
            )
            .await
            .map_err(run_err)?
            .and_then(|r| r.try_get(0).ok());
        if let Some(pkey) = pkey {
            let q = |s: &str| PostgresDialect.quote_ident(s);
            steps.push(Step::sql(format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                self.qualified(p.table),
                q(&pkey),
                q(&format!("{}_pkey", p.table))
            )));
        }
        Ok(steps)
    }
}
