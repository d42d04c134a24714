//! The contract every database of the conformance suite implements ([`TestDb`]), and the
//! helpers the scenarios share: spec blocks, runs, canonical rows, paused runs.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A database cannot do what a scenario needs (SQLite has no connection to end): the scenario
/// says so with a `SKIPPED:` line naming the reason, and does not pass silently.
#[derive(Debug)]
pub struct NotSupported(pub String);

/// How a value is rendered as canonical text, on both sides of a comparison (the database's
/// client through [`TestDb::canon`], pyarrow through tests/py/parquet_rows.py).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Decimal digits.
    Int,
    /// Decimal digits with the column's scale (`1.50`).
    Decimal,
    /// Six decimals (`1.500000`); sample values must be exact in binary.
    Float,
    /// `1` / `0`.
    Bool,
    Text,
    /// Lowercase hex.
    Bytes,
    /// `YYYY-MM-DD`.
    Date,
    /// `HH:MM:SS.ffffff`.
    Time,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`, no zone.
    Timestamp,
    /// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
    TimestampTz,
}

/// One column type a database offers, with three sample values (canonical text) that the
/// round trip must keep; a fourth row holds NULL.
pub struct TypeCase {
    pub ddl: String,
    pub kind: Kind,
    pub values: [&'static str; 3],
    /// A canonical-text SQL expression replacing the kind's, `{}` standing for the column
    /// (e.g. a uuid rendered as the hex that Parquet's FixedSizeBinary(16) holds).
    pub canon: Option<&'static str>,
}

pub fn case(ddl: &str, kind: Kind, values: [&'static str; 3]) -> TypeCase {
    TypeCase {
        ddl: ddl.into(),
        kind,
        values,
        canon: None,
    }
}

/// A login that the server must refuse, and the secret that must never be printed.
pub struct BadLogin {
    /// The lines under `config:`, indented by four spaces.
    pub config: String,
    pub env: Vec<(String, String)>,
    /// `None` where the database has no password (SQLite).
    pub secret: Option<String>,
    /// Text the error must contain.
    pub needle: String,
}

/// One database of the suite: its own schema (PostgreSQL), database (MariaDB) or file
/// (SQLite), created for one test and dropped when the value is dropped. Everything the
/// scenarios read back goes through the database's own client or an independent library
/// (`psql`, the `mariadb` CLI, Python's sqlite3), never through etl.
pub trait TestDb {
    /// The spec's `connector_type`.
    fn connector_type(&self) -> &'static str;
    /// The lines under `config:` for this schema/database, indented by four spaces.
    fn config(&self) -> String;
    /// Environment variables the config refers to (passwords).
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Runs SQL (one or more statements); panics on an error.
    fn exec(&self, sql: &str);
    /// Runs one query; every value as text, NULL as `None`.
    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>>;
    /// The identifier quoted for this database.
    fn quote(&self, ident: &str) -> String;
    /// The table `name` of this schema/database, quoted (and qualified where needed).
    fn table(&self, name: &str) -> String;
    /// The column type used for `kind` in the scenarios' own tables.
    fn ddl(&self, kind: Kind) -> &'static str;
    /// A standard SQL type (`int`, `bigint`, `varchar(10)`, `decimal(10,2)`) as this database
    /// spells it.
    fn spell(&self, sql_type: &str) -> String {
        sql_type.to_string()
    }
    /// A SQL expression rendering `expr` (of `kind`) as canonical text.
    fn canon(&self, expr: &str, kind: Kind) -> String;
    /// A SQL literal of `kind` for canonical text `v`.
    fn literal(&self, kind: Kind, v: &str) -> String {
        let _ = kind;
        format!("'{}'", v.replace('\'', "''"))
    }
    /// Every column type the database offers to the round trip.
    fn types(&self) -> Vec<TypeCase>;
    /// A row source with one integer column `i` from 1 to `n`, to put after `FROM`.
    fn series(&self, n: u64) -> String;
    /// A query that runs for much longer than the scenario's 2 s timeout plus its grace period
    /// (at least ~20 s), and ends by itself, so that a timeout that does not work fails the
    /// test instead of hanging it.
    fn slow_query(&self) -> String;
    /// The tables of this schema/database, sorted.
    fn tables(&self) -> Vec<String>;
    /// Ends every session etl has open on this schema/database (not the test's own); returns
    /// how many were ended.
    fn kill_sessions(&self) -> Result<usize, NotSupported>;
    /// A login the server refuses.
    fn bad_login(&self) -> Result<BadLogin, NotSupported>;
}

/// Opens a new, empty schema/database of one kind; the tag goes into its name.
pub type Open<'a> = &'a dyn Fn(&str) -> Box<dyn TestDb>;

/// What each database module's `backend(test)` returns when the database is available.
pub type Backend = Box<dyn Fn(&str) -> Box<dyn TestDb>>;

/// A unique name `etl_c_<pid>_<n>_<tag>` for a schema or database.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "etl_c_{}_{}_{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connector block (`  connector_type: …\n  config:\n …`) for `db`.
pub fn block(db: &dyn TestDb) -> String {
    format!(
        "  connector_type: {}\n  config:\n{}",
        db.connector_type(),
        db.config()
    )
}

pub fn parquet_dest(out: &Path) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\n",
        out.display()
    )
}

pub fn file_source(path: &Path) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        path.display()
    )
}

pub fn spec(source: &str, destination: &str, rest: &str) -> String {
    format!("version: 1\nname: conformance\nsource:\n{source}destination:\n{destination}{rest}")
}

/// [`spec`] from `src` to `dst`, each as its [`block`].
pub fn spec_between(src: &dyn TestDb, dst: &dyn TestDb, rest: &str) -> String {
    spec(&block(src), &block(dst), rest)
}

/// A YAML single-quoted scalar.
pub fn yaml(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The environment of both databases of a run.
pub fn env_of(dbs: &[&dyn TestDb]) -> Vec<(String, String)> {
    dbs.iter().flat_map(|d| d.env()).collect()
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `etl ARGS` with `spec_text` written to `dir/spec.yaml` (its path replaces `{spec}`).
pub fn etl_spec(dir: &Path, args: &[&str], spec_text: &str, env: &[(String, String)]) -> Run {
    let p = write_spec(dir, "spec.yaml", spec_text);
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{spec}" { p.as_str() } else { a })
        .collect();
    etl_in(dir, &args, &env_refs(env))
}

/// `etl run` on `spec_text`.
pub fn run(dir: &Path, spec_text: &str, env: &[(String, String)]) -> Run {
    etl_spec(dir, &["run", "{spec}"], spec_text, env)
}

/// Runs `etl run` until it pauses at fault point `point`, calls `during`, lets it go on and
/// returns how it ended. The secrets of the test suite and of `env` are checked absent.
pub fn run_paused(
    dir: &Path,
    spec_text: &str,
    env: &[(String, String)],
    point: &str,
    during: impl FnOnce(),
) -> Run {
    let spec_path = write_spec(dir, "spec.yaml", spec_text);
    let resume = dir.join("resume");
    let _ = std::fs::remove_file(&resume);
    let mut child = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", &spec_path])
        .current_dir(dir)
        .env_remove("ETL_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ETL_FAULT_PAUSE", point)
        .env("ETL_FAULT_RESUME", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etl");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("ETL-FAULT-PAUSED") {
                let _ = tx.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let paused = rx.recv_timeout(std::time::Duration::from_secs(120)).is_ok();
    if paused {
        during();
    }
    std::fs::write(&resume, "go").expect("write the resume file");
    let out = child.wait_with_output().expect("wait for etl");
    let stderr = reader.join().expect("stderr reader");
    assert!(
        paused,
        "etl never paused at `{point}` (built without --features fault-injection?):\n{stderr}"
    );
    let run = Run::new(
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    );
    for (_, secret) in env.iter().filter(|(_, v)| v.len() >= 6) {
        assert!(
            !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
            "a secret was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// The rows of `table` as canonical text, ordered by the first column.
pub fn canonical_rows(
    db: &dyn TestDb,
    table: &str,
    cols: &[(String, Kind)],
) -> Vec<Vec<Option<String>>> {
    let exprs: Vec<String> = cols
        .iter()
        .map(|(c, k)| db.canon(&db.quote(c), *k))
        .collect();
    db.query(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        exprs.join(", "),
        db.table(table),
        db.quote(&cols[0].0)
    ))
}

/// Count, distinct ids and sums of a table of integers `id`, `v`: equal for two tables with
/// the same rows (no loss, no duplicate) when ids are unique in the source.
pub fn fingerprint(db: &dyn TestDb, table: &str) -> Vec<Vec<Option<String>>> {
    db.query(&format!(
        "SELECT COUNT(*), COUNT(DISTINCT id), SUM(id), SUM(v) FROM {}",
        db.table(table)
    ))
}

/// Tables of `db` named like etl's staging and old copies (`_etl_stage_*`, `_etl_old_*`).
pub fn etl_leftovers(db: &dyn TestDb) -> Vec<String> {
    db.tables()
        .into_iter()
        .filter(|t| t.starts_with("_etl_"))
        .collect()
}

/// Parquet files under `dir` read by pyarrow: (column names, canonical rows sorted by id).
pub fn parquet_rows(dir: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/parquet_rows.py"))
        .arg(dir)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "parquet_rows.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON from parquet_rows.py");
    let names = v["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect();
    (names, json_rows(&v["rows"]))
}

/// A JSON list of lists of strings/nulls as rows.
pub fn json_rows(v: &serde_json::Value) -> Vec<Vec<Option<String>>> {
    v.as_array()
        .expect("a list of rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

/// `2024-01-01 00:00:00.000000` plus `minutes`, as canonical timestamp text.
pub fn ts(day: u32, minutes: u32) -> String {
    format!(
        "2024-01-{day:02} {:02}:{:02}:00.000000",
        minutes / 60 % 24,
        minutes % 60
    )
}

/// The first column of every row (e.g. table names), NULLs left out.
pub fn first_column(rows: Vec<Vec<Option<String>>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}
