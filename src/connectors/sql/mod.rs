//! SQL connectors and the dialect layer they share: identifier quoting, `CREATE TABLE` from an
//! Arrow schema, and the staging-table names used for full refresh. The read path they share
//! is in [`reader`] (read task, batcher) and [`builder`] (the Arrow column builder).

/// Registers a SQL connector's config type (see the registry): the per-stream keys its source
/// takes, its streams' validation, its source, and its destination (the SQL engine over the
/// config's driver).
/// `check:` (optional) is a spec-time check of the config itself, run for both roles.
macro_rules! sql_connector {
    ($config:ty, [$($key:ident),*], $validate:expr, |$c:ident, $defaults:pat_param| $source:expr, $destination:ty $(, check: $check:expr)?) => {
        impl crate::connectors::registry::SourceConnector for $config {
            const STREAM_KEYS: &'static [crate::connectors::registry::StreamKey] =
                &[$(crate::connectors::registry::StreamKey::$key),*];

            fn validate(&self, streams: &[crate::spec::StreamSpec]) -> Result<(), String> {
                $( ($check)(self)?; )?
                ($validate)(streams)
            }

            fn build(
                &self,
                $defaults: &crate::spec::Defaults,
            ) -> crate::error::Result<Box<dyn crate::connectors::Source>> {
                let $c = self.clone();
                Ok(Box::new($source))
            }
        }

        impl crate::connectors::registry::DestinationConnector for $config {
            $(
            fn validate(&self, _: &[crate::spec::StreamSpec]) -> Result<(), String> {
                ($check)(self)
            }
            )?

            fn build(&self) -> crate::error::Result<Box<dyn crate::connectors::Destination>> {
                Ok(Box::new(<$destination>::new(self.clone())))
            }
        }
    };
}
pub(crate) use sql_connector;

pub mod builder;
pub mod drift;
pub mod engine;
#[cfg(feature = "mssql")]
pub mod mssql;
pub mod mysql;
pub mod names;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod postgres;
pub mod reader;
pub mod sqlite;
pub mod tls;

use crate::spec::StreamSpec;
use arrow::datatypes::Schema;

/// `batch` with its lists, structs and maps as JSON text (what the SQL destinations without a
/// native type for them store: see [`crate::formats::nested`]).
pub fn nested_as_json(
    batch: &arrow::record_batch::RecordBatch,
) -> crate::error::Result<std::borrow::Cow<'_, arrow::record_batch::RecordBatch>> {
    crate::formats::nested::with_json_text(batch, |f| {
        crate::formats::nested::is_nested(f.data_type())
    })
}

/// Why a column of `data_type` cannot be written to `database`, and what to do (Duration,
/// Interval and the like: convert them in the stream's `transform:`).
pub fn no_column_type(database: &str, data_type: &arrow::datatypes::DataType) -> String {
    format!(
        "Arrow type {data_type} has no {database} column type; convert the column in the stream's `transform:` (e.g. `cast: {{column: int64}}` for a duration)"
    )
}

/// The precision and scale of a decimal type of any width.
pub fn decimal_params(d: &arrow::datatypes::DataType) -> Option<(u8, i8)> {
    use arrow::datatypes::DataType;
    match d {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((*p, *s)),
        _ => None,
    }
}

/// The column type `NAME(p,s)` of a decimal type (`None`: not a decimal), or why it does not
/// fit: `fits` says which precisions and scales `database` takes, `limits` says so in words.
pub fn decimal_column_type(
    d: &arrow::datatypes::DataType,
    database: &str,
    name: &str,
    limits: &str,
    fits: fn(u8, i8) -> bool,
) -> Option<Result<String, String>> {
    let (p, s) = decimal_params(d)?;
    Some(if fits(p, s) {
        Ok(format!("{name}({p},{s})"))
    } else {
        Err(format!(
            "Decimal({p},{s}) does not fit {database}'s {name} ({limits})"
        ))
    })
}

/// What differs between SQL databases when writing.
pub trait Dialect: Send + Sync {
    /// The database's column type for an Arrow type, or why it cannot be stored.
    fn column_type(&self, data_type: &arrow::datatypes::DataType) -> Result<String, String>;

    /// The column type for one field; defaults to [`Dialect::column_type`] of its data type.
    /// Dialects override it to read field metadata (e.g. a UUID extension type).
    fn field_type(&self, field: &arrow::datatypes::Field) -> Result<String, String> {
        self.column_type(field.data_type())
    }

