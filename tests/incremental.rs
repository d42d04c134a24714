//! Incremental mode: saved cursor state, merge on the primary key, new files only, and a crash
//! test that SIGKILLs the process at 20 points of a run (needs `--features fault-injection`,
//! which `make test` enables).

#[macro_use]
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// A source table with a canonical-text TIMESTAMP cursor.
fn events_db(dir: &Path, rows: i64) -> std::path::PathBuf {
    let db = dir.join("src.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, v TEXT, amount DECIMAL(10,2), updated_at TIMESTAMP);",
    )
    .unwrap();
    insert_events(&db, 1, rows, "2024-01-01 00:00:00.000000");
    db
}

fn insert_events(db: &Path, from: i64, to: i64, base: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO events SELECT i, 'v' || i || ' ✓', (i * 37 % 1000) / 10.0,
           strftime('%Y-%m-%d %H:%M:%f', ?3, '+' || i || ' minutes') || '000' FROM n",
        rusqlite::params![from, to, base],
    )
    .unwrap();
}

/// Updates some rows (moving their cursor forward) and inserts new ones.
fn change_source(db: &Path, next_id: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "UPDATE events SET v = v || ' (updated)', amount = amount + 1,
           updated_at = strftime('%Y-%m-%d %H:%M:%f', '2024-06-01', '+' || id || ' seconds') || '000'
         WHERE id % 10 = 3",
    )
    .unwrap();
    drop(conn);
    insert_events(db, next_id, next_id + 29, "2024-07-01 00:00:00.000000");
}

fn spec(src: &Path, dest: &str, state: &Path, batch: usize) -> String {
    format!(
        "version: 1\nname: inc\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{dest}state:\n  path: {}\ndefaults:\n  batch_size: {batch}\nstreams:\n  - name: events\n    mode: incremental\n    cursor_field: updated_at\n    primary_key: [id]\n",
        src.display(),
        state.display()
    )
}

fn sqlite_dest(db: &Path) -> String {
    format!(
        "  connector_type: sqlite\n  config:\n    database_path: {}\n",
        db.display()
    )
}

fn parquet_dest(dir: &Path) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n",
        dir.display()
    )
}

/// Rows in one table but not the other, both ways, plus the row-count difference.
fn table_diff(copy: &Path, src: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(copy).unwrap();
    conn.execute(&format!("ATTACH '{}' AS s", src.display()), [])
        .unwrap();
    let diff: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM (SELECT * FROM s.events EXCEPT SELECT * FROM events))
                  + (SELECT count(*) FROM (SELECT * FROM events EXCEPT SELECT * FROM s.events))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let count: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM events) - (SELECT count(*) FROM s.events)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (diff, count)
}

