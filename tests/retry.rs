//! A connection ended by the server in the middle of a run — PostgreSQL's
//! `pg_terminate_backend` (SQLSTATE 57P01), MariaDB's `KILL` — is a lost connection: the
//! runner runs the stream again and the result is exact; with `retries: 0` the run fails saying
//! the server closed the connection, and nothing is published. Each test pauses etl after its
//! first batch (`ETL_FAULT_PAUSE=batch-2`), ends etl's sessions on its own schema or database
//! only, then lets the run go on (`ETL_FAULT_RESUME`). Results are checked with `psql` and the
//! `mariadb` client, never with etl. Needs a build with `--features fault-injection` (`make
//! test`) and the local PostgreSQL and MariaDB servers.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "etl_r_{}_{}_{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Rows in each test's source table: enough (about 20 MB) that the read cannot have finished
/// into socket buffers when the run pauses after its first batch.
const ROWS: u64 = 100_000;

/// Runs `etl run spec`, waits until it pauses after its first batch, calls `cut`, lets the run
/// go on, and returns the exit code and everything it wrote on stderr.
fn run_and_cut(dir: &Path, spec: &str, cut: impl FnOnce()) -> (i32, String) {
    let resume = dir.join(format!("resume-{}", N.fetch_add(1, Ordering::Relaxed)));
    let mut child = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", spec])
        .current_dir(dir)
        .env_remove("ETL_LOG")
        .env("ETL_FAULT_PAUSE", "batch-2")
        .env("ETL_FAULT_RESUME", &resume)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start etl");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut log = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            let _ = child.wait();
            panic!("etl never paused (is it built with --features fault-injection? `make test` does):\n{log}");
        }
        log.push_str(&line);
        if line.starts_with("ETL-FAULT-PAUSED") {
            break;
        }
    }
    cut();
    std::fs::write(&resume, "").expect("resume file");
    stderr.read_to_string(&mut log).expect("read stderr");
    let status = child.wait().expect("wait for etl");
    assert!(!log.contains("panicked"), "etl panicked:\n{log}");
    (status.code().unwrap_or(-1), log)
}

