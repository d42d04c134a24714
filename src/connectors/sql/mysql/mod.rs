//! MySQL and MariaDB (over `mysql_async`, TLS over rustls): source and destination.
//!
//! Every connection sets `SET NAMES utf8mb4` and `SET time_zone = '+00:00'`, so text arrives as
//! UTF-8 and `TIMESTAMP` columns are read and written in UTC whatever the server's zone.
//! The type mapping is documented in [`types`].

mod config;
mod destination;
mod source;
mod source_partition;
pub mod types;
mod verify_ca;

pub use config::{MysqlConfig, SslMode};
pub use destination::MysqlDestination;
pub use source::MysqlSource;

use super::{Dialect, MergeInto};
use crate::connectors::sql::tls::{self, TlsFiles, Verify};
use crate::error::{Error, ErrorKind, Result};
use arrow::datatypes::{DataType, Field};
use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, OptsBuilder, SslOpts};
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
    fn cursor_literal(&self, value: &crate::contract::CursorValue) -> String {
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

/// Opens one connection with UTF-8 and UTC session settings and TLS per `ssl_mode`, within
/// `connect_timeout`. Errors never contain the password.
pub(crate) async fn connect(config: &MysqlConfig, extra_init: &[&str]) -> Result<Conn> {
    let mut init = vec![
        "SET NAMES utf8mb4".to_string(),
        "SET time_zone = '+00:00'".to_string(),
    ];
    init.extend(extra_init.iter().map(|s| s.to_string()));
    let password = config.password.expose();
    let keys = config.tls_keys();
    let secs = config.connect_timeout.max(1);
    let what = || format!("cannot connect to {}", config.describe());
    let timed_out = || {
        Error::Connection(format!(
            "{}: no answer within {secs}s (connect_timeout)",
            what()
        ))
    };
    let ssl = match config.ssl_mode {
        SslMode::Disabled => None,
        _ => {
            let files = keys.load().map_err(Error::spec)?;
            let ssl = ssl_opts(&files, keys.verify);
            Some(match keys.verify {
                Verify::Chain => {
                    let probe = verify_ca::certificate_name(config, &keys, &files);
                    let name = tokio::time::timeout(Duration::from_secs(secs), probe)
                        .await
                        .map_err(|_| timed_out())??;
                    ssl.with_danger_tls_hostname_override(Some(name))
                }
                Verify::Nothing | Verify::ChainAndName => ssl,
            })
        }
    };
    let opts = OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.user.clone()))
        .pass((!password.is_empty()).then(|| password.to_string()))
        .db_name(Some(config.database.clone()))
        .init(init)
        .stmt_cache_size(16);
    let attempt = |ssl: Option<SslOpts>| {
        tokio::time::timeout(
            Duration::from_secs(secs),
            Conn::new(opts.clone().ssl_opts(ssl)),
        )
    };
    let mut conn = attempt(ssl).await;
    // `preferred`, as the mysql client: without TLS when the server offers none or the
    // (unverified) handshake fails.
    if config.ssl_mode == SslMode::Preferred {
        if let Ok(Err(e)) = &conn {
            if no_tls(e) || tls::rustls_cause(e).is_some() {
                conn = attempt(None).await;
            }
        }
    }
    match conn {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(match tls::rustls_cause(&e) {
            Some(cause) => tls::handshake_error(&what(), &keys, &config.host, cause),
            None if no_tls(&e) => no_tls_offered(&what(), &keys),
            None => Error::driver(connect_kind(&e), what(), scrub(&message(&e), password)),
        }),
        Err(_) => Err(timed_out()),
    }
}

/// A server without TLS for a mode that needs it.
fn no_tls_offered(what: &str, keys: &tls::TlsKeys<'_>) -> Error {
    Error::driver(
        ErrorKind::Permanent,
        what,
        format!(
            "the server does not offer TLS, which `{}: {}` requires",
            keys.mode.0, keys.mode.1
        ),
    )
}

/// Whether a failed connect was the server not offering TLS.
fn no_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}