    /// Quotes one identifier (the ANSI form; dialects with backticks or brackets override it).
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// A quoted SQL literal for a text, decimal, date or timestamp cursor value.
    fn cursor_literal(&self, value: &crate::contract::CursorValue) -> String {
        format!("'{}'", value.text().replace('\'', "''"))
    }

    /// `CREATE TABLE` for `schema`, with an optional primary key.
    fn create_table(
        &self,
        quoted_table: &str,
        schema: &Schema,
        primary_key: &[String],
    ) -> Result<String, String> {
        let mut cols = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let is_key = primary_key.iter().any(|k| k == f.name());
            let def = self
                .column_definition(f, is_key)
                .map_err(|e| format!("column `{}`: {e}", f.name()))?;
            cols.push(format!("{} {def}", self.quote_ident(f.name())));
        }
        if !primary_key.is_empty() {
            for k in primary_key {
                if schema.field_with_name(k).is_err() {
                    return Err(format!(
                        "primary_key column `{k}` is not in the stream's columns"
                    ));
                }
            }
            let keys: Vec<String> = primary_key.iter().map(|k| self.quote_ident(k)).collect();
            cols.push(format!("PRIMARY KEY ({})", keys.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE {quoted_table} (\n  {}\n){}",
            cols.join(",\n  "),
            self.table_options()
        ))
    }

    /// A column's type and nullability in `CREATE TABLE` (`is_key`: part of the primary key).
    fn column_definition(
        &self,
        field: &arrow::datatypes::Field,
        is_key: bool,
    ) -> Result<String, String> {
        let _ = is_key;
        let ty = self.field_type(field)?;
        Ok(if field.is_nullable() {
            ty
        } else {
            format!("{ty} NOT NULL")
        })
    }

    /// Text after the column list of `CREATE TABLE` (storage engine, character set, ...).
    fn table_options(&self) -> &'static str {
        ""
    }

    /// Moves the rows of `staging` into `target` (both quoted and qualified): an upsert on
    /// `primary_key`, an append without one. The default is [`default_merge_sql`].
    fn merge_sql(&self, m: &MergeInto<'_>) -> String {
        default_merge_sql(self, m)
    }

    /// `delete_missing`: the statements that delete (`hard`) the rows of the target whose key
    /// is not in the keys table, or (`soft`) clear `_etl_deleted_at` where the key is back and
    /// set it where the key is gone. The database does the anti-join (`NOT EXISTS` on the keys
    /// table's primary key). The default is standard SQL that every dialect here takes.
    fn missing_keys_sql(&self, m: &MissingKeys<'_>) -> Vec<String> {
        default_missing_keys_sql(self, m)
    }
}

/// The column `delete_missing: soft` keeps in the destination table: when the row's key was
/// found gone from the source (UTC), NULL while the key exists.
pub const DELETED_AT: &str = "_etl_deleted_at";

/// What [`Dialect::missing_keys_sql`] compares: the target table and the table holding every
/// key the source has now.
#[derive(Debug, Clone, Copy)]
pub struct MissingKeys<'a> {
    /// The target, quoted and qualified; `target_name` its quoted name alone (to qualify its
    /// columns inside the subquery).
    pub target: &'a str,
    pub target_name: &'a str,
    /// The keys table, quoted and qualified, and its quoted name alone.
    pub keys: &'a str,
    pub keys_name: &'a str,
    pub primary_key: &'a [String],
    pub how: crate::spec::DeleteMissing,
    /// `soft`: the literal `_etl_deleted_at` takes.
    pub deleted_at: &'a str,
}

/// The standard form of [`Dialect::missing_keys_sql`].
pub fn default_missing_keys_sql<D: Dialect + ?Sized>(d: &D, m: &MissingKeys<'_>) -> Vec<String> {
    let on: Vec<String> = m
        .primary_key
        .iter()
        .map(|c| {
            let c = d.quote_ident(c);
            format!("{}.{c} = {}.{c}", m.keys_name, m.target_name)
        })
        .collect();
    let found = format!(
        "EXISTS (SELECT 1 FROM {} WHERE {})",
        m.keys,
        on.join(" AND ")
    );
    let target = m.target;
    match m.how {
        crate::spec::DeleteMissing::Hard => {
            vec![format!("DELETE FROM {target} WHERE NOT {found}")]
        }
        crate::spec::DeleteMissing::Soft => {
            let del = d.quote_ident(DELETED_AT);
            vec![
                format!("UPDATE {target} SET {del} = NULL WHERE {del} IS NOT NULL AND {found}"),
                format!(
                    "UPDATE {target} SET {del} = {} WHERE {del} IS NULL AND NOT {found}",
                    m.deleted_at
                ),
            ]
        }
    }
}

