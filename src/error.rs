//! Library error type. Every variant maps to one of the CLI's exit codes:
//! `2` when the spec or command line is invalid (nothing was read or written),
//! `1` for everything that fails while running.
//!
//! Every error also has an [`ErrorKind`], which decides whether the runner runs a stream again.
//! Drivers set the kind from what their client library reports in types — SQLSTATE, server
//! error numbers, I/O error kinds, object_store variants — never from the wording of a message.

use std::fmt;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Running the same work again may succeed: a deadlock, a serialization failure, a lock
    /// wait timeout, too many connections, a throttled or failing (5xx) storage request.
    Transient,
    /// The server closed or reset a connection that was open: a restart, a failover, a killed
    /// session, a network cut.
    ConnectionLost,
    /// No connection could be opened: refused, unknown host, no answer within
    /// `connect_timeout`. Retried only after a lost connection (the server is coming back);
    /// on a stream's first attempt it means a wrong host or port and fails at once.
    Unreachable,
    /// The credentials were refused or a privilege is missing.
    Auth,
    /// A table, schema, database, file or bucket does not exist.
    NotFound,
    /// A value does not fit its column or type.
    BadValue,
    /// Anything else: an invalid spec, a timeout, a SQL error, a bug.
    Permanent,
}

impl ErrorKind {
    /// Whether running the same work again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::ConnectionLost)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file or the command line is invalid. Exit code 2.
    #[error("{0}")]
    Spec(String),
    /// A value read from a source does not fit its declared type.
    #[error("{0}")]
    Value(String),
    /// Could not reach or open a source or destination (kind [`ErrorKind::Unreachable`]);
    /// drivers that know better say so with [`Error::Driver`].
    #[error("{0}")]
    Connection(String),
    /// Any other failure while running, already worded for the user.
    #[error("{0}")]
    Run(String),
    /// A stream ran longer than `defaults.timeout`. Never retried.
    #[error("{0}")]
    Timeout(String),
    /// A failure whose kind the driver read from its error code (see [`Error::driver`]).
    #[error("{message}")]
    Driver { kind: ErrorKind, message: String },
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl Error {
    pub fn spec(msg: impl fmt::Display) -> Self {
        Error::Spec(msg.to_string())
    }

    pub fn run(msg: impl fmt::Display) -> Self {
        Error::Run(msg.to_string())
    }

    /// A driver's failure while doing `what` (may be empty), with the driver's `detail`. A lost
    /// connection says so in words, whatever the driver called it.
    pub fn driver(kind: ErrorKind, what: impl fmt::Display, detail: impl fmt::Display) -> Self {
        let what = what.to_string();
        let lead = if what.is_empty() {
            String::new()
        } else {
            format!("{what}: ")
        };
        let message = match kind {
            ErrorKind::ConnectionLost => {
                format!("{lead}the server closed the connection: {detail}")
            }
            _ => format!("{lead}{detail}"),
        };
        Error::Driver { kind, message }
    }

    /// The process exit code this error maps to (see SPEC.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spec(_) => 2,
            Error::Context { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// What kind of failure this is (the innermost error's kind).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Spec(_) | Error::Run(_) | Error::Timeout(_) => ErrorKind::Permanent,
            Error::Value(_) => ErrorKind::BadValue,
            Error::Connection(_) => ErrorKind::Unreachable,
            Error::Driver { kind, .. } => *kind,
            Error::Context { source, .. } => source.kind(),
            Error::Io(e) => io_kind(e),
            Error::ObjectStore(e) => object_store_kind(e),
            Error::Sqlite(e) => sqlite_kind(e),
            Error::Arrow(e) => cause_kind(e).unwrap_or(ErrorKind::Permanent),
            Error::Parquet(e) => cause_kind(e).unwrap_or(ErrorKind::Permanent),
            Error::Avro(e) => cause_kind(e).unwrap_or(ErrorKind::Permanent),
        }
    }

    /// Whether retrying the same work may succeed (decided by [`Error::kind`] alone).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// Wraps this error with a description of what was being done (the kind is kept).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
    }
}

