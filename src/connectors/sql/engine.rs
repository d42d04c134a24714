//! The SQL destination engine: the lifecycle every SQL destination shares, written once.
//!
//! ```text
//! write   connect ─> begin ─> create staging ─> schema drift? ─> bulk load ─> after_load ─> Staged
//!                                  (incremental into an existing table: compare, or refuse)
//! commit  [sql-before-publish] ─> table exists? ─> [ALTER TABLE] ─> publish steps ─> commit
//!         (rename the staging table in | swap it in | merge it and drop it)
//! abort   rollback (transactional DDL) | drop the staging table
//! ```
//!
//! A [`Driver`] supplies only what its database does differently: how to connect, run a
//! statement, look a table up and list its columns, bulk-load batches, and its dialect's publish
//! and `ALTER TABLE` SQL (schema changes are decided once, in [`super::drift`]). Databases whose
//! DDL is transactional (PostgreSQL, SQLite) do everything in one transaction, so a failure or
//! a crash leaves nothing behind; the others (MySQL, SQL Server, Oracle) drop the staging table
//! on failure and publish with statements that are atomic on their own (`RENAME TABLE`, a
//! `sp_rename` pair in a transaction, `MERGE`), undoing earlier steps when a later one fails.

use super::drift::{self, TableColumn};
use super::{hook_failed, side_table_name, Dialect, MergeInto, MissingKeys, DELETED_AT};
use crate::connectors::{BatchStream, Destination, Reader, Staged, WriteReport, WriteTarget};
use crate::contract::{SchemaChange, SchemaChangeKind};
use crate::error::{Error, Result};
use crate::spec::{DeleteMissing, MergeStrategy, Mode};
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use std::sync::Arc;

/// One statement of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run this statement; if a later step fails, run `undo` (when given) to take it back.
    Sql { sql: String, undo: Option<String> },
    /// Commit the work so far (databases whose DML needs an explicit commit).
    Commit,
    /// Start a transaction ([`Driver::begin`]) that a later [`Step::Commit`] ends: databases
    /// whose DDL is not transactional group the DML of one publish (a merge and its
    /// `delete_missing` statements) so.
    Begin,
}

impl Step {
    pub fn sql(sql: impl Into<String>) -> Step {
        Step::Sql {
            sql: sql.into(),
            undo: None,
        }
    }

    pub fn undoable(sql: impl Into<String>, undo: impl Into<String>) -> Step {
        Step::Sql {
            sql: sql.into(),
            undo: Some(undo.into()),
        }
    }
}

/// The first two words of a statement (`RENAME TABLE`, `INSERT INTO`), naming it in messages.
pub fn verb(sql: &str) -> String {
    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// What a bulk load loads: every batch, into the staging table (unquoted name).
pub struct Load<'a> {
    pub staging: &'a str,
    pub schema: &'a SchemaRef,
    pub primary_key: &'a [String],
    pub batches: &'a mut BatchStream,
}

/// What a publish has to do, with unquoted names.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    pub mode: Mode,
    /// Whether the destination table exists already.
    pub exists: bool,
    pub table: &'a str,
    pub staging: &'a str,
    /// The name the replaced table takes during a swap, before it is dropped.
    pub old: &'a str,
    pub columns: &'a [String],
    pub primary_key: &'a [String],
    /// How an incremental or backfill load merges on the primary key.
    pub strategy: MergeStrategy,
}

/// Whether a write in `mode` loads into the existing table (rather than replacing it), so the
/// source's columns are compared with the table's first (see [`drift`]).
pub fn loads_into_existing(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Incremental | Mode::Backfill | Mode::Snapshot | Mode::Truncate
    )
}

