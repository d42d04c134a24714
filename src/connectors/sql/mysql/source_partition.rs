//! `partition: {column, count}`: a stream read as `count` ranges of an integer column, each on
//! its own connection, all feeding the same bounded channel.

use super::source::{stream_rows, StreamRead};
use super::{connect, quote, run_err, MysqlConfig};
use crate::connectors::sql::reader::{BatchTx, SchemaSlot};
use crate::error::{Error, Result};
use crate::spec::PartitionSpec;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// `[lo, hi)` ranges covering `min..=max` in at most `count` parts.
pub fn ranges(min: i128, max: i128, count: usize) -> Vec<(i128, i128)> {
    let count = count.max(1) as i128;
    let span = max - min + 1;
    let step = ((span + count - 1) / count).max(1);
    let mut out = Vec::new();
    let mut lo = min;
    while lo <= max {
        let hi = (lo + step).min(max + 1);
        out.push((lo, hi));
        lo = hi;
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn read_partitioned(
    mut conn: Conn,
    config: &MysqlConfig,
    sql: &str,
    table: Option<&str>,
    what: &str,
    spec: &PartitionSpec,
    read: &StreamRead<'_>,
    slot: &SchemaSlot,
    tx: &BatchTx,
) -> Result<()> {
    let column = spec
        .column
        .as_deref()
        .ok_or_else(|| Error::spec(format!("{what}: partition.column is required for mysql")))?;
    let col = quote(column);
    let from = match table {
        Some(t) => t.to_string(),
        None => format!("({sql}) AS _etl_part"),
    };
    let bounds: Option<(Option<String>, Option<String>)> = conn
        .query_first(format!(
            "SELECT CAST(MIN({col}) AS CHAR), CAST(MAX({col}) AS CHAR) FROM {from}"
        ))
        .await
        .map_err(|e| run_err(&format!("{what}, partition column `{}`", column), e))?;
    let parse = |s: &str| {
        s.parse::<i128>().map_err(|_| {
            Error::run(format!(
                "{what}: partition column `{}` must hold integers (found {s})",
                column
            ))
        })
    };
    let (min, max) = match bounds {
        Some((Some(lo), Some(hi))) => (parse(&lo)?, parse(&hi)?),
        // Empty, or only NULLs: one plain read.
        _ => {
            stream_rows(&mut conn, sql, what, read, slot, tx).await?;
            let _ = conn.disconnect().await;
            return Ok(());
        }
    };
    let parts = ranges(min, max, spec.count);
    let n = parts.len();
    let mut first_conn = Some(conn);
    let mut jobs = Vec::with_capacity(n);
    for (k, (lo, hi)) in parts.into_iter().enumerate() {
        // Rows whose partition column is NULL go with the first range.
        let nulls = if k == 0 {
            format!(" OR {col} IS NULL")
        } else {
            String::new()
        };
        let part_sql =
            format!("SELECT * FROM {from} WHERE ({col} >= {lo} AND {col} < {hi}){nulls}");
        let part_what = format!(
            "{what} (partition {} of {n}: `{}` in [{lo}, {hi}))",
            k + 1,
            column
        );
        let conn = first_conn.take();
        jobs.push(async move {
            let mut conn = match conn {
                Some(c) => c,
                None => connect(config, super::source::READ_INIT).await?,
            };
            // Every partition has the same schema; the first to know it hands it over.
            stream_rows(&mut conn, &part_sql, &part_what, read, slot, tx).await?;
            let _ = conn.disconnect().await;
            Ok::<(), Error>(())
        });
    }
    futures::future::try_join_all(jobs).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_cover_every_value_once() {
        assert_eq!(ranges(1, 10, 3), vec![(1, 5), (5, 9), (9, 11)]);
        assert_eq!(ranges(5, 5, 4), vec![(5, 6)]);
        assert_eq!(ranges(-3, 2, 2), vec![(-3, 0), (0, 3)]);
        assert_eq!(ranges(0, 2, 8).len(), 3);
    }
}
