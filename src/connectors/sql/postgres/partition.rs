//! Snapshots and parallel reads. One exported snapshot per run ([`RunSnapshot`]): every
//! stream's connection imports it, so all the streams of a run — and all the parts of a
//! partitioned read — see the same moment.
//!
//! Parallel reads of one table: `partition: {column, count}` splits the column's range into
//! `count` parts; without `column`, the table's pages are split into `ctid` ranges. Each part
//! runs its own `COPY` on its own connection, inside the run's snapshot, so together they
//! read exactly the rows one `SELECT` would. Batches go to the runner as they arrive; memory
//! is bounded by `count` batches under construction plus the channel.

use super::source::{copy_batches, read_connection, Plan};
use super::{pg_err, qualified, PostgresConfig, PostgresDialect};
use crate::connectors::sql::reader::{BatchTx, SchemaSlot};
use crate::connectors::sql::Dialect;
use crate::error::{Error, Result};
use crate::spec::PartitionSpec;
use std::sync::Arc;
use tokio_postgres::Client;

/// The run's snapshot: exported on the first read by a coordinating connection whose
/// `REPEATABLE READ` transaction stays open until the source is dropped (the end of the run).
#[derive(Default)]
pub(super) struct RunSnapshot {
    held: tokio::sync::Mutex<Option<(Client, String)>>,
}

impl RunSnapshot {
    /// Opens a `REPEATABLE READ` transaction on `client` that sees the run's snapshot. If the
    /// coordinating connection was lost (a server restart, `pg_terminate_backend`), a new
    /// snapshot is exported, with a warning: the streams read after that see a later moment.
    pub(super) async fn import(
        &self,
        config: &PostgresConfig,
        client: &Client,
        what: &str,
    ) -> Result<()> {
        let mut held = self.held.lock().await;
        for attempt in 0..2 {
            let id = match held.as_ref() {
                Some((coordinator, id)) if !coordinator.is_closed() => id.clone(),
                _ => {
                    if held.is_some() {
                        tracing::warn!("the connection holding the run's snapshot was lost: streams read from now on see a new snapshot");
                    }
                    let coordinator = read_connection(config).await?;
                    let id = export(&coordinator).await?;
                    *held = Some((coordinator, id.clone()));
                    id
                }
            };
            let imported = client
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{}'",
                    id.replace('\'', "''")
                ))
                .await;
            match imported {
                Ok(()) => return Ok(()),
                // The exporting transaction ended (its connection is going): export anew.
                Err(_) if attempt == 0 && !client.is_closed() => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    *held = None;
                }
                Err(e) => return Err(pg_err(format!("{what}: importing the run's snapshot"), &e)),
            }
        }
        Err(Error::run(format!(
            "{what}: could not import the run's snapshot"
        )))
    }
}

/// Starts a read-only `REPEATABLE READ` transaction on `client` and exports its snapshot.
async fn export(client: &Client) -> Result<String> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| pg_err("starting the run's snapshot", &e))?;
    client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| pg_err("exporting the run's snapshot", &e))
}

/// The WHERE conditions of the parts (at most `count`; fewer when the range is small).
async fn filters(client: &Client, plan: &Plan, p: &PartitionSpec) -> Result<Vec<String>> {
    let what = &plan.what;
    let Some((schema, table)) = &plan.table else {
        return Err(Error::spec(format!(
            "{what}: `partition` needs a `table`, not a `query`"
        )));
    };
    let t = qualified(schema, table);
    let count = p.count.max(1) as i128;
    match &p.column {
        Some(col) => {
            if plan.schema.field_with_name(col).is_err() {
                return Err(Error::run(format!(
                    "{what}: partition column `{col}` is not one of its columns"
                )));
            }
            let Some((lo, hi)) = column_bounds(client, &t, what, col).await? else {
                return Ok(vec!["TRUE".into()]); // empty, or only NULLs
            };
            Ok(crate::connectors::KeyRange::split(col, lo, hi, p.count)
                .iter()
                .map(|r| crate::connectors::sql::range_predicate(&PostgresDialect, r))
                .collect())
        }
        None => {
            let row = client
                .query_one(
                    &format!(
                        "SELECT pg_relation_size('{}'::regclass) / current_setting('block_size')::bigint",
                        t.replace('\'', "''")
                    ),
                    &[],
                )
                .await
                .map_err(|e| pg_err(what, &e))?;
            let pages: i64 = row.try_get(0).map_err(|e| pg_err("", &e))?;
            let pages = pages.max(1) as i128;
            let step = (pages + count - 1) / count;
            let mut out = Vec::new();
            let mut start = 0i128;
            while start < pages {
                let end = start + step;
                // The last part is open-ended so pages added since the size was read are kept.
                out.push(if end >= pages {
                    format!("ctid >= '({start},0)'::tid")
                } else {
                    format!("(ctid >= '({start},0)'::tid AND ctid < '({end},0)'::tid)")
                });
                start = end;
            }
            Ok(out)
        }
    }
}

/// The smallest and largest value of the integer column `col` of table `t` (quoted), `None`
/// when no row has one.
pub(super) async fn column_bounds(
    client: &Client,
    t: &str,
    what: &str,
    col: &str,
) -> Result<Option<(i64, i64)>> {
    let c = PostgresDialect.quote_ident(col);
    let row = client
        .query_one(
            &format!("SELECT min({c})::bigint, max({c})::bigint FROM {t}"),
            &[],
        )
        .await
        .map_err(|e| {
            pg_err(
                format!("{what}: partition column `{col}` must be an integer column"),
                &e,
            )
        })?;
    let lo: Option<i64> = row.try_get(0).map_err(|e| pg_err("", &e))?;
    let hi: Option<i64> = row.try_get(1).map_err(|e| pg_err("", &e))?;
    Ok(lo.zip(hi))
}

/// Reads the parts, each on its own connection inside the run's snapshot (`client` has
/// imported it already); their batches (and the first error) arrive on `tx`. The schema is
/// handed over once the parts are planned.
#[allow(clippy::too_many_arguments)]
pub(super) async fn read(
    config: PostgresConfig,
    client: Client,
    snapshot: &RunSnapshot,
    plan: Plan,
    p: PartitionSpec,
    batch_size: usize,
    slot: SchemaSlot,
    tx: BatchTx,
) -> Result<()> {
    let what = plan.what.clone();
    let parts = filters(&client, &plan, &p).await?;
    tracing::debug!(stream = %what, parts = parts.len(), "partitioned read");
    slot.send(plan.schema.clone());
    let plan = Arc::new(plan);
    let mut tasks = tokio::task::JoinSet::new();
    for f in parts {
        // Each part's connection imports the run's snapshot before its task starts.
        let c = read_connection(&config).await?;
        snapshot.import(&config, &c, &what).await?;
        let (plan, tx) = (plan.clone(), tx.clone());
        tasks.spawn(async move {
            let run = async {
                let select = match &plan.filter {
                    Some(c) => format!("{} WHERE {c} AND {f}", plan.select),
                    None => format!("{} WHERE {f}", plan.select),
                };
                copy_batches(&c, &select, &plan, batch_size, &tx).await
            };
            if let Err(e) = run.await {
                let _ = tx.send(Err(e)).await;
            }
        });
    }
    drop(tx);
    while tasks.join_next().await.is_some() {}
    let _ = client.batch_execute("COMMIT").await;
    Ok(())
}