/// What one SQL database does differently from the others when writing. Everything else (the
/// order of the steps, staging names, cleanup on every path, fault points, messages) is the
/// engine's.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// An open connection (or a handle a blocking driver moves onto its threads).
    type Conn: Send + 'static;

    /// Quoting, `CREATE TABLE` and the upsert for this database.
    const DIALECT: &'static dyn Dialect;

    /// The schema tables are written to, where statements must name it (none: the
    /// connection's default).
    fn schema(&self) -> Option<&str> {
        None
    }

    /// A table of the destination, quoted and qualified as statements name it.
    fn qualified(&self, table: &str) -> String {
        let q = |s: &str| Self::DIALECT.quote_ident(s);
        match self.schema() {
            Some(schema) => format!("{}.{}", q(schema), q(table)),
            None => q(table),
        }
    }

    /// Where a stream is written, for `--dry-run` and messages (never a secret).
    fn describe(&self, table: &str) -> String;

    /// The name a published table is reported under (`schema.table`).
    fn output_name(&self, table: &str) -> String {
        match self.schema() {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_string(),
        }
    }

    /// The database's limit on identifier length (staging names are shortened to fit).
    const MAX_IDENT: usize;

    /// Whether DDL takes part in transactions: then the whole write, from creating the staging
    /// table to publishing it, is one transaction, and a failure is a rollback.
    const TRANSACTIONAL_DDL: bool;

    /// Refuses names the database cannot take, before anything is read.
    fn check_names(&self, table: &str, schema: Option<&Schema>) -> Result<()> {
        let _ = (table, schema);
        Ok(())
    }

    async fn connect(&self) -> Result<Self::Conn>;

    /// Fails if this connection cannot be used to write (a missing schema, no right to create
    /// tables, a server setting the bulk load needs). `etl check` and every preflight run it.
    async fn check(&self, conn: &mut Self::Conn) -> Result<()>;

    /// Runs one statement that returns no rows.
    async fn execute(&self, conn: &mut Self::Conn, sql: &str) -> Result<()>;

    /// Whether `table` (unquoted, in the destination's schema) exists.
    async fn table_exists(&self, conn: &mut Self::Conn, table: &str) -> Result<bool>;

    /// The columns of `table` (unquoted, known to exist), in order: the declared type, and the
    /// Arrow type the database's source mapping reads it as (see [`drift`]).
    async fn table_columns(&self, conn: &mut Self::Conn, table: &str) -> Result<Vec<TableColumn>>;

    /// Adds `column` (its name and declared type) to `table`, nullable.
    fn add_column_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            self.qualified(table),
            Self::DIALECT.quote_ident(&column.name),
            column.declared
        )]
    }

    /// Drops a column [`Driver::add_column_sql`] added, when a later step fails.
    fn drop_column_sql(&self, table: &str, column: &str) -> String {
        format!(
            "ALTER TABLE {} DROP COLUMN {}",
            self.qualified(table),
            Self::DIALECT.quote_ident(column)
        )
    }

    /// Changes `old` to `new`'s declared type (a widening), keeping whether it takes NULL.
    fn widen_column_sql(&self, table: &str, old: &TableColumn, new: &TableColumn) -> Vec<String> {
        let _ = old;
        vec![format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
            self.qualified(table),
            Self::DIALECT.quote_ident(&new.name),
            new.declared
        )]
    }

    /// Rebuilds `column` of `table` as a nullable column declared `declared`, for databases that
    /// cannot alter a column's type in place (SQLite; Oracle into a LOB): a new column takes its
    /// values, the old one is dropped and the new one takes its name, so it moves to the end of
    /// the table. The database refuses this for a column in the primary key or an index.
    fn rebuild_column_sql(&self, table: &str, column: &str, declared: &str) -> Vec<String> {
        let tmp = format!("_etl_new_{column}");
        let (t, q) = (self.qualified(table), |s: &str| {
            Self::DIALECT.quote_ident(s)
        });
        let new = TableColumn::new(&tmp, declared, Err(String::new()), None, true);
        let mut sql = self.add_column_sql(table, &new);
        sql.push(format!("UPDATE {t} SET {} = {}", q(&tmp), q(column)));
        sql.push(self.drop_column_sql(table, column));
        sql.push(format!(
            "ALTER TABLE {t} RENAME COLUMN {} TO {}",
            q(&tmp),
            q(column)
        ));
        sql
    }

    /// Lets `column` hold NULL.
    fn allow_null_sql(&self, table: &str, column: &TableColumn) -> Vec<String> {
        vec![format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL",
            self.qualified(table),
            Self::DIALECT.quote_ident(&column.name)
        )]
    }

    /// Starts a transaction: the whole write's where DDL is transactional, else one around
    /// several DML statements of a publish.
    async fn begin(&self, conn: &mut Self::Conn) -> Result<()> {
        self.execute(conn, "BEGIN").await
    }

    /// Makes the work durable: the transaction's `COMMIT`, or a commit of DML.
    async fn commit(&self, conn: &mut Self::Conn) -> Result<()> {
        self.execute(conn, "COMMIT").await
    }

    /// Throws away uncommitted work. Errors are ignored by the engine (a lost connection has
    /// rolled back already).
    async fn rollback(&self, conn: &mut Self::Conn) -> Result<()> {
        self.execute(conn, "ROLLBACK").await
    }

    /// Closes a connection the engine is done with.
    async fn close(&self, conn: Self::Conn) {
        drop(conn);
    }

    /// Creates the staging table (`staging` unquoted) for `schema`.
    async fn create_staging(
        &self,
        conn: &mut Self::Conn,
        staging: &str,
        schema: &SchemaRef,
        primary_key: &[String],
    ) -> Result<()> {
        let ddl = Self::DIALECT
            .create_table(&self.qualified(staging), schema, primary_key)
            .map_err(Error::run)?;
        self.execute(conn, &ddl).await
    }

    /// Loads every batch into the (new, empty) staging table; returns the number of rows. A
    /// value that does not fit fails with [`Error::Value`] naming the column and row.
    async fn bulk_load(&self, conn: &mut Self::Conn, load: Load<'_>) -> Result<u64>;

    /// Work on the loaded staging table before it is published (PostgreSQL restores source
    /// column types here).
    async fn after_load(
        &self,
        conn: &mut Self::Conn,
        staging: &str,
        schema: &SchemaRef,
    ) -> Result<()> {
        let _ = (conn, staging, schema);
        Ok(())
    }

    /// Drops `table` (unquoted) if it exists.
    async fn drop_if_exists(&self, conn: &mut Self::Conn, table: &str) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS {}", self.qualified(table));
        self.execute(conn, &sql).await
    }

    /// Names of the tables in the destination's schema that begin with `_etl_`: what a killed
    /// run may have left. Transactional drivers never leave any (their DDL rolled back) and
    /// keep this default.
    async fn etl_tables(&self, _conn: &mut Self::Conn) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// `DROP TABLE` of a table known to exist.
    fn drop_sql(&self, table: &str) -> String {
        format!("DROP TABLE {}", self.qualified(table))
    }

    /// Renames `from` to `to` (both unquoted, in the destination's schema).
    fn rename_sql(&self, from: &str, to: &str) -> String {
        format!(
            "ALTER TABLE {} RENAME TO {}",
            self.qualified(from),
            Self::DIALECT.quote_ident(to)
        )
    }

    /// Replaces the existing table by the staging table (full refresh). The default drops and
    /// renames, which is atomic inside the write's transaction (transactional DDL).
    fn swap_steps(&self, p: &Publish<'_>) -> Vec<Step> {
        vec![
            Step::sql(self.drop_sql(p.table)),
            Step::sql(self.rename_sql(p.staging, p.table)),
        ]
    }

    /// Moves the staging rows into the existing table (incremental): the dialect's upsert on
    /// the primary key, an append without one.
    fn merge_sql(&self, p: &Publish<'_>) -> String {
        let (target, staging) = (self.qualified(p.table), self.qualified(p.staging));
        Self::DIALECT.merge_sql(&MergeInto::new(&target, &staging, p.columns, p.primary_key))
    }

    /// The statements that move the staging rows into the existing table, by mode: `truncate`
    /// deletes every row and appends the staged ones, `snapshot` appends, `incremental` and
    /// `backfill` merge by the stream's `merge_strategy` (written once, in
    /// [`super::strategy_sql`]; `update_insert` is the dialect's own upsert).
    fn load_statements(&self, p: &Publish<'_>) -> Vec<String> {
        let (target, staging) = (self.qualified(p.table), self.qualified(p.staging));
        let m = MergeInto::new(&target, &staging, p.columns, p.primary_key);
        match p.mode {
            Mode::Truncate => vec![
                format!("DELETE FROM {target}"),
                super::append_sql(Self::DIALECT, &m),
            ],
            Mode::Snapshot => vec![super::append_sql(Self::DIALECT, &m)],
            _ if p.primary_key.is_empty() || p.strategy == MergeStrategy::UpdateInsert => {
                vec![self.merge_sql(p)]
            }
            _ => super::strategy_sql(Self::DIALECT, &m, p.strategy),
        }
    }

    /// `statements` (DML) as steps that commit together or not at all. Where DDL is
    /// transactional they are already inside the write's transaction; elsewhere several
    /// statements are wrapped in [`Step::Begin`] ... [`Step::Commit`] (MySQL; SQL Server and
    /// Oracle override this), rolled back when one fails.
    fn dml_steps(&self, statements: Vec<String>) -> Vec<Step> {
        if Self::TRANSACTIONAL_DDL || statements.len() < 2 {
            return statements.into_iter().map(Step::sql).collect();
        }
        let mut steps = vec![Step::Begin];
        steps.extend(statements.into_iter().map(Step::sql));
        steps.push(Step::Commit);
        steps
    }

    /// Every statement of the publish, in order. Drivers override the pieces above; a driver
    /// that needs to look at the database first (PostgreSQL's constraint names) overrides this.
    async fn publish_steps(&self, conn: &mut Self::Conn, p: &Publish<'_>) -> Result<Vec<Step>> {
        let _ = conn;
        Ok(default_publish_steps(self, p))
    }
}

