use super::types::{append, field_for, parse_type};
use super::{
    connect, list_tables, qualified, quote, run_err, table_exists, MssqlClient, MssqlConfig,
    MssqlDialect,
};
use crate::connectors::sql::names::{schema_of_name, table_candidates, table_not_found};
use crate::connectors::sql::reader::{since_cursor, spawn_reader, BatchTx, Batcher, SchemaSlot};
use crate::connectors::{ReadRequest, Reader, Source, StreamInfo};
use crate::error::{Error, Result};
use crate::spec::StreamSpec;
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use futures::TryStreamExt;
use std::sync::Arc;

pub struct MssqlSource {
    config: MssqlConfig,
}

impl MssqlSource {
    pub fn new(config: MssqlConfig) -> Self {
        MssqlSource { config }
    }
}

/// What a stream reads: the FROM clause's SQL, and how errors name it.
struct Target {
    sql: String,
    what: String,
}

/// One result column as the server describes it.
#[derive(Debug, Clone)]
pub(super) struct Described {
    pub name: String,
    pub type_name: String,
    pub nullable: bool,
}

/// The columns `sql` returns, from `sp_describe_first_result_set` (no rows are read).
pub(super) async fn describe(
    client: &mut MssqlClient,
    sql: &str,
    what: &str,
) -> Result<Vec<Described>> {
    let rows = client
        .query("EXEC sp_describe_first_result_set @tsql = @P1", &[&sql])
        .await
        .map_err(|e| run_err(what, e))?
        .into_first_result()
        .await
        .map_err(|e| run_err(what, e))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        if r.get::<bool, _>("is_hidden").unwrap_or(false) {
            continue;
        }
        let name = r.get::<&str, _>("name").unwrap_or("").to_string();
        let type_name = r
            .get::<&str, _>("system_type_name")
            .unwrap_or("")
            .to_string();
        let nullable = r.get::<bool, _>("is_nullable").unwrap_or(true);
        out.push(Described {
            name,
            type_name,
            nullable,
        });
    }
    Ok(out)
}

/// The Arrow schema of described columns; a column without a name or a mapping fails here.
fn schema_of(cols: &[Described], what: &str) -> Result<SchemaRef> {
    let mut fields = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        if c.name.is_empty() {
            return Err(Error::run(format!(
                "{what}: column {} has no name; give it one with AS in the query",
                i + 1
            )));
        }
        let f = field_for(&c.name, &c.type_name, c.nullable)
            .map_err(|e| Error::run(format!("{what}, column `{}`: {e}", c.name)))?;
        fields.push(f);
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// `SELECT` over `from` that reads every column in a form the driver decodes exactly (money
/// through DECIMAL); `from` itself when no column needs that.
fn select_sql(from: &str, cols: &[Described]) -> String {
    let parsed: Vec<_> = cols.iter().map(|c| parse_type(&c.type_name)).collect();
    if !parsed
        .iter()
        .any(|t| t.as_ref().is_ok_and(|t| t.needs_cast()))
    {
        return from.to_string();
    }
    let list: Vec<String> = cols
        .iter()
        .zip(&parsed)
        .map(|(c, t)| match t {
            Ok(t) => t.select_expr(&quote(&c.name)),
            Err(_) => quote(&c.name),
        })
        .collect();
    format!("SELECT {} FROM ({from}) AS _etl_q", list.join(", "))
}

async fn resolve(
    client: &mut MssqlClient,
    stream: &StreamSpec,
    config: &MssqlConfig,
) -> Result<Target> {
    if let Some(q) = &stream.query {
        return Ok(Target {
            sql: q.clone(),
            what: format!("query of stream `{}`", stream.name),
        });
    }
    let table = stream.table.as_deref().unwrap_or(&stream.name);
    for (schema, t) in table_candidates(table) {
        let schema = schema.unwrap_or_else(|| config.schema.clone());
        if table_exists(client, &schema, &t).await? {
            return Ok(Target {
                sql: format!("SELECT * FROM {}", qualified(&schema, &t)),
                what: format!("table `{table}`"),
            });
        }
    }
    let schema = schema_of_name(table, &config.schema);
    let what = format!("looking up schema `{schema}`");
    let names = |rows: Vec<tiberius::Row>| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r.get::<&str, _>(0).map(str::to_string))
            .collect()
    };
    let schemas = names(
        client
            .query("SELECT name FROM sys.schemas ORDER BY name", &[])
            .await
            .map_err(|e| run_err(&what, e))?
            .into_first_result()
            .await
            .map_err(|e| run_err(&what, e))?,
    );
    let exists = schemas.contains(&schema);
    let known = if exists {
        list_tables(client, &schema).await?
    } else {
        schemas
    };
    Err(table_not_found(
        table,
        ("schema", &schema),
        exists,
        &known,
        &config.describe(),
    ))
}

