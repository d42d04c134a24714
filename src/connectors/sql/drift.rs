//! Schema drift into SQL tables: an incremental write into a table that exists compares the
//! table's columns with the staging table's (made from the source's schema by the same `CREATE
//! TABLE` a first run uses), before any row is loaded. What is added, widened or refused is
//! decided by [`crate::drift`], the same code that decides for file destinations and sources.
//!
//! Drivers only list a table's columns ([`TableColumn`]: the declared type, and the Arrow type
//! the database's own source mapping reads it as) and spell the `ALTER TABLE` statements. Both
//! sides of a comparison come from the same listing, so a table created from a schema always
//! compares equal to a staging table created from the same schema.

use crate::drift::{self, TABLE};
use crate::spec::SchemaChanges;

pub use crate::drift::Plan;

/// One column of a table, as a driver's catalog describes it.
pub type TableColumn = drift::Column;

/// The length in a declared type that takes one (`VARCHAR2(20 CHAR)`, `nvarchar(50)`: 20, 50);
/// `None` for `(max)`, two numbers, or none.
pub fn declared_length(declared: &str) -> Option<u64> {
    let (_, args) = declared.split_once('(')?;
    let args = args.split(')').next()?;
    args.split_whitespace().next()?.parse().ok()
}

/// What an incremental write of `incoming` (the staging table's columns) into `existing` (the
/// destination table's) does under `policy`, or why it must not happen (the caller names the
/// table).
pub fn plan(
    policy: SchemaChanges,
    existing: &[TableColumn],
    incoming: &[TableColumn],
    primary_key: &[String],
) -> Result<Plan, String> {
    drift::plan(policy, existing, incoming, primary_key, &TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths() {
        assert_eq!(declared_length("NVARCHAR(50)"), Some(50));
        assert_eq!(declared_length("VARCHAR2(20 CHAR)"), Some(20));
        assert_eq!(declared_length("nvarchar(max)"), None);
        assert_eq!(declared_length("DECIMAL(10,2)"), None);
        assert_eq!(declared_length("text"), None);
    }
}
