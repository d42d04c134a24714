//! The modes into file destinations, through the binary: `snapshot` (new part files each run,
//! with `_etl_loaded_at`), `definition_only` (a typed empty Parquet / Avro / CSV file; JSON
//! refused at validate) and `backfill` (the range's rows as new part files, the state left as
//! it was), read back by pyarrow and fastavro. The SQL side is in the conformance suite.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A SQLite source with `t(id, v, u)`: ids `1..=n`, `u` = id (the cursor).
fn source(dir: &Path, n: i64) -> PathBuf {
    let db = dir.join("src.db");
    let conn = rusqlite::Connection::open(&db).expect("open db");
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, u INTEGER);")
        .expect("create");
    for i in 1..=n {
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?1)",
            rusqlite::params![i, format!("v{i}")],
        )
        .expect("insert");
    }
    db
}

fn spec_text(db: &Path, out: &Path, format: &str, stream: &str) -> String {
    format!(
        "version: 1\nname: modes\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: {format}\nstreams:\n  - name: t\n{stream}",
        db.display(),
        out.display()
    )
}

/// The published data files of the stream folder (hidden `_etl/` and `.etl-tmp` left out).
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| {
            !p.strip_prefix(dir)
                .unwrap_or(p)
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with(['_', '.']))
        })
        .collect();
    files.sort();
    files
}

/// What an independent reader sees in `files`: per file its row count and `name: type`
/// columns, then the values of `column` over all files, as JSON.
fn read_back(format: &str, files: &[PathBuf], column: &str) -> serde_json::Value {
    let script = r#"
import json, sys
fmt, column, files = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {"files": [], "values": []}
for f in files:
    if fmt == "parquet":
        import pyarrow.parquet as pq
        t = pq.read_table(f)
        cols = [f"{x.name}: {x.type}" for x in t.schema]
        vals = t.column(column).to_pylist() if column in t.column_names else []
        rows = t.num_rows
    else:
        import fastavro
        with open(f, "rb") as fh:
            r = fastavro.reader(fh)
            recs = list(r)
            cols = [f"{x['name']}: {json.dumps(x['type'])}" for x in r.writer_schema["fields"]]
        vals = [rec.get(column) for rec in recs]
        rows = len(recs)
    out["files"].append({"rows": rows, "columns": cols})
    out["values"].extend(str(v) for v in vals)
print(json.dumps(out))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(format)
        .arg(column)
        .args(files)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The number of values [`read_back`] saw, and the distinct ones, sorted.
fn load_times(seen: &serde_json::Value) -> (usize, Vec<String>) {
    let all: Vec<String> = seen["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut distinct = all.clone();
    distinct.sort_unstable();
    distinct.dedup();
    (all.len(), distinct)
}

/// Two snapshot runs into Parquet: the second adds files beside the first's (no `overwrite`
/// needed), every row twice, each run's rows under its own `_etl_loaded_at`
/// (`timestamp[us, tz=UTC]`).
#[test]
fn snapshot_into_parquet_adds_the_run_beside_the_earlier_ones() {
    let dir = tempdir();
    let db = source(dir.path(), 4);
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &spec_text(&db, &out, "parquet", "    mode: snapshot\n"),
    );
    etl(dir.path(), &["run", &spec]).ok();
    std::thread::sleep(std::time::Duration::from_millis(20));
    etl(dir.path(), &["run", &spec]).ok();
    let files = data_files(&out.join("t"));
    assert_eq!(files.len(), 2, "{files:?}");
    let seen = read_back("parquet", &files, "_etl_loaded_at");
    for f in seen["files"].as_array().expect("files") {
        assert_eq!(f["rows"], 4);
        assert_eq!(
            f["columns"][3], "_etl_loaded_at: timestamp[us, tz=UTC]",
            "{seen}"
        );
    }
    let (rows, times) = load_times(&seen);
    assert_eq!(rows, 8);
    assert_eq!(times.len(), 2, "one load time per run: {times:?}");
}

/// A snapshot publish killed between its files (SIGKILL after the first rename) is rolled back
/// by the next run, which publishes its own files whole: the folder never keeps half a run.
#[test]
fn a_snapshot_cut_short_is_rolled_back_by_the_next_run() {
    let dir = tempdir();
    let db = source(dir.path(), 4);
    let out = dir.path().join("out");
    let text = spec_text(&db, &out, "parquet", "    mode: snapshot\n")
        .replace(
            "    format: parquet\n",
            "    format: parquet\n    max_rows_per_file: 2\n",
        )
        .replace("streams:\n", "defaults:\n  batch_size: 2\nstreams:\n");
    let spec = write_spec(dir.path(), "spec.yaml", &text);
    run_and_kill(dir.path(), &spec, "published-file", &[]);
    assert_eq!(
        data_files(&out.join("t")).len(),
        1,
        "half of the run is visible"
    );
    etl(dir.path(), &["run", &spec]).ok();
    let files = data_files(&out.join("t"));
    assert_eq!(files.len(), 2, "{files:?}");
    let seen = read_back("parquet", &files, "_etl_loaded_at");
    let (rows, times) = load_times(&seen);
    assert_eq!(rows, 4, "{seen}");
    assert_eq!(times.len(), 1, "only the second run's rows: {times:?}");
    assert!(
        !files_under(&out.join("t"))
            .iter()
            .any(|p| p.to_string_lossy().contains("pending-")),
        "no publish record left"
    );
}

/// `definition_only` writes one typed empty file — Parquet and Avro carry the column types, a
/// CSV file its header line — and a second run leaves the folder as it is. JSON Lines has no
/// typed empty file: refused at validate, with the line of `mode`.
#[test]
fn definition_only_writes_a_typed_empty_file() {
    let dir = tempdir();
    let db = source(dir.path(), 3);
    for (format, columns) in [
        ("parquet", vec!["id: int64", "v: string", "u: int64"]),
        (
            "avro",
            vec![
                "id: [\"null\", \"long\"]",
                "v: [\"null\", \"string\"]",
                "u: [\"null\", \"long\"]",
            ],
        ),
    ] {
        let out = dir.path().join(format!("out-{format}"));
        let spec = write_spec(
            dir.path(),
            "spec.yaml",
            &spec_text(&db, &out, format, "    mode: definition_only\n"),
        );
        etl(dir.path(), &["run", &spec]).ok();
        let files = data_files(&out.join("t"));
        assert_eq!(files.len(), 1, "{format}: {files:?}");
        let seen = read_back(format, &files, "id");
        assert_eq!(seen["files"][0]["rows"], 0, "{format}: {seen}");
        let got: Vec<&str> = seen["files"][0]["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert_eq!(got, columns, "{format}");
        etl(dir.path(), &["run", &spec]).ok();
        assert_eq!(data_files(&out.join("t")), files, "{format}: left as it is");
    }
    let out = dir.path().join("out-csv");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &spec_text(&db, &out, "csv", "    mode: definition_only\n"),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let files = data_files(&out.join("t"));
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0]).expect("csv"), "id,v,u\n");
    let out = dir.path().join("out-jsonl");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &spec_text(&db, &out, "jsonl", "    mode: definition_only\n"),
    );
    let r = etl(dir.path(), &["validate", &spec]).fails(2, "definition_only");
    assert!(
        r.stderr.contains("spec.yaml:14:11: streams[0].mode:"),
        "{}",
        r.stderr
    );
}

