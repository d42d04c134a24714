//! File destinations: `path_template` (dated folders, run ids, parts) and
//! `max_bytes_per_file`, on local folders and S3; the files are read back with pyarrow
//! (tests/py/compare.py, union_check.py), not with etl. The exactly-once crash scenario runs
//! through a template too.

#[macro_use]
mod common;
use common::*;
use std::path::{Path, PathBuf};

const SECRET: &str = "s3cr3t-DO-NOT-PRINT";

/// `{YYYY}/{MM}/{DD}/{HH}` of a run, from its id (`YYYYMMDDTHHMMSSZ-xxxxxxxx`, taken at the
/// run's start like the template's time variables).
fn hour_folders(run_id: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        &run_id[0..4],
        &run_id[4..6],
        &run_id[6..8],
        &run_id[9..11]
    )
}

fn run_id_of(summary: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn local_spec(db: &Path, config: &str, streams: &str) -> String {
    format!(
        "version: 1\nname: naming\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: out\n{config}{streams}",
        db.display()
    )
}

#[test]
fn template_writes_dated_folders_and_parts() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &local_spec(
            &db,
            "    format: parquet\n    overwrite: true\n    max_rows_per_file: 1000\n    path_template: \"exports/{stream}/{YYYY}/{MM}/{DD}/{HH}/{stream}-{run_id}-{part}\"\n",
            "defaults:\n  batch_size: 500\nstreams:\n  - name: orders\n  - name: customers\n",
        ),
    );
    let summary = dir.path().join("summary.json");
    etl(
        dir.path(),
        &["run", &spec, "--summary", &summary.to_string_lossy()],
    )
    .ok();
    let run_id = run_id_of(&summary);
    for (t, parts) in [("orders", 3), ("customers", 1)] {
        let folder = dir.path().join("out/exports").join(t);
        let files = files_under(&folder);
        let want: Vec<PathBuf> = (0..parts)
            .map(|p| {
                folder
                    .join(hour_folders(&run_id))
                    .join(format!("{t}-{run_id}-{p:05}.parquet"))
            })
            .collect();
        assert_eq!(files, want, "{t}");
        compare(&db, t, &files, "parquet");
    }
    // A second full refresh replaces the stream folder's files, wherever below it they are.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    etl(
        dir.path(),
        &["run", &spec, "--summary", &summary.to_string_lossy()],
    )
    .ok();
    let second = run_id_of(&summary);
    assert_ne!(second, run_id);
    let files = files_under(&dir.path().join("out/exports/orders"));
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files.iter().all(|f| f.to_string_lossy().contains(&second)),
        "{files:?}"
    );
    compare(&db, "orders", &files, "parquet");
    let r = etl(dir.path(), &["run", &spec, "--dry-run"]).ok();
    assert!(
        r.stdout.contains("out/exports/orders/") && r.stdout.contains("/orders-"),
        "{}",
        r.stdout
    );
}

#[test]
fn template_without_part_writes_one_file_and_adds_the_extension() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &local_spec(
            &db,
            "    format: csv\n    compression: gzip\n    path_template: \"{stream}/latest\"\n    overwrite: true\n",
            "streams:\n  - name: customers\n",
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    etl(dir.path(), &["run", &spec]).ok();
    let file = dir.path().join("out/customers/latest.csv.gz");
    assert_eq!(
        files_under(&dir.path().join("out")),
        std::slice::from_ref(&file)
    );
    compare(&db, "customers", &[file], "csv");
}

