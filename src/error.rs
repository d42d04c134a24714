//! Library error type. Every variant maps to one of the CLI's exit codes:
//! `2` when the spec or command line is invalid (nothing was read or written),
//! `1` for everything that fails while running.

use std::fmt;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file or the command line is invalid. Exit code 2.
    #[error("{0}")]
    Spec(String),
    /// A value read from a source does not fit its declared type.
    #[error("{0}")]
    Value(String),
    /// Could not reach or authenticate against a source or destination.
    #[error("{0}")]
    Connection(String),
    /// Any other failure while running, already worded for the user.
    #[error("{0}")]
    Run(String),
    /// A stream ran longer than `defaults.timeout`. Never retried.
    #[error("{0}")]
    Timeout(String),
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
    #[error("{0}{hint}", hint = crate::connectors::file::store::store_hint(&.0.to_string()))]
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

    /// The process exit code this error maps to (see SPEC.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spec(_) => 2,
            Error::Context { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// Whether retrying the same work may succeed: a dropped connection, a deadlock or
    /// serialization failure, a lock wait timeout, a server-side (5xx) storage error. Connect
    /// failures, authentication, missing tables and bad values are permanent.
    pub fn is_transient(&self) -> bool {
        if matches!(self, Error::Spec(_) | Error::Value(_) | Error::Timeout(_)) {
            return false;
        }
        if let Error::Context { source, .. } = self {
            return source.is_transient();
        }
        let text = full_message(self).to_ascii_lowercase();
        const TRANSIENT: [&str; 11] = [
            "connection reset",
            "broken pipe",
            "server closed the connection",
            "deadlock",
            "could not serialize",
            "serialization failure",
            "lock wait timeout",
            "too many connections",
            "503 service unavailable",
            "500 internal server error",
            "slowdown",
        ];
        TRANSIENT.iter().any(|t| text.contains(t))
    }

    /// Wraps this error with a description of what was being done.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
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
    fn only_transient_errors_are_retried() {
        assert!(Error::run("ERROR: deadlock detected")
            .context("s")
            .is_transient());
        assert!(Error::Connection("connection reset by peer".into()).is_transient());
        assert!(!Error::Connection("password authentication failed".into()).is_transient());
        assert!(!Error::run("table `x` not found").is_transient());
        assert!(!Error::Value("connection reset".into()).is_transient());
    }
}