/// A backfill into files writes the range's rows (both ends included) as new part files
/// beside the incremental run's, and leaves the state file as it was; the next incremental
/// run then finds nothing new.
#[test]
fn backfill_into_files_adds_the_range_and_keeps_the_state() {
    let dir = tempdir();
    let db = source(dir.path(), 10);
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &spec_text(
            &db,
            &out,
            "parquet",
            "    mode: incremental\n    cursor_field: u\n",
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let state_path = dir.path().join(".etl/state/modes.json");
    let state = std::fs::read(&state_path).expect("state");
    let first = data_files(&out.join("t"));
    assert_eq!(first.len(), 1);
    etl(dir.path(), &["run", &spec, "--range", "3,5"]).ok();
    assert_eq!(std::fs::read(&state_path).expect("state"), state);
    let files = data_files(&out.join("t"));
    assert_eq!(files.len(), 2, "{files:?}");
    let added: Vec<PathBuf> = files.into_iter().filter(|f| !first.contains(f)).collect();
    let seen = read_back("parquet", &added, "id");
    assert_eq!(seen["values"], serde_json::json!(["3", "4", "5"]));
    // A stream that is not incremental is not backfilled.
    let full = write_spec(
        dir.path(),
        "full.yaml",
        &spec_text(&db, &dir.path().join("full"), "parquet", ""),
    );
    etl(dir.path(), &["run", &full, "--range", "3,5"]).fails(2, "--range applies to incremental");
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(data_files(&out.join("t")).len(), 2, "nothing new to write");
}