/// The files under `dir` hold every row of `src` exactly once and nothing else but the rows of
/// `before` (the source before [`change_source`]), each once too.
fn union_check(src: &Path, dir: &Path, before: &Path) {
    let mut cmd = Command::new(python());
    cmd.arg(Path::new(ROOT).join("tests/py/union_check.py"))
        .args(["--sqlite", &src.to_string_lossy(), "--table", "events"])
        .args(["--dir", &dir.to_string_lossy()])
        .args(["--before", &before.to_string_lossy()]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "union check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sqlite_to_sqlite_merges_on_the_primary_key() {
    let dir = tempdir();
    let src = events_db(dir.path(), 100);
    let copy = dir.path().join("copy.db");
    let state = dir.path().join("state/inc.json");
    let s = write_spec(
        dir.path(),
        "s.yaml",
        &spec(&src, &sqlite_dest(&copy), &state, 1000),
    );
    etl(dir.path(), &["run", &s]).ok();
    assert_eq!(table_diff(&copy, &src), (0, 0));
    let plan = etl(dir.path(), &["run", &s, "--dry-run"]).ok().stdout;
    assert!(
        plan.contains("where updated_at >= 2024-01-01 01:40:00.000000"),
        "{plan}"
    );
    let shown = etl(dir.path(), &["state", "show", &s]).ok().stdout;
    assert!(
        shown.contains("\"type\": \"timestamp\"") && shown.contains("2024-01-01 01:40:00.000000"),
        "{shown}"
    );
    change_source(&src, 101);
    let r = etl(
        dir.path(),
        &[
            "run",
            &s,
            "--summary",
            &dir.path().join("sum.json").to_string_lossy(),
        ],
    )
    .ok();
    assert!(r.stderr.contains("incremental read"), "{}", r.stderr);
    assert_eq!(
        table_diff(&copy, &src),
        (0, 0),
        "updates merged, inserts added, no duplicates"
    );
    let sum: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sum.json")).unwrap()).unwrap();
    assert_eq!(
        sum["streams"][0]["rows"], 40,
        "only changed rows are moved: 10 updated + 30 new (the boundary row, re-read, is dropped)"
    );
    assert_eq!(
        sum["streams"][0]["cursor_before"]["value"],
        "2024-01-01 01:40:00.000000"
    );
    assert_eq!(
        sum["streams"][0]["cursor_after"]["value"],
        "2024-07-01 02:10:00.000000"
    );
    // A row sharing the boundary value, added after the run, is not lost.
    let conn = rusqlite::Connection::open(&src).unwrap();
    let max: String = conn
        .query_row("SELECT max(updated_at) FROM events", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "INSERT INTO events VALUES (5000, 'same cursor', 1.00, ?1)",
        [&max],
    )
    .unwrap();
    drop(conn);
    etl(dir.path(), &["run", &s]).ok();
    assert_eq!(table_diff(&copy, &src), (0, 0));
    // Nothing new: the two rows sharing the boundary value are re-read and dropped.
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(r.stderr.contains("no new rows"), "{}", r.stderr);
    let shown = etl(dir.path(), &["state", "show", &s]).ok().stdout;
    assert!(
        shown.contains("\"key\": \"primary_key\"") && shown.contains("\"5000@"),
        "the boundary rows are kept by key: {shown}"
    );
    assert_eq!(table_diff(&copy, &src), (0, 0));
}

#[test]
fn lookback_rereads_late_rows() {
    let dir = tempdir();
    let src = events_db(dir.path(), 50);
    let copy = dir.path().join("copy.db");
    let state = dir.path().join("st.json");
    let text = spec(&src, &sqlite_dest(&copy), &state, 1000).replace(
        "primary_key: [id]\n",
        "primary_key: [id]\n    lookback: 1d\n",
    );
    let s = write_spec(dir.path(), "s.yaml", &text);
    etl(dir.path(), &["run", &s]).ok();
    // A late row whose cursor is before the saved one but within the lookback.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute(
        "INSERT INTO events VALUES (999, 'late', 2.50, '2024-01-01 00:10:30.000000')",
        [],
    )
    .unwrap();
    drop(conn);
    etl(dir.path(), &["run", &s]).ok();
    assert_eq!(table_diff(&copy, &src), (0, 0));
}

