//! Schema changes between runs into file destinations, and files of one stream whose schemas
//! differ, through the built binary. An incremental SQLite → Parquet stream gains a column,
//! loses one and widens one across runs; the folder is read back by `pyarrow.dataset`
//! (tests/py/dataset_union.py) as one table. `freeze`, `discard_new_columns` and a narrowing
//! are checked to write nothing (or leave the column out). The SQL destinations' side is in the
//! conformance suite (`schema_change_*`).

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A SQLite source `t(id INTEGER PRIMARY KEY, v INTEGER, a TEXT)` with ids 1 and 2.
fn source(dir: &Path) -> PathBuf {
    let db = dir.join("src.db");
    sql(
        &db,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, a TEXT);
         INSERT INTO t VALUES (1, 10, 'a1'), (2, 20, 'a2');",
    );
    db
}

fn sql(db: &Path, statements: &str) {
    rusqlite::Connection::open(db)
        .expect("open db")
        .execute_batch(statements)
        .expect("sql");
}

/// The spec of the incremental stream `t` into Parquet files under `out`; `extra` is added to
/// the stream (indented by four spaces).
fn spec(dir: &Path, db: &Path, out: &Path, extra: &str) -> String {
    write_spec(
        dir,
        "spec.yaml",
        &format!(
            "version: 1\nname: drift\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\nstreams:\n  - name: t\n    mode: incremental\n    cursor_field: id\n    primary_key: [id]\n{extra}",
            db.display(),
            out.display()
        ),
    )
}

/// `etl run SPEC --summary`; the run and the stream's `schema_changes` from the summary.
fn run(dir: &Path, spec: &str) -> (Run, Value) {
    run_with(dir, spec, &[])
}

/// [`run`] with extra environment variables.
fn run_with(dir: &Path, spec: &str, env: &[(&str, &str)]) -> (Run, Value) {
    let summary = dir.join("summary.json");
    let _ = std::fs::remove_file(&summary);
    let r = etl_in(
        dir,
        &["run", spec, "--summary", &summary.to_string_lossy()],
        env,
    );
    let text = std::fs::read_to_string(&summary).expect("summary written");
    let json: Value = serde_json::from_str(&text).expect("summary is JSON");
    // The summary leaves the key out when nothing changed.
    let changes = match &json["streams"][0]["schema_changes"] {
        Value::Null => json!([]),
        c => c.clone(),
    };
    (r, changes)
}

/// The stream folder as `pyarrow.dataset` reads it with the fragments' schemas unified.
fn dataset(folder: &Path) -> Value {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/dataset_union.py"))
        .arg(folder)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "dataset_union.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dataset_union.py prints JSON")
}

