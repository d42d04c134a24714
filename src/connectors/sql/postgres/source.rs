use super::types::{append, arrow_field, scalar_for, ColumnKind, Scalar};
use super::{connect, describe, pg_err, qualified, PostgresConfig, PostgresDialect};
use crate::connectors::sql::names::{schema_of_name, table_candidates, table_not_found};
use crate::connectors::sql::reader::{spawn_reader, BatchTx, Batcher};
use crate::connectors::sql::{cursor_predicate, hook_failed, keys_select, Dialect};
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::spec::StreamSpec;
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Kind, Type};
use tokio_postgres::Client;

pub struct PostgresSource {
    config: PostgresConfig,
    /// Every stream of the run reads in this one exported snapshot.
    snapshot: Arc<super::partition::RunSnapshot>,
}

impl PostgresSource {
    pub fn new(config: PostgresConfig) -> Self {
        PostgresSource {
            config,
            snapshot: Arc::default(),
        }
    }
}

const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// A stream's SELECT with the Arrow schema and decoders of its columns.
pub(super) struct Plan {
    /// `SELECT ...` (without partition filters).
    pub select: String,
    /// Incremental: the cursor predicate every read of this stream adds.
    pub filter: Option<String>,
    /// For table streams: the quoted table, for partition filters.
    pub table: Option<(String, String)>,
    pub schema: SchemaRef,
    pub kinds: Vec<ColumnKind>,
    /// How errors name the stream's origin.
    pub what: String,
    /// Per column: what to add to a value error (how to read an unconstrained numeric).
    pub hints: Vec<Option<String>>,
}

/// User tables of `schema` (not our staging tables), in name order.
async fn tables(client: &Client, schema: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
             AND c.relname NOT LIKE '\\_etl\\_stage\\_%' ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| pg_err(format!("listing tables of schema `{schema}`"), &e))?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(|e| pg_err("", &e)))
        .collect()
}

/// Whether `schema` exists.
async fn schema_exists(client: &Client, schema: &str) -> Result<bool> {
    client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await
        .map(|r| r.is_some())
        .map_err(|e| pg_err(format!("looking up schema `{schema}`"), &e))
}

/// The database's schemas (not PostgreSQL's own), for a message about a missing one.
async fn schemas(client: &Client) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT nspname FROM pg_catalog.pg_namespace \
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| pg_err("listing schemas", &e))?;
    Ok(rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
}

/// Opens a reading connection whose `search_path` starts with the configured schema, so a
/// stream's `query:` finds its unqualified tables there (then in `public`).
pub(super) async fn read_connection(config: &PostgresConfig) -> Result<Client> {
    let client = connect(config).await?;
    set_search_path(&client, config, true).await?;
    Ok(client)
}

/// `search_path` for a stream's query (`true`: the configured schema, then `public`), or
/// the server's default (`false`).
async fn set_search_path(client: &Client, config: &PostgresConfig, configured: bool) -> Result<()> {
    let mut path = vec![PostgresDialect.quote_ident(&config.schema)];
    if config.schema != "public" {
        path.push("public".into());
    }
    let sql = match configured {
        true => format!("SET search_path TO {}", path.join(", ")),
        false => "SET search_path TO DEFAULT".into(),
    };
    client.batch_execute(&sql).await.map_err(|e| {
        pg_err(
            format!("setting search_path for schema `{}`", config.schema),
            &e,
        )
    })
}

/// Fails unless the configured schema exists and the user may read it (USAGE).
async fn check_schema(client: &Client, config: &PostgresConfig) -> Result<()> {
    let schema = &config.schema;
    let usage = client
        .query_one("SELECT has_schema_privilege($1, 'USAGE')", &[schema])
        .await
        .and_then(|r| r.try_get::<_, bool>(0));
    let place = describe(config);
    match usage {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::driver(
            ErrorKind::Auth,
            "",
            format!(
                "permission denied: user `{}` may not read schema `{schema}` of {place} (GRANT USAGE ON SCHEMA)",
                config.user
            ),
        )),
        Err(e) if e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => {
            let known = schemas(client).await.unwrap_or_default();
            Err(table_not_found("", ("schema", schema), false, &known, &place))
        }
        Err(e) => Err(pg_err(place, &e)),
    }
}