#[test]
fn incremental_to_files_adds_parts_and_full_refresh_resets() {
    let dir = tempdir();
    let src = events_db(dir.path(), 100);
    let out = dir.path().join("out");
    let state = dir.path().join("st.json");
    let s = write_spec(
        dir.path(),
        "s.yaml",
        &spec(&src, &parquet_dest(&out), &state, 1000),
    );
    etl(dir.path(), &["run", &s]).ok();
    let before = dir.path().join("before.db");
    std::fs::copy(&src, &before).unwrap();
    change_source(&src, 101);
    etl(dir.path(), &["run", &s]).ok();
    let names: Vec<String> = files_under(&out.join("events"))
        .iter()
        .map(|f| f.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .collect();
    let parts = names
        .iter()
        .filter(|n| n.starts_with("events/part-"))
        .count();
    assert_eq!(parts, 2, "a new part file beside the old one: {names:?}");
    // One commit marker per run and the stream's schema history, nothing pending.
    let mut log: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("events/_etl/"))
        .collect();
    log.sort();
    assert_eq!(
        log,
        [
            "events/_etl/commits/00000000000000000001.json",
            "events/_etl/commits/00000000000000000002.json",
            "events/_etl/schema.json"
        ],
        "{names:?}"
    );
    let marker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("events/_etl/commits/00000000000000000002.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["seq"], 2);
    assert_eq!(marker["stream"], "events");
    assert_eq!(
        marker["state"]["cursor"]["value"],
        "2024-07-01 02:10:00.000000"
    );
    let ids = marker["state"]["boundary"]["ids"].as_array().unwrap();
    assert!(
        ids.len() == 1 && ids[0].as_str().unwrap().starts_with("130@"),
        "the row at the boundary, by key and row hash: {marker}"
    );
    assert!(
        marker["outputs"][0]
            .as_str()
            .unwrap()
            .contains("/events/part-"),
        "{marker}"
    );
    // The second run re-reads the boundary row (cursor >= the saved one) and drops it.
    union_check(&src, &out, &before);
    // --full-refresh needs overwrite for files; reset instead, then the next run reloads all.
    // The state keeps only the destination's newest commit number, so the markers do not hand
    // the forgotten cursor back.
    etl(dir.path(), &["state", "reset", &s, "--stream", "events"]).ok();
    let shown = etl(dir.path(), &["state", "show", &s, "--stream", "events"])
        .ok()
        .stdout;
    assert!(
        shown.contains("\"commit\": 2") && !shown.contains("cursor"),
        "{shown}"
    );
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(r.stderr.contains("rows=130"), "{}", r.stderr);
}

/// The state size rule: more than 10,000 rows at the cursor value reached are not kept in the
/// state; etl warns, and the next run writes them again (at-least-once for them only).
#[test]
fn too_many_rows_at_one_cursor_value_fall_back_to_at_least_once() {
    let dir = tempdir();
    let src = dir.path().join("src.db");
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, v TEXT, amount DECIMAL(10,2), updated_at TIMESTAMP);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
         INSERT INTO events SELECT i, 'v' || i, 1.00, '2024-01-01 00:00:00.000000' FROM n;",
    )
    .unwrap();
    drop(conn);
    let out = dir.path().join("out");
    let s = write_spec(
        dir.path(),
        "s.yaml",
        &spec(&src, &parquet_dest(&out), &dir.path().join("st.json"), 5000),
    );
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(
        r.stderr
            .contains("more than 10000 rows share the cursor value"),
        "{}",
        r.stderr
    );
    let shown = etl(dir.path(), &["state", "show", &s]).ok().stdout;
    assert!(
        shown.contains("\"overflow\": true") && !shown.contains("\"ids\""),
        "{shown}"
    );
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(
        r.stderr
            .contains("rows at the saved cursor value are not known")
            && r.stderr.contains("rows=10001"),
        "{}",
        r.stderr
    );
}

/// A publish into Hive partition folders cut short is rolled back file by file, across the
/// folders; the rerun publishes each row once.
#[test]
fn a_partitioned_publish_cut_short_is_rolled_back() {
    let dir = tempdir();
    let src = events_db(dir.path(), 100);
    let out = dir.path().join("out");
    let text = spec(&src, &parquet_dest(&out), &dir.path().join("st.json"), 10)
        .replace(
            "    format: parquet\n",
            "    format: parquet\n    max_rows_per_file: 7\n",
        )
        .replace(
            "    primary_key: [id]\n",
            "    primary_key: [id]\n    partition_by: [amount]\n",
        );
    let s = write_spec(dir.path(), "s.yaml", &text);
    etl(dir.path(), &["run", &s]).ok();
    change_source(&src, 101);
    run_and_kill(dir.path(), &s, "published-file:3", &[]);
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(r.stderr.contains("removing them"), "{}", r.stderr);
    let out_py = std::process::Command::new(python())
        .arg("-c")
        .arg(
            "import sys, collections, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table(columns=['id', 'v'])
c = collections.Counter(zip(t['id'].to_pylist(), t['v'].to_pylist()))
print(len(c), max(c.values()))",
        )
        .arg(out.join("events"))
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&out_py.stdout);
    // 130 current rows + 10 earlier versions of the updated ones, each once.
    assert_eq!(
        got.trim(),
        "140 1",
        "{}",
        String::from_utf8_lossy(&out_py.stderr)
    );
}

