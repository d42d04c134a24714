//! Schema drift, written once for every SQL destination: an incremental write into a table that
//! exists compares the table's columns with the staging table's (made from the source's schema
//! by the same `CREATE TABLE` a first run uses) and decides, under the stream's
//! `schema_changes` policy, what to add, widen or refuse, before any row is loaded.
//!
//! Drivers only list a table's columns ([`TableColumn`]: the declared type, and the Arrow type
//! the database's own source mapping reads it as) and spell the `ALTER TABLE` statements. Both
//! sides of a comparison come from the same listing, so a table created from a schema always
//! compares equal to a staging table created from the same schema.
//!
//! | old → new | evolve / discard_new_columns |
//! |---|---|
//! | same declared type, or same Arrow type and length | nothing to do |
//! | a new column | added, nullable (discard_new_columns: left out, one warning) |
//! | a column the source no longer has | kept, filled with NULL (made nullable if needed) |
//! | int8→int16→int32→int64 (unsigned to a wider signed or unsigned) | widened |
//! | an integer → decimal(p,s) with at least as many integer digits | widened |
//! | float16→float32→float64 | widened |
//! | decimal(p,s) → decimal(p',s'), s' ≥ s and p'−s' ≥ p−s | widened |
//! | text/binary of length n → length m > n, or unbounded | widened |
//! | anything else (narrowing, text→int, a timestamp losing its zone) | refused |
//!
//! `freeze` refuses every difference. Every refusal happens before anything is loaded.

use crate::contract::{SchemaChange, SchemaChangeKind};
use crate::spec::SchemaChanges;
use arrow::datatypes::DataType;

/// One column of a table, as a driver's catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    pub name: String,
    /// The type as the database declares it (`character varying(10)`, `DECIMAL(10,2)`).
    pub declared: String,
    /// The Arrow type the database's source mapping reads the column as (`None`: no mapping).
    pub data_type: Option<DataType>,
    /// The most characters (text) or bytes (binary) the column holds; `None`: unbounded.
    pub max_len: Option<u64>,
    pub nullable: bool,
}

impl TableColumn {
    /// The column with `data_type` from `mapped` (an `Err` means no mapping).
    pub fn new(
        name: impl Into<String>,
        declared: impl Into<String>,
        mapped: Result<DataType, String>,
        max_len: Option<u64>,
        nullable: bool,
    ) -> TableColumn {
        TableColumn {
            name: name.into(),
            declared: declared.into(),
            data_type: mapped.ok(),
            max_len,
            nullable,
        }
    }
}

/// The length in a declared type that takes one (`VARCHAR2(20 CHAR)`, `nvarchar(50)`: 20, 50);
/// `None` for `(max)`, two numbers, or none.
pub fn declared_length(declared: &str) -> Option<u64> {
    let (_, args) = declared.split_once('(')?;
    let args = args.split(')').next()?;
    args.split_whitespace().next()?.parse().ok()
}

/// What an incremental write does to the existing table's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The columns the merge names: the source's, minus discarded ones.
    pub columns: Vec<String>,
    /// The changes, in order: additions, widenings and NULLs allowed are applied; discarded
    /// columns are only reported.
    pub changes: Vec<SchemaChange>,
}

impl Plan {
    /// Takes the types changes lead to from `staged` (the staging table's columns after the
    /// load: a driver may restore source types then, e.g. PostgreSQL's `jsonb`).
    pub fn retype(&mut self, staged: &[TableColumn]) {
        for c in self.changes.iter_mut().filter(|c| c.to.is_some()) {
            if let Some(s) = staged.iter().find(|s| s.name == c.column) {
                c.to = Some(s.declared.clone());
            }
        }
    }

    /// The changes that alter the table (all but `discarded`).
    pub fn alterations(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes
            .iter()
            .filter(|c| c.change != SchemaChangeKind::Discarded)
    }
}

