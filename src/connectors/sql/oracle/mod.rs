//! Oracle (the `oracle` crate over ODPI-C): source and destination.
//!
//! ODPI-C is compiled into etl, but the Oracle client library (`libclntsh`, from Oracle Instant
//! Client) is loaded at run time, the first time an oracle connector connects. Without it, an
//! oracle spec fails with [`client_missing_message`] (exit 1) and every other connector works.
//!
//! The driver is blocking: every call runs on tokio's blocking pool. The source fetches rows in
//! arrays of `batch_size` into Arrow builders; the destination loads a staging table with
//! batched array DML, then renames it into place (full refresh) or `MERGE`s it on the primary
//! key (incremental). The type mapping is documented in [`types`].

mod config;
mod destination;
mod source;
pub mod types;

pub use config::OracleConfig;
pub use destination::OracleDestination;
pub use source::OracleSource;

use super::{Dialect, MergeInto};
use crate::error::{full_message, Error, ErrorKind, Result};
use arrow::datatypes::{DataType, Field};
use oracle::Connection;
use std::time::Duration;

/// Oracle's identifier quoting (`"..."`, case-sensitive) and column types.
pub struct OracleDialect;

impl Dialect for OracleDialect {
    fn column_type(&self, data_type: &DataType) -> Result<String, String> {
        types::column_type(data_type, false)
    }

    /// Key columns get bounded types (a CLOB cannot be a key).
    fn column_definition(&self, field: &Field, is_key: bool) -> Result<String, String> {
        let ty = types::column_type(field.data_type(), is_key)?;
        Ok(if field.is_nullable() && !is_key {
            format!("{ty} NULL")
        } else {
            format!("{ty} NOT NULL")
        })
    }

    /// Publishes an incremental load: `MERGE` on the primary key, or `INSERT` without one.
    fn merge_sql(&self, m: &MergeInto<'_>) -> String {
        let (target, staging) = (m.target, m.staging);
        let (columns, primary_key) = (m.columns, m.primary_key);
        if primary_key.is_empty() {
            let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            let cols = cols.join(", ");
            return format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}");
        }
        super::merge_statement_sql(
            self,
            super::MergeSyntax {
                target_alias: "",
                source_alias: "",
                terminator: "",
            },
            m,
        )
    }

    /// Typed literals, so the comparison never depends on the session's NLS formats.
    fn cursor_literal(&self, value: &crate::contract::CursorValue) -> String {
        use crate::contract::CursorValue;
        let text = value.text();
        let quoted = format!("'{}'", text.replace('\'', "''"));
        match value {
            CursorValue::Decimal(d) if super::is_decimal_text(d) => d.clone(),
            CursorValue::Date(_) => format!("DATE {quoted}"),
            CursorValue::Timestamp(_) => {
                format!("TO_TIMESTAMP({quoted}, 'YYYY-MM-DD HH24:MI:SS.FF9')")
            }
            CursorValue::TimestampTz(_) => {
                format!("TO_TIMESTAMP_TZ({quoted}, 'YYYY-MM-DD HH24:MI:SS.FF9TZH:TZM')")
            }
            _ => quoted,
        }
    }
}

/// Oracle's limit on identifier length (12.2 and later).
pub const MAX_IDENT: usize = 128;

/// Quotes an identifier. Oracle cannot quote a name holding `"` or NUL at all: such names are
/// refused by [`check_ident`] before any SQL is built.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{ident}\"")
}

/// Refuses names Oracle cannot store (a double quote, NUL, empty, or longer than 128 bytes).
pub fn check_ident(ident: &str, what: &str) -> Result<(), String> {
    if ident.is_empty() || ident.contains(['"', '\0']) || ident.len() > MAX_IDENT {
        return Err(format!(
            "{what} `{ident}` cannot be an Oracle identifier (no double quote or NUL, 1 to {MAX_IDENT} bytes)"
        ));
    }
    Ok(())
}

/// `"schema"."table"`, or `"table"` in the user's own schema.
pub fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", quote(s), quote(table)),
        None => quote(table),
    }
}

/// What to tell a user whose machine has no Oracle client library (ODPI-C error DPI-1047).
pub fn client_missing_message(driver: &str) -> String {
    format!(
        "the Oracle client library (libclntsh) could not be loaded, so etl cannot talk to Oracle. \
         Install Oracle Instant Client (Basic or Basic Light, 19c or later: unzip it, e.g. to \
         /opt/oracle/instantclient, and install libaio) and make it findable: set \
         LD_LIBRARY_PATH=/opt/oracle/instantclient (DYLD_LIBRARY_PATH on macOS, PATH on \
         Windows), or add that folder to /etc/ld.so.conf.d/oracle.conf and run ldconfig. \
         The other connectors do not need it. (driver: {driver})"
    )
}

/// An Oracle error for the user, with the kind its ORA- code says: the missing client library
/// gets its own message.
pub(crate) fn ora_err(what: &str, e: &oracle::Error) -> Error {
    let text = full_message(e);
    if e.dpi_code() == Some(1047) || text.contains("DPI-1047") {
        return Error::Connection(client_missing_message(&text));
    }
    let kind = e
        .db_error()
        .map_or(ErrorKind::Permanent, |db| ora_code_kind(db.code()));
    Error::driver(kind, what, text)
}