/// Finds `table` (`name` in the config's schema, or `schema.name`, either optionally quoted as
/// in SQL): an exact match wins, then a unique case-insensitive one.
async fn resolve_table(
    client: &Client,
    config: &PostgresConfig,
    table: &str,
) -> Result<(String, String)> {
    let candidates: Vec<(String, String)> = table_candidates(table)
        .into_iter()
        .map(|(s, t)| (s.unwrap_or_else(|| config.schema.clone()), t))
        .collect();
    for exact in [true, false] {
        let mut found = Vec::new();
        for (s, t) in &candidates {
            let sql = if exact {
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')"
            } else {
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE lower(n.nspname) = lower($1) AND lower(c.relname) = lower($2) \
                 AND c.relkind IN ('r','p','v','m','f')"
            };
            let rows = client
                .query(sql, &[s, t])
                .await
                .map_err(|e| pg_err(format!("looking up table `{table}`"), &e))?;
            for r in rows {
                let pair: (String, String) = (
                    r.try_get(0).map_err(|e| pg_err("", &e))?,
                    r.try_get(1).map_err(|e| pg_err("", &e))?,
                );
                if !found.contains(&pair) {
                    found.push(pair);
                }
            }
        }
        match found.len() {
            0 => continue,
            1 => return Ok(found.remove(0)),
            _ if exact => return Ok(found.remove(0)),
            _ => {
                let names: Vec<String> = found.iter().map(|(s, t)| format!("{s}.{t}")).collect();
                return Err(Error::run(format!(
                    "table `{table}` is ambiguous: it matches {} (write the exact name)",
                    names.join(", ")
                )));
            }
        }
    }
    let schema = schema_of_name(table, &config.schema);
    let exists = schema_exists(client, &schema).await?;
    let known = if exists {
        tables(client, &schema).await
    } else {
        schemas(client).await
    };
    Err(table_not_found(
        table,
        ("schema", &schema),
        exists,
        &known.unwrap_or_default(),
        &describe(config),
    ))
}