/// Runs `attempt` every 100 ms until it returns true (within a minute).
#[track_caller]
fn until_done(what: &str, attempt: impl Fn() -> bool) {
    let start = Instant::now();
    while !attempt() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "could not {what} within a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// Two schemas (source and destination) of one test, dropped when it ends.
struct PgSchemas {
    src: String,
    dst: String,
}

impl PgSchemas {
    fn new() -> PgSchemas {
        let s = PgSchemas {
            src: unique("src"),
            dst: unique("dst"),
        };
        psql(&format!(
            "CREATE SCHEMA \"{src}\"; CREATE SCHEMA \"{dst}\";
             CREATE TABLE \"{src}\".t (id bigint PRIMARY KEY, payload text NOT NULL);
             INSERT INTO \"{src}\".t SELECT g, md5(g::text) || repeat('x', 170)
               FROM generate_series(1, {ROWS}) g;",
            src = s.src,
            dst = s.dst
        ));
        s
    }

    fn spec(&self, retries: u32) -> String {
        let pg = |schema: &str| {
            format!(
                "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: \"{schema}\"\n",
                pg_host()
            )
        };
        format!(
            "version: 1\nname: retry\nsource:\n{}destination:\n{}defaults:\n  batch_size: 2000\n  retries: {retries}\n  retry_backoff_ms: 200\nstreams:\n  - name: t\n",
            pg(&self.src),
            pg(&self.dst)
        )
    }

    /// Ends etl's session that is copying from or into a table of `schema` (waiting until the
    /// copy has started: the paused run holds it open).
    fn terminate(&self, schema: &str) {
        let sessions = format!(
            "FROM pg_stat_activity WHERE application_name = 'etl' AND pid <> pg_backend_pid() \
             AND state = 'active' AND query LIKE 'COPY %\"{schema}\"%'"
        );
        until_done(&format!("terminate a session on schema {schema}"), || {
            psql(&format!(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) {sessions}"
            )) != "0"
        });
    }

    /// Rows of the destination table that differ from the source, both ways (0 = exact).
    fn differences(&self) -> String {
        psql(&format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM \"{s}\".t EXCEPT ALL SELECT * FROM \"{d}\".t) a)
                  + (SELECT count(*) FROM (SELECT * FROM \"{d}\".t EXCEPT ALL SELECT * FROM \"{s}\".t) b)",
            s = self.src,
            d = self.dst
        ))
    }

    fn dst_tables(&self) -> String {
        psql(&format!(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '{}'",
            self.dst
        ))
    }
}

impl Drop for PgSchemas {
    fn drop(&mut self) {
        pg_drop_schema(&self.src);
        pg_drop_schema(&self.dst);
    }
}

#[test]
fn postgresql_connections_ended_by_the_server_are_retried() {
    let dir = tempdir();
    let db = PgSchemas::new();
    let spec = write_spec(dir.path(), "retry.yaml", &db.spec(2));
    for (side, schema) in [("source", &db.src), ("destination", &db.dst)] {
        let (code, log) = run_and_cut(dir.path(), &spec, || db.terminate(schema));
        assert_eq!(code, 0, "{side} cut, retries: 2:\n{log}");
        assert!(
            log.contains("transient failure, retrying")
                && log.contains("the server closed the connection"),
            "{side}: the run did not retry a lost connection:\n{log}"
        );
        assert_eq!(
            db.differences(),
            "0",
            "{side}: result differs from the source"
        );
        assert_eq!(db.dst_tables(), "t", "{side}: staging tables left behind");
        assert_eq!(
            psql(&format!("SELECT count(*) FROM \"{}\".t", db.dst)),
            ROWS.to_string()
        );
    }
}

#[test]
fn postgresql_lost_connection_without_retries_fails_and_publishes_nothing() {
    let dir = tempdir();
    let db = PgSchemas::new();
    let spec = write_spec(dir.path(), "retry.yaml", &db.spec(0));
    for (side, schema) in [("source", &db.src), ("destination", &db.dst)] {
        let (code, log) = run_and_cut(dir.path(), &spec, || db.terminate(schema));
        assert_eq!(code, 1, "{side} cut, retries: 0:\n{log}");
        assert!(
            log.contains("the server closed the connection"),
            "{side}: the message does not say the connection was closed:\n{log}"
        );
        assert!(
            !log.contains("retrying"),
            "{side}: retried with retries: 0:\n{log}"
        );
        // Nothing published, no staging table left (the load's transaction was rolled back).
        assert_eq!(db.dst_tables(), "", "{side}: something was published");
    }
}

// ---------------------------------------------------------------------------------------------
// MariaDB

/// Two databases (source and destination) of one test, dropped when it ends.
struct MyDbs {
    src: String,
    dst: String,
}

impl MyDbs {
    fn new() -> MyDbs {
        let d = MyDbs {
            src: unique("src"),
            dst: unique("dst"),
        };
        mariadb(
            "mysql",
            &format!(
                "CREATE DATABASE {src} CHARACTER SET utf8mb4; CREATE DATABASE {dst} CHARACTER SET utf8mb4;
                 CREATE TABLE {src}.t (id BIGINT PRIMARY KEY, payload VARCHAR(255) NOT NULL);
                 SET SESSION max_recursive_iterations = {ROWS};
                 INSERT INTO {src}.t WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS})
                   SELECT n, CONCAT(MD5(n), REPEAT('x', 170)) FROM g;",
                src = d.src,
                dst = d.dst
            ),
        );
        d
    }

    fn spec(&self, retries: u32) -> String {
        let my = |db: &str| {
            format!("  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    port: 3306\n    database: {db}\n    user: root\n")
        };
        format!(
            "version: 1\nname: retry\nsource:\n{}destination:\n{}defaults:\n  batch_size: 2000\n  retries: {retries}\n  retry_backoff_ms: 200\nstreams:\n  - name: t\n",
            my(&self.src),
            my(&self.dst)
        )
    }

    /// KILLs the connection running a statement in database `db` (the source's read or the
    /// destination's `LOAD DATA`, which the paused run holds open), waiting until there is one.
    fn kill(&self, db: &str) {
        let sessions = format!(
            "FROM information_schema.PROCESSLIST WHERE DB = '{db}' \
             AND COMMAND IN ('Query', 'Execute') AND ID <> CONNECTION_ID()"
        );
        until_done(&format!("kill a connection on database {db}"), || {
            let ids = mariadb("mysql", &format!("SELECT ID {sessions}"));
            // A statement may end between the lookup and the KILL ("Unknown thread id"):
            // done once one KILL succeeded.
            ids.split_whitespace().fold(false, |killed, id| {
                let out = Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-uroot", "-e", &format!("KILL {id}")])
                    .output()
                    .expect("run the mariadb client");
                killed | out.status.success()
            })
        });
    }

    /// `count sum(id) sum(crc32(payload))` of a table, to compare both sides.
    fn digest(&self, db: &str) -> String {
        mariadb(db, "SELECT COUNT(*), SUM(id), SUM(CRC32(payload)) FROM t")
            .trim()
            .to_string()
    }

    fn published(&self) -> bool {
        mariadb(
            "mysql",
            &format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 't'",
                self.dst
            ),
        )
        .trim()
            != "0"
    }
}

impl Drop for MyDbs {
    fn drop(&mut self) {
        for db in [&self.src, &self.dst] {
            let _ = Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-uroot", "-e"])
                .arg(format!("DROP DATABASE IF EXISTS {db}"))
                .output();
        }
    }
}

#[test]
fn mariadb_connections_killed_by_the_server_are_retried() {
    let dir = tempdir();
    let db = MyDbs::new();
    let spec = write_spec(dir.path(), "retry.yaml", &db.spec(2));
    let expected = db.digest(&db.src);
    assert!(expected.starts_with(&ROWS.to_string()), "{expected}");
    for (side, name) in [("source", &db.src), ("destination", &db.dst)] {
        let (code, log) = run_and_cut(dir.path(), &spec, || db.kill(name));
        assert_eq!(code, 0, "{side} killed, retries: 2:\n{log}");
        assert!(
            log.contains("transient failure, retrying")
                && log.contains("the server closed the connection"),
            "{side}: the run did not retry a lost connection:\n{log}"
        );
        assert_eq!(db.digest(&db.dst), expected, "{side}: result differs");
    }
}

#[test]
fn mariadb_killed_connection_without_retries_fails_and_publishes_nothing() {
    let dir = tempdir();
    let db = MyDbs::new();
    let spec = write_spec(dir.path(), "retry.yaml", &db.spec(0));
    for (side, name) in [("source", &db.src), ("destination", &db.dst)] {
        let (code, log) = run_and_cut(dir.path(), &spec, || db.kill(name));
        assert_eq!(code, 1, "{side} killed, retries: 0:\n{log}");
        assert!(
            log.contains("the server closed the connection"),
            "{side}: the message does not say the connection was closed:\n{log}"
        );
        assert!(
            !log.contains("retrying"),
            "{side}: retried with retries: 0:\n{log}"
        );
        assert!(!db.published(), "{side}: table `t` was published");
    }
}