fn normalized(declared: &str) -> String {
    declared
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `old` stores exactly what `new` does. A column declared without a type (SQLite's)
/// takes any value.
fn same_type(old: &TableColumn, new: &TableColumn) -> bool {
    old.declared.trim().is_empty()
        || normalized(&old.declared) == normalized(&new.declared)
        || (old.data_type.is_some() && old.data_type == new.data_type && old.max_len == new.max_len)
}

/// The range of an integer type, as (min, max).
fn int_range(d: &DataType) -> Option<(i128, i128)> {
    Some(match d {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// Digits of the largest magnitude of an integer range.
fn int_digits((min, max): (i128, i128)) -> u32 {
    min.unsigned_abs().max(max.unsigned_abs()).to_string().len() as u32
}

fn float_bits(d: &DataType) -> Option<u8> {
    match d {
        DataType::Float16 => Some(16),
        DataType::Float32 => Some(32),
        DataType::Float64 => Some(64),
        _ => None,
    }
}

/// Text (0) or binary (1): types that differ only by their length.
fn sized_family(d: &DataType) -> Option<u8> {
    match d {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(0),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Some(1),
        _ => None,
    }
}

/// Whether changing a column from `old` to `new` keeps every value `old` can hold.
pub fn widens(old: &TableColumn, new: &TableColumn) -> bool {
    let (Some(o), Some(n)) = (&old.data_type, &new.data_type) else {
        return false;
    };
    if let (Some(a), Some(b)) = (int_range(o), int_range(n)) {
        return b.0 <= a.0 && a.1 <= b.1;
    }
    if let (Some(a), Some((p, s))) = (int_range(o), super::decimal_params(n)) {
        return s >= 0 && i64::from(p) - i64::from(s) >= i64::from(int_digits(a));
    }
    if let (Some(a), Some(b)) = (float_bits(o), float_bits(n)) {
        return a <= b;
    }
    if let (Some((p, s)), Some((p2, s2))) = (super::decimal_params(o), super::decimal_params(n)) {
        return s2 >= s && i16::from(p2) - i16::from(s2) >= i16::from(p) - i16::from(s);
    }
    if let (Some(a), Some(b)) = (sized_family(o), sized_family(n)) {
        return a == b
            && match (old.max_len, new.max_len) {
                (_, None) => true,
                (Some(a), Some(b)) => a <= b,
                (None, Some(_)) => false,
            };
    }
    false
}

/// The message of a change `evolve` does not make.
fn refusal(old: &TableColumn, new: &TableColumn) -> String {
    format!(
        "column `{c}`: the table has {from}, the source now sends {to}, which is not a \
         safe widening (schema_changes widens int16→int32→int64, float32→float64, decimal(p,s) to \
         more digits on both sides of the point, and text or binary to a longer or unbounded \
         length); nothing was written. Run once with --full-refresh to recreate the table, or \
         read the column as {from} again (`cast:` on a SQL source, `schema:` on a file source)",
        c = new.name,
        from = old.declared,
        to = new.declared,
    )
}

fn change(
    column: &str,
    change: SchemaChangeKind,
    from: Option<&str>,
    to: Option<&str>,
) -> SchemaChange {
    SchemaChange {
        column: column.to_string(),
        change,
        from: from.map(str::to_string),
        to: to.map(str::to_string),
    }
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
    let find = |cols: &[TableColumn], name: &str| cols.iter().position(|c| c.name == name);
    let mut plan = Plan::default();
    let mut differences = Vec::new();
    for new in incoming {
        let Some(i) = find(existing, &new.name) else {
            match policy {
                SchemaChanges::Freeze => {
                    differences.push(format!("new column `{}` ({})", new.name, new.declared))
                }
                SchemaChanges::DiscardNewColumns => {
                    plan.changes
                        .push(change(&new.name, SchemaChangeKind::Discarded, None, None));
                    continue;
                }
                SchemaChanges::Evolve => plan.changes.push(change(
                    &new.name,
                    SchemaChangeKind::Added,
                    None,
                    Some(&new.declared),
                )),
            }
            plan.columns.push(new.name.clone());
            continue;
        };
        plan.columns.push(new.name.clone());
        let old = &existing[i];
        if !same_type(old, new) {
            if !widens(old, new) {
                return Err(refusal(old, new));
            }
            match policy {
                SchemaChanges::Freeze => differences.push(format!(
                    "column `{}` changed from {} to {}",
                    new.name, old.declared, new.declared
                )),
                _ => plan.changes.push(change(
                    &new.name,
                    SchemaChangeKind::Widened,
                    Some(&old.declared),
                    Some(&new.declared),
                )),
            }
        }
        if new.nullable && !old.nullable && !primary_key.contains(&new.name) {
            match policy {
                SchemaChanges::Freeze => differences.push(format!(
                    "column `{}` is NOT NULL in the table, nullable in the source",
                    new.name
                )),
                _ => plan.changes.push(change(
                    &new.name,
                    SchemaChangeKind::MadeNullable,
                    Some(&old.declared),
                    None,
                )),
            }
        }
    }
    for old in existing {
        if find(incoming, &old.name).is_some() {
            continue;
        }
        if primary_key.contains(&old.name) {
            return Err(format!(
                "primary_key column `{}` is no longer in the source; nothing was written. \
                 Run once with --full-refresh to recreate the table, or fix `primary_key`",
                old.name
            ));
        }
        match policy {
            SchemaChanges::Freeze => {
                differences.push(format!("column `{}` is no longer in the source", old.name))
            }
            _ if !old.nullable => plan.changes.push(change(
                &old.name,
                SchemaChangeKind::MadeNullable,
                Some(&old.declared),
                None,
            )),
            _ => {}
        }
    }
    if !differences.is_empty() {
        return Err(format!(
            "schema_changes is `freeze` and the source's columns differ from the table's: {}; \
             nothing was written. Change the table by hand, set `schema_changes: evolve`, or run \
             once with --full-refresh to recreate it",
            differences.join("; ")
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, declared: &str, dt: DataType) -> TableColumn {
        TableColumn::new(name, declared, Ok(dt), None, true)
    }

    fn text(name: &str, declared: &str, len: Option<u64>) -> TableColumn {
        TableColumn::new(name, declared, Ok(DataType::Utf8), len, true)
    }

    #[test]
    fn declared_lengths() {
        assert_eq!(declared_length("NVARCHAR(50)"), Some(50));
        assert_eq!(declared_length("VARCHAR2(20 CHAR)"), Some(20));
        assert_eq!(declared_length("nvarchar(max)"), None);
        assert_eq!(declared_length("DECIMAL(10,2)"), None);
        assert_eq!(declared_length("text"), None);
    }

    #[test]
    fn safe_widenings_and_refusals() {
        use arrow::datatypes::TimeUnit::Microsecond;
        let c = |declared: &str, dt: DataType| col("v", declared, dt);
        let t = |declared: &str, len: Option<u64>| text("v", declared, len);
        let cases = [
            (
                c("int", DataType::Int32),
                c("bigint", DataType::Int64),
                true,
            ),
            (
                c("bigint", DataType::Int64),
                c("int", DataType::Int32),
                false,
            ),
            (
                c("smallint unsigned", DataType::UInt16),
                c("int", DataType::Int32),
                true,
            ),
            (
                c("bigint unsigned", DataType::UInt64),
                c("bigint", DataType::Int64),
                false,
            ),
            (
                c("NUMBER(10)", DataType::Int32),
                c("NUMBER(19)", DataType::Decimal128(19, 0)),
                true,
            ),
            (
                c("bigint", DataType::Int64),
                c("numeric(18,0)", DataType::Decimal128(18, 0)),
                false,
            ),
            (
                c("numeric(10,2)", DataType::Decimal128(10, 2)),
                c("numeric(14,4)", DataType::Decimal128(14, 4)),
                true,
            ),
            (
                c("numeric(10,2)", DataType::Decimal128(10, 2)),
                c("numeric(10,4)", DataType::Decimal128(10, 4)),
                false,
            ),
            (
                c("real", DataType::Float32),
                c("double", DataType::Float64),
                true,
            ),
            (t("varchar(10)", Some(10)), t("text", None), true),
            (t("varchar(10)", Some(10)), t("varchar(50)", Some(50)), true),
            (
                t("varchar(50)", Some(50)),
                t("varchar(10)", Some(10)),
                false,
            ),
            (c("text", DataType::Utf8), c("int", DataType::Int32), false),
            (
                c(
                    "timestamptz",
                    DataType::Timestamp(Microsecond, Some("UTC".into())),
                ),
                c("timestamp", DataType::Timestamp(Microsecond, None)),
                false,
            ),
        ];
        for (old, new, safe) in cases {
            assert_eq!(
                widens(&old, &new),
                safe,
                "{} -> {}",
                old.declared,
                new.declared
            );
        }
    }

    #[test]
    fn evolve_adds_keeps_and_widens() {
        let mut key = col("id", "bigint", DataType::Int64);
        key.nullable = false;
        let mut gone = col("gone", "text", DataType::Utf8);
        gone.nullable = false;
        let existing = vec![key.clone(), col("v", "int", DataType::Int32), gone];
        let incoming = vec![
            key,
            col("v", "bigint", DataType::Int64),
            col("extra", "text", DataType::Utf8),
        ];
        let p = plan(SchemaChanges::Evolve, &existing, &incoming, &["id".into()]).unwrap();
        assert_eq!(p.columns, ["id", "v", "extra"]);
        let kinds: Vec<_> = p
            .changes
            .iter()
            .map(|c| (c.column.as_str(), c.change))
            .collect();
        assert_eq!(
            kinds,
            [
                ("v", SchemaChangeKind::Widened),
                ("extra", SchemaChangeKind::Added),
                ("gone", SchemaChangeKind::MadeNullable)
            ]
        );
        let d = plan(SchemaChanges::DiscardNewColumns, &existing, &incoming, &[]).unwrap();
        assert_eq!(d.columns, ["id", "v"]);
        assert_eq!(d.alterations().count(), 2);
        let f = plan(SchemaChanges::Freeze, &existing, &incoming, &[]).unwrap_err();
        assert!(
            f.contains("`extra`") && f.contains("`gone`") && f.contains("`v`"),
            "{f}"
        );
        assert!(plan(SchemaChanges::Freeze, &existing, &existing, &[]).is_ok());
        let mut retyped = p.clone();
        retyped.retype(&[col("extra", "jsonb", DataType::Utf8)]);
        assert_eq!(retyped.changes[1].to.as_deref(), Some("jsonb"));
        assert_eq!(retyped.changes[0], p.changes[0]);
        let untyped = TableColumn::new("v", "", Err("no type".into()), None, true);
        let any = plan(SchemaChanges::Freeze, &[untyped], &incoming[1..2], &[]);
        assert_eq!(any.unwrap().changes, []);
    }

    #[test]
    fn refusals_name_the_column_both_types_and_the_way_out() {
        let e = plan(
            SchemaChanges::Evolve,
            &[col("v", "bigint", DataType::Int64)],
            &[col("v", "integer", DataType::Int32)],
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("`v`") && e.contains("bigint") && e.contains("integer"),
            "{e}"
        );
        assert!(e.contains("--full-refresh") && e.contains("cast"), "{e}");
        let k = plan(
            SchemaChanges::Evolve,
            &[col("id", "bigint", DataType::Int64)],
            &[col("v", "integer", DataType::Int32)],
            &["id".into()],
        )
        .unwrap_err();
        assert!(k.contains("primary_key column `id`"), "{k}");
    }
}