/// The column kind for a PostgreSQL type, `None` when unsupported. An unconstrained `numeric`
/// is read as `numeric` says: a decimal's (precision, scale), or text for `None`.
fn kind_of(t: &Type, typmod: i32, numeric: Option<(u8, i8)>) -> Option<ColumnKind> {
    let scalar = |t: &Type| {
        if *t == Type::NUMERIC && typmod < 4 {
            return Some(match numeric {
                Some((precision, scale)) => Scalar::Numeric { precision, scale },
                None => Scalar::NumericText,
            });
        }
        scalar_for(t.oid(), typmod, matches!(t.kind(), Kind::Enum(_)))
    };
    match t.kind() {
        Kind::Simple | Kind::Enum(_) => Some(ColumnKind {
            scalar: scalar(t)?,
            array: false,
        }),
        Kind::Domain(base) => kind_of(base, typmod, numeric),
        Kind::Array(elem) => match elem.kind() {
            Kind::Simple | Kind::Enum(_) => Some(ColumnKind {
                scalar: scalar(elem)?,
                array: true,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// What to add to a value error of an unconstrained `numeric` column read as a decimal.
fn numeric_hint(kind: ColumnKind, typmod: i32, column: &str, stream: &str) -> Option<String> {
    (typmod < 4 && matches!(kind.scalar, Scalar::Numeric { .. })).then(|| {
        format!(
            "`{column}` is a numeric without precision and scale: read such columns with the source's `numeric: decimal256` or `numeric: text`, or add `cast: {{{column}: numeric(38,20)}}` to stream `{stream}`"
        )
    })
}

/// Plans one stream: the SELECT (with casts), its Arrow schema and decoders.
pub(super) async fn plan(
    client: &Client,
    config: &PostgresConfig,
    stream: &StreamSpec,
) -> Result<Plan> {
    let q = |s: &str| PostgresDialect.quote_ident(s);
    let (from, table, what) = match &stream.query {
        Some(query) => {
            let query = query.trim().trim_end_matches(';').trim_end();
            (
                format!("({query}) AS \"_etl_query\""),
                None,
                format!("query of stream `{}`", stream.name),
            )
        }
        None => {
            let name = stream.table.as_deref().unwrap_or(&stream.name);
            let (s, t) = resolve_table(client, config, name).await?;
            (
                qualified(&s, &t),
                Some((s.clone(), t.clone())),
                format!("table `{s}.{t}`"),
            )
        }
    };
    let base = format!("SELECT * FROM {from}");
    let prepared = client.prepare(&base).await.map_err(|e| pg_err(&what, &e))?;
    let names: Vec<String> = prepared
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    for col in stream.cast.keys() {
        if !names.contains(col) {
            return Err(Error::run(format!(
                "{what}: cast of column `{col}`, which it does not have (columns: {})",
                names.join(", ")
            )));
        }
    }
    let (select, prepared) = if stream.cast.is_empty() {
        (base, prepared)
    } else {
        let cols: Vec<String> = names
            .iter()
            .map(|n| match stream.cast.get(n) {
                Some(ty) => format!("{}::{ty} AS {}", q(n), q(n)),
                None => q(n),
            })
            .collect();
        let select = format!("SELECT {} FROM {from}", cols.join(", "));
        let prepared = client
            .prepare(&select)
            .await
            .map_err(|e| pg_err(format!("{what}: with the stream's casts"), &e))?;
        (select, prepared)
    };
    let columns = prepared.columns();
    // The exact type of each column, as PostgreSQL spells it under the default search_path
    // (a type outside it, such as an enum of the source's schema, is schema-qualified).
    let pg_types: Vec<String> = if columns.is_empty() {
        Vec::new()
    } else {
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| format!("format_type({}, {})", c.type_().oid(), c.type_modifier()))
            .collect();
        set_search_path(client, config, false).await?;
        let row = client
            .query_one(&format!("SELECT {}", exprs.join(", ")), &[])
            .await
            .map_err(|e| pg_err(&what, &e))?;
        set_search_path(client, config, true).await?;
        (0..columns.len())
            .map(|i| {
                row.try_get::<_, Option<String>>(i)
                    .map(|s| s.unwrap_or_default())
                    .map_err(|e| pg_err("", &e))
            })
            .collect::<Result<_>>()?
    };
    // Table columns declared NOT NULL become non-nullable fields (not for queries: an outer
    // join can make NULLs of a NOT NULL column).
    let mut not_null: Vec<i16> = Vec::new();
    if table.is_some() {
        if let Some(oid) = columns.iter().find_map(|c| c.table_oid()) {
            let rows = client
                .query(
                    "SELECT attnum FROM pg_catalog.pg_attribute \
                     WHERE attrelid = $1 AND attnum > 0 AND attnotnull",
                    &[&oid],
                )
                .await
                .map_err(|e| pg_err(&what, &e))?;
            not_null = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
        }
    }
    let numeric = config
        .unconstrained_numeric()
        .map_err(|e| Error::run(format!("source config of {}: {e}", describe(config))))?;
    let mut fields = Vec::with_capacity(columns.len());
    let mut kinds = Vec::with_capacity(columns.len());
    let mut hints = Vec::with_capacity(columns.len());
    for (c, pg_type) in columns.iter().zip(&pg_types) {
        let kind = kind_of(c.type_(), c.type_modifier(), numeric).ok_or_else(|| {
            Error::run(format!(
                "{what}, column `{}`: type `{pg_type}` has no exact Arrow type; cast it in the stream, e.g. `cast: {{{}: text}}`",
                c.name(),
                c.name()
            ))
        })?;
        let nullable = !c.column_id().is_some_and(|id| not_null.contains(&id));
        fields.push(arrow_field(c.name(), kind, pg_type).with_nullable(nullable));
        kinds.push(kind);
        hints.push(numeric_hint(
            kind,
            c.type_modifier(),
            c.name(),
            &stream.name,
        ));
    }
    Ok(Plan {
        select,
        filter: None,
        table,
        schema: Arc::new(Schema::new(fields)),
        kinds,
        what,
        hints,
    })
}

/// Runs one `COPY (select) TO STDOUT (FORMAT binary)`, decoding its fields straight into the
/// column builders, and sends its rows as batches. Returns `Ok(false)` when the receiver went
/// away.
pub(super) async fn copy_batches(
    client: &Client,
    select: &str,
    plan: &Plan,
    batch_size: usize,
    tx: &BatchTx,
) -> Result<bool> {
    let what = &plan.what;
    let copy = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let stream = client.copy_out(&copy).await.map_err(|e| pg_err(what, &e))?;
    futures::pin_mut!(stream);
    let ncols = plan.kinds.len();
    let mut batcher = Batcher::new(plan.schema.clone(), batch_size, what)?;
    let mut buf = BytesMut::new();
    let mut header_done = false;
    let mut trailer = false;
    let malformed = || {
        Error::run(format!(
            "{what}: malformed binary COPY data from the server"
        ))
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| pg_err(what, &e))?;
        if trailer {
            continue;
        }
        buf.extend_from_slice(&chunk);
        let mut pos = 0usize;
        if !header_done {
            if buf.len() < 19 {
                continue;
            }
            if &buf[..11] != COPY_SIGNATURE {
                return Err(malformed());
            }
            let ext = i32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]);
            let ext = usize::try_from(ext).map_err(|_| malformed())?;
            if buf.len() < 19 + ext {
                continue;
            }
            pos = 19 + ext;
            header_done = true;
        }
        let len = buf.len();
        loop {
            if len - pos < 2 {
                break;
            }
            let n = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if n == -1 {
                trailer = true;
                pos += 2;
                break;
            }
            if n as usize != ncols {
                return Err(malformed());
            }
            // Is the whole tuple here?
            let mut p = pos + 2;
            let mut complete = true;
            for _ in 0..ncols {
                if p + 4 > len {
                    complete = false;
                    break;
                }
                let l = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
                p += 4;
                if l > 0 {
                    if p + l as usize > len {
                        complete = false;
                        break;
                    }
                    p += l as usize;
                }
            }
            if !complete {
                break;
            }
            batcher.start_row();
            let mut p = pos + 2;
            let mut failed = None;
            for (i, (b, kind)) in batcher.builders.iter_mut().zip(&plan.kinds).enumerate() {
                let l = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
                p += 4;
                let v = if l < 0 {
                    None
                } else {
                    let v = &buf[p..p + l as usize];
                    p += l as usize;
                    Some(v)
                };
                if let Err(e) = append(b, *kind, v) {
                    failed = Some((i, e));
                    break;
                }
            }
            if let Some((i, e)) = failed {
                return Err(match plan.hints.get(i).and_then(Option::as_deref) {
                    Some(hint) => batcher.value_error(i, format!("{e}; {hint}")),
                    None => batcher.value_error(i, e),
                });
            }
            pos = p;
            if !batcher.end_row(tx).await? {
                return Ok(false);
            }
        }
        buf.advance(pos);
    }
    if !trailer && header_done {
        return Err(malformed());
    }
    batcher.close(tx).await
}

#[async_trait]
impl Source for PostgresSource {
    async fn check(&self) -> Result<()> {
        let client = connect(&self.config).await?;
        check_schema(&client, &self.config).await
    }

    /// Plans each stream as a read would (finds the table, prepares the SELECT, maps its
    /// columns' types) without running it.
    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        let client = read_connection(&self.config).await?;
        let mut out = Vec::with_capacity(streams.len());
        for s in streams {
            out.push(plan(&client, &self.config, s).await.map(|_| ()));
        }
        Ok(out)
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let client = connect(&self.config).await?;
        // The planner's statistics (pg_class.reltuples): free to read, refreshed by ANALYZE and
        // autovacuum; -1 for a table never analysed.
        let estimates: std::collections::HashMap<String, i64> = client
            .query(
                "SELECT c.relname, c.reltuples::bigint FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
                &[&self.config.schema],
            )
            .await
            .map_err(|e| pg_err("reading row estimates", &e))?
            .iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
            .collect();
        let mut out = Vec::new();
        for t in tables(&client, &self.config.schema).await? {
            let stream = StreamSpec {
                table: Some(format!("{}.{t}", self.config.schema)),
                ..StreamSpec::named(t.clone())
            };
            let p = plan(&client, &self.config, &stream).await?;
            out.push(StreamInfo {
                rows_estimate: estimates.get(&t).and_then(|&n| u64::try_from(n).ok()),
                name: t,
                schema: p.schema,
            });
        }
        Ok(out)
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        let client = connect(&self.config).await?;
        check_schema(&client, &self.config).await?;
        Ok(tables(&client, &self.config.schema)
            .await?
            .into_iter()
            .map(|t| StreamSpec {
                table: Some(t.clone()),
                ..StreamSpec::named(t)
            })
            .collect())
    }

    /// `table: sales.*` lists the tables of schema `sales` (read as `sales.<table>`).
    async fn pattern_candidates(&self, schema: Option<&str>) -> Result<Vec<StreamSpec>> {
        let Some(schema) = schema else {
            return self.default_streams().await;
        };
        let client = connect(&self.config).await?;
        let config = PostgresConfig {
            schema: schema.to_string(),
            ..self.config.clone()
        };
        check_schema(&client, &config).await?;
        Ok(tables(&client, schema)
            .await?
            .into_iter()
            .map(|t| StreamSpec {
                table: Some(format!("{schema}.{t}")),
                ..StreamSpec::named(t)
            })
            .collect())
    }

    async fn key_bounds(&self, stream: &StreamSpec, column: &str) -> Result<Option<(i64, i64)>> {
        let client = connect(&self.config).await?;
        let p = plan(&client, &self.config, stream).await?;
        let Some((schema, table)) = &p.table else {
            return Err(Error::spec(format!(
                "{}: splitting into units needs a `table`, not a `query`",
                p.what
            )));
        };
        if p.schema.field_with_name(column).is_err() {
            return Err(Error::run(format!(
                "{}: partition column `{column}` is not one of its columns",
                p.what
            )));
        }
        super::partition::column_bounds(&client, &qualified(schema, table), &p.what, column).await
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let batch_size = self.config.batch_size.unwrap_or(request.batch_size).max(1);
        let config = self.config.clone();
        let snapshot = self.snapshot.clone();
        spawn_reader("PostgreSQL", move |slot, tx| async move {
            let stream = &request.stream;
            let client = read_connection(&config).await?;
            let what = format!("stream `{}`", stream.name);
            snapshot.import(&config, &client, &what).await?;
            for sql in &stream.source_pre_sql {
                client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| hook_failed("source_pre_sql", sql, pg_err(&what, &e)))?;
            }
            let mut plan = plan(&client, &config, stream).await?;
            let mut partition = stream.partition.clone();
            if !request.keys_only.is_empty() {
                // `delete_missing`: the key columns of every row, as a query over the stream's.
                let keys = StreamSpec {
                    query: Some(keys_select(
                        &PostgresDialect,
                        &plan.select,
                        &request.keys_only,
                        "AS ",
                    )),
                    table: None,
                    cast: Default::default(),
                    ..StreamSpec::named(stream.name.clone())
                };
                plan = self::plan(&client, &config, &keys).await?;
                partition = None;
            } else {
                // Incremental: rows at or after the saved cursor (>= keeps boundary rows).
                plan.filter = request
                    .cursor
                    .as_ref()
                    .map(|(field, value)| cursor_predicate(&PostgresDialect, field, value));
                // A unit of a plan: only its key range.
                if let Some(range) = &request.range {
                    let r = crate::connectors::sql::range_predicate(&PostgresDialect, range);
                    plan.filter = Some(match plan.filter.take() {
                        Some(f) => format!("{f} AND {r}"),
                        None => r,
                    });
                }
            }
            match partition {
                Some(p) if p.count > 1 => {
                    super::partition::read(config, client, &snapshot, plan, p, batch_size, slot, tx)
                        .await
                }
                _ => {
                    slot.send(plan.schema.clone());
                    let select = match &plan.filter {
                        Some(f) => format!("{} WHERE {f}", plan.select),
                        None => plan.select.clone(),
                    };
                    copy_batches(&client, &select, &plan, batch_size, &tx)
                        .await
                        .map(|_| ())
                }
            }
        })
        .await
    }
}