/// `ORA-nnnnn` -> kind.
fn ora_code_kind(code: i32) -> ErrorKind {
    match code {
        // deadlock, resource busy (NOWAIT / WAIT timeout), cannot serialize access,
        // listener: no handler available (too many connections)
        60 | 54 | 30006 | 8177 | 12516 | 12519 | 12520 => ErrorKind::Transient,
        // end-of-file on the channel, not connected, connection lost contact, packet writer
        // failure, session killed, instance shutting down / terminated, TNS lost contact
        3113 | 3114 | 3135 | 12571 | 28 | 1012 | 1089 | 1092 | 12537 | 12547 => {
            ErrorKind::ConnectionLost
        }
        // connect timeout, no listener, host unreachable, instance not available / starting:
        // retried only after a lost connection
        12170 | 12541 | 12543 | 1033 | 1034 => ErrorKind::Unreachable,
        // invalid username/password, insufficient privileges, account locked
        1017 | 1031 | 28000 => ErrorKind::Auth,
        // table or view does not exist, invalid identifier, object does not exist
        942 | 904 | 4043 => ErrorKind::NotFound,
        // unique constraint, NULL into NOT NULL, precision, too large for column, invalid
        // number, date format
        1 | 1400 | 1438 | 12899 | 1722 | 1861 | 1843 | 1841 => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// Opens one connection within `connect_timeout`. Errors never hold the password; a missing
/// client library says what to install.
pub(crate) async fn connect(c: &OracleConfig) -> Result<Connection> {
    let config = c.clone();
    let secs = c.connect_timeout.max(1);
    let attempt = tokio::task::spawn_blocking(move || {
        let conn = oracle::Connector::new(
            config.user.as_str(),
            config.password.expose(),
            config.dsn.as_str(),
        )
        .connect()?;
        // TIMESTAMP WITH LOCAL TIME ZONE values are read and written in UTC.
        conn.execute("ALTER SESSION SET TIME_ZONE = '+00:00'", &[])?;
        Ok::<_, oracle::Error>(conn)
    });
    match tokio::time::timeout(Duration::from_secs(secs), attempt).await {
        Ok(Ok(Ok(conn))) => Ok(conn),
        Ok(Ok(Err(e))) => match ora_err("", &e) {
            missing @ Error::Connection(_) => Err(missing),
            other => Err(Error::driver(
                match other.kind() {
                    ErrorKind::Permanent | ErrorKind::ConnectionLost => ErrorKind::Unreachable,
                    kind => kind,
                },
                format!("cannot connect to {}", c.describe()),
                full_message(&e),
            )),
        },
        Ok(Err(join)) => Err(Error::Connection(format!(
            "cannot connect to {}: {join}",
            c.describe()
        ))),
        Err(_) => Err(Error::Connection(format!(
            "cannot connect to {}: no answer within {secs}s (connect_timeout)",
            c.describe()
        ))),
    }
}

/// Connects and runs `SELECT 1 FROM DUAL` (`etl check`, and a destination's preflight).
pub(crate) async fn check(c: &OracleConfig) -> Result<()> {
    let conn = connect(c).await?;
    let what = c.describe();
    blocking(move || {
        conn.query_row("SELECT 1 FROM DUAL", &[])
            .map_err(|e| ora_err(&what, &e))?;
        let _ = conn.close();
        Ok(())
    })
    .await
}

/// Runs blocking driver work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::run(format!("Oracle worker stopped: {e}")))?
}

/// The schema to look tables up in (bind value for `owner`): the configured one, or the
/// session's current schema.
const OWNER: &str = "NVL(:1, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA'))";

/// Tables of the schema, without etl's staging tables, in name order.
pub(crate) fn list_tables(conn: &Connection, schema: Option<&str>) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT table_name FROM all_tables WHERE owner = {OWNER} \
         AND table_name NOT LIKE '\\_etl\\_%' ESCAPE '\\' AND nested = 'NO' \
         AND (dropped IS NULL OR dropped = 'NO') ORDER BY table_name"
    );
    let rows = conn
        .query_as::<String>(&sql, &[&schema])
        .map_err(|e| ora_err("listing tables", &e))?;
    rows.map(|r| r.map_err(|e| ora_err("listing tables", &e)))
        .collect()
}

