//! S3 through the built binary against a local S3-compatible server (moto): every format out
//! and back, read independently with boto3 + pyarrow/fastavro, and the publish rules.

mod common;
use common::*;
use std::path::Path;

const SECRET: &str = "s3cr3t-DO-NOT-PRINT";

fn s3_config(bucket: &str, prefix: &str) -> String {
    format!(
        "    bucket: {bucket}\n    prefix: {prefix}\n    region: us-east-1\n    endpoint: {}\n    aws_access_key_id: testing\n    aws_secret_access_key: ${{ETL_TEST_SECRET}}\n",
        s3_endpoint()
    )
}

fn to_s3(db: &Path, bucket: &str, format: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: to_s3\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: s3\n  config:\n{}    format: {format}\n{extra}",
        db.display(),
        s3_config(bucket, "snapshots/")
    )
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let r = etl_in(dir, args, &[("ETL_TEST_SECRET", SECRET)]);
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "secret printed:\n{}",
        r.stderr
    );
    r
}

fn export_and_compare(format: &str, compression: &str, ext: &str) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket(format);
    let extra = if compression.is_empty() {
        String::new()
    } else {
        format!("    compression: {compression}\n")
    };
    let spec = write_spec(dir.path(), "s.yaml", &to_s3(&db, &bucket, format, &extra));
    run(dir.path(), &["run", &spec]).ok();
    let keys = s3py(&["keys", &bucket]);
    assert!(
        keys.iter().all(|k| !k.contains(".etl-tmp")),
        "staging objects left: {keys:?}"
    );
    let local = dir.path().join("dl");
    for t in ["customers", "orders", "order_items"] {
        let tkeys: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&format!("snapshots/{t}/")))
            .collect();
        assert_eq!(tkeys.len(), 1, "{t}: {keys:?}");
        assert!(
            tkeys[0].starts_with(&format!("snapshots/{t}/part-")) && tkeys[0].ends_with(ext),
            "{}",
            tkeys[0]
        );
        let files: Vec<std::path::PathBuf> = s3py(&[
            "download",
            &bucket,
            &format!("snapshots/{t}/"),
            &local.to_string_lossy(),
        ])
        .into_iter()
        .map(Into::into)
        .collect();
        compare(&db, t, &files, format);
    }
    // And back: S3 -> SQLite reads the same objects.
    let copy = dir.path().join("copy.db");
    let back = format!(
        "version: 1\nname: from_s3\nsource:\n  connector_type: s3\n  config:\n{}destination:\n  connector_type: sqlite\n  config:\n    database_path: {}\nstreams:\n  - name: orders\n    file_path: snapshots/orders/\n",
        s3_config(&bucket, "snapshots/"),
        copy.display()
    );
    let spec = write_spec(dir.path(), "back.yaml", &back);
    run(dir.path(), &["run", &spec]).ok();
    // Reading CSV cannot tell `""` from NULL (a documented limit), so '' comes back as NULL.
    let extra: &[&str] = if format == "csv" {
        &["--csv-empty-is-null"]
    } else {
        &[]
    };
    compare_with(
        &copy,
        "orders",
        &files_under(&local.join("snapshots/orders")),
        format,
        extra,
    );
}

#[test]
fn parquet_to_s3_and_back() {
    export_and_compare("parquet", "", ".parquet");
}

#[test]
fn csv_gzip_to_s3_and_back() {
    export_and_compare("csv", "gzip", ".csv.gz");
}

#[test]
fn json_to_s3_and_back() {
    export_and_compare("json", "", ".json");
}

#[test]
fn jsonl_zstd_to_s3_and_back() {
    export_and_compare("jsonl", "zstd", ".jsonl.zst");
}

#[test]
fn avro_to_s3_and_back() {
    export_and_compare("avro", "snappy", ".avro");
}

