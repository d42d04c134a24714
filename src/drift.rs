//! Schema drift, decided once for every destination: an incremental write compares the columns
//! the destination already has (a SQL table's, or the schema a file stream's earlier part files
//! were written with) with the columns the source sends now, and decides, under the stream's
//! `schema_changes` policy, what to add, widen or refuse, before anything is written.
//!
//! Callers describe both sides as [`Column`]s: SQL drivers from their catalog (the declared
//! type, and the Arrow type the database's own source mapping reads it as), file destinations
//! and sources from Arrow fields ([`Column::from_field`]). [`Wording`] says what the existing
//! side is called in messages.
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
//! `freeze` refuses every difference. Every refusal happens before anything is written.

use crate::connectors::sql::decimal_params;
use crate::contract::{SchemaChange, SchemaChangeKind};
use crate::spec::SchemaChanges;
use arrow::datatypes::{DataType, Field};

/// One column of a destination (or of a file), as the caller describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the database declares it (`character varying(10)`, `DECIMAL(10,2)`).
    pub declared: String,
    /// The Arrow type the database's source mapping reads the column as (`None`: no mapping).
    pub data_type: Option<DataType>,
    /// The most characters (text) or bytes (binary) the column holds; `None`: unbounded.
    pub max_len: Option<u64>,
    pub nullable: bool,
}

impl Column {
    /// The column with `data_type` from `mapped` (an `Err` means no mapping).
    pub fn new(
        name: impl Into<String>,
        declared: impl Into<String>,
        mapped: Result<DataType, String>,
        max_len: Option<u64>,
        nullable: bool,
    ) -> Column {
        Column {
            name: name.into(),
            declared: declared.into(),
            data_type: mapped.ok(),
            max_len,
            nullable,
        }
    }

    /// An Arrow field as a column: its declared type is the Arrow type's text (`Int64`,
    /// `Decimal128(10, 2)`), which [`Column::from_declared`] reads back.
    pub fn from_field(field: &Field) -> Column {
        Column {
            name: field.name().clone(),
            declared: field.data_type().to_string(),
            data_type: Some(field.data_type().clone()),
            max_len: None,
            nullable: field.is_nullable(),
        }
    }

    /// A column recorded by [`Column::from_field`]; a type text this version of Arrow cannot
    /// read compares by its text only.
    pub fn from_declared(name: &str, declared: &str, nullable: bool) -> Column {
        Column {
            name: name.to_string(),
            declared: declared.to_string(),
            data_type: declared.parse::<DataType>().ok(),
            max_len: None,
            nullable,
        }
    }

    /// The column as an Arrow field (`None`: its type text could not be read).
    pub fn field(&self) -> Option<Field> {
        Some(Field::new(
            &self.name,
            self.data_type.clone()?,
            self.nullable,
        ))
    }
}

/// What the existing side of a comparison is called in messages.
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    /// `the table has` ...
    pub has: &'static str,
    /// ... differ from `the table's`
    pub theirs: &'static str,
    /// NOT NULL `in the table`
    pub inside: &'static str,
    /// Run once with --full-refresh `to recreate the table`
    pub recreate: &'static str,
    /// What else a `freeze` refusal can be met with.
    pub by_hand: &'static str,
}

/// SQL destinations: the table.
pub const TABLE: Wording = Wording {
    has: "the table has",
    theirs: "the table's",
    inside: "in the table",
    recreate: "to recreate the table",
    by_hand: "Change the table by hand, set `schema_changes: evolve`,",
};