/// Runs `sql` and sends its rows as batches of `batch_size` into `tx`; rows are decoded as
/// they arrive from the socket, and `tx` is bounded, so memory stays at a few batches.
async fn stream_rows(
    client: &mut MssqlClient,
    sql: &str,
    schema: SchemaRef,
    what: &str,
    batch_size: usize,
    tx: &BatchTx,
) -> Result<()> {
    let mut batcher = Batcher::new(schema, batch_size, what)?;
    let mut rows = client
        .simple_query(sql)
        .await
        .map_err(|e| run_err(what, e))?
        .into_row_stream();
    while let Some(row) = rows.try_next().await.map_err(|e| run_err(what, e))? {
        if row.result_index() != 0 {
            continue;
        }
        batcher.start_row();
        if row.len() != batcher.builders.len() {
            return Err(Error::run(format!(
                "{what}: the server returned {} columns, {} were described",
                row.len(),
                batcher.builders.len()
            )));
        }
        for (i, (_, v)) in row.cells().enumerate() {
            if let Err(e) = append(&mut batcher.builders[i], v) {
                return Err(batcher.value_error(i, e));
            }
        }
        if !batcher.end_row(tx).await? {
            return Ok(()); // the reader went away: stop quietly
        }
    }
    batcher.close(tx).await?;
    Ok(())
}

/// Reads one stream: connects, resolves the table or query, describes its columns (the
/// schema), then streams the rows.
async fn read_task(
    config: MssqlConfig,
    request: ReadRequest,
    schema_slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    let mut client = connect(&config).await?;
    let mut target = resolve(&mut client, &request.stream, &config).await?;
    target.sql = since_cursor(&MssqlDialect, target.sql, request.cursor.as_ref(), "AS ");
    let cols = describe(&mut client, &target.sql, &target.what).await?;
    let schema = schema_of(&cols, &target.what)?;
    schema_slot.send(schema.clone());
    let sql = select_sql(&target.sql, &cols);
    let what = &target.what;
    stream_rows(&mut client, &sql, schema, what, request.batch_size, &tx).await?;
    let _ = client.close().await;
    Ok(())
}

#[async_trait]
impl Source for MssqlSource {
    async fn check(&self) -> Result<()> {
        super::check(&self.config).await
    }

    /// Finds each stream's table and describes its SELECT (`sp_describe_first_result_set`
    /// compiles it without running it).
    async fn check_streams(&self, streams: &[StreamSpec]) -> Result<Vec<Result<()>>> {
        let mut client = connect(&self.config).await?;
        let mut out = Vec::with_capacity(streams.len());
        for s in streams {
            let checked = async {
                let target = resolve(&mut client, s, &self.config).await?;
                let cols = describe(&mut client, &target.sql, &target.what).await?;
                schema_of(&cols, &target.what).map(|_| ())
            };
            out.push(checked.await);
        }
        let _ = client.close().await;
        Ok(out)
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let mut client = connect(&self.config).await?;
        let estimates = super::row_estimates(&mut client, &self.config.schema).await;
        let mut out = Vec::new();
        for t in list_tables(&mut client, &self.config.schema).await? {
            let what = format!("table `{t}`");
            let sql = format!("SELECT * FROM {}", qualified(&self.config.schema, &t));
            let cols = describe(&mut client, &sql, &what).await?;
            out.push(StreamInfo {
                rows_estimate: estimates.get(&t).copied(),
                name: t,
                schema: schema_of(&cols, &what)?,
            });
        }
        let _ = client.close().await;
        Ok(out)
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        let mut client = connect(&self.config).await?;
        let tables = list_tables(&mut client, &self.config.schema).await?;
        let _ = client.close().await;
        Ok(tables.into_iter().map(StreamSpec::named).collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let config = self.config.clone();
        spawn_reader("SQL Server", move |slot, tx| {
            read_task(config, request, slot, tx)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> Described {
        Described {
            name: name.into(),
            type_name: t.into(),
            nullable: true,
        }
    }

    #[test]
    fn money_is_read_through_decimal() {
        let cols = vec![col("id", "int"), col("price]", "money")];
        assert_eq!(
            select_sql("SELECT * FROM [dbo].[t]", &cols),
            "SELECT [id], CAST([price]]] AS DECIMAL(19,4)) AS [price]]] FROM (SELECT * FROM [dbo].[t]) AS _etl_q"
        );
        let plain = vec![col("id", "int")];
        assert_eq!(select_sql("SELECT 1 AS id", &plain), "SELECT 1 AS id");
    }

    #[test]
    fn schemas_name_the_failing_column() {
        let e = schema_of(&[col("g", "geography")], "table `t`").unwrap_err();
        assert!(e.to_string().contains("table `t`, column `g`"), "{e}");
        let e = schema_of(&[col("", "int")], "query of stream `s`").unwrap_err();
        assert!(e.to_string().contains("has no name"), "{e}");
        let s = schema_of(&[col("u", "uniqueidentifier")], "t").unwrap();
        assert_eq!(
            s.field(0)
                .metadata()
                .get("ARROW:extension:name")
                .map(String::as_str),
            Some("arrow.uuid")
        );
    }
}