/// mysql_async's TLS options for files already read and checked (handed over as PEM text, so
/// it reads no file itself). mysql_async builds its rustls config from the process default
/// provider, which [`tls::provider`] sets to ring. For [`Verify::Chain`] the caller adds the
/// name to verify against (see [`verify_ca`]).
fn ssl_opts(files: &TlsFiles, verify: Verify) -> SslOpts {
    tls::provider();
    let pem = |bytes: &[u8]| bytes.to_vec().into();
    let mut ssl = SslOpts::default();
    if let Some(ca) = &files.ca {
        ssl = ssl.with_root_certs(vec![pem(&ca.bytes)]);
    }
    if let Some((cert, key)) = &files.identity {
        ssl =
            ssl.with_client_identity(Some(ClientIdentity::new(pem(&cert.bytes), pem(&key.bytes))));
    }
    match verify {
        Verify::Nothing => ssl.with_danger_accept_invalid_certs(true),
        // Only the CA file is trusted, never the driver's built-in (Mozilla) roots.
        Verify::Chain | Verify::ChainAndName => ssl.with_disable_built_in_roots(true),
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

/// A driver error while running, worded for the user, with the kind its code says.
pub(crate) fn run_err(what: &str, e: mysql_async::Error) -> Error {
    Error::driver(mysql_kind(&e), what, message(&e))
}

/// mysql_async's message, reworded: its Display quotes `like this' and repeats the variant
/// ("Server error: `ERROR 1045 (28000): Access denied …'", "Input/output error: Input/output
/// error: …"). A server error reads "Access denied … (MySQL error 1045, SQLSTATE 28000)".
fn message(e: &mysql_async::Error) -> String {
    use mysql_async::{Error as E, IoError};
    match e {
        E::Server(s) => format!(
            "{} (MySQL error {}, SQLSTATE {})",
            s.message, s.code, s.state
        ),
        E::Io(IoError::Io(io)) => format!("Input/output error: {io}"),
        // IoError::Tls, with mysql_async's TLS features.
        #[allow(unreachable_patterns)]
        E::Io(other) => backticks(&other.to_string()),
        E::Driver(d) => backticks(&d.to_string()),
        E::Url(u) => backticks(&u.to_string()),
        E::Other(o) => o.to_string(),
    }
}

/// `like this' (the old Unix quoting mysql_async uses) as `like this`.
fn backticks(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut open = false;
    for c in s.chars() {
        match c {
            '`' => {
                open = true;
                out.push(c);
            }
            '\'' if open => {
                open = false;
                out.push('`');
            }
            c => out.push(c),
        }
    }
    out
}

/// The kind of a driver error on an open connection: the server's error number; any I/O
/// error (a killed connection surfaces as `bytes remaining on stream`) or a connection the
/// driver found closed is a lost connection.
pub(crate) fn mysql_kind(e: &mysql_async::Error) -> ErrorKind {
    use mysql_async::{DriverError as D, Error as E};
    match e {
        E::Server(s) => server_code_kind(s.code),
        E::Io(_) => ErrorKind::ConnectionLost,
        E::Driver(D::ConnectionClosed | D::PoolDisconnected) => ErrorKind::ConnectionLost,
        _ => ErrorKind::Permanent,
    }
}

/// The kind of a failed connect: refused or unanswered is "unreachable", a refused login
/// is an authentication failure.
fn connect_kind(e: &mysql_async::Error) -> ErrorKind {
    match e {
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => crate::error::io_kind(io),
        _ => match mysql_kind(e) {
            ErrorKind::Permanent | ErrorKind::ConnectionLost => ErrorKind::Unreachable,
            kind => kind,
        },
    }
}

/// MySQL / MariaDB server error number -> kind.
fn server_code_kind(code: u16) -> ErrorKind {
    match code {
        // lock wait timeout, deadlock, too many connections, too many user connections
        1205 | 1213 | 1040 | 1203 => ErrorKind::Transient,
        // server shutdown, connection killed (MariaDB), server gone away / lost (client codes)
        1053 | 1927 | 2006 | 2013 => ErrorKind::ConnectionLost,
        // access denied (database, user, command, column, privilege), no password plugin
        1044 | 1045 | 1142 | 1143 | 1227 | 1698 => ErrorKind::Auth,
        // unknown database, unknown table (drop), unknown column, table does not exist
        1049 | 1051 | 1054 | 1146 => ErrorKind::NotFound,
        // column cannot be null, duplicate key, out of range, truncated, incorrect, too long
        1048 | 1062 | 1264 | 1265 | 1292 | 1366 | 1406 => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// Base tables of `database` (the connection's when `None`), without etl's staging tables, in
/// name order.
pub(crate) async fn list_tables(conn: &mut Conn, database: Option<&str>) -> Result<Vec<String>> {
    conn.exec::<String, _, _>(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = COALESCE(?, DATABASE()) AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_etl\\_%' ORDER BY table_name",
        (database,),
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
    fn server_codes_map_to_kinds() {
        for (code, kind) in [
            (1205, ErrorKind::Transient),
            (1213, ErrorKind::Transient),
            (1040, ErrorKind::Transient),
            (1927, ErrorKind::ConnectionLost),
            (2006, ErrorKind::ConnectionLost),
            (2013, ErrorKind::ConnectionLost),
            (1053, ErrorKind::ConnectionLost),
            (1045, ErrorKind::Auth),
            (1142, ErrorKind::Auth),
            (1146, ErrorKind::NotFound),
            (1049, ErrorKind::NotFound),
            (1366, ErrorKind::BadValue),
            (1064, ErrorKind::Permanent),
        ] {
            assert_eq!(server_code_kind(code), kind, "{code}");
        }
    }

    #[test]
    fn io_errors_and_closed_connections_are_lost_connections() {
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::other(
            "bytes remaining on stream",
        )));
        let e = run_err("reading `t`", io);
        assert_eq!(e.kind(), ErrorKind::ConnectionLost);
        assert!(
            e.to_string().starts_with(
                "reading `t`: the server closed the connection: Input/output error: bytes remaining on stream"
            ),
            "{e}"
        );
        let closed = mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed);
        assert!(run_err("x", closed).is_transient());
        let server = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1927,
            message: "Connection was killed".into(),
            state: "70100".into(),
        });
        assert!(run_err("x", server).is_transient());
        let refused = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(connect_kind(&refused), ErrorKind::Unreachable);
    }

    #[test]
    fn server_errors_read_without_the_odd_quotes() {
        let denied = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1045,
            message: "Access denied for user 'u'@'h' (using password: YES)".into(),
            state: "28000".into(),
        });
        assert_eq!(
            message(&denied),
            "Access denied for user 'u'@'h' (using password: YES) (MySQL error 1045, SQLSTATE 28000)"
        );
        let plugin = mysql_async::Error::Driver(mysql_async::DriverError::UnknownAuthPlugin {
            name: "x".into(),
        });
        assert_eq!(message(&plugin), "Unknown authentication plugin `x`.");
    }

    #[test]
    fn scrub_hides_the_password() {
        assert_eq!(scrub("bad s3cret here", "s3cret"), "bad ******** here");
    }
}
