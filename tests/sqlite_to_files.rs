//! SQLite -> files through the built binary, read back by an independent reader (pyarrow /
//! fastavro / Python's json and sqlite3) and compared value by value.

mod common;
use common::*;
use std::path::Path;

const TABLES: [&str; 3] = ["customers", "orders", "order_items"];

fn export_spec(db: &Path, out: &Path, format: &str, extra: &str) -> String {
    format!(
        r#"
version: 1
name: export
source:
  connector_type: sqlite
  config:
    database_path: {}
destination:
  connector_type: local_file
  config:
    base_path: {}
    format: {format}
{extra}"#,
        db.display(),
        out.display()
    )
}

fn export_and_compare(format: &str, extra: &str, ext: &str) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &export_spec(&db, &out, format, extra),
    );
    let summary = dir.path().join("summary.json");
    etl(
        dir.path(),
        &["run", &spec, "--summary", &summary.to_string_lossy()],
    )
    .ok();
    for t in TABLES {
        let files = files_under(&out.join(t));
        assert!(!files.is_empty(), "no files for {t}");
        for f in &files {
            let name = f.file_name().unwrap().to_string_lossy();
            assert!(
                name.starts_with("part-") && name.ends_with(ext),
                "unexpected file {name}"
            );
        }
        compare(&db, t, &files, format);
    }
    // No staging folders or temporary files are left behind.
    for e in entries_under(&out) {
        let s = e.to_string_lossy();
        assert!(
            !s.contains(".etl-tmp") && !s.contains('#'),
            "left behind: {s}"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    let rows: Vec<u64> = summary["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![1000, 8334, 3000],
        "streams run in table-name order"
    );
}

#[test]
fn parquet_round_trips_every_value() {
    export_and_compare("parquet", "", ".parquet");
}

#[test]
fn parquet_zstd() {
    export_and_compare("parquet", "    compression: zstd\n", ".parquet");
}

#[test]
fn csv_round_trips_every_value() {
    export_and_compare("csv", "", ".csv");
}

#[test]
fn csv_gzip() {
    export_and_compare("csv", "    compression: gzip\n", ".csv.gz");
}

#[test]
fn json_array_round_trips_every_value() {
    export_and_compare("json", "", ".json");
}

#[test]
fn jsonl_round_trips_every_value() {
    export_and_compare("jsonl", "", ".jsonl");
}

#[test]
fn jsonl_zstd() {
    export_and_compare("jsonl", "    compression: zstd\n", ".jsonl.zst");
}

#[test]
fn avro_round_trips_every_value() {
    export_and_compare("avro", "", ".avro");
}

#[test]
fn avro_deflate() {
    export_and_compare("avro", "    compression: deflate\n", ".avro");
}

#[test]
fn max_rows_per_file_rolls_parts() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let extra = "    max_rows_per_file: 1000\ndefaults:\n  batch_size: 500\nstreams:\n  - name: order_items\n";
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &export_spec(&db, &out, "parquet", extra),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let files = files_under(&out.join("order_items"));
    assert_eq!(files.len(), 9, "8334 rows at 1000 per file: {files:?}");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names[0].ends_with("-00000.parquet") && names[8].ends_with("-00008.parquet"),
        "{names:?}"
    );
    compare(&db, "order_items", &files, "parquet");
}

#[test]
fn query_streams_and_empty_tables() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE empty_one (id INTEGER, label TEXT, amount DECIMAL(8,3));
         CREATE TABLE big_orders (id INTEGER, total DECIMAL(12,2));",
    )
    .unwrap();
    drop(conn);
    let out = dir.path().join("out");
    let extra = "streams:\n  - name: empty_one\n  - name: big_orders\n    query: \"SELECT id, total FROM orders WHERE total > 500\"\n";
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &export_spec(&db, &out, "parquet", extra),
    );
    etl(dir.path(), &["run", &spec]).ok();
    compare(
        &db,
        "empty_one",
        &files_under(&out.join("empty_one")),
        "parquet",
    );
    // `big_orders` in the database is empty; fill it the same way the query reads.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("INSERT INTO big_orders SELECT id, total FROM orders WHERE total > 500")
        .unwrap();
    drop(conn);
    compare(
        &db,
        "big_orders",
        &files_under(&out.join("big_orders")),
        "parquet",
    );
}

#[test]
fn full_refresh_without_overwrite_refuses_before_writing() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "spec.yaml", &export_spec(&db, &out, "csv", ""));
    etl(dir.path(), &["run", &spec]).ok();
    let before = entries_under(&out);
    etl(dir.path(), &["run", &spec]).fails(1, "already holds 1 file(s)");
    assert_eq!(entries_under(&out), before, "nothing may be written");
    // With overwrite: true the new files replace the old ones.
    let spec = write_spec(
        dir.path(),
        "spec2.yaml",
        &export_spec(&db, &out, "csv", "    overwrite: true\n"),
    );
    etl(dir.path(), &["run", &spec]).ok();
    for t in TABLES {
        let files = files_under(&out.join(t));
        assert_eq!(files.len(), 1, "old files removed: {files:?}");
        assert!(!before.contains(&files[0]), "a new file was published");
        compare(&db, t, &files, "csv");
    }
}

