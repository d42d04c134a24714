//! PostgreSQL (tokio-postgres): source and destination over binary `COPY` in both directions.
//!
//! The source runs `COPY (SELECT ...) TO STDOUT (FORMAT binary)` and decodes the rows straight
//! into Arrow builders, one batch at a time; the destination encodes Arrow batches into
//! `COPY ... FROM STDIN (FORMAT binary)`. The type mapping is documented in [`types`].

mod config;
mod destination;
mod partition;
mod source;
pub mod types;

pub use config::{PostgresConfig, SslMode};
pub use destination::PostgresDestination;
pub use source::PostgresSource;

use super::{tls, Dialect};
use crate::error::{Error, ErrorKind, Result};
use arrow::datatypes::{DataType, Field};
use std::time::Duration;
use tokio_postgres::Client;

/// PostgreSQL's identifier quoting and type names.
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn column_type(&self, data_type: &DataType) -> Result<String, String> {
        types::column_type(data_type, false)
    }

    fn field_type(&self, field: &Field) -> Result<String, String> {
        if let Some(t) = field.metadata().get(types::DIRECT_TYPE_KEY) {
            return Ok(t.clone());
        }
        types::column_type(field.data_type(), types::is_uuid_field(field))
    }
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!(
        "{}.{}",
        PostgresDialect.quote_ident(schema),
        PostgresDialect.quote_ident(table)
    )
}

/// Where a config points, for messages (never includes the password).
pub fn describe(c: &PostgresConfig) -> String {
    format!(
        "postgresql://{}@{}:{}/{}",
        c.user, c.host, c.port, c.database
    )
}

/// A driver error while doing `what`, with the kind its SQLSTATE (or closed connection) says.
pub fn pg_err(what: impl std::fmt::Display, e: &tokio_postgres::Error) -> Error {
    Error::driver(pg_kind(e), what, pg_error(e))
}

/// The kind of a driver error: from the server's SQLSTATE; a connection the driver found
/// closed, or an I/O error on it, is a lost connection.
pub fn pg_kind(e: &tokio_postgres::Error) -> ErrorKind {
    if let Some(state) = e.code() {
        return sqlstate_kind(state.code());
    }
    if e.is_closed() {
        return ErrorKind::ConnectionLost;
    }
    std::error::Error::source(e)
        .and_then(crate::error::cause_kind)
        .unwrap_or(ErrorKind::Permanent)
}

/// SQLSTATE -> kind (PostgreSQL's appendix A, "PostgreSQL Error Codes").
fn sqlstate_kind(code: &str) -> ErrorKind {
    match code {
        // serialization_failure, deadlock_detected, too_many_connections, lock_not_available
        "40001" | "40P01" | "53300" | "55P03" => ErrorKind::Transient,
        // admin_shutdown (pg_terminate_backend, a restart), crash_shutdown, cannot_connect_now
        "57P01" | "57P02" | "57P03" => ErrorKind::ConnectionLost,
        // invalid_authorization_specification, invalid_password, insufficient_privilege
        "28000" | "28P01" | "42501" => ErrorKind::Auth,
        // invalid_catalog_name (database), invalid_schema_name, undefined_table/column/object
        "3D000" | "3F000" | "42P01" | "42703" | "42704" => ErrorKind::NotFound,
        // class 08: connection exception
        c if c.starts_with("08") => ErrorKind::ConnectionLost,
        // class 22: data exception; class 23: integrity constraint violation
        c if c.starts_with("22") || c.starts_with("23") => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// Formats a driver error with its causes and, for server errors, the detail and hint.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        if let Some(w) = db.where_() {
            s.push_str(&format!("; at {}", w.replace('\n', "; ")));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(&format!(": {c_s}"));
        }
        src = c.source();
    }
    s
}

/// Opens a connection (TLS per `sslmode`), with `connect_timeout` bounding the whole attempt.
pub async fn connect(c: &PostgresConfig) -> Result<Client> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&c.host)
        .port(c.port)
        .dbname(&c.database)
        .user(&c.user)
        .application_name("etl")
        .connect_timeout(Duration::from_secs(c.connect_timeout.max(1)))
        .ssl_mode(match c.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
    if let Some(p) = &c.password {
        pg.password(p.expose());
    }
    let keys = c.tls_keys();
    let tls = tls_connector(c)?;
    let limit = Duration::from_secs(c.connect_timeout.max(1));
    let attempt = tokio::time::timeout(limit, pg.connect(tls)).await;
    let (client, connection) = match attempt {
        Err(_) => {
            return Err(Error::Connection(format!(
                "cannot connect to {}: no answer within {} s (connect_timeout)",
                describe(c),
                limit.as_secs()
            )))
        }
        // A refused or unanswered connection is "unreachable", whatever the driver's wording;
        // a refused login is an authentication failure; a refused certificate says which check.
        Ok(Err(e)) => {
            if let Some(cause) = tls::rustls_cause(&e) {
                let what = format!("cannot connect to {}", describe(c));
                return Err(tls::handshake_error(&what, &keys, &c.host, cause));
            }
            let kind = match pg_kind(&e) {
                ErrorKind::Permanent => ErrorKind::Unreachable,
                kind => kind,
            };
            return Err(Error::driver(
                kind,
                format!("cannot connect to {}", describe(c)),
                pg_error(&e),
            ));
        }
        Ok(Ok(pair)) => pair,
    };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgresql connection closed: {}", pg_error(&e));
        }
    });
    Ok(client)
}

/// The TLS connector for `sslmode` (unused with `disable`): the files are read here, so a
/// file changed since `etl validate` is still reported by key and path.
fn tls_connector(c: &PostgresConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let keys = c.tls_keys();
    let files = match keys.level {
        tls::Level::Off => tls::TlsFiles::default(),
        _ => keys.load().map_err(Error::spec)?,
    };
    let config = tls::client_config(&files, keys.verify)?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_kinds() {
        for (code, kind) in [
            ("40001", ErrorKind::Transient),
            ("40P01", ErrorKind::Transient),
            ("53300", ErrorKind::Transient),
            ("55P03", ErrorKind::Transient),
            ("57P01", ErrorKind::ConnectionLost),
            ("57P02", ErrorKind::ConnectionLost),
            ("57P03", ErrorKind::ConnectionLost),
            ("08006", ErrorKind::ConnectionLost),
            ("08003", ErrorKind::ConnectionLost),
            ("28P01", ErrorKind::Auth),
            ("28000", ErrorKind::Auth),
            ("42501", ErrorKind::Auth),
            ("42P01", ErrorKind::NotFound),
            ("3D000", ErrorKind::NotFound),
            ("22003", ErrorKind::BadValue),
            ("23505", ErrorKind::BadValue),
            ("42601", ErrorKind::Permanent),
            ("57014", ErrorKind::Permanent),
        ] {
            assert_eq!(sqlstate_kind(code), kind, "{code}");
        }
    }
}