#[test]
fn file_source_reads_only_new_files() {
    let dir = tempdir();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("a.csv"), "id,v\n1,a\n2,b\n").unwrap();
    let db = dir.path().join("t.db");
    let text = format!(
        "version: 1\nname: landing\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\nstate:\n  path: {}\nstreams:\n  - name: landing\n    mode: incremental\n",
        landing.display(),
        db.display(),
        dir.path().join("st.json").display()
    );
    let s = write_spec(dir.path(), "s.yaml", &text);
    etl(dir.path(), &["run", &s]).ok();
    std::fs::write(landing.join("b.csv"), "id,v\n3,c\n").unwrap();
    etl(dir.path(), &["run", &s]).ok();
    let r = etl(dir.path(), &["run", &s]).ok();
    assert!(r.stderr.contains("no new rows"), "{}", r.stderr);
    assert_eq!(
        sqlite_scalar(
            &db,
            "SELECT group_concat(v, '') FROM (SELECT v FROM landing ORDER BY id)"
        ),
        rusqlite::types::Value::Text("abc".into()),
        "each file read exactly once"
    );
    let shown = etl(dir.path(), &["state", "show", &s, "--stream", "landing"])
        .ok()
        .stdout;
    assert!(
        shown.contains("a.csv") && shown.contains("b.csv"),
        "{shown}"
    );
}

#[test]
fn corrupt_state_is_an_error_not_a_reset() {
    let dir = tempdir();
    let src = events_db(dir.path(), 10);
    let copy = dir.path().join("copy.db");
    let state = dir.path().join("st.json");
    std::fs::write(&state, "{ this is not json").unwrap();
    let s = write_spec(
        dir.path(),
        "s.yaml",
        &spec(&src, &sqlite_dest(&copy), &state, 1000),
    );
    etl(dir.path(), &["run", &s]).fails(1, "is corrupt");
    assert!(
        !copy.exists()
            || sqlite_scalar(&copy, "SELECT count(*) FROM sqlite_master")
                == rusqlite::types::Value::Integer(0)
    );
    etl(dir.path(), &["state", "show", &s]).fails(1, "is corrupt");
    let s2 = write_spec(
        dir.path(),
        "bad.yaml",
        &spec(&src, &sqlite_dest(&copy), &state, 1000)
            .replace("    cursor_field: updated_at\n", ""),
    );
    etl(dir.path(), &["validate", &s2]).fails(2, "needs a `cursor_field`");
}

/// One crash scenario: optional first run, change, killed run, rerun, verify.
fn crash_at(dest: &str, point: &str, in_first_run: bool) {
    let dir = tempdir();
    let src = events_db(dir.path(), 100);
    let state = dir.path().join("state.json");
    let copy = dir.path().join("copy.db");
    let out = dir.path().join("out");
    let dest_cfg = if dest == "sqlite" {
        sqlite_dest(&copy)
    } else {
        parquet_dest(&out)
    };
    let mut text = spec(&src, &dest_cfg, &state, 10);
    if dest == "parquet" {
        text = text.replace(
            "    format: parquet\n",
            "    format: parquet\n    max_rows_per_file: 25\n",
        );
    }
    let s = write_spec(dir.path(), "s.yaml", &text);
    let before = dir.path().join("before.db");
    if !in_first_run {
        etl(dir.path(), &["run", &s]).ok();
        std::fs::copy(&src, &before).unwrap();
        change_source(&src, 101);
    }
    run_and_kill(dir.path(), &s, point, &[]);
    if in_first_run {
        std::fs::copy(&src, &before).unwrap();
        change_source(&src, 101);
    }
    etl(dir.path(), &["run", &s]).ok();
    if dest == "sqlite" {
        assert_eq!(
            table_diff(&copy, &src),
            (0, 0),
            "crash at {point}: destination must equal the source"
        );
    } else {
        for f in entries_under(&out) {
            let name = f.to_string_lossy();
            assert!(!name.contains('#'), "half-written upload left at {name}");
        }
        // Exactly once, wherever the run was killed.
        union_check(&src, &out, &before);
    }
}