/// The kind of an I/O error, from its `io::ErrorKind` (or from the error it wraps).
pub fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    if let Some(inner) = e.get_ref() {
        if let Some(kind) = cause_kind(inner) {
            return kind;
        }
    }
    match e.kind() {
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => ErrorKind::ConnectionLost,
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            ErrorKind::Unreachable
        }
        K::TimedOut => ErrorKind::Transient,
        K::NotFound => ErrorKind::NotFound,
        K::PermissionDenied => ErrorKind::Auth,
        K::InvalidData => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// The kind of the first error in `e`'s source chain (itself included) that has a typed kind:
/// an I/O error, an object_store error, object_store's HTTP transport error, or etl's own.
pub fn cause_kind(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(e) = c.downcast_ref::<Error>() {
            return Some(e.kind());
        }
        if let Some(e) = c.downcast_ref::<std::io::Error>() {
            return Some(io_kind(e));
        }
        if let Some(e) = c.downcast_ref::<object_store::Error>() {
            return Some(object_store_kind(e));
        }
        #[cfg(feature = "s3")]
        if let Some(e) = c.downcast_ref::<object_store::client::HttpError>() {
            return Some(http_kind(e));
        }
        cur = c.source();
    }
    None
}

/// object_store: its variants say not found and refused credentials; a transport failure is
/// typed ([`object_store::client::HttpError`], I/O errors) in the source chain.
pub fn object_store_kind(e: &object_store::Error) -> ErrorKind {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => ErrorKind::NotFound,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => ErrorKind::Auth,
        E::Generic { source, .. } => match cause_kind(source.as_ref()) {
            Some(kind) => kind,
            None => http_status_kind(source.as_ref()).unwrap_or(ErrorKind::Permanent),
        },
        _ => ErrorKind::Permanent,
    }
}

/// An HTTP store's transport failure, from object_store's own classification.
#[cfg(feature = "s3")]
fn http_kind(e: &object_store::client::HttpError) -> ErrorKind {
    use object_store::client::HttpErrorKind as H;
    match e.kind() {
        H::Connect => ErrorKind::Unreachable,
        H::Request | H::Interrupted => ErrorKind::ConnectionLost,
        H::Timeout => ErrorKind::Transient,
        _ => {
            // Decode or unknown: a reset connection underneath is still a lost connection.
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                if let Some(io) = c.downcast_ref::<std::io::Error>() {
                    return io_kind(io);
                }
                cur = c.source();
            }
            ErrorKind::Permanent
        }
    }
}

/// The HTTP status of a response an object store refused (5xx and 429 — S3's SlowDown — are
/// transient). object_store keeps the status in a crate-private error type whose message is
/// `... status code: 503 Service Unavailable ...`; the number is read from there, the only
/// place it is exposed.
fn http_status_kind(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    const AT: &str = "status code: ";
    let text = e.to_string();
    let rest = &text[text.find(AT)? + AT.len()..];
    let status: u16 = rest.get(..3)?.parse().ok()?;
    Some(match status {
        429 | 500..=599 => ErrorKind::Transient,
        400..=499 => ErrorKind::Permanent,
        _ => return None,
    })
}

/// SQLite: busy and locked databases are transient, everything else is not.
pub fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => ErrorKind::Transient,
        Some(C::CannotOpen | C::NotADatabase) => ErrorKind::Unreachable,
        Some(C::PermissionDenied | C::AuthorizationForStatementDenied) => ErrorKind::Auth,
        Some(C::ConstraintViolation | C::TypeMismatch | C::TooBig) => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// The error's message followed by every cause that adds something (driver errors often keep
/// the useful part, such as "connection refused", in their source chain).
pub fn full_message(e: &(dyn std::error::Error + 'static)) -> String {
    crate::spec::env::scrub(&chain(e))
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cur = cause.source();
    }
    msg
}