/// A merge of a staging table into its target table (both names quoted and qualified).
#[derive(Debug, Clone, Copy)]
pub struct MergeInto<'a> {
    pub target: &'a str,
    pub staging: &'a str,
    pub columns: &'a [String],
    pub primary_key: &'a [String],
}

impl<'a> MergeInto<'a> {
    pub fn new(
        target: &'a str,
        staging: &'a str,
        columns: &'a [String],
        primary_key: &'a [String],
    ) -> Self {
        MergeInto {
            target,
            staging,
            columns,
            primary_key,
        }
    }
}

/// Merge rows of `staging` into `target` (both quoted). The default is the `INSERT ... ON
/// CONFLICT (key) DO UPDATE` form that PostgreSQL and SQLite share; without a key it appends.
pub fn default_merge_sql<D: Dialect + ?Sized>(d: &D, m: &MergeInto<'_>) -> String {
    let (target, staging) = (m.target, m.staging);
    let (columns, primary_key) = (m.columns, m.primary_key);
    let cols: Vec<String> = columns.iter().map(|c| d.quote_ident(c)).collect();
    let list = cols.join(", ");
    let mut sql = format!("INSERT INTO {target} ({list}) SELECT {list} FROM {staging} WHERE true");
    if !primary_key.is_empty() {
        let keys: Vec<String> = primary_key.iter().map(|k| d.quote_ident(k)).collect();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| !primary_key.contains(c))
            .map(|c| format!("{q} = excluded.{q}", q = d.quote_ident(c)))
            .collect();
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            ));
        }
    }
    sql
}

/// `INSERT INTO target (columns) SELECT columns FROM staging`: the staged rows appended.
pub fn append_sql<D: Dialect + ?Sized>(d: &D, m: &MergeInto<'_>) -> String {
    let cols: Vec<String> = m.columns.iter().map(|c| d.quote_ident(c)).collect();
    let list = cols.join(", ");
    format!(
        "INSERT INTO {} ({list}) SELECT {list} FROM {}",
        m.target, m.staging
    )
}

