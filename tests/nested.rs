//! Nested and legacy types (lists, nested lists, structs, maps with string and integer keys,
//! dictionaries, float16, INT96 timestamps of years 1 and 9999, NaN) in Parquet files written
//! by pyarrow and by DuckDB, moved by the built binary into every file format, SQLite,
//! PostgreSQL and MariaDB, and read back with an independent reader (pyarrow, fastavro,
//! Python's csv/json/sqlite3, psql, the mariadb client) into one canonical form
//! (tests/py/nested_files.py) compared with the source file's.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HELPER: &str = "tests/py/nested_files.py";

/// The test files, written once per test into `dir`.
fn write_files(dir: &Path) -> [PathBuf; 2] {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join(HELPER))
        .arg("write")
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "writing the test files failed (is duckdb in the test venv?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    [dir.join("pyarrow.parquet"), dir.join("duckdb.parquet")]
}

/// The rows of `path` (read as `kind`) in canonical form, `reference` giving the types.
#[track_caller]
fn canon(
    reference: &Path,
    kind: &str,
    path: &Path,
    table: Option<&str>,
    stdin: &str,
) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(Path::new(ROOT).join(HELPER))
        .args(["canon"])
        .arg(reference)
        .arg(kind)
        .arg(path)
        .args(table)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run python");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "reading {} back as {kind} failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!rows.is_empty(), "no rows in {}", path.display());
    rows
}

fn name_of(file: &Path) -> String {
    file.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Runs one stream `t` from the Parquet file `src` into `destination` (a spec block).
fn run(dir: &Path, src: &Path, destination: &str) -> Run {
    let spec = write_spec(
        dir,
        &format!("{}.yaml", unique_name("n")),
        &format!(
            "version: 1\nname: n\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{destination}streams:\n  - name: t\n",
            src.display()
        ),
    );
    etl(dir, &["run", &spec])
}

fn file_destination(out: &Path, format: &str) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    base_path: {}\n    format: {format}\n",
        out.display()
    )
}

fn sqlite_destination(db: &Path) -> String {
    format!(
        "  connector_type: sqlite\n  config:\n    database_path: {}\n",
        db.display()
    )
}

fn pg_destination(schema: &str) -> String {
    format!(
        "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {schema}\n",
        pg_host()
    )
}

#[test]
fn nested_values_survive_every_file_format() {
    let dir = tempdir();
    for src in write_files(dir.path()) {
        let expected = canon(&src, "parquet", &src, None, "");
        for format in ["parquet", "csv", "json", "jsonl", "avro"] {
            let out = dir.path().join(format!("{}-{format}", name_of(&src)));
            run(dir.path(), &src, &file_destination(&out, format)).ok();
            let got = canon(&src, format, &out.join("t"), None, "");
            assert_eq!(got, expected, "{} -> {format}", src.display());
        }
    }
}

#[test]
fn int96_years_1_and_9999_and_legacy_types_read_exactly() {
    let dir = tempdir();
    let [pyarrow, _] = write_files(dir.path());
    let out = dir.path().join("out");
    run(dir.path(), &pyarrow, &file_destination(&out, "jsonl")).ok();
    let text = std::fs::read_to_string(files_under(&out.join("t"))[0].clone()).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["ts"], "0001-01-01T00:00:00", "{text}");
    assert_eq!(first["d"], "red", "a dictionary is written as its value");
    assert_eq!(first["h"], 1.5, "float16 is written as a float");
    assert_eq!(
        first["mi"],
        serde_json::json!({"1": "one", "-20": "minus twenty"})
    );
    assert!(
        text.contains("\"ts\":\"9999-12-31T23:59:59.999999\""),
        "{text}"
    );
}

#[test]
fn nested_values_survive_sqlite_as_json_text() {
    let dir = tempdir();
    for src in write_files(dir.path()) {
        let db = dir.path().join(format!("{}.db", name_of(&src)));
        let sqlite = sqlite_destination(&db);
        run(dir.path(), &src, &sqlite).ok();
        assert_eq!(
            canon(&src, "sqlite", &db, Some("t"), ""),
            canon(&src, "parquet", &src, None, ""),
            "{}",
            src.display()
        );
        let declared = sqlite_scalar(
            &db,
            "SELECT type FROM pragma_table_info('t') WHERE name = 's'",
        );
        assert_eq!(declared, rusqlite::types::Value::Text("JSON".into()));
        // SQLite's own JSON functions read the text.
        let inner = sqlite_scalar(&db, "SELECT json_extract(s, '$.b') FROM t WHERE id = 1");
        assert_eq!(inner, rusqlite::types::Value::Text("x".into()));
    }
}