/// Every file under `folder`, with its bytes (to prove a refused run wrote nothing).
fn snapshot(folder: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<(PathBuf, Vec<u8>)> = entries_under(folder)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

fn sorted_schema(d: &Value) -> Vec<String> {
    let mut s: Vec<String> = d["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect();
    s.sort();
    s
}

fn history(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("t/_etl/schema.json")).expect("schema history");
    serde_json::from_str(&text).expect("schema history is JSON")
}

/// `v` is read as int32 (a transform cast) in the first runs.
const AS_INT32: &str = "    transform:\n      cast: {v: int32}\n";

#[test]
fn evolve_adds_drops_and_widens_into_one_dataset() {
    let dir = tempdir();
    let db = source(dir.path());
    let out = dir.path().join("out");
    let folder = out.join("t");

    let s = spec(dir.path(), &db, &out, AS_INT32);
    let (_, changes) = run(dir.path(), &s);
    assert_eq!(changes, json!([]));

    // A new column: new part files carry it.
    sql(
        &db,
        "ALTER TABLE t ADD COLUMN extra TEXT; INSERT INTO t VALUES (3, 30, 'a3', 'x3');",
    );
    let (r, changes) = run(dir.path(), &s);
    let r = r.ok();
    assert_eq!(
        changes,
        json!([{"column": "extra", "change": "added", "to": "Utf8"}])
    );
    assert!(
        r.stderr
            .contains("schema change: added column `extra` Utf8"),
        "{}",
        r.stderr
    );

    // A column dropped from the source: absent from the new files, NULL when read.
    sql(
        &db,
        "ALTER TABLE t DROP COLUMN a; INSERT INTO t VALUES (4, 40, 'x4');",
    );
    let (r, changes) = run(dir.path(), &s);
    r.ok();
    assert_eq!(changes, json!([]));

    // int32 -> int64 (the cast removed), with a value int32 cannot hold.
    sql(&db, "INSERT INTO t VALUES (5, 5000000000, 'x5');");
    let s = spec(dir.path(), &db, &out, "");
    let (r, changes) = run(dir.path(), &s);
    let r = r.ok();
    assert_eq!(
        changes,
        json!([{"column": "v", "change": "widened", "from": "Int32", "to": "Int64"}])
    );
    assert!(
        r.stderr
            .contains("schema change: widened column `v` from Int32 to Int64"),
        "{}",
        r.stderr
    );

    let d = dataset(&folder);
    assert_eq!(d["files"], json!(4));
    assert_eq!(
        sorted_schema(&d),
        ["a: string", "extra: string", "id: int64", "v: int64"]
    );
    let row = |id: i64, v: i64, a: Option<&str>, extra: Option<&str>| json!({"id": id.to_string(), "v": v.to_string(), "a": a, "extra": extra});
    // The row at the saved cursor is written again by the run whose columns changed (its hash
    // covers every column; README "Limits"): once as it was, once as the new columns see it.
    assert_eq!(
        d["rows"],
        json!([
            row(1, 10, Some("a1"), None),
            row(2, 20, Some("a2"), None),
            row(2, 20, Some("a2"), None),
            row(3, 30, Some("a3"), Some("x3")),
            row(3, 30, None, Some("x3")),
            row(4, 40, None, Some("x4")),
            row(5, 5_000_000_000, None, Some("x5")),
        ])
    );
    // The history keeps every column, at its widest type.
    let h = history(&out);
    let columns: Vec<(String, String)> = h["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("id", "Int64"),
        ("v", "Int64"),
        ("a", "Utf8"),
        ("extra", "Utf8"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(columns, want);
    assert_eq!(h["changes"].as_array().map(Vec::len), Some(2));

    // A narrowing (int64 -> int16) is refused with nothing written, naming the way out.
    sql(&db, "INSERT INTO t VALUES (6, 60, 'x6');");
    let before = snapshot(&out);
    let s = spec(
        dir.path(),
        &db,
        &out,
        "    transform:\n      cast: {v: int16}\n",
    );
    let (r, _) = run(dir.path(), &s);
    let r = r.fails(1, "column `v`");
    for needle in [
        "Int64",
        "Int16",
        "--full-refresh",
        "cast",
        "nothing was written",
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert_eq!(snapshot(&out), before, "a refused run changed the folder");
    // Text -> integer too.
    let s = spec(
        dir.path(),
        &db,
        &out,
        "    transform:\n      cast: {extra: int64}\n",
    );
    sql(&db, "UPDATE t SET extra = '7' WHERE id = 6;");
    let (r, _) = run(dir.path(), &s);
    r.fails(1, "column `extra`: the stream's earlier files have Utf8");
    assert_eq!(snapshot(&out), before, "a refused run changed the folder");
}

#[test]
fn freeze_refuses_any_difference_before_writing() {
    let dir = tempdir();
    let db = source(dir.path());
    let out = dir.path().join("out");
    let s = spec(dir.path(), &db, &out, "    schema_changes: freeze\n");
    run(dir.path(), &s).0.ok();
    // The same columns: freeze writes.
    sql(&db, "INSERT INTO t VALUES (3, 30, 'a3');");
    run(dir.path(), &s).0.ok();
    sql(
        &db,
        "ALTER TABLE t ADD COLUMN extra TEXT; ALTER TABLE t DROP COLUMN a; INSERT INTO t VALUES (4, 40, 'x4');",
    );
    let before = snapshot(&out);
    let (r, _) = run(dir.path(), &s);
    let r = r.fails(1, "schema_changes is `freeze`");
    assert!(
        r.stderr.contains("new column `extra`") && r.stderr.contains("column `a` is no longer"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&out), before, "a refused run changed the folder");
    assert_eq!(
        dataset(&out.join("t"))["rows"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn discard_new_columns_leaves_them_out_with_one_warning() {
    let dir = tempdir();
    let db = source(dir.path());
    let out = dir.path().join("out");
    let s = spec(
        dir.path(),
        &db,
        &out,
        "    schema_changes: discard_new_columns\n",
    );
    run(dir.path(), &s).0.ok();
    sql(
        &db,
        "ALTER TABLE t ADD COLUMN extra TEXT; ALTER TABLE t ADD COLUMN more INTEGER; INSERT INTO t VALUES (3, 30, 'a3', 'x3', 7);",
    );
    let (r, changes) = run(dir.path(), &s);
    let r = r.ok();
    assert_eq!(
        changes,
        json!([
            {"column": "extra", "change": "discarded"},
            {"column": "more", "change": "discarded"}
        ])
    );
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("discard_new_columns"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(warnings[0].contains("extra, more"), "{}", warnings[0]);
    let d = dataset(&out.join("t"));
    assert_eq!(sorted_schema(&d), ["a: string", "id: int64", "v: int64"]);
    let ids: Vec<&str> = d["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&"3"), "{d}");
}

/// The history is an object beside the data on object stores too (here S3, moto): the next run
/// finds it, reports the new column, and refuses a narrowing with nothing written.
#[test]
fn the_history_is_found_on_s3() {
    const SECRET: &str = "s3cr3t-DO-NOT-PRINT";
    let env = [("ETL_TEST_SECRET", SECRET)];
    let dir = tempdir();
    let db = source(dir.path());
    let bucket = s3_bucket("drift");
    let spec = |extra: &str| {
        write_spec(
            dir.path(),
            "s3.yaml",
            &format!(
                "version: 1\nname: drift_s3\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: s3\n  config:\n    bucket: {bucket}\n    prefix: lake/\n    region: us-east-1\n    endpoint: {}\n    aws_access_key_id: testing\n    aws_secret_access_key: ${{ETL_TEST_SECRET}}\n    format: parquet\nstreams:\n  - name: t\n    mode: incremental\n    cursor_field: id\n    primary_key: [id]\n{extra}",
                db.display(),
                s3_endpoint()
            ),
        )
    };
    let s = spec(AS_INT32);
    run_with(dir.path(), &s, &env).0.ok();
    assert!(
        s3py(&["keys", &bucket, "lake/t/_etl/"]).contains(&"lake/t/_etl/schema.json".to_string())
    );
    sql(
        &db,
        "ALTER TABLE t ADD COLUMN extra TEXT; INSERT INTO t VALUES (3, 30, 'a3', 'x3');",
    );
    let (r, changes) = run_with(dir.path(), &s, &env);
    r.ok();
    assert_eq!(
        changes,
        json!([{"column": "extra", "change": "added", "to": "Utf8"}])
    );
    sql(&db, "INSERT INTO t VALUES (4, 40, 'a4', 'x4');");
    let before = s3py(&["keys", &bucket, "lake/"]);
    let (r, _) = run_with(
        dir.path(),
        &spec("    transform:\n      cast: {v: int16}\n"),
        &env,
    );
    r.fails(1, "column `v`: the stream's earlier files have Int32");
    assert_eq!(s3py(&["keys", &bucket, "lake/"]), before);
}

/// Two Parquet files made by pyarrow, with different columns and one widened type.
fn landing_zone(dir: &Path) -> PathBuf {
    let zone = dir.join("zone");
    std::fs::create_dir_all(&zone).expect("mkdir");
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
zone = sys.argv[1]
pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]}), f"{zone}/a.parquet")
pq.write_table(pa.table({"id": pa.array([3, 4000000000], pa.int64()), "score": [0.5, None]}), f"{zone}/b.parquet")
"#;
    let status = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&zone)
        .status()
        .expect("run python");
    assert!(status.success());
    zone
}

fn load_spec(dir: &Path, zone: &Path, db: &Path, extra: &str) -> String {
    write_spec(
        dir,
        "load.yaml",
        &format!(
            "version: 1\nname: load\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\n    format: parquet\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\nstreams:\n  - name: zone\n{extra}",
            zone.display(),
            db.display()
        ),
    )
}

#[test]
fn a_file_source_reads_differing_files_as_the_union_of_their_columns() {
    let dir = tempdir();
    let zone = landing_zone(dir.path());
    let db = dir.path().join("load.db");
    let s = load_spec(dir.path(), &zone, &db, "");
    run(dir.path(), &s).0.ok();
    let conn = rusqlite::Connection::open(&db).expect("open db");
    let mut stmt = conn
        .prepare("SELECT id, name, score, typeof(id) FROM zone ORDER BY id")
        .expect("prepare");
    let rows: Vec<(i64, Option<String>, Option<f64>, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let int = || "integer".to_string();
    assert_eq!(
        rows,
        [
            (1, Some("a".into()), None, int()),
            (2, Some("b".into()), None, int()),
            (3, None, Some(0.5), int()),
            (4_000_000_000, None, None, int()),
        ]
    );
    // freeze keeps the refusal of files that differ.
    let db2 = dir.path().join("frozen.db");
    let frozen = load_spec(dir.path(), &zone, &db2, "    schema_changes: freeze\n");
    run(dir.path(), &frozen)
        .0
        .fails(1, "its schema differs from the stream's first file");
}

#[test]
fn a_file_source_refuses_files_no_widening_reconciles() {
    let dir = tempdir();
    let zone = dir.path().join("zone");
    std::fs::create_dir_all(&zone).expect("mkdir");
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
zone = sys.argv[1]
pq.write_table(pa.table({"id": pa.array([1], pa.int64())}), f"{zone}/a.parquet")
pq.write_table(pa.table({"id": ["x"]}), f"{zone}/b.parquet")
"#;
    let ok = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&zone)
        .status()
        .expect("run python");
    assert!(ok.success());
    let db = dir.path().join("load.db");
    let s = load_spec(dir.path(), &zone, &db, "");
    let (r, _) = run(dir.path(), &s);
    let r = r.fails(1, "b.parquet");
    assert!(
        r.stderr
            .contains("column `id` is Int64 in one file and Utf8 in another"),
        "{}",
        r.stderr
    );
}