/// The publish of [`Driver::publish_steps`]: a first load (of any mode) renames the staging
/// table in; a full refresh swaps it in; `definition_only` leaves an existing table alone; the
/// other modes move the staged rows into the table ([`Driver::load_statements`], in one
/// transaction) and drop the staging table.
pub fn default_publish_steps<D: Driver + ?Sized>(d: &D, p: &Publish<'_>) -> Vec<Step> {
    if !p.exists {
        return vec![Step::sql(d.rename_sql(p.staging, p.table))];
    }
    match p.mode {
        Mode::FullRefresh => d.swap_steps(p),
        Mode::DefinitionOnly => vec![Step::sql(d.drop_sql(p.staging))],
        _ => {
            let mut steps = d.dml_steps(d.load_statements(p));
            steps.push(Step::sql(d.drop_sql(p.staging)));
            steps
        }
    }
}

/// A SQL destination: the engine over one database's [`Driver`].
pub struct SqlDestination<D: Driver> {
    driver: Arc<D>,
}

impl<D: Driver> SqlDestination<D> {
    /// A destination over `driver` (or over the config a driver is made from).
    pub fn new(driver: impl Into<D>) -> Self {
        SqlDestination {
            driver: Arc::new(driver.into()),
        }
    }
}

/// `table <qualified>` for messages.
fn what<D: Driver>(d: &D, table: &str) -> String {
    format!("table {}", d.qualified(table))
}