#[test]
fn nan_into_sqlite_fails_naming_the_column_and_row_before_the_commit() {
    let dir = tempdir();
    write_files(dir.path());
    let db = dir.path().join("nan.db");
    let sqlite = sqlite_destination(&db);
    let failed =
        run(dir.path(), &dir.path().join("nan.parquet"), &sqlite).fails(1, "column `f`, row 2");
    assert!(
        failed.stderr.contains("SQLite stores NaN as NULL") && failed.stderr.contains("t"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        sqlite_scalar(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ),
        rusqlite::types::Value::Integer(0),
        "nothing committed"
    );
}

#[test]
fn nested_values_survive_postgres_as_arrays_and_jsonb_and_back() {
    let dir = tempdir();
    for src in write_files(dir.path()) {
        let schema = PgSchema::new(&unique_name("etl_nested"));
        let pg = pg_destination(&schema.0);
        run(dir.path(), &src, &pg).ok();
        let expected = canon(&src, "parquet", &src, None, "");
        let rows = psql(&format!(
            "SELECT row_to_json(t) FROM {}.t AS t ORDER BY id",
            schema.0
        ));
        assert_eq!(
            canon(&src, "pgjson", Path::new("-"), None, &rows),
            expected,
            "{}",
            src.display()
        );
        let types = psql(&format!(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 't' \
             AND column_name IN ('l', 'll', 's', 'mi', 'ms')",
            schema.0
        ));
        assert_eq!(
            types,
            if name_of(&src) == "pyarrow" {
                "l ARRAY, ll jsonb, s jsonb, ms jsonb, mi jsonb"
            } else {
                "l ARRAY, ll jsonb, s jsonb, mi jsonb, ms jsonb"
            },
            "one-dimensional lists stay arrays, the rest is jsonb"
        );
        // And back to Parquet: the jsonb columns come back as their JSON text.
        let back = dir.path().join(format!("{}-back", name_of(&src)));
        let spec = write_spec(
            dir.path(),
            "back.yaml",
            &format!(
                "version: 1\nname: b\nsource:\n{}destination:\n{}streams:\n  - name: t\n",
                pg,
                file_destination(&back, "parquet")
            ),
        );
        etl(dir.path(), &["run", &spec]).ok();
        assert_eq!(
            canon(&src, "parquet", &back.join("t"), None, ""),
            expected,
            "{} -> PostgreSQL -> Parquet",
            src.display()
        );
    }
}

#[test]
fn nested_values_survive_mariadb_as_json() {
    let dir = tempdir();
    for src in write_files(dir.path()) {
        let db = MariaDbDatabase::new(&unique_name("etl_nested"));
        let my = format!(
            "  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    database: {}\n    user: root\n",
            db.0
        );
        run(dir.path(), &src, &my).ok();
        let rows = mariadb(&db.0, "SELECT * FROM t ORDER BY id");
        assert_eq!(
            canon(&src, "mariadb", Path::new("-"), None, &rows),
            canon(&src, "parquet", &src, None, ""),
            "{}",
            src.display()
        );
        // The server holds JSON: its JSON functions read the values.
        assert_eq!(
            mariadb(&db.0, "SELECT JSON_VALUE(s, '$.b') FROM t WHERE id = 1").trim(),
            "x"
        );
    }
}

#[test]
fn times_of_every_unit_are_exact_and_durations_are_refused_naming_a_cast() {
    let dir = tempdir();
    write_files(dir.path());
    let times = dir.path().join("times.parquet");
    let db = dir.path().join("times.db");
    let sqlite = sqlite_destination(&db);
    let failed = run(dir.path(), &times, &sqlite).fails(1, "column `dur`");
    assert!(
        failed.stderr.contains("Duration(ms)") && failed.stderr.contains("cast:"),
        "{}",
        failed.stderr
    );
    let spec = write_spec(
        dir.path(),
        "cast.yaml",
        &format!(
            "version: 1\nname: c\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{sqlite}streams:\n  - name: t\n    transform:\n      cast: {{dur: int64}}\n",
            times.display()
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let row = |sql: &str| sqlite_scalar(&db, sql);
    use rusqlite::types::Value::{Integer, Text};
    assert_eq!(
        row("SELECT t32s || '|' || t32ms || '|' || t64us || '|' || t64ns FROM t WHERE id = 1"),
        Text("01:02:03.000000|01:02:03.004000|23:59:59.999999|01:02:03.004567".into())
    );
    assert_eq!(row("SELECT dur FROM t WHERE id = 1"), Integer(5000));
    // PostgreSQL keeps them as `time` too.
    let schema = PgSchema::new(&unique_name("etl_nested"));
    let pg = pg_destination(&schema.0);
    let spec = write_spec(
        dir.path(),
        "pg.yaml",
        &format!(
            "version: 1\nname: p\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{pg}streams:\n  - name: t\n    transform:\n      select: [id, t32s, t32ms, t64us, t64ns]\n",
            times.display()
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(
        psql(&format!(
            "SELECT concat_ws('|', t32s, t32ms, t64us, t64ns) FROM {}.t WHERE id = 1",
            schema.0
        )),
        "01:02:03|01:02:03.004|23:59:59.999999|01:02:03.004567"
    );
}

#[test]
fn timestamps_a_destination_cannot_hold_fail_naming_column_row_and_value() {
    let dir = tempdir();
    write_files(dir.path());
    let far = dir.path().join("far.parquet");
    let db = dir.path().join("far.db");
    let sqlite = sqlite_destination(&db);
    run(dir.path(), &far, &sqlite).fails(
        1,
        "column `at`, row 2: timestamp +14645-06-30 15:06:40.000000 is outside years 1-9999",
    );
    let schema = PgSchema::new(&unique_name("etl_nested"));
    let pg = pg_destination(&schema.0);
    run(dir.path(), &far, &pg).fails(
        1,
        "column `ns`, row 2: timestamp 2024-02-29 12:00:00.123456789 has a fraction below a microsecond",
    );
}

#[test]
fn parquet_of_every_page_layout_and_codec_pyarrow_writes_is_read_exactly() {
    let dir = tempdir();
    let folder = dir.path().join("layouts");
    let out = Command::new(python())
        .arg(Path::new(ROOT).join(HELPER))
        .arg("layouts")
        .arg(&folder)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Data page v1 and v2, dictionary and plain, delta and byte-stream-split encodings, small
    // pages, and each codec: snappy, zstd, gzip, brotli, LZ4 raw.
    assert_eq!(names.len(), 11, "{names:?}");
    for name in names {
        let file = folder.join(format!("{name}.parquet"));
        let copy = dir.path().join(format!("copy-{name}"));
        run(dir.path(), &file, &file_destination(&copy, "jsonl")).ok();
        let got = canon(&file, "jsonl", &copy.join("t"), None, "");
        assert_eq!(got.len(), 5000, "{name}");
        assert!(
            got == canon(&file, "parquet", &file, None, ""),
            "{name}: etl read other values than pyarrow"
        );
    }
}

#[test]
fn a_transform_reads_dictionaries_and_nested_columns() {
    let dir = tempdir();
    let [pyarrow, _] = write_files(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "t.yaml",
        &format!(
            "version: 1\nname: t\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: t\n    transform:\n      filter: \"d = 'red'\"\n      select: [id, d, h, mi]\n",
            pyarrow.display(),
            file_destination(&out, "jsonl")
        ),
    );
    // polars panicked on a dictionary column before the runner decoded them ahead of it.
    etl(dir.path(), &["run", &spec]).ok();
    let text = std::fs::read_to_string(&files_under(&out.join("t"))[0]).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"id": 1, "d": "red", "h": 1.5, "mi": {"1": "one", "-20": "minus twenty"}}),
            serde_json::json!({"id": 3, "d": "red", "h": -2.25, "mi": null}),
        ]
    );
}

#[test]
fn nested_values_written_to_json_and_csv_read_back_with_a_declared_schema() {
    let dir = tempdir();
    let [pyarrow, _] = write_files(dir.path());
    let expected = canon(&pyarrow, "parquet", &pyarrow, None, "");
    for format in ["jsonl", "json", "csv"] {
        let text = dir.path().join(format!("text-{format}"));
        run(dir.path(), &pyarrow, &file_destination(&text, format)).ok();
        let back = dir.path().join(format!("back-{format}"));
        let spec = write_spec(
            dir.path(),
            &format!("back-{format}.yaml"),
            &format!(
                "version: 1\nname: b\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: t\n    schema:\n      l: list<int64>\n      ll: list<list<int64>>\n      ls: list<string>\n      s: 'struct<a: int32, b: string, c: list<float64>>'\n      ms: map<string, int64>\n      mi: map<int64, string>\n      ml: map<int32, list<int64>>\n      ts: timestamp\n",
                text.join("t").display(),
                file_destination(&back, "parquet")
            ),
        );
        etl(dir.path(), &["run", &spec]).ok();
        assert_eq!(
            canon(&pyarrow, "parquet", &back.join("t"), None, ""),
            expected,
            "{format} -> Parquet"
        );
        // The nested columns are nested again, not text.
        let out = std::process::Command::new(python())
            .args([
                "-c",
                "import sys, pyarrow.parquet as pq; print(pq.read_schema(sys.argv[1]).field('mi').type)",
            ])
            .arg(&files_under(&back.join("t"))[0])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "map<int64, string ('mi')>",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
