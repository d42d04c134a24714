//! Helpers shared by the integration tests: run the built `etl` binary, build the shop fixture,
//! and check outputs with the independent Python reader (tests/py/compare.py).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod exactly_once;
pub mod scale;

/// One `#[test]` per line: `cases! { f { name: args; ... } }` defines `fn name() { f(args) }`.
#[allow(unused_macros)]
macro_rules! cases {
    ($f:ident { $($name:ident: $($arg:expr),*;)* }) => {$(
        #[test]
        fn $name() {
            $f($($arg),*);
        }
    )*};
}

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The result of one `etl` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Passwords and keys the test suite hands to etl. No output of any run may contain one.
pub const TEST_SECRETS: &[&str] = &["s3cr3t-DO-NOT-PRINT", "Pw-n0t-sh0wn-4f7c"];

impl Run {
    fn from(out: Output) -> Run {
        Run::new(
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A finished run's exit code and output, checked for [`TEST_SECRETS`].
    pub fn new(code: i32, stdout: String, stderr: String) -> Run {
        let run = Run {
            code,
            stdout,
            stderr,
        };
        for secret in TEST_SECRETS {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "a secret was printed:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
        run
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "etl failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(
            self.code, code,
            "wrong exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "etl panicked:\n{}",
            self.stderr
        );
        self
    }
}

/// `etl check SPEC` in `dir`, which must exit 1 with `line` in its report (stdout).
#[track_caller]
pub fn check_fails(dir: &Path, spec: &str, line: &str) -> Run {
    let r = etl(dir, &["check", spec]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(line), "{line} missing:\n{}", r.stdout);
    r
}

/// Runs `etl ARGS` in `dir` with extra environment variables.
///
/// Every `etl run` also writes a summary (to the `--summary` the test gave, or to a file of its
/// own), and the summary, stdout and stderr are searched for [`TEST_SECRETS`] and for the value
/// of every variable in `env` whose name says it is a secret (`PW`, `PASSWORD`, `SECRET`,
/// `TOKEN`): no output of the suite may hold one.
pub fn etl_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etl"));
    cmd.args(args).current_dir(dir).env_remove("ETL_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let given = args
        .iter()
        .position(|a| *a == "--summary")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let own = tempfile::NamedTempFile::new().expect("summary temp file");
    let summary = match (&given, args.first()) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(&"run")) => {
            cmd.arg("--summary").arg(own.path());
            Some(own.path().to_path_buf())
        }
        _ => None,
    };
    let run = Run::from(cmd.output().expect("spawn etl"));
    let secret_names = ["PW", "PASSWORD", "SECRET", "TOKEN"];
    let secrets: Vec<&str> = TEST_SECRETS
        .iter()
        .copied()
        .chain(
            env.iter()
                .filter(|(k, v)| {
                    v.len() >= 6
                        && secret_names
                            .iter()
                            .any(|s| k.to_ascii_uppercase().contains(s))
                })
                .map(|(_, v)| *v),
        )
        .collect();
    let written = summary
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    for secret in secrets {
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("summary", &written),
        ] {
            assert!(
                !text.contains(secret),
                "a secret was written to the {what}:\n{text}"
            );
        }
    }
    run
}

pub fn etl(dir: &Path, args: &[&str]) -> Run {
    etl_in(dir, args, &[])
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("etl-test-")
        .tempdir()
        .expect("tempdir")
}

/// Builds the shop fixture database at `dir/shop.db` from fixtures/shop.sql.
pub fn shop_db(dir: &Path) -> PathBuf {
    let sql = std::fs::read_to_string(Path::new(ROOT).join("fixtures/shop.sql")).expect("shop.sql");
    let db = dir.join("shop.db");
    let conn = rusqlite::Connection::open(&db).expect("open db");
    conn.execute_batch(&sql).expect("run shop.sql");
    db
}

/// Writes `text` as `dir/name` and returns the path as a string.
pub fn write_spec(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write spec");
    p.to_string_lossy().into_owned()
}

/// The venv Python that has pyarrow and fastavro (set up by `make test`).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("ETL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(ROOT).join(".venv/bin/python");
    assert!(
        p.exists(),
        "no test Python: run the tests with `make test` (it creates .venv with pyarrow and fastavro)"
    );
    p
}