#[test]
fn overwrite_and_failed_run_on_s3() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket("publish");
    let extra =
        "    max_rows_per_file: 1000\ndefaults:\n  batch_size: 250\nstreams:\n  - name: orders\n";
    let spec = write_spec(dir.path(), "s.yaml", &to_s3(&db, &bucket, "parquet", extra));
    run(dir.path(), &["run", &spec]).ok();
    let first = s3py(&["keys", &bucket]);
    assert_eq!(first.len(), 3, "3000 rows at 1000 per file: {first:?}");
    // Without overwrite a second full refresh refuses before writing.
    run(dir.path(), &["run", &spec]).fails(1, "already holds 3 file(s)");
    assert_eq!(s3py(&["keys", &bucket]), first);
    // With overwrite, a run that fails half way leaves the previous objects and nothing else.
    let spec = write_spec(
        dir.path(),
        "o.yaml",
        &to_s3(
            &db,
            &bucket,
            "parquet",
            &format!("    overwrite: true\n{extra}"),
        ),
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET status = X'00ff' WHERE id = 2800", [])
        .unwrap();
    drop(conn);
    run(dir.path(), &["run", &spec]).fails(1, "row 2800");
    assert_eq!(
        s3py(&["keys", &bucket]),
        first,
        "no new object under a final name, old ones intact"
    );
    // Fixed data: the new objects replace the old ones.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET status = 'paid' WHERE id = 2800", [])
        .unwrap();
    drop(conn);
    run(dir.path(), &["run", &spec]).ok();
    let second = s3py(&["keys", &bucket]);
    assert_eq!(second.len(), 3);
    assert!(
        second.iter().all(|k| !first.contains(k)),
        "old objects removed: {second:?}"
    );
}

#[test]
fn s3_bad_inputs() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    // A bucket that does not exist.
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &to_s3(
            &db,
            "etl-no-such-bucket-xyz",
            "parquet",
            "streams:\n  - name: orders\n",
        ),
    );
    let r = run(dir.path(), &["run", &spec]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("etl-no-such-bucket-xyz"), "{}", r.stderr);
    let r = run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("destination (s3): FAILED") && r.stdout.contains("does not exist"),
        "{}",
        r.stdout
    );
    // A prefix that matches nothing.
    let bucket = s3_bucket("empty");
    let src = format!(
        "version: 1\nname: x\nsource:\n  connector_type: s3\n  config:\n{}    glob_pattern: \"*.csv\"\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\n",
        s3_config(&bucket, "landing/"),
        dir.path().join("t.db").display()
    );
    let spec = write_spec(dir.path(), "src.yaml", &src);
    run(dir.path(), &["run", &spec]).fails(1, "no files found for stream `landing` in s3://");
    // An endpoint nobody listens on fails (retries are bounded), it does not hang.
    let dead = to_s3(&db, &bucket, "parquet", "streams:\n  - name: orders\n")
        .replace(&s3_endpoint(), "http://127.0.0.1:9");
    let spec = write_spec(dir.path(), "dead.yaml", &dead);
    let t = std::time::Instant::now();
    let r = run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn incremental_state_in_s3() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket("state");
    let out = dir.path().join("out");
    let text = format!(
        "version: 1\nname: st\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: orders\n    mode: incremental\n    cursor_field: id\n",
        db.display(),
        out.display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &text);
    let state = format!("s3://{bucket}/state/st.json");
    let env = [
        ("AWS_ENDPOINT_URL", s3_endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    etl_in(dir.path(), &["run", &spec, "--state", &state], &env).ok();
    assert_eq!(s3py(&["keys", &bucket, "state/"]), ["state/st.json"]);
    let shown = etl_in(
        dir.path(),
        &["state", "show", &spec, "--state", &state],
        &env,
    )
    .ok()
    .stdout;
    assert!(shown.contains("\"value\": 3000"), "{shown}");
    // A second run reads only the boundary row (id >= 3000).
    let r = etl_in(dir.path(), &["run", &spec, "--state", &state], &env).ok();
    assert!(r.stderr.contains("rows=1"), "{}", r.stderr);
}