/// The statements of a merge strategy other than `update_insert` (the dialect's upsert),
/// written once in SQL every database takes: correlated `EXISTS` subqueries on the primary
/// key, with columns named through the quoted table names (no aliases, which `DELETE` and
/// `UPDATE` spell differently from one database to the next).
///
/// - `delete_insert`: delete the target rows whose key is staged, then append every staged
///   row (two statements: the caller runs them in one transaction).
/// - `insert_only`: append the staged rows whose key is not in the target.
/// - `update_only`: set every non-key column of the target rows whose key is staged (nothing
///   when the table has only key columns); new keys are skipped.
pub fn strategy_sql<D: Dialect + ?Sized>(
    d: &D,
    m: &MergeInto<'_>,
    strategy: crate::spec::MergeStrategy,
) -> Vec<String> {
    use crate::spec::MergeStrategy;
    let (t, s) = (m.target, m.staging);
    let keys_match = m
        .primary_key
        .iter()
        .map(|k| {
            let k = d.quote_ident(k);
            format!("{s}.{k} = {t}.{k}")
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    match strategy {
        MergeStrategy::UpdateInsert => vec![d.merge_sql(m)],
        MergeStrategy::DeleteInsert => vec![
            format!("DELETE FROM {t} WHERE EXISTS (SELECT 1 FROM {s} WHERE {keys_match})"),
            append_sql(d, m),
        ],
        MergeStrategy::InsertOnly => vec![format!(
            "{} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {keys_match})",
            append_sql(d, m)
        )],
        MergeStrategy::UpdateOnly => {
            let sets: Vec<String> = m
                .columns
                .iter()
                .filter(|c| !m.primary_key.contains(c))
                .map(|c| {
                    let c = d.quote_ident(c);
                    format!("{c} = (SELECT {s}.{c} FROM {s} WHERE {keys_match})")
                })
                .collect();
            if sets.is_empty() {
                return Vec::new();
            }
            vec![format!(
                "UPDATE {t} SET {} WHERE EXISTS (SELECT 1 FROM {s} WHERE {keys_match})",
                sets.join(", ")
            )]
        }
    }
}

/// `"field" >= literal` for an incremental read. A literal, not a parameter, because it also
/// goes into PostgreSQL's `COPY (SELECT ...)`, which takes none; text is quoted with `''`.
pub fn cursor_predicate(
    d: &dyn Dialect,
    field: &str,
    value: &crate::contract::CursorValue,
) -> String {
    use crate::contract::CursorValue;
    let literal = match value {
        CursorValue::Int(i) => i.to_string(),
        CursorValue::Float(f) => f.to_string(),
        other => d.cursor_literal(other),
    };
    format!("{} >= {literal}", d.quote_ident(field))
}

/// `delete_missing`: the key columns of every row of `sql`, ordered by them. `as_kw`
/// introduces a derived table's alias (`"AS "`; Oracle takes none).
pub fn keys_select(d: &dyn Dialect, sql: &str, keys: &[String], as_kw: &str) -> String {
    let cols: Vec<String> = keys.iter().map(|k| d.quote_ident(k)).collect();
    let cols = cols.join(", ");
    format!("SELECT {cols} FROM ({sql}) {as_kw}_etl_keys ORDER BY {cols}")
}

/// The error of a failed hook statement (`source_pre_sql`, `pre_sql`, `post_sql`), naming it.
pub fn hook_failed(key: &str, sql: &str, e: crate::error::Error) -> crate::error::Error {
    e.context(format!("{key} `{sql}` failed"))
}

/// The WHERE condition of one unit's key range (`etl run --plan --unit`): `from <= column <
/// to`, either end open, `OR column IS NULL` when the unit takes the NULLs.
pub fn range_predicate(d: &dyn Dialect, range: &crate::connectors::KeyRange) -> String {
    let c = d.quote_ident(&range.column);
    let mut parts = Vec::new();
    if let Some(from) = range.from {
        parts.push(format!("{c} >= {from}"));
    }
    if let Some(to) = range.to {
        parts.push(format!("{c} < {to}"));
    }
    let bounded = match parts.is_empty() {
        true => format!("{c} IS NOT NULL"),
        false => parts.join(" AND "),
    };
    match range.nulls {
        true => format!("(({bounded}) OR {c} IS NULL)"),
        false => format!("({bounded})"),
    }
}

/// Whether `s` is plain decimal text (`-12.50`), safe to put into SQL unquoted.
pub fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
}

/// The staging table a full refresh loads before swapping it in.
pub fn staging_table_name(table: &str, run_id: &str) -> String {
    let short: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!(
        "_etl_stage_{table}_{}",
        &short[short.len().saturating_sub(12)..]
    )
}

/// `prefix` + table + the run's suffix (as [`staging_table_name`]), shortened to `max_chars`
/// by cutting the table part, for databases with short identifier limits.
pub fn side_table_name(prefix: &str, table: &str, run_id: &str, max_chars: usize) -> String {
    let name = staging_table_name(table, run_id).replacen("_etl_stage_", prefix, 1);
    if name.chars().count() <= max_chars {
        return name;
    }
    let suffix: String = name
        .chars()
        .rev()
        .take(13)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let room = max_chars.saturating_sub(prefix.chars().count() + suffix.chars().count());
    format!(
        "{prefix}{}{suffix}",
        table.chars().take(room).collect::<String>()
    )
}

/// How a database spells the SQL:2003 `MERGE` statement.
#[derive(Debug, Clone, Copy)]
pub struct MergeSyntax {
    /// Between the target table and its alias (MSSQL: `WITH (HOLDLOCK) AS`; Oracle takes no
    /// `AS` before a table alias).
    pub target_alias: &'static str,
    /// Between the source table and its alias.
    pub source_alias: &'static str,
    /// After the statement (MSSQL requires `;` after a MERGE).
    pub terminator: &'static str,
}

/// `MERGE` of `staging` into `target` (both quoted) on `primary_key`: matching rows take the
/// staging values, others are inserted. Key columns are never updated (Oracle refuses to
/// update columns of the ON clause); a table of key columns only just inserts what is new.
pub fn merge_statement_sql<D: Dialect + ?Sized>(
    d: &D,
    syntax: MergeSyntax,
    m: &MergeInto<'_>,
) -> String {
    let (target, staging) = (m.target, m.staging);
    let (columns, primary_key) = (m.columns, m.primary_key);
    let on: Vec<String> = primary_key
        .iter()
        .map(|k| format!("t.{q} = s.{q}", q = d.quote_ident(k)))
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !primary_key.contains(c))
        .map(|c| format!("t.{q} = s.{q}", q = d.quote_ident(c)))
        .collect();
    let cols: Vec<String> = columns.iter().map(|c| d.quote_ident(c)).collect();
    let values: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
    let mut sql = format!(
        "MERGE INTO {target} {}t USING {staging} {}s ON ({})",
        syntax.target_alias,
        syntax.source_alias,
        on.join(" AND ")
    );
    if !updates.is_empty() {
        sql.push_str(&format!(
            " WHEN MATCHED THEN UPDATE SET {}",
            updates.join(", ")
        ));
    }
    sql.push_str(&format!(
        " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({}){}",
        cols.join(", "),
        values.join(", "),
        syntax.terminator
    ));
    sql
}