/// Removes a staging table after a failure: a rollback where DDL is transactional; otherwise a
/// `DROP` over a fresh connection, since the failed one may be mid-request or gone.
async fn discard<D: Driver>(d: &D, conn: Option<D::Conn>, tables: &[&str]) {
    if let Some(mut c) = conn {
        if D::TRANSACTIONAL_DDL {
            let _ = d.rollback(&mut c).await;
            d.close(c).await;
            return;
        }
        // Dropped, not closed: a connection left mid-request may never answer a goodbye.
        drop(c);
    }
    if let Ok(mut c) = d.connect().await {
        for staging in tables {
            if let Err(e) = d.drop_if_exists(&mut c, staging).await {
                tracing::warn!(
                    "could not drop the staging table {}: {e}",
                    d.qualified(staging)
                );
            }
        }
        d.close(c).await;
    }
}

impl<D: Driver> SqlDestination<D> {
    /// Connects and runs the driver's check; with `probe`, also [`probe_create`] (`etl check`
    /// only: a run creates its staging table anyway, and SQLite's probe would wait for the
    /// writer turn another stream may hold).
    async fn connect_and_check(&self, probe: bool) -> Result<()> {
        let d = &*self.driver;
        let mut conn = d.connect().await?;
        let mut checked = d.check(&mut conn).await;
        if probe && checked.is_ok() {
            checked = probe_create(d, &mut conn).await;
        }
        d.close(conn).await;
        checked
    }
}

/// Proves that etl may create tables where it writes: a one-column table named like a staging
/// table is created and dropped again (rolled back where DDL is transactional). A refusal —
/// no CREATE privilege, a read-only database file, a full tablespace — fails `etl check`
/// with the database's own words.
async fn probe_create<D: Driver>(d: &D, conn: &mut D::Conn) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let suffix = format!("{:06}{:09}", std::process::id() % 1_000_000, nanos);
    let name = side_table_name("_etl_stage_", "check", &suffix, D::MAX_IDENT);
    let schema: SchemaRef = std::sync::Arc::new(Schema::new(vec![arrow::datatypes::Field::new(
        "etl_probe",
        arrow::datatypes::DataType::Int32,
        true,
    )]));
    let made = if D::TRANSACTIONAL_DDL {
        d.begin(conn).await?;
        let made = d.create_staging(conn, &name, &schema, &[]).await;
        let _ = d.rollback(conn).await;
        made
    } else {
        match d.create_staging(conn, &name, &schema, &[]).await {
            Ok(()) => d.drop_if_exists(conn, &name).await,
            Err(e) => Err(e),
        }
    };
    made.map_err(|e| {
        e.context(format!(
            "cannot create {} (etl loads through staging tables there; `etl check` creates and drops this one to find out)",
            d.describe(&name)
        ))
    })
}