/// Files directly or recursively under `dir` (hidden ones included), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Everything under `dir`, folders included, for "nothing left behind" checks.
pub fn entries_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() {
                out.extend(entries_under(&p));
            }
        }
    }
    out.sort();
    out
}

/// Compares a SQLite table with files using the independent reader; panics on a mismatch.
#[track_caller]
pub fn compare(db: &Path, table: &str, files: &[PathBuf], format: &str) {
    compare_with(db, table, files, format, &[]);
}

/// [`compare`] with extra arguments for compare.py (e.g. `--csv-empty-is-null`).
#[track_caller]
pub fn compare_with(db: &Path, table: &str, files: &[PathBuf], format: &str, extra: &[&str]) {
    assert!(!files.is_empty(), "no files to compare for {table}");
    let mut cmd = Command::new(python());
    cmd.arg(Path::new(ROOT).join("tests/py/compare.py")).args([
        "--sqlite",
        &db.to_string_lossy(),
        "--table",
        table,
        "--format",
        format,
    ]);
    for f in files {
        cmd.arg("--file").arg(f);
    }
    cmd.args(extra);
    let out = cmd.output().expect("spawn python");
    assert!(
        out.status.success(),
        "independent reader found differences for {table} ({format}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK "));
}

/// Runs a SQL query on a SQLite database and returns the first column of the first row.
pub fn sqlite_scalar(db: &Path, sql: &str) -> rusqlite::types::Value {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(sql, [], |r| r.get(0)).expect("query")
}

