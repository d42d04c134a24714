//! SQLite (bundled through rusqlite): source and destination.

mod config;
mod destination;
mod source;
pub mod types;

pub use config::SqliteConfig;
pub use destination::{SqliteDestination, SqliteWriter};
pub use source::SqliteSource;

use super::Dialect;
use crate::error::Error;
use arrow::datatypes::DataType;

/// A SQLite error while doing `what`, with the kind its result code says (busy and locked
/// databases are transient).
pub(crate) fn sqlite_err(what: &str, e: rusqlite::Error) -> Error {
    Error::driver(crate::error::sqlite_kind(&e), what, e)
}

/// SQLite's identifier quoting and type names.
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn column_type(&self, data_type: &DataType) -> Result<String, String> {
        types::declared_type(data_type)
    }
}