/// Every misuse is refused by `etl validate` with the spec's file, line and column.
#[test]
fn bad_templates_are_refused_with_their_location() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    for (config, streams, needle) in [
        (
            "    path_template: \"{stream}/{YYYY}/{month}/{part}\"\n",
            "",
            "s.yaml:11:20: destination.config.path_template: `{stream}/{YYYY}/{month}/{part}`: unknown variable `{month}`",
        ),
        (
            "    max_rows_per_file: 10\n    path_template: \"{stream}/{run_id}\"\n",
            "streams:\n  - name: orders\n",
            "s.yaml:12:20: destination.config.path_template: `{stream}/{run_id}` has no `{part}`, but stream `orders` may write several files per run",
        ),
        (
            "    path_template: \"{stream}/{run_id}\"\n",
            "streams:\n  - name: orders\n    partition_by: [status]\n",
            "has no `{part}`, but stream `orders` may write several files per run (partition_by)",
        ),
        (
            "    path_template: \"{stream}/{YYYY}/part-{part}\"\n",
            "streams:\n  - name: orders\n    mode: incremental\n    cursor_field: id\n",
            "s.yaml:11:20: destination.config.path_template: `{stream}/{YYYY}/part-{part}` has no `{run_id}`, but stream `orders` is incremental",
        ),
        (
            "    path_template: \"{YYYY}/{stream}/{part}\"\n",
            "",
            "s.yaml:11:20: destination.config.path_template: `{YYYY}/{stream}/{part}`: the folders up to `{stream}` name the stream's folder",
        ),
        (
            "    path_template: \"out-{stream}-{part}\"\n",
            "",
            "`{stream}` must name a folder, not the file",
        ),
        (
            "    path_template: \"{stream}/_tmp/{part}\"\n",
            "",
            "segment `_tmp` would be hidden",
        ),
        (
            "    path_template: \"{stream}//{part\"\n",
            "",
            "a `{` without its `}`",
        ),
        (
            "    max_bytes_per_file: 0\n",
            "",
            "s.yaml:11:25: destination.config.max_bytes_per_file: must be at least 1",
        ),
    ] {
        let spec = write_spec(dir.path(), "s.yaml", &local_spec(&db, config, streams));
        etl(dir.path(), &["validate", &spec]).fails(2, needle);
    }
}

/// A SQLite table of `rows` rows of about 60 bytes each.
fn wide_table(dir: &Path, rows: i64) -> PathBuf {
    let db = dir.join("wide.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE wide (id INTEGER, label TEXT, amount REAL);")
        .unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO wide SELECT i, printf('label %08d of the wide table', i), i * 1.25 FROM n",
        [rows],
    )
    .unwrap();
    db
}