#[test]
fn failed_run_leaves_previous_output_intact() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let extra = "    overwrite: true\n    max_rows_per_file: 1000\ndefaults:\n  batch_size: 250\nstreams:\n  - name: orders\n";
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &export_spec(&db, &out, "parquet", extra),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = files_under(&out)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    // Break a value late in the table: several part files are written before the failure.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE orders SET customer_id = 'not a number' WHERE id = 2900",
        [],
    )
    .unwrap();
    drop(conn);
    etl(dir.path(), &["run", &spec]).fails(
        1,
        "table `orders`, column `customer_id`, row 2900: text 'not a number' does not fit INTEGER",
    );
    let after: Vec<(std::path::PathBuf, Vec<u8>)> = files_under(&out)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert_eq!(before.len(), after.len());
    assert!(
        before == after,
        "previous files must be untouched and nothing new visible"
    );
    for e in entries_under(&out) {
        assert!(
            !e.to_string_lossy().contains(".etl-tmp"),
            "staging left behind: {}",
            e.display()
        );
    }
}

#[test]
fn every_table_is_exported_when_streams_are_omitted_and_select_filters() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &export_spec(&db, &out, "jsonl", ""),
    );
    etl(dir.path(), &["run", &spec, "--select", "orders"]).ok();
    assert!(out.join("orders").exists());
    assert!(
        !out.join("customers").exists(),
        "--select must skip other streams"
    );
    etl(dir.path(), &["run", &spec, "--select", "nope"]).fails(2, "--select nope: no such stream");
}

/// `partition_by` writes Hive-style folders that pyarrow reads back: every row in the folder
/// its values name (NULL and '' in `__HIVE_DEFAULT_PARTITION__`, `/` and `=` escaped), the
/// other columns unchanged, and a second full refresh replaces the folders it no longer needs.
#[test]
fn partition_by_writes_hive_folders() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        // Values a folder name cannot hold as they are.
        conn.execute_batch(
            "UPDATE orders SET status = 'on/hold=1:x%' WHERE id % 97 = 0;
             UPDATE orders SET status = '' WHERE id % 89 = 0;
             UPDATE orders SET status = NULL WHERE id % 83 = 0;
             CREATE VIEW orders_data AS
               SELECT id, customer_id, total, discount, ordered_at, note FROM orders;",
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    let spec = |extra: &str| {
        export_spec(
            &db,
            &out,
            "parquet",
            &format!("    overwrite: true\n    max_rows_per_file: 500\nstreams:\n  - name: orders\n    table: orders\n    partition_by: [status, shipped_on]\n{extra}"),
        )
    };
    let p = write_spec(dir.path(), "p.yaml", &spec(""));
    let r = etl(dir.path(), &["run", &p, "--dry-run"]).ok();
    assert!(
        r.stdout.contains("orders/status=…/shipped_on=…/part-"),
        "{}",
        r.stdout
    );
    etl(dir.path(), &["run", &p]).ok();
    let check = || {
        let o = std::process::Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/hive_check.py"))
            .args(["--sqlite", &db.to_string_lossy(), "--root"])
            .arg(out.join("orders"))
            .args([
                "--query",
                "SELECT id, status, shipped_on FROM orders",
                "--key",
                "id",
                "--partition",
                "status",
                "--partition",
                "shipped_on",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "hive check failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    check();
    let files = files_under(&out.join("orders"));
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("status=on%2Fhold%3D1%3Ax%25/")),
        "escaped folder missing: {files:?}"
    );
    assert!(files.iter().any(|f| f
        .to_string_lossy()
        .contains("status=__HIVE_DEFAULT_PARTITION__/")));
    // The files hold the other columns, value for value.
    compare(&db, "orders_data", &files, "parquet");

    // A rerun after the data moved: folders of values that are gone disappear.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("UPDATE orders SET status = 'shipped' WHERE status = 'on/hold=1:x%'")
            .unwrap();
    }
    etl(dir.path(), &["run", &p]).ok();
    check();
    assert!(
        !entries_under(&out)
            .iter()
            .any(|e| e.to_string_lossy().contains("hold")),
        "an emptied partition folder was left: {:?}",
        entries_under(&out)
    );
    assert!(!entries_under(&out)
        .iter()
        .any(|e| e.to_string_lossy().contains(".etl-tmp")));

    // Bad columns fail before anything is written.
    let bad = dir.path().join("bad");
    let b = write_spec(
        dir.path(),
        "b.yaml",
        &export_spec(
            &db,
            &bad,
            "parquet",
            "streams:\n  - name: orders\n    partition_by: [nope]\n",
        ),
    );
    // The columns are known once the source is open: exit 1, as for a stream that fails.
    etl(dir.path(), &["run", &b]).fails(
        1,
        "stream `orders`: partition_by column `nope` is not a column",
    );
    assert!(files_under(&bad).is_empty());
    let b = write_spec(
        dir.path(),
        "b2.yaml",
        &export_spec(&db, &bad, "parquet", "streams:\n  - name: orders\n    partition_by: [rating]\n    query: SELECT id, CAST(1.5 AS REAL) AS rating FROM orders\n"),
    );
    etl(dir.path(), &["run", &b]).fails(1, "partition_by column `rating` has type Float64");
    let b = write_spec(
        dir.path(),
        "b3.yaml",
        &export_spec(
            &db,
            &bad,
            "parquet",
            "streams:\n  - name: orders\n    partition_by: [_x]\n",
        ),
    );
    etl(dir.path(), &["validate", &b]).fails(2, "skipped by readers");
}