#[async_trait]
impl<D: Driver> Destination for SqlDestination<D> {
    /// `etl check`: connects, runs the driver's check, and proves that etl may create tables
    /// there ([`probe_create`]).
    async fn check(&self) -> Result<()> {
        self.connect_and_check(true).await
    }

    fn describe(&self, target: &WriteTarget) -> String {
        self.driver.describe(&target.stream.name)
    }

    /// A run's `hooks:`: every statement in one transaction (where DDL is transactional;
    /// otherwise each commits as it runs), rolled back when one fails.
    async fn run_sql(&self, key: &str, statements: &[String]) -> Result<()> {
        let d = &*self.driver;
        let mut conn = d.connect().await?;
        let ran = async {
            if D::TRANSACTIONAL_DDL {
                d.begin(&mut conn).await?;
            }
            for sql in statements {
                d.execute(&mut conn, sql)
                    .await
                    .map_err(|e| hook_failed(key, sql, e))?;
            }
            if D::TRANSACTIONAL_DDL {
                d.commit(&mut conn).await?;
            }
            Ok(())
        }
        .await;
        if ran.is_err() && D::TRANSACTIONAL_DDL {
            let _ = d.rollback(&mut conn).await;
        }
        d.close(conn).await;
        ran
    }

    /// Checks the names, connects and runs the driver's check before anything is read, so a
    /// wrong password or a missing schema fails the run up front.
    async fn preflight(&self, target: &WriteTarget) -> Result<()> {
        self.driver.check_names(&target.stream.name, None)?;
        self.connect_and_check(false).await
    }

    async fn write(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
        mut batches: BatchStream,
    ) -> Result<Box<dyn Staged>> {
        let d = &*self.driver;
        let table = target.stream.name.clone();
        let what = what(d, &table);
        d.check_names(&table, Some(&schema))
            .map_err(|e| e.context(&what))?;
        let staging = side_table_name("_etl_stage_", &table, &target.run_id, D::MAX_IDENT);
        let primary_key = target.stream.primary_key.clone();
        let mut conn = d.connect().await?;
        let loaded = async {
            if D::TRANSACTIONAL_DDL {
                d.begin(&mut conn).await?;
            } else {
                // Staging and old tables of this table that a killed run (or an attempt whose
                // cleanup failed) left behind.
                drop_leftovers(d, &mut conn, &table).await?;
            }
            for sql in &target.stream.pre_sql {
                d.execute(&mut conn, sql)
                    .await
                    .map_err(|e| hook_failed("pre_sql", sql, e))?;
            }
            d.create_staging(&mut conn, &staging, &schema, &primary_key)
                .await
                .map_err(|e| e.context("creating the staging table"))?;
            // Schema drift is decided before a row is loaded: a refusal writes nothing.
            let plan = match target.mode {
                mode if loads_into_existing(mode) && d.table_exists(&mut conn, &table).await? => {
                    let mut existing = d.table_columns(&mut conn, &table).await?;
                    if target.stream.delete_missing == Some(DeleteMissing::Soft) {
                        // etl's own column, left out of the comparison and the merge.
                        existing.retain(|c| c.name != DELETED_AT);
                    }
                    let incoming = d.table_columns(&mut conn, &staging).await?;
                    let policy = target.stream.schema_changes.unwrap_or_default();
                    let plan = drift::plan(policy, &existing, &incoming, &primary_key)
                        .map_err(Error::run)?;
                    plan.warn_discarded(&target.stream.name);
                    Some(plan)
                }
                _ => None,
            };
            let load = Load {
                staging: &staging,
                schema: &schema,
                primary_key: &primary_key,
                batches: &mut batches,
            };
            let rows = d.bulk_load(&mut conn, load).await?;
            d.after_load(&mut conn, &staging, &schema).await?;
            let mut plan = plan;
            if let Some(plan) = plan.as_mut().filter(|p| p.alterations().next().is_some()) {
                plan.retype(&d.table_columns(&mut conn, &staging).await?);
            }
            Ok::<_, Error>((rows, plan))
        }
        .await;
        match loaded {
            Ok((rows, plan)) => Ok(Box::new(StagedTable {
                driver: self.driver.clone(),
                conn: Some(conn),
                table,
                staging,
                old: side_table_name(
                    "_etl_old_",
                    &target.stream.name,
                    &target.run_id,
                    D::MAX_IDENT,
                ),
                columns: match &plan {
                    Some(plan) => plan.columns.clone(),
                    None => schema.fields().iter().map(|f| f.name().clone()).collect(),
                },
                plan,
                stream: target.stream.name.clone(),
                primary_key,
                mode: target.mode,
                strategy: target.stream.merge_strategy.unwrap_or_default(),
                rows,
                run_id: target.run_id.clone(),
                deletes: None,
                post_sql: target.stream.post_sql.clone(),
            })),
            Err(e) => {
                discard(d, Some(conn), &[&staging]).await;
                Err(e.context(format!("loading {what}")))
            }
        }
    }
}

