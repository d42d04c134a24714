//! One snapshot per run: a writer moves amounts between tables `a` and `b` of the source, in
//! transactions, all through the run — and, for certain, while the run is paused between its
//! two streams (`max_concurrency: 1`, paused at the first stream's `after-commit`). The run
//! copies both tables to SQLite; the totals it exported must be the source's constant total.
//! PostgreSQL (an exported snapshot) and SQLite in WAL mode (one read transaction) always; MySQL
//! with `consistent_snapshot: true`, and without it (the default) the documented behaviour:
//! each stream sees its own moment, so the totals differ.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const ROWS: u32 = 5000;
const TOTAL: i64 = ROWS as i64 * 2 * 100;

/// A source database for the test: its spec block and how to run SQL on it.
struct Src {
    block: String,
    /// `{a}` and `{b}` stand for the two tables, as SQL names them.
    exec: Arc<dyn Fn(&str) + Send + Sync>,
    a: String,
    b: String,
}

impl Src {
    fn sql(&self, template: &str) -> String {
        template.replace("{a}", &self.a).replace("{b}", &self.b)
    }

    fn fill(&self) {
        for t in [&self.a, &self.b] {
            (self.exec)(&format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, amount BIGINT NOT NULL)"
            ));
            for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(1000) {
                let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 100)")).collect();
                (self.exec)(&format!("INSERT INTO {t} VALUES {}", values.join(", ")));
            }
        }
    }
}

/// Moves 7 from `a` to `b` (one row each) in a loop, counting transfers, until stopped.
fn writer(src: &Src, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    let exec = src.exec.clone();
    let sql = src.sql(
        "BEGIN; UPDATE {a} SET amount = amount - 7 WHERE id = ID; UPDATE {b} SET amount = amount + 7 WHERE id = ID; COMMIT",
    );
    std::thread::spawn(move || {
        let mut k = 0u32;
        while !stop.load(Ordering::SeqCst) {
            k = k % ROWS + 1;
            exec(&sql.replace("ID", &k.to_string()));
            done.fetch_add(1, Ordering::SeqCst);
        }
    })
}

/// Runs `a` and `b` into SQLite with the writer going, pausing between the two streams until
/// the writer has made 5 more transfers; returns the total the run exported.
fn exported_total(src: &Src, dir: &Path) -> i64 {
    src.fill();
    let dst = dir.join("dst.db");
    let spec = format!(
        "version: 1\nname: snapshot\nsource:\n{}destination:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndefaults:\n  max_concurrency: 1\n  batch_size: 500\nstreams:\n  - name: a\n    table: a\n  - name: b\n    table: b\n",
        src.block,
        dst.display()
    );
    let spec_path = write_spec(dir, "spec.yaml", &spec);
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writing = writer(src, stop.clone(), done.clone());
    let resume = dir.join("resume");
    let mut child = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", &spec_path])
        .current_dir(dir)
        .env("ETL_FAULT_PAUSE", "after-commit")
        .env("ETL_FAULT_RESUME", &resume)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etl");
    let stderr = child.stderr.take().expect("stderr");
    let mut log = String::new();
    let mut paused = false;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.starts_with("ETL-FAULT-PAUSED") && !paused {
            paused = true;
            let at = done.load(Ordering::SeqCst);
            while done.load(Ordering::SeqCst) < at + 5 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::fs::write(&resume, "go").expect("write the resume file");
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().expect("wait for etl");
    stop.store(true, Ordering::SeqCst);
    writing.join().expect("writer");
    assert!(
        paused,
        "etl never paused (built without --features fault-injection?):\n{log}"
    );
    assert!(status.success(), "{log}");
    let sum = |t: &str| -> i64 {
        match sqlite_scalar(&dst, &format!("SELECT sum(amount) FROM {t}")) {
            rusqlite::types::Value::Integer(i) => i,
            other => panic!("sum of {t}: {other:?}"),
        }
    };
    assert!(
        done.load(Ordering::SeqCst) >= 5,
        "the writer made transfers"
    );
    sum("a") + sum("b")
}

#[test]
fn postgres_streams_of_one_run_read_one_snapshot() {
    let schema = PgSchema::new(&unique_name("etl_snap"));
    let dir = tempdir();
    let src = Src {
        block: format!(
            "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {}\n",
            pg_host(),
            schema.0
        ),
        exec: Arc::new(|sql: &str| {
            psql(sql);
        }),
        a: format!("{}.a", schema.0),
        b: format!("{}.b", schema.0),
    };
    assert_eq!(exported_total(&src, dir.path()), TOTAL);
}

#[test]
fn sqlite_wal_streams_of_one_run_read_one_transaction() {
    let dir = tempdir();
    let db = dir.path().join("src.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.query_row("PRAGMA journal_mode = wal", [], |_| Ok(()))
        .expect("wal");
    drop(conn);
    let path = db.clone();
    let src = Src {
        block: format!(
            "  connector_type: sqlite\n  config:\n    database_path: {}\n",
            db.display()
        ),
        exec: Arc::new(move |sql: &str| {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .expect("busy timeout");
            conn.execute_batch(sql).expect("sqlite");
        }),
        a: "a".into(),
        b: "b".into(),
    };
    assert_eq!(exported_total(&src, dir.path()), TOTAL);
}

fn mysql_src(db: &MariaDbDatabase, consistent: bool) -> Src {
    let name = db.0.clone();
    Src {
        block: format!(
            "  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    port: 3306\n    database: {name}\n    user: root\n    consistent_snapshot: {consistent}\n"
        ),
        exec: Arc::new(move |sql: &str| {
            mariadb(&name, sql);
        }),
        a: "a".into(),
        b: "b".into(),
    }
}

#[test]
fn mysql_consistent_snapshot_reads_the_streams_in_one_transaction() {
    let db = MariaDbDatabase::new(&unique_name("etl_snap"));
    let dir = tempdir();
    assert_eq!(exported_total(&mysql_src(&db, true), dir.path()), TOTAL);
}

/// The documented default: each stream reads in its own transaction, so transfers made between
/// the two streams' reads show in the totals.
#[test]
fn mysql_without_consistent_snapshot_reads_each_stream_at_its_own_moment() {
    let db = MariaDbDatabase::new(&unique_name("etl_snap"));
    let dir = tempdir();
    assert_ne!(exported_total(&mysql_src(&db, false), dir.path()), TOTAL);
}
