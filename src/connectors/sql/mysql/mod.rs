//! MySQL and MariaDB (over `mysql_async`, no TLS): source and destination.
//!
//! Every connection sets `SET NAMES utf8mb4` and `SET time_zone = '+00:00'`, so text arrives as
//! UTF-8 and `TIMESTAMP` columns are read and written in UTC whatever the server's zone.
//! The type mapping is documented in [`types`].

mod config;
mod destination;
mod source;
mod source_partition;
pub mod types;

pub use config::MysqlConfig;
pub use destination::MysqlDestination;
pub use source::MysqlSource;

use super::{Dialect, MergeInto};
use crate::error::{Error, Result};
use arrow::datatypes::{DataType, Field};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use std::time::Duration;

/// MySQL's identifier quoting (backticks) and column types.
pub struct MysqlDialect;

impl Dialect for MysqlDialect {
    fn column_type(&self, data_type: &DataType) -> Result<String, String> {
        types::column_type(data_type)
    }

    fn quote_ident(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    /// Backslashes escape in MySQL string literals; sessions run in UTC, so a UTC cursor is
    /// written without its offset (MariaDB does not parse offsets in literals).
    fn cursor_literal(&self, value: &crate::runner::cursor::CursorValue) -> String {
        let text = value.text();
        let text = text.strip_suffix("+00:00").unwrap_or(&text);
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    }

    /// Text and binary key columns get a bounded type (`LONGTEXT` cannot be indexed), and
    /// NULL is explicit: without it a TIMESTAMP column is NOT NULL on servers running with
    /// explicit_defaults_for_timestamp=OFF.
    fn column_definition(&self, field: &Field, is_key: bool) -> Result<String, String> {
        let ty = types::field_column_type(field, is_key)?;
        let null = if field.is_nullable() && !is_key {
            " NULL"
        } else {
            " NOT NULL"
        };
        Ok(format!("{ty}{null}"))
    }

    /// `INSERT ... SELECT` of the staging rows; with a primary key an existing key's row takes the
    /// new values (`ON DUPLICATE KEY UPDATE`), without one rows are appended.
    fn merge_sql(&self, m: &MergeInto<'_>) -> String {
        let (target, staging) = (m.target, m.staging);
        let (columns, primary_key) = (m.columns, m.primary_key);
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let list = cols.join(", ");
        let merge = if primary_key.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = primary_key.iter().map(|k| quote(k)).collect();
            let updates: Vec<String> = cols
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| format!("{c} = {staging}.{c}"))
                .collect();
            match updates.is_empty() {
                // Only key columns: nothing to update, keep the existing row.
                true => format!(" ON DUPLICATE KEY UPDATE {k} = {target}.{k}", k = keys[0]),
                false => format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")),
            }
        };
        format!("INSERT INTO {target} ({list}) SELECT {list} FROM {staging}{merge}")
    }

    /// InnoDB, utf8mb4 with a binary collation (so text compares and keys exactly as the
    /// source's bytes).
    fn table_options(&self) -> &'static str {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }
}

/// Spec checks of a MySQL source's streams (no connection is made).
pub fn validate_streams(streams: &[crate::spec::StreamSpec]) -> Result<(), String> {
    super::validate_streams(streams)?;
    for s in streams {
        if let Some(p) = &s.partition {
            if p.column.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(format!(
                    "stream `{}`: partition.column must name an integer column (splitting by pages is postgresql-only)",
                    s.name
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn quote(ident: &str) -> String {
    MysqlDialect.quote_ident(ident)
}

/// Opens one connection with UTF-8 and UTC session settings, within `connect_timeout`.
/// Errors are [`Error::Connection`] and never contain the password.
pub(crate) async fn connect(config: &MysqlConfig, extra_init: &[&str]) -> Result<Conn> {
    let mut init = vec![
        "SET NAMES utf8mb4".to_string(),
        "SET time_zone = '+00:00'".to_string(),
    ];
    init.extend(extra_init.iter().map(|s| s.to_string()));
    let password = config.password.expose();
    let opts = OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.user.clone()))
        .pass((!password.is_empty()).then(|| password.to_string()))
        .db_name(Some(config.database.clone()))
        .init(init)
        .stmt_cache_size(16);
    let secs = config.connect_timeout.max(1);
    let conn = tokio::time::timeout(Duration::from_secs(secs), Conn::new(opts)).await;
    match conn {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Error::Connection(format!(
            "cannot connect to {}: {}",
            config.describe(),
            scrub(&e.to_string(), password)
        ))),
        Err(_) => Err(Error::Connection(format!(
            "cannot connect to {}: no answer within {secs}s (connect_timeout)",
            config.describe()
        ))),
    }
}

/// Removes the password from a driver message, should a driver ever echo it.
fn scrub(message: &str, password: &str) -> String {
    if password.len() >= 3 {
        message.replace(password, "********")
    } else {
        message.to_string()
    }
}

/// A driver error while running, worded for the user.
pub(crate) fn run_err(what: &str, e: mysql_async::Error) -> Error {
    Error::Run(format!("{what}: {e}"))
}

/// Base tables of the connection's database, without etl's staging tables, in name order.
pub(crate) async fn list_tables(conn: &mut Conn) -> Result<Vec<String>> {
    conn.query::<String, _>(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_etl\\_%' ORDER BY table_name",
    )
    .await
    .map_err(|e| run_err("listing tables", e))
}

/// Whether `table` (an unqualified name) exists in `schema` (the current database when `None`).
pub(crate) async fn table_exists(
    conn: &mut Conn,
    schema: Option<&str>,
    table: &str,
) -> Result<bool> {
    let n: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
            (schema, table),
        )
        .await
        .map_err(|e| run_err(&format!("looking up table `{table}`"), e))?;
    Ok(n.unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Schema;

    #[test]
    fn ddl_uses_backticks_and_bounded_keys() {
        let schema = Schema::new(vec![
            Field::new("we`ird", DataType::Utf8, false),
            Field::new("n", DataType::UInt64, true),
        ]);
        let sql = MysqlDialect
            .create_table("`t`", &schema, &["we`ird".to_string()])
            .unwrap();
        assert!(sql.contains("`we``ird` VARCHAR(768) NOT NULL"), "{sql}");
        assert!(sql.contains("`n` BIGINT UNSIGNED NULL,"), "{sql}");
        assert!(sql.contains("PRIMARY KEY (`we``ird`)"), "{sql}");
        assert!(sql.contains("utf8mb4_bin"), "{sql}");
    }

    #[test]
    fn scrub_hides_the_password() {
        assert_eq!(scrub("bad s3cret here", "s3cret"), "bad ******** here");
    }
}