/// Drops the staging (`_etl_stage_`) and old (`_etl_old_`) tables of `table` from earlier runs:
/// a SIGKILL between creating and dropping them leaves them on a database whose DDL is not
/// transactional. Only names of exactly this table's form are dropped, and none when the table
/// name is long enough to be cut in side-table names (two tables could then share the stem).
/// One run writes a destination table at a time.
async fn drop_leftovers<D: Driver>(d: &D, conn: &mut D::Conn, table: &str) -> Result<()> {
    const RUN: &str = "000000000000";
    let stems: Vec<(String, usize)> = ["_etl_stage_", "_etl_old_", "_etl_keys_"]
        .iter()
        .map(|prefix| side_table_name(prefix, table, RUN, D::MAX_IDENT))
        .filter(|probe| probe.contains(table))
        .map(|probe| (probe[..probe.len() - RUN.len()].to_string(), probe.len()))
        .collect();
    if stems.is_empty() {
        return Ok(());
    }
    for name in d.etl_tables(conn).await? {
        let leftover = stems.iter().any(|(stem, len)| {
            name.len() == *len
                && name.starts_with(stem.as_str())
                && name[stem.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
        });
        if leftover {
            tracing::info!(table = %name, "dropping a table an earlier run left behind");
            d.drop_if_exists(conn, &name).await?;
        }
    }
    Ok(())
}

/// A loaded staging table, waiting to be published.
struct StagedTable<D: Driver> {
    driver: Arc<D>,
    conn: Option<D::Conn>,
    table: String,
    staging: String,
    old: String,
    columns: Vec<String>,
    /// Schema drift of an incremental write into an existing table.
    plan: Option<drift::Plan>,
    stream: String,
    primary_key: Vec<String>,
    mode: Mode,
    strategy: MergeStrategy,
    rows: u64,
    run_id: String,
    /// `delete_missing`: how, and the table holding the source's keys (unquoted).
    deletes: Option<(DeleteMissing, String, String)>,
    /// Run after the publish, before its commit.
    post_sql: Vec<String>,
}

impl<D: Driver> StagedTable<D> {
    /// The tables this write created besides the destination table.
    fn side_tables(&self) -> Vec<&str> {
        let mut tables = vec![self.staging.as_str()];
        if let Some((_, keys, _)) = &self.deletes {
            tables.push(keys.as_str());
        }
        tables
    }

    /// Runs the publish steps; on a failure takes back the undoable steps already run, newest
    /// first.
    async fn publish(&mut self, conn: &mut D::Conn) -> Result<()> {
        let d = &*self.driver;
        let exists = d.table_exists(conn, &self.table).await?;
        let p = Publish {
            mode: self.mode,
            exists,
            table: &self.table,
            staging: &self.staging,
            old: &self.old,
            columns: &self.columns,
            primary_key: &self.primary_key,
            strategy: self.strategy,
        };
        let mut steps = match &self.plan {
            Some(plan) if exists && loads_into_existing(self.mode) => {
                drift_steps(d, conn, &self.table, &self.staging, plan).await?
            }
            _ => Vec::new(),
        };
        let publish = d.publish_steps(conn, &p).await?;
        let merge = exists && self.mode == Mode::Incremental;
        // After the publish and before its commit: `delete_missing`'s statements, then
        // `post_sql`.
        let (mut dml, mut last) = (Vec::new(), Vec::new());
        if let Some(deletes) = &self.deletes {
            if merge {
                let on = (self.table.as_str(), self.primary_key.as_slice());
                let (ddl, sql) = missing_key_steps(d, conn, on, deletes).await?;
                steps.extend(ddl);
                dml.extend(sql.into_iter().map(Step::sql));
            }
            // A first load has nothing to compare with.
            last.push(Step::sql(d.drop_sql(&deletes.1)));
        }
        dml.extend(self.post_sql.iter().map(Step::sql));
        if D::TRANSACTIONAL_DDL || !merge || dml.is_empty() {
            // One transaction for everything; or, where DDL is not transactional, a table
            // renamed into place, after which `post_sql` runs on its own.
            steps.extend(publish);
            steps.extend(dml);
        } else {
            // The merge's DML and what follows it in one transaction, the `DROP`s after it.
            let is_drop = |s: &Step| matches!(s, Step::Sql { sql, .. } if sql.starts_with("DROP "));
            let (drops, merge): (Vec<Step>, Vec<Step>) = publish.into_iter().partition(is_drop);
            steps.push(Step::Begin);
            steps.extend(
                merge
                    .into_iter()
                    .filter(|s| !matches!(s, Step::Begin | Step::Commit)),
            );
            steps.extend(dml);
            steps.push(Step::Commit);
            steps.extend(drops);
        }
        steps.extend(last);
        let mut in_transaction = false;
        for (i, step) in steps.iter().enumerate() {
            let done = match step {
                Step::Sql { sql, .. } => d.execute(conn, sql).await.map_err(|e| {
                    if self.post_sql.contains(sql) {
                        hook_failed("post_sql", sql, e)
                    } else if sql.contains(DELETED_AT) || sql.contains("_etl_keys_") {
                        e.context(format!("delete_missing: `{}`", verb(sql)))
                    } else {
                        e
                    }
                }),
                Step::Commit => d.commit(conn).await,
                Step::Begin => d.begin(conn).await,
            };
            in_transaction = match step {
                Step::Begin => true,
                Step::Commit => false,
                _ => in_transaction,
            };
            if let Err(e) = done {
                if in_transaction && !D::TRANSACTIONAL_DDL {
                    // Before undoing DDL, which would commit the DML so far on some databases.
                    let _ = d.rollback(conn).await;
                }
                for earlier in steps[..i].iter().rev() {
                    if let Step::Sql {
                        undo: Some(undo), ..
                    } = earlier
                    {
                        if let Err(u) = d.execute(conn, undo).await {
                            tracing::warn!("could not undo `{undo}`: {u}");
                        }
                    }
                }
                return Err(e);
            }
        }
        if D::TRANSACTIONAL_DDL {
            d.commit(conn).await?;
        }
        if exists && loads_into_existing(self.mode) {
            for c in self.plan.iter().flat_map(drift::Plan::alterations) {
                tracing::info!(stream = %self.stream, column = %c.column, "schema change: {c}");
            }
        }
        Ok(())
    }
}

/// `delete_missing` into an existing table: the DDL to run first (`soft` adds
/// `_etl_deleted_at` when the table lacks it; undone if a later step fails) and the dialect's
/// statements that delete or mark the rows whose key is not in the keys table.
async fn missing_key_steps<D: Driver>(
    d: &D,
    conn: &mut D::Conn,
    (table, primary_key): (&str, &[String]),
    (how, keys, deleted_at): &(DeleteMissing, String, String),
) -> Result<(Vec<Step>, Vec<String>)> {
    let mut ddl = Vec::new();
    if *how == DeleteMissing::Soft
        && !d
            .table_columns(conn, table)
            .await?
            .iter()
            .any(|c| c.name == DELETED_AT)
    {
        let field = arrow::datatypes::Field::new(
            DELETED_AT,
            arrow::datatypes::DataType::Timestamp(
                arrow::datatypes::TimeUnit::Microsecond,
                Some("UTC".into()),
            ),
            true,
        );
        let declared = D::DIALECT.field_type(&field).map_err(Error::run)?;
        let column = TableColumn::new(DELETED_AT, declared, Err(String::new()), None, true);
        let undo = d.drop_column_sql(table, DELETED_AT);
        ddl.extend(
            d.add_column_sql(table, &column)
                .into_iter()
                .map(|sql| Step::undoable(sql, undo.clone())),
        );
    }
    let q = |s: &str| D::DIALECT.quote_ident(s);
    let (target, keys_q) = (d.qualified(table), d.qualified(keys));
    let literal = D::DIALECT.cursor_literal(&crate::contract::CursorValue::TimestampTz(
        deleted_at.clone(),
    ));
    let (target_name, keys_name) = (q(table), q(keys));
    let sql = D::DIALECT.missing_keys_sql(&MissingKeys {
        target: &target,
        target_name: &target_name,
        keys: &keys_q,
        keys_name: &keys_name,
        primary_key,
        how: *how,
        deleted_at: &literal,
    });
    Ok((ddl, sql))
}

/// The `ALTER TABLE` statements of `plan` for `table`, spelled from its columns and the staging
/// table's as they are now (a driver may have restored source types after the load).
async fn drift_steps<D: Driver>(
    d: &D,
    conn: &mut D::Conn,
    table: &str,
    staging: &str,
    plan: &drift::Plan,
) -> Result<Vec<Step>> {
    let existing = d.table_columns(conn, table).await?;
    let staged = d.table_columns(conn, staging).await?;
    let find = |cols: &[TableColumn], name: &str| {
        cols.iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| {
                Error::run(format!(
                    "column `{name}` disappeared while the stream was loading"
                ))
            })
    };
    let mut steps = Vec::new();
    // A column widened and made nullable: the second statement keeps the new type.
    let mut widened: Vec<TableColumn> = Vec::new();
    for c in plan.alterations() {
        let sql = match c.change {
            SchemaChangeKind::Added => {
                let new = find(&staged, &c.column)?;
                let undo = d.drop_column_sql(table, &c.column);
                let add = d.add_column_sql(table, &new);
                steps.extend(add.into_iter().map(|sql| Step::undoable(sql, undo.clone())));
                continue;
            }
            SchemaChangeKind::Widened => {
                let (old, new) = (find(&existing, &c.column)?, find(&staged, &c.column)?);
                let mut now = new.clone();
                now.nullable = old.nullable;
                widened.push(now);
                d.widen_column_sql(table, &old, &new)
            }
            SchemaChangeKind::MadeNullable => {
                let column = match widened.iter().find(|w| w.name == c.column) {
                    Some(w) => w.clone(),
                    None => find(&existing, &c.column)?,
                };
                d.allow_null_sql(table, &column)
            }
            SchemaChangeKind::Discarded => Vec::new(),
        };
        steps.extend(sql.into_iter().map(Step::sql));
    }
    Ok(steps)
}