/// File destinations: the schema the stream's earlier part files were written with.
pub const FILES: Wording = Wording {
    has: "the stream's earlier files have",
    theirs: "the stream's earlier files'",
    inside: "in the earlier files",
    recreate: "to replace the stream's files (with `overwrite: true`)",
    by_hand: "Set `schema_changes: evolve`",
};

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
    pub fn retype(&mut self, staged: &[Column]) {
        for c in self.changes.iter_mut().filter(|c| c.to.is_some()) {
            if let Some(s) = staged.iter().find(|s| s.name == c.column) {
                c.to = Some(s.declared.clone());
            }
        }
    }

    /// Logs the one warning of `discard_new_columns`, naming the new columns left out of
    /// `stream`'s write; returns whether there were any.
    pub fn warn_discarded(&self, stream: &str) -> bool {
        let discarded: Vec<&str> = self
            .changes
            .iter()
            .filter(|c| c.change == SchemaChangeKind::Discarded)
            .map(|c| c.column.as_str())
            .collect();
        if !discarded.is_empty() {
            tracing::warn!(
                stream = %stream,
                columns = %discarded.join(", "),
                "schema_changes: discard_new_columns: new source columns left out of the write"
            );
        }
        !discarded.is_empty()
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
fn same_type(old: &Column, new: &Column) -> bool {
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
pub fn widens(old: &Column, new: &Column) -> bool {
    let (Some(o), Some(n)) = (&old.data_type, &new.data_type) else {
        return false;
    };
    if let (Some(a), Some(b)) = (int_range(o), int_range(n)) {
        return b.0 <= a.0 && a.1 <= b.1;
    }
    if let (Some(a), Some((p, s))) = (int_range(o), decimal_params(n)) {
        return s >= 0 && i64::from(p) - i64::from(s) >= i64::from(int_digits(a));
    }
    if let (Some(a), Some(b)) = (float_bits(o), float_bits(n)) {
        return a <= b;
    }
    if let (Some((p, s)), Some((p2, s2))) = (decimal_params(o), decimal_params(n)) {
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
fn refusal(old: &Column, new: &Column, w: &Wording) -> String {
    format!(
        "column `{c}`: {has} {from}, the source now sends {to}, which is not a \
         safe widening (schema_changes widens int16→int32→int64, float32→float64, decimal(p,s) to \
         more digits on both sides of the point, and text or binary to a longer or unbounded \
         length); nothing was written. Run once with --full-refresh {recreate}, or \
         read the column as {from} again (`cast:` on a SQL source, `schema:` on a file source)",
        c = new.name,
        has = w.has,
        recreate = w.recreate,
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

/// What an incremental write of `incoming` (the source's columns) into `existing` (the
/// destination's) does under `policy`, or why it must not happen (the caller names the table or
/// the stream; `w` names the existing side).
pub fn plan(
    policy: SchemaChanges,
    existing: &[Column],
    incoming: &[Column],
    primary_key: &[String],
    w: &Wording,
) -> Result<Plan, String> {
    let find = |cols: &[Column], name: &str| cols.iter().position(|c| c.name == name);
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
                return Err(refusal(old, new, w));
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
                    "column `{}` is NOT NULL {}, nullable in the source",
                    new.name, w.inside
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
                 Run once with --full-refresh {}, or fix `primary_key`",
                old.name, w.recreate
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
            "schema_changes is `freeze` and the source's columns differ from {}: {}; \
             nothing was written. {} or run once with --full-refresh {}",
            w.theirs,
            differences.join("; "),
            w.by_hand,
            w.recreate
        ));
    }
    Ok(plan)
}

/// The columns `existing` has once `plan` (decided from `incoming`) is applied: added columns
/// appended, widened types and NULLs allowed taken in; columns the source no longer sends kept.
pub fn evolved(existing: &[Column], incoming: &[Column], plan: &Plan) -> Vec<Column> {
    let mut out = existing.to_vec();
    for c in &plan.changes {
        let new = incoming.iter().find(|n| n.name == c.column);
        let at = out.iter().position(|o| o.name == c.column);
        match (c.change, new, at) {
            (SchemaChangeKind::Added, Some(new), None) => out.push(Column {
                nullable: true,
                ..new.clone()
            }),
            (SchemaChangeKind::Widened, Some(new), Some(i)) => {
                out[i] = Column {
                    nullable: out[i].nullable,
                    ..new.clone()
                }
            }
            (SchemaChangeKind::MadeNullable, _, Some(i)) => out[i].nullable = true,
            _ => {}
        }
    }
    out
}

/// The union of the columns of two files of one stream, as `pyarrow.dataset` unifies schemas:
/// columns in the order first seen, a column missing from either side nullable, and of two
/// types the one that holds every value of the other. `Err` names the column and both types.
pub fn union(first: &[Column], other: &[Column]) -> Result<Vec<Column>, String> {
    let mut out = first.to_vec();
    for o in out.iter_mut() {
        if !other.iter().any(|c| c.name == o.name) {
            o.nullable = true;
        }
    }
    for c in other {
        let Some(i) = out.iter().position(|o| o.name == c.name) else {
            out.push(Column {
                nullable: true,
                ..c.clone()
            });
            continue;
        };
        let nullable = out[i].nullable || c.nullable;
        if !same_type(&out[i], c) && !widens(c, &out[i]) {
            if !widens(&out[i], c) {
                return Err(format!(
                    "column `{}` is {} in one file and {} in another, and neither type holds \
                     every value of the other",
                    c.name, out[i].declared, c.declared
                ));
            }
            out[i] = c.clone();
        }
        out[i].nullable = nullable;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decision as SQL destinations word it.
    use crate::connectors::sql::drift::plan;

    #[test]
    fn arrow_fields_round_trip_through_their_type_text() {
        use arrow::datatypes::TimeUnit::Microsecond;
        for dt in [
            DataType::Int32,
            DataType::Decimal128(14, 4),
            DataType::Timestamp(Microsecond, Some("UTC".into())),
            DataType::Utf8,
        ] {
            let c = Column::from_field(&Field::new("v", dt.clone(), false));
            let back = Column::from_declared(&c.name, &c.declared, c.nullable);
            assert_eq!(back, c);
            assert_eq!(back.field(), Some(Field::new("v", dt, false)));
        }
        let odd = Column::from_declared("v", "no such type", true);
        assert_eq!(odd.data_type, None);
        let same = std::slice::from_ref(&odd);
        assert!(plan(SchemaChanges::Evolve, same, same, &[]).is_ok());
        let int = Column::from_field(&Field::new("v", DataType::Int64, true));
        assert!(plan(SchemaChanges::Evolve, &[odd], &[int], &[]).is_err());
    }

    #[test]
    fn unions_and_evolved_histories() {
        let f = |name: &str, dt: DataType| Column::from_field(&Field::new(name, dt, false));
        let a = [f("id", DataType::Int64), f("v", DataType::Int32)];
        let b = [f("v", DataType::Int64), f("extra", DataType::Utf8)];
        let u = union(&a, &b).unwrap();
        let got: Vec<_> = u
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.clone(), c.nullable))
            .collect();
        assert_eq!(
            got,
            [
                ("id", Some(DataType::Int64), true),
                ("v", Some(DataType::Int64), false),
                ("extra", Some(DataType::Utf8), true)
            ]
        );
        assert_eq!(union(&b, &a).unwrap()[0].data_type, Some(DataType::Int64));
        let e = union(&a, &[f("v", DataType::Utf8)]).unwrap_err();
        assert!(
            e.contains("`v`") && e.contains("Int32") && e.contains("Utf8"),
            "{e}"
        );
        let p = super::plan(SchemaChanges::Evolve, &a, &b, &[], &FILES).unwrap();
        let h = evolved(&a, &b, &p);
        let names: Vec<_> = h.iter().map(|c| (c.name.as_str(), c.nullable)).collect();
        assert_eq!(names, [("id", true), ("v", false), ("extra", true)]);
        assert_eq!(h[1].data_type, Some(DataType::Int64));
    }

    #[test]
    fn files_are_named_in_refusals() {
        let old = Column::from_field(&Field::new("v", DataType::Int64, true));
        let new = Column::from_field(&Field::new("v", DataType::Int16, true));
        let e = super::plan(SchemaChanges::Evolve, &[old], &[new], &[], &FILES).unwrap_err();
        assert!(
            e.contains("the stream's earlier files have Int64") && e.contains("Int16"),
            "{e}"
        );
        assert!(
            e.contains("--full-refresh to replace the stream's files"),
            "{e}"
        );
    }

    fn col(name: &str, declared: &str, dt: DataType) -> Column {
        Column::new(name, declared, Ok(dt), None, true)
    }

    fn text(name: &str, declared: &str, len: Option<u64>) -> Column {
        Column::new(name, declared, Ok(DataType::Utf8), len, true)
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
        let untyped = Column::new("v", "", Err("no type".into()), None, true);
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
