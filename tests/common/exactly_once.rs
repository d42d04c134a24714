//! The exactly-once crash scenario for file destinations (local folders and S3): an incremental
//! SQLite stream whose rows share cursor values in groups, changed between runs, with runs
//! SIGKILLed at named points; after a clean run the union of the stream's part files holds
//! every source row exactly once (earlier versions of updated rows once each, too).

use super::*;

/// Source rows `from..=to`, `group` of them per cursor value, starting at minute `minute0`.
fn insert(db: &Path, from: i64, to: i64, group: i64, minute0: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO ticks SELECT i, 'v' || i,
           strftime('%Y-%m-%d %H:%M:%f', '2024-01-01', '+' || (?4 + (i - ?1) / ?3) || ' minutes') || '000'
         FROM n",
        rusqlite::params![from, to, group, minute0],
    )
    .unwrap();
}

/// Rows sharing the source's current largest cursor value (the boundary of the last run).
fn insert_at_max(db: &Path, from: i64, to: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO ticks SELECT i, 'same ' || i, (SELECT max(updated_at) FROM ticks) FROM n",
        rusqlite::params![from, to],
    )
    .unwrap();
}

fn source(dir: &Path) -> PathBuf {
    let db = dir.join("src.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE ticks (id INTEGER PRIMARY KEY, v TEXT, updated_at TIMESTAMP);",
    )
    .unwrap();
    insert(&db, 1, 100, 20, 0);
    db
}

/// Changes between runs: `round` 1 updates rows (moving their cursor) and adds rows at the
/// boundary value and after it; later rounds add rows at the boundary value and after it.
fn change(db: &Path, round: i64) {
    let base = 1000 * round;
    if round == 1 {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch(
            "UPDATE ticks SET v = v || ' (updated)',
               updated_at = strftime('%Y-%m-%d %H:%M:%f', '2024-02-01', '+' || (id / 4) || ' minutes') || '000'
             WHERE id % 10 = 3",
        )
        .unwrap();
    }
    insert_at_max(db, base, base + 14);
    insert(db, base + 100, base + 129, 10, 100_000 * round);
}

/// What the test needs from a destination: its config block, and the stream folder as local
/// files (downloaded for S3).
pub struct Dest<'a> {
    pub config: String,
    pub folder: &'a dyn Fn(&Path) -> PathBuf,
    /// `state.path` (default: `state.json` in the test's folder).
    pub state: Option<String>,
}

/// Runs the scenario: a clean first run, then for each of `points` a change and a run killed
/// there, then a change and a clean run, checked; then a clean run with nothing new, checked.
pub fn run(dest: &Dest, points: &[&str], with_key: bool, env: &[(&str, &str)]) {
    let dir = tempdir();
    let src = source(dir.path());
    let key = if with_key {
        "    primary_key: [id]\n"
    } else {
        ""
    };
    let text = format!(
        "version: 1\nname: once\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{}    format: parquet\n    max_rows_per_file: 15\nstate:\n  path: {}\ndefaults:\n  batch_size: 7\n  retries: 0\nstreams:\n  - name: ticks\n    mode: incremental\n    cursor_field: updated_at\n{key}",
        src.display(),
        dest.config,
        dest.state
            .clone()
            .unwrap_or_else(|| dir.path().join("state.json").display().to_string())
    );
    let s = write_spec(dir.path(), "s.yaml", &text);
    etl_in(dir.path(), &["run", &s], env).ok();
    let before = dir.path().join("before.db");
    std::fs::copy(&src, &before).unwrap();
    for (round, point) in points.iter().enumerate() {
        change(&src, round as i64 + 1);
        run_and_kill(dir.path(), &s, point, env);
    }
    change(&src, points.len() as i64 + 1);
    etl_in(dir.path(), &["run", &s], env).ok();
    check(&src, &(dest.folder)(dir.path()), &before, points);
    // Nothing new: the boundary rows are read again and dropped.
    let r = etl_in(dir.path(), &["run", &s], env).ok();
    assert!(r.stderr.contains("no new rows"), "{}", r.stderr);
    check(&src, &(dest.folder)(dir.path()), &before, points);
}

fn check(src: &Path, folder: &Path, before: &Path, points: &[&str]) {
    for f in entries_under(folder) {
        let name = f.to_string_lossy();
        assert!(!name.contains('#'), "half-written upload left at {name}");
    }
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/union_check.py"))
        .args(["--sqlite", &src.to_string_lossy(), "--table", "ticks"])
        .args(["--dir", &folder.to_string_lossy()])
        .args(["--before", &before.to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "killed at {points:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