#[async_trait]
impl<D: Driver> Staged for StagedTable<D> {
    async fn commit(mut self: Box<Self>) -> Result<WriteReport> {
        let d = self.driver.clone();
        let Some(mut conn) = self.conn.take() else {
            return Err(Error::run("the staging table's connection is gone"));
        };
        crate::fault::point("sql-before-publish");
        if let Err(e) = self.publish(&mut conn).await {
            discard(&*d, Some(conn), &self.side_tables()).await;
            return Err(e.context(what(&*d, &self.table)));
        }
        d.close(conn).await;
        Ok(WriteReport {
            rows: self.rows,
            outputs: vec![d.output_name(&self.table)],
        })
    }

    fn schema_changes(&self) -> Vec<SchemaChange> {
        self.plan
            .as_ref()
            .map(|p| p.changes.clone())
            .unwrap_or_default()
    }

    /// Bulk-loads every key the source has now into a keys table (`_etl_keys_…`, with the
    /// primary key), on the write's connection and, where DDL is transactional, in its
    /// transaction; the commit compares against it. One batch at a time is held.
    async fn missing_keys(
        &mut self,
        how: DeleteMissing,
        deleted_at: &str,
        keys: Reader,
    ) -> Result<()> {
        let d = self.driver.clone();
        let table = side_table_name("_etl_keys_", &self.table, &self.run_id, D::MAX_IDENT);
        self.deletes = Some((how, table.clone(), deleted_at.to_string()));
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::run("the staging table's connection is gone"));
        };
        let mut batches = keys.batches;
        d.create_staging(conn, &table, &keys.schema, &self.primary_key)
            .await
            .map_err(|e| e.context("creating the keys table"))?;
        let load = Load {
            staging: &table,
            schema: &keys.schema,
            primary_key: &self.primary_key,
            batches: &mut batches,
        };
        let rows = d.bulk_load(conn, load).await?;
        d.after_load(conn, &table, &keys.schema).await?;
        tracing::info!(stream = %self.stream, keys = rows, "delete_missing: source keys loaded");
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        let d = self.driver.clone();
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        if D::TRANSACTIONAL_DDL {
            let rolled_back = d.rollback(&mut conn).await;
            d.close(conn).await;
            return rolled_back;
        }
        let mut dropped = Ok(());
        for table in self.side_tables() {
            dropped = dropped.and(d.drop_if_exists(&mut conn, table).await);
        }
        d.close(conn).await;
        if dropped.is_err() {
            // The connection may have been lost: try once more over a fresh one.
            discard(&*d, None, &self.side_tables()).await;
        }
        dropped
    }
}