/// The PostgreSQL server of the tests (`ETL_TEST_PG_HOST`, default 127.0.0.1).
pub fn pg_host() -> String {
    std::env::var("ETL_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

/// Runs SQL with psql (unaligned, tuples only, stop on error) as `postgres` on database `test`,
/// with extra psql `options`; returns stdout. Panics when psql fails.
#[track_caller]
pub fn psql_with(options: &[&str], sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(options)
        .arg("-h")
        .arg(pg_host())
        .args(["-U", "postgres", "-d", "test", "-c", sql])
        .output()
        .expect("run psql (is the PostgreSQL client installed?)");
    assert!(
        out.status.success(),
        "psql failed (is PostgreSQL running at {}?): {sql}\n{}",
        pg_host(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The local S3-compatible server started by `make test` (scripts/s3-server.sh).
pub fn s3_endpoint() -> String {
    std::env::var("ETL_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("ETL_TEST_S3_ENDPOINT is not set: run the tests with `make test` (it starts moto)")
    })
}

/// Runs tests/py/s3.py (boto3, independent of etl) and returns its stdout lines.
#[track_caller]
pub fn s3py(args: &[&str]) -> Vec<String> {
    s3py_at(&s3_endpoint(), args)
}

/// [`s3py`] against another S3-compatible endpoint.
#[track_caller]
pub fn s3py_at(endpoint: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/s3.py"))
        .args(args)
        .env("ETL_TEST_S3_ENDPOINT", endpoint)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "s3.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A new bucket with a unique name.
pub fn s3_bucket(tag: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("etl-{tag}-{}-{n}", std::process::id());
    s3py(&["mkbucket", &name]);
    name
}

/// Runs etl until it pauses at `point`, then SIGKILLs it.
pub fn run_and_kill(dir: &Path, spec: &str, point: &str, env: &[(&str, &str)]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", spec])
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("ETL_FAULT_PAUSE", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let paused = line.starts_with("ETL-FAULT-PAUSED");
            log.push_str(&line);
            log.push('\n');
            if paused {
                let _ = tx.send(Ok(()));
                return;
            }
        }
        let _ = tx.send(Err(log));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(Ok(())) => {}
        Ok(Err(log)) => panic!(
            "etl never paused at `{point}` (is the binary built with --features fault-injection? `make test` does):\n{log}"
        ),
        Err(_) => panic!("timed out waiting for `{point}`"),
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Drops a PostgreSQL schema and everything in it; best effort (for `Drop` impls: never panics).
pub fn pg_drop_schema(name: &str) {
    let _ = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            &pg_host(),
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
        ])
        .arg(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
        .output();
}

/// Runs SQL with psql as `postgres` on database `test`; returns the unaligned, tuples-only
/// output (fields separated by `|`, NULL printed as nothing), trimmed.
#[track_caller]
pub fn psql(sql: &str) -> String {
    psql_with(&[], sql).trim().to_string()
}

/// Runs SQL with the `mariadb` client against 127.0.0.1:3306 as root (UTC session,
/// tab-separated, no headers, NULL printed as `NULL`).
#[track_caller]
pub fn mariadb(db: &str, q: &str) -> String {
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-uroot",
            "--default-character-set=utf8mb4",
            "-N",
            "-B",
            "-D",
            db,
            "-e",
            &format!("SET time_zone = '+00:00'; {q}"),
        ])
        .output()
        .expect("spawn the mariadb client");
    assert!(
        out.status.success(),
        "mariadb failed (is MariaDB running on 127.0.0.1:3306?) on:\n{q}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Says that a test did not run what it is named for, past libtest's capture (so that it
/// shows in every run, and `make test` lists it after the total).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    // `make test` counts skips from this file: on stderr the line can land in the middle of
    // one of libtest's lines. One short append is one write, so parallel tests do not mix.
    if let Some(path) = std::env::var_os("ETL_TEST_SKIPPED_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The live SQL Server of `ETL_TEST_MSSQL_URL`
/// (`mssql://user:password@host:port/database[?trust_server_certificate=true]`).
#[derive(Clone)]
pub struct MssqlUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub trust: bool,
}

/// The live SQL Server, or `None` after saying loudly that `test` did not run.
pub fn mssql_url(test: &str) -> Option<MssqlUrl> {
    let Ok(url) = std::env::var("ETL_TEST_MSSQL_URL") else {
        skipped(
            test,
            "ETL_TEST_MSSQL_URL not set (no SQL Server to test against)",
        );
        return None;
    };
    let rest = url
        .strip_prefix("mssql://")
        .expect("ETL_TEST_MSSQL_URL must start with mssql://");
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (auth, hostpart) = rest.rsplit_once('@').expect("user:password@ in the URL");
    let (user, password) = auth.split_once(':').expect("user:password");
    let (hostport, database) = hostpart.split_once('/').expect("/database in the URL");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "1433"));
    Some(MssqlUrl {
        host: host.into(),
        port: port.parse().expect("port"),
        user: user.into(),
        password: password.into(),
        database: database.into(),
        trust: query.contains("trust_server_certificate=true"),
    })
}

#[cfg(feature = "mssql")]
impl MssqlUrl {
    /// A tiberius client logged in to the live server (independent of etl's connector).
    pub async fn client(
        &self,
    ) -> tiberius::Client<tokio_util::compat::Compat<tokio::net::TcpStream>> {
        use tokio_util::compat::TokioAsyncWriteCompatExt;
        let mut c = tiberius::Config::new();
        c.host(&self.host);
        c.port(self.port);
        c.database(&self.database);
        c.authentication(tiberius::AuthMethod::sql_server(&self.user, &self.password));
        if self.trust {
            c.trust_cert();
        }
        let tcp = tokio::net::TcpStream::connect(c.get_addr())
            .await
            .expect("tcp");
        tiberius::Client::connect(c, tcp.compat_write())
            .await
            .expect("login")
    }
}

/// A name no other test of this run uses: `{prefix}_{pid}_{n}`.
pub fn unique_name(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// A MariaDB database (utf8mb4) that exists for one test: created empty, dropped at the end.
pub struct MariaDbDatabase(pub String);

impl MariaDbDatabase {
    pub fn new(name: &str) -> MariaDbDatabase {
        mariadb(
            "mysql",
            &format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
            ),
        );
        MariaDbDatabase(name.to_string())
    }
}

impl Drop for MariaDbDatabase {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-uroot", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS {}", self.0))
            .output();
    }
}

/// A PostgreSQL schema that exists for one test: created empty, dropped at the end.
pub struct PgSchema(pub String);

impl PgSchema {
    pub fn new(name: &str) -> PgSchema {
        psql(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ));
        PgSchema(name.to_string())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        pg_drop_schema(&self.0);
    }
}