/// Exports `rows` rows of the wide table with these file options and batch size; returns the
/// source database and the stream's files with their sizes.
fn export_wide(
    rows: i64,
    options: &str,
    batch: usize,
) -> (tempfile::TempDir, PathBuf, Vec<(PathBuf, u64)>) {
    let dir = tempdir();
    let db = wide_table(dir.path(), rows);
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &local_spec(
            &db,
            options,
            &format!("defaults:\n  batch_size: {batch}\nstreams:\n  - name: wide\n"),
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let files = files_under(&dir.path().join("out/wide"))
        .into_iter()
        .map(|f| {
            let size = std::fs::metadata(&f).unwrap().len();
            (f, size)
        })
        .collect();
    (dir, db, files)
}

/// CSV parts roll once they pass the size: each but the last is at least the limit and at
/// most one batch (50 rows, under 3000 bytes) past it.
#[test]
fn max_bytes_per_file_rolls_csv_parts_near_the_limit() {
    let (_dir, db, files) =
        export_wide(5000, "    format: csv\n    max_bytes_per_file: 40000\n", 50);
    assert!(files.len() >= 5, "{files:?}");
    for (_, size) in &files[..files.len() - 1] {
        assert!((40_000..43_000).contains(size), "{files:?}");
    }
    assert!(files.last().unwrap().1 <= 43_000, "{files:?}");
    let files: Vec<PathBuf> = files.into_iter().map(|(f, _)| f).collect();
    compare(&db, "wide", &files, "csv");
}

/// Parquet counts the row group being built, so parts roll before it is flushed.
#[test]
fn max_bytes_per_file_rolls_parquet_parts() {
    let (_dir, db, files) = export_wide(
        20000,
        "    format: parquet\n    compression: none\n    max_bytes_per_file: 200000\n",
        500,
    );
    assert!(files.len() >= 3, "{files:?}");
    for (f, size) in &files {
        assert!(*size < 400_000, "{} is {size} bytes", f.display());
    }
    let files: Vec<PathBuf> = files.into_iter().map(|(f, _)| f).collect();
    compare(&db, "wide", &files, "parquet");
}

fn local_once(points: &[&str], with_key: bool) {
    let out = |d: &Path| d.join("out/raw/ticks");
    let dest = exactly_once::Dest {
        config: "  connector_type: local_file\n  config:\n    base_path: out\n    path_template: \"raw/{stream}/{YYYY}/{MM}/{DD}/{run_timestamp}-{run_id}-{part}\"\n".into(),
        folder: &out,
        state: None,
    };
    exactly_once::run(&dest, points, with_key, &[]);
}

// The exactly-once scenario (SIGKILLs inside a publish, rows arriving between runs) through a
// template: the commit log and staging follow the stream's folder, `raw/{stream}`.
cases! { local_once {
    template_once_between_files: &["published-file:2"], true;
    template_once_publish_then_marker: &["after-commit"], true;
    template_once_rollback_killed: &["published-file:1", "rolled-back-file:2"], true;
}}

fn s3_config(bucket: &str) -> String {
    format!(
        "    bucket: {bucket}\n    prefix: lake/\n    region: us-east-1\n    endpoint: {}\n    aws_access_key_id: testing\n    aws_secret_access_key: ${{ETL_TEST_SECRET}}\n",
        s3_endpoint()
    )
}

#[test]
fn s3_template_and_max_bytes() {
    let dir = tempdir();
    let db = wide_table(dir.path(), 5000);
    let bucket = s3_bucket("naming");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &format!(
            "version: 1\nname: s3naming\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: s3\n  config:\n{}    format: jsonl\n    max_bytes_per_file: 60000\n    path_template: \"{{stream}}/{{YYYY}}/{{MM}}/{{DD}}/part-{{run_id}}-{{part}}\"\ndefaults:\n  batch_size: 100\nstreams:\n  - name: wide\n",
            db.display(),
            s3_config(&bucket)
        ),
    );
    let summary = dir.path().join("summary.json");
    let r = etl_in(
        dir.path(),
        &["run", &spec, "--summary", &summary.to_string_lossy()],
        &[("ETL_TEST_SECRET", SECRET)],
    )
    .ok();
    assert!(!r.stderr.contains(SECRET));
    let run_id = run_id_of(&summary);
    let day = &hour_folders(&run_id)[..10];
    let keys = s3py(&["keys", &bucket]);
    assert!(keys.len() >= 4, "{keys:?}");
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            k,
            &format!("lake/wide/{day}/part-{run_id}-{i:05}.jsonl"),
            "{keys:?}"
        );
    }
    let local = dir.path().join("dl");
    let files: Vec<PathBuf> = s3py(&["download", &bucket, "lake/wide/", &local.to_string_lossy()])
        .into_iter()
        .map(Into::into)
        .collect();
    assert_eq!(files.len(), keys.len());
    compare(&db, "wide", &files, "jsonl");
}

#[test]
fn s3_template_keeps_exactly_once() {
    let bucket = s3_bucket("naming-once");
    let download = |d: &Path| {
        let local = d.join("dl");
        let _ = std::fs::remove_dir_all(&local);
        s3py(&["download", &bucket, "lake/", &local.to_string_lossy()]);
        local.join("lake/ticks")
    };
    let dest = exactly_once::Dest {
        config: format!(
            "  connector_type: s3\n  config:\n{}    path_template: \"{{stream}}/{{YYYY}}/{{MM}}/{{DD}}/part-{{run_id}}-{{part}}\"\n",
            s3_config(&bucket)
        ),
        folder: &download,
        state: None,
    };
    let env = [("ETL_TEST_SECRET", SECRET)];
    exactly_once::run(&dest, &["published-file:2", "after-marker"], true, &env);
    let keys = s3py(&["keys", &bucket, "lake/ticks/_etl/"]);
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k.starts_with("lake/ticks/_etl/commits/")
                    || k == "lake/ticks/_etl/schema.json"),
        "only commit markers (and the schema history) are left in the commit log: {keys:?}"
    );
}