/// `.context(...)` on any result whose error converts into [`Error`].
pub trait ResultExt<T> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T>;
    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_innermost_error() {
        assert_eq!(Error::spec("bad").exit_code(), 2);
        assert_eq!(Error::spec("bad").context("stream `x`").exit_code(), 2);
        assert_eq!(Error::run("boom").context("stream `x`").exit_code(), 1);
        assert_eq!(
            Error::run("boom").context("stream `x`").to_string(),
            "stream `x`: boom"
        );
    }

    #[test]
    fn only_the_kind_decides_retries() {
        let lost = Error::driver(ErrorKind::ConnectionLost, "reading `t`", "EOF");
        assert_eq!(
            lost.to_string(),
            "reading `t`: the server closed the connection: EOF"
        );
        assert!(lost.context("stream `t`").is_transient());
        assert!(Error::driver(ErrorKind::Transient, "", "deadlock").is_transient());
        // The wording of a message no longer matters.
        assert!(!Error::run("ERROR: deadlock detected").is_transient());
        assert!(!Error::Value("connection reset".into()).is_transient());
        for kind in [
            ErrorKind::Auth,
            ErrorKind::NotFound,
            ErrorKind::BadValue,
            ErrorKind::Unreachable,
            ErrorKind::Permanent,
        ] {
            assert!(!Error::driver(kind, "x", "y").is_transient(), "{kind:?}");
        }
        assert!(!Error::Timeout("timed out".into()).is_transient());
    }

    #[test]
    fn io_errors_by_kind() {
        use std::io::{Error as IoError, ErrorKind as K};
        let kind = |k: K| Error::Io(IoError::new(k, "x")).kind();
        assert_eq!(kind(K::ConnectionReset), ErrorKind::ConnectionLost);
        assert_eq!(kind(K::BrokenPipe), ErrorKind::ConnectionLost);
        assert_eq!(kind(K::UnexpectedEof), ErrorKind::ConnectionLost);
        assert_eq!(kind(K::ConnectionRefused), ErrorKind::Unreachable);
        assert_eq!(kind(K::NotFound), ErrorKind::NotFound);
        assert_eq!(kind(K::PermissionDenied), ErrorKind::Auth);
        assert_eq!(kind(K::Other), ErrorKind::Permanent);
        // A wrapped error's own kind wins.
        let wrapped = IoError::other(Error::driver(ErrorKind::Transient, "", "busy"));
        assert_eq!(Error::Io(wrapped).kind(), ErrorKind::Transient);
    }

    #[test]
    fn object_store_errors_by_variant_and_cause() {
        use object_store::Error as E;
        let boxed = |e: std::io::Error| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) };
        let io = |k| boxed(std::io::Error::new(k, "x"));
        let not_found = E::NotFound {
            path: "p".into(),
            source: io(std::io::ErrorKind::NotFound),
        };
        assert_eq!(object_store_kind(&not_found), ErrorKind::NotFound);
        let denied = E::Unauthenticated {
            path: "p".into(),
            source: io(std::io::ErrorKind::Other),
        };
        assert_eq!(object_store_kind(&denied), ErrorKind::Auth);
        let reset = E::Generic {
            store: "S3",
            source: io(std::io::ErrorKind::ConnectionReset),
        };
        assert_eq!(object_store_kind(&reset), ErrorKind::ConnectionLost);
        assert!(Error::ObjectStore(reset).is_transient());
        let status = |s: &str| E::Generic {
            store: "S3",
            source: s.to_string().into(),
        };
        let slow = status("Error performing PUT in 1s - Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>");
        assert_eq!(object_store_kind(&slow), ErrorKind::Transient);
        let many = status(
            "Error performing GET - Server returned non-2xx status code: 429 Too Many Requests: ",
        );
        assert_eq!(object_store_kind(&many), ErrorKind::Transient);
        let bad =
            status("Error performing GET - Server returned non-2xx status code: 400 Bad Request: ");
        assert_eq!(object_store_kind(&bad), ErrorKind::Permanent);
    }

    #[test]
    fn sqlite_busy_and_locked_are_transient() {
        let err = |code: i32| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        assert_eq!(
            sqlite_kind(&err(rusqlite::ffi::SQLITE_BUSY)),
            ErrorKind::Transient
        );
        assert_eq!(
            sqlite_kind(&err(rusqlite::ffi::SQLITE_LOCKED)),
            ErrorKind::Transient
        );
        assert_eq!(
            sqlite_kind(&err(rusqlite::ffi::SQLITE_CONSTRAINT)),
            ErrorKind::BadValue
        );
        assert_eq!(
            sqlite_kind(&err(rusqlite::ffi::SQLITE_ERROR)),
            ErrorKind::Permanent
        );
        assert!(Error::Sqlite(err(rusqlite::ffi::SQLITE_BUSY)).is_transient());
    }
}