cases! { crash_at {
    crash_sqlite_batch_1: "sqlite", "batch-1", false;
    crash_sqlite_batch_4: "sqlite", "batch-4", false;
    crash_sqlite_state_rename: "sqlite", "state-written-before-rename", false;
    crash_sqlite_first_run_batch_3: "sqlite", "batch-3", true;
    crash_sqlite_first_run_after_commit: "sqlite", "after-commit", true;
    crash_sqlite_first_run_state: "sqlite", "state-written-before-rename", true;
    crash_files_batch_1: "parquet", "batch-1", false;
    crash_files_batch_3: "parquet", "batch-3", false;
    crash_files_before_commit: "parquet", "before-commit", false;
    crash_files_published_1: "parquet", "published-file:1", false;
    crash_files_published_2: "parquet", "published-file:2", false;
    crash_files_after_commit: "parquet", "after-commit", false;
    crash_files_state_rename: "parquet", "state-written-before-rename", false;
    crash_files_first_run_batch_5: "parquet", "batch-5", true;
    crash_files_first_run_published_3: "parquet", "published-file:3", true;
    crash_files_first_run_after_commit: "parquet", "after-commit", true;
}}

fn local_once(points: &[&str], with_key: bool) {
    let out = |d: &Path| d.join("out");
    // A relative base_path: `out` in the scenario's own folder (the spec's and etl's).
    let dest = exactly_once::Dest {
        config: "  connector_type: local_file\n  config:\n    base_path: out\n".into(),
        folder: &out,
        state: None,
    };
    exactly_once::run(&dest, points, with_key, &[]);
}

// SIGKILL at every step of an incremental publish to a folder, with rows arriving between
// runs and 15-20 rows sharing each boundary value: after a clean run each row is there once.
cases! { local_once {
    once_batch_2: &["batch-2"], true;
    once_before_commit: &["before-commit"], true;
    once_pending_written: &["pending-written"], true;
    once_between_files_1: &["published-file:1"], true;
    once_between_files_2: &["published-file:2"], true;
    once_between_files_3: &["published-file:3"], true;
    once_publish_then_marker: &["after-commit"], true;
    once_marker_written: &["marker-written"], true;
    once_marker_then_state: &["after-marker"], true;
    once_before_state_save: &["before-state-save"], true;
    once_state_half_written: &["state-half-written"], true;
    once_state_before_rename: &["state-written-before-rename"], true;
    once_rollback_killed: &["published-file:2", "rolled-back-file:1"], true;
    once_reconcile_killed: &["after-marker", "before-state-save"], true;
    once_reconcile_save_half_written: &["marker-written", "state-half-written"], true;
    once_after_reconcile: &["after-marker", "reconciled"], true;
    once_marker_then_state_twice: &["after-marker", "after-marker"], true;
    once_four_kills: &["published-file:1", "after-marker", "state-half-written", "pending-written"], true;
    once_no_key_between_files: &["published-file:2"], false;
    once_no_key_publish_then_marker: &["after-commit"], false;
    once_no_key_marker_then_state: &["after-marker"], false;
    once_no_key_state_before_rename: &["state-written-before-rename"], false;
}}

#[test]
fn a_transient_failure_is_retried_and_a_permanent_one_is_not() {
    let dir = tempdir();
    let src = events_db(dir.path(), 100);
    let copy = dir.path().join("copy.db");
    let state = dir.path().join("st.json");
    let text = spec(&src, &sqlite_dest(&copy), &state, 10).replace(
        "  batch_size: 10\n",
        "  batch_size: 10\n  retry_backoff_ms: 10\n",
    );
    let s = write_spec(dir.path(), "s.yaml", &text);
    // The third batch fails with a reset connection; the rerun of the stream succeeds.
    let r = etl_in(dir.path(), &["run", &s], &[("ETL_FAULT_FAIL", "batch:3")]).ok();
    assert!(
        r.stderr.contains("transient failure, retrying")
            && r.stderr.contains("connection reset by peer"),
        "{}",
        r.stderr
    );
    assert_eq!(table_diff(&copy, &src), (0, 0));
    // Without retries the same failure fails the run.
    let s0 = write_spec(
        dir.path(),
        "s0.yaml",
        &text
            .replace("  retry_backoff_ms: 10\n", "  retries: 0\n")
            .replace("st.json", "st0.json"),
    );
    let r = etl_in(dir.path(), &["run", &s0], &[("ETL_FAULT_FAIL", "batch:1")])
        .fails(1, "connection reset by peer (injected)");
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    // A permanent error (a missing table) is not retried.
    let bad = write_spec(
        dir.path(),
        "bad.yaml",
        &text.replace("  - name: events\n", "  - name: events\n    table: nope\n"),
    );
    let r = etl(dir.path(), &["run", &bad]).fails(1, "table `nope` not found");
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
}