/// Row estimates from the optimizer statistics (`all_tables.num_rows`, set by
/// DBMS_STATS; NULL for a table never analysed). Best effort: a failure gives none.
pub(crate) fn row_estimates(
    conn: &Connection,
    schema: Option<&str>,
) -> std::collections::HashMap<String, u64> {
    let sql = format!(
        "SELECT table_name, num_rows FROM all_tables WHERE owner = {OWNER} AND num_rows IS NOT NULL"
    );
    conn.query_as::<(String, i64)>(&sql, &[&schema])
        .map(|rows| {
            rows.filter_map(|r| r.ok())
                .filter_map(|(t, n)| Some((t, u64::try_from(n).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `table` (exact, case-sensitive name) exists in the schema.
pub(crate) fn table_exists(conn: &Connection, schema: Option<&str>, table: &str) -> Result<bool> {
    let sql = format!("SELECT COUNT(*) FROM all_tables WHERE owner = {OWNER} AND table_name = :2");
    let n: i64 = conn
        .query_row_as(&sql, &[&schema, &table])
        .map_err(|e| ora_err(&format!("looking up table `{table}`"), &e))?;
    Ok(n > 0)
}

/// Tables of the schema whose names begin with `_etl_` (etl's staging and old tables).
pub(crate) fn etl_tables(conn: &Connection, schema: Option<&str>) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT table_name FROM all_tables WHERE owner = {OWNER} AND SUBSTR(table_name, 1, 5) = '_etl_'"
    );
    let what = "listing etl's tables";
    let rows = conn
        .query_as::<String>(&sql, &[&schema])
        .map_err(|e| ora_err(what, &e))?;
    rows.map(|r| r.map_err(|e| ora_err(what, &e))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::CursorValue;
    use arrow::datatypes::Schema;

    #[test]
    fn ora_codes_map_to_kinds() {
        for (code, kind) in [
            (60, ErrorKind::Transient),
            (8177, ErrorKind::Transient),
            (3113, ErrorKind::ConnectionLost),
            (3114, ErrorKind::ConnectionLost),
            (3135, ErrorKind::ConnectionLost),
            (12571, ErrorKind::ConnectionLost),
            (12170, ErrorKind::Unreachable),
            (1017, ErrorKind::Auth),
            (942, ErrorKind::NotFound),
            (12899, ErrorKind::BadValue),
            (900, ErrorKind::Permanent),
        ] {
            assert_eq!(ora_code_kind(code), kind, "ORA-{code:05}");
        }
        #[allow(deprecated)]
        let eof = oracle::Error::OciError(oracle::DbError::new(
            3113,
            0,
            "ORA-03113: end-of-file on communication channel",
            "dpiStmt_execute",
            "execute",
        ));
        let e = ora_err("reading \"T\"", &eof);
        assert!(e.is_transient());
        assert!(
            e.to_string().contains("the server closed the connection"),
            "{e}"
        );
    }

    #[test]
    fn identifiers_are_quoted_or_refused() {
        assert_eq!(qualified(Some("HR"), "a]b"), "\"HR\".\"a]b\"");
        assert_eq!(qualified(None, "select"), "\"select\"");
        assert!(check_ident("\"x\"", "column")
            .unwrap_err()
            .contains("double quote"));
        assert!(check_ident(&"x".repeat(129), "table").is_err());
        assert!(check_ident("order by", "table").is_ok());
    }

    #[test]
    fn ddl_and_merge() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("select", DataType::Decimal128(12, 2), true),
        ]);
        let ddl = OracleDialect
            .create_table(&qualified(None, "t"), &schema, &["id".into()])
            .unwrap();
        assert_eq!(
            ddl,
            "CREATE TABLE \"t\" (\n  \"id\" VARCHAR2(4000) NOT NULL,\n  \"select\" NUMBER(12,2) NULL,\n  PRIMARY KEY (\"id\")\n)"
        );
        let cols = vec!["id".to_string(), "select".to_string()];
        assert_eq!(
            OracleDialect.merge_sql(&MergeInto::new("\"t\"", "\"s\"", &cols, &["id".into()])),
            "MERGE INTO \"t\" t USING \"s\" s ON (t.\"id\" = s.\"id\") WHEN MATCHED THEN UPDATE SET t.\"select\" = s.\"select\" WHEN NOT MATCHED THEN INSERT (\"id\", \"select\") VALUES (s.\"id\", s.\"select\")"
        );
        assert_eq!(
            OracleDialect.merge_sql(&MergeInto::new("\"t\"", "\"s\"", &cols, &[])),
            "INSERT INTO \"t\" (\"id\", \"select\") SELECT \"id\", \"select\" FROM \"s\""
        );
    }

    #[test]
    fn cursor_literals_are_typed() {
        let d = OracleDialect;
        assert_eq!(
            d.cursor_literal(&CursorValue::Text("it's".into())),
            "'it''s'"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::Decimal("12.50".into())),
            "12.50"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::Date("2024-01-01".into())),
            "DATE '2024-01-01'"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::TimestampTz(
                "2024-01-01 00:00:00.000000+00:00".into()
            )),
            "TO_TIMESTAMP_TZ('2024-01-01 00:00:00.000000+00:00', 'YYYY-MM-DD HH24:MI:SS.FF9TZH:TZM')"
        );
    }

    #[test]
    fn missing_client_message_says_what_to_do() {
        let m = client_missing_message("DPI-1047: Cannot locate a 64-bit Oracle Client library");
        for needle in ["Instant Client", "LD_LIBRARY_PATH", "ldconfig", "DPI-1047"] {
            assert!(m.contains(needle), "{m}");
        }
    }
}