/// Spec checks shared by every SQL source.
pub fn validate_streams(streams: &[StreamSpec]) -> Result<(), String> {
    for s in streams {
        if s.mode == crate::spec::Mode::Incremental && s.cursor_field.is_none() {
            return Err(format!(
                "stream `{}`: mode `incremental` needs a `cursor_field`",
                s.name
            ));
        }
        if s.file_path.is_some()
            || s.glob_pattern.is_some()
            || s.format.is_some()
            || !s.schema.is_empty()
        {
            return Err(format!(
                "stream `{}`: `file_path`, `glob_pattern`, `format` and `schema` apply to file sources only; a SQL source reads `table` or `query` (use `cast:` to change a column's type)",
                s.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    struct Ansi;
    impl Dialect for Ansi {
        fn column_type(&self, d: &DataType) -> Result<String, String> {
            match d {
                DataType::Int64 => Ok("BIGINT".into()),
                other => Err(format!("unsupported {other}")),
            }
        }
    }

    #[test]
    fn merge_upserts_on_the_key_or_appends() {
        let cols = vec!["id".to_string(), "v".to_string()];
        let sql = default_merge_sql(
            &Ansi,
            &MergeInto::new("\"t\"", "\"s\"", &cols, &["id".into()]),
        );
        assert_eq!(
            sql,
            "INSERT INTO \"t\" (\"id\", \"v\") SELECT \"id\", \"v\" FROM \"s\" WHERE true ON CONFLICT (\"id\") DO UPDATE SET \"v\" = excluded.\"v\""
        );
        assert!(
            !default_merge_sql(&Ansi, &MergeInto::new("t", "s", &cols, &[])).contains("CONFLICT")
        );
    }

    #[test]
    fn strategies_are_spelled_once_on_the_key() {
        use crate::spec::MergeStrategy;
        let cols = vec!["id".to_string(), "v".to_string()];
        let key = ["id".to_string()];
        let m = MergeInto::new("\"t\"", "\"s\"", &cols, &key);
        assert_eq!(
            strategy_sql(&Ansi, &m, MergeStrategy::DeleteInsert),
            [
                "DELETE FROM \"t\" WHERE EXISTS (SELECT 1 FROM \"s\" WHERE \"s\".\"id\" = \"t\".\"id\")",
                "INSERT INTO \"t\" (\"id\", \"v\") SELECT \"id\", \"v\" FROM \"s\""
            ]
        );
        assert_eq!(
            strategy_sql(&Ansi, &m, MergeStrategy::InsertOnly),
            ["INSERT INTO \"t\" (\"id\", \"v\") SELECT \"id\", \"v\" FROM \"s\" WHERE NOT EXISTS (SELECT 1 FROM \"t\" WHERE \"s\".\"id\" = \"t\".\"id\")"]
        );
        assert_eq!(
            strategy_sql(&Ansi, &m, MergeStrategy::UpdateOnly),
            ["UPDATE \"t\" SET \"v\" = (SELECT \"s\".\"v\" FROM \"s\" WHERE \"s\".\"id\" = \"t\".\"id\") WHERE EXISTS (SELECT 1 FROM \"s\" WHERE \"s\".\"id\" = \"t\".\"id\")"]
        );
        // A table of key columns only has nothing to update.
        let keys_only = MergeInto::new("t", "s", &cols[..1], &key);
        assert!(strategy_sql(&Ansi, &keys_only, MergeStrategy::UpdateOnly).is_empty());
    }

    #[test]
    fn merge_statement_updates_non_keys_and_inserts_the_rest() {
        let syntax = MergeSyntax {
            target_alias: "AS ",
            source_alias: "AS ",
            terminator: ";",
        };
        let cols = vec!["id".to_string(), "v".to_string()];
        let sql = merge_statement_sql(
            &Ansi,
            syntax,
            &MergeInto::new("\"t\"", "\"s\"", &cols, &["id".into()]),
        );
        assert_eq!(
            sql,
            "MERGE INTO \"t\" AS t USING \"s\" AS s ON (t.\"id\" = s.\"id\") WHEN MATCHED THEN UPDATE SET t.\"v\" = s.\"v\" WHEN NOT MATCHED THEN INSERT (\"id\", \"v\") VALUES (s.\"id\", s.\"v\");"
        );
        let only_keys = merge_statement_sql(
            &Ansi,
            syntax,
            &MergeInto::new("t", "s", &cols[..1], &["id".into()]),
        );
        assert!(!only_keys.contains("MATCHED THEN UPDATE"), "{only_keys}");
    }

    #[test]
    fn missing_keys_are_an_anti_join_on_the_keys_table() {
        let pk = vec!["id".to_string(), "k".to_string()];
        let m = |how| MissingKeys {
            target: "\"s\".\"t\"",
            target_name: "\"t\"",
            keys: "\"s\".\"_etl_keys_t\"",
            keys_name: "\"_etl_keys_t\"",
            primary_key: &pk,
            how,
            deleted_at: "'2026-01-01 00:00:00.000000+00:00'",
        };
        let on = "\"_etl_keys_t\".\"id\" = \"t\".\"id\" AND \"_etl_keys_t\".\"k\" = \"t\".\"k\"";
        assert_eq!(
            Ansi.missing_keys_sql(&m(crate::spec::DeleteMissing::Hard)),
            vec![format!("DELETE FROM \"s\".\"t\" WHERE NOT EXISTS (SELECT 1 FROM \"s\".\"_etl_keys_t\" WHERE {on})")]
        );
        let soft = Ansi.missing_keys_sql(&m(crate::spec::DeleteMissing::Soft));
        assert_eq!(soft.len(), 2);
        assert!(soft[0].starts_with("UPDATE \"s\".\"t\" SET \"_etl_deleted_at\" = NULL WHERE \"_etl_deleted_at\" IS NOT NULL AND EXISTS"), "{}", soft[0]);
        assert!(soft[1].contains("= '2026-01-01 00:00:00.000000+00:00' WHERE \"_etl_deleted_at\" IS NULL AND NOT EXISTS"), "{}", soft[1]);
    }

    #[test]
    fn side_tables_fit_short_identifier_limits() {
        let run = "20260101T000000Z-abcdef12";
        let s = side_table_name("_etl_stage_", "t", run, 64);
        assert!(
            s.starts_with("_etl_stage_t_") && s.ends_with("abcdef12"),
            "{s}"
        );
        let s = side_table_name("_etl_old_", &"x".repeat(80), run, 30);
        assert_eq!(s.chars().count(), 30, "{s}");
        assert!(
            s.starts_with("_etl_old_x") && s.ends_with("abcdef12"),
            "{s}"
        );
    }

    #[test]
    fn ddl_quotes_odd_identifiers_and_keys() {
        let schema = Schema::new(vec![
            Field::new("select", DataType::Int64, false),
            Field::new("we\"ird", DataType::Int64, true),
        ]);
        let sql = Ansi
            .create_table("\"t\"", &schema, &["select".to_string()])
            .unwrap();
        assert!(sql.contains("\"select\" BIGINT"), "{sql}");
        assert!(sql.contains("\"we\"\"ird\" BIGINT"), "{sql}");
        assert!(sql.contains("PRIMARY KEY (\"select\")"), "{sql}");
        let bad = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
        assert!(Ansi
            .create_table("t", &bad, &[])
            .unwrap_err()
            .contains("column `x`"));
        assert!(Ansi
            .create_table("t", &schema, &["nope".into()])
            .unwrap_err()
            .contains("`nope`"));
    }
}
