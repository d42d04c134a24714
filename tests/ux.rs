//! What a new user meets (issue 23): the run's last line and totals, `state reset` of an
//! unknown stream, secrets masked where they are secrets, bytes that mean what they say,
//! decimal arithmetic in transforms, json/jsonb into JSON files and back, the state path
//! beside the spec, empty paths refused at validate, file paths with their leading `/`, and
//! "did you mean" in spec errors. Everything through the built binary; values are read back
//! with independent readers (pyarrow, Python's json, psql).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shop_spec(db: &Path, dest: &str, streams: &str) -> String {
    format!(
        "version: 1\nname: shop\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{dest}{streams}",
        db.display()
    )
}

fn parquet_dest(out: &Path) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n",
        out.display()
    )
}

/// Writes `dir/file`: the SQLite `db` into Parquet under `out`, with `streams`.
fn parquet_spec(dir: &Path, file: &str, db: &Path, out: &Path, streams: &str) -> String {
    write_spec(dir, file, &shop_spec(db, &parquet_dest(out), streams))
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("summary written")).expect("summary JSON")
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).expect("file").len()
}

// ---------------------------------------------------------------- 2. run totals, 5. bytes

#[test]
fn the_last_line_the_json_log_and_the_summary_carry_the_run_totals() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let streams =
        "streams:\n  - name: broken\n    table: nope\n  - name: orders\n  - name: customers\n";
    let spec = parquet_spec(dir.path(), "s.yaml", &db, &out, streams);
    let sum = dir.path().join("sum.json");
    let r = etl(
        dir.path(),
        &["run", &spec, "--summary", &sum.to_string_lossy()],
    )
    .fails(1, "table `nope` not found");
    let line = last_line(&r.stderr);
    assert!(
        line.contains("ERROR")
            && line.contains("3 streams: 2 succeeded, 1 failed (broken: table `nope` not found")
            && line.contains("published 4000 rows (2 files, "),
        "last line: {line}\n{}",
        r.stderr
    );
    // bytes_written is what the destination stored: the published files' sizes on disk.
    let v = summary(&sum);
    let orders = files_under(&out.join("orders"));
    let customers = files_under(&out.join("customers"));
    assert_eq!((orders.len(), customers.len()), (1, 1));
    let by_name = |n: &str| {
        v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("orders")["bytes_written"], size(&orders[0]));
    assert_eq!(by_name("customers")["bytes_written"], size(&customers[0]));
    assert!(
        by_name("orders")["bytes_read"].is_null(),
        "a SQLite source does not measure it"
    );
    assert!(by_name("broken")["bytes_written"].is_null());
    let t = &v["totals"];
    assert_eq!(
        (&t["streams"], &t["succeeded"], &t["failed"], &t["skipped"]),
        (&3.into(), &2.into(), &1.into(), &0.into())
    );
    assert_eq!(t["rows"], 4000);
    assert_eq!(t["outputs"], 2);
    assert_eq!(t["bytes_written"], size(&orders[0]) + size(&customers[0]));
    assert!(
        line.ends_with(t["message"].as_str().unwrap()),
        "{line}\n{t}"
    );
    // The Arrow in-memory figure is gone: it measured buffer capacity, not data.
    assert!(by_name("orders").get("bytes").is_none());

    // The JSON log's last object carries the same totals as fields.
    let out2 = dir.path().join("out2");
    let spec = parquet_spec(dir.path(), "j.yaml", &db, &out2, streams);
    let r = etl(dir.path(), &["--log-format", "json", "run", &spec]).fails(1, "nope");
    let last: serde_json::Value = serde_json::from_str(last_line(&r.stderr)).unwrap();
    let f = &last["fields"];
    assert_eq!(last["level"], "ERROR");
    assert_eq!(
        (&f["streams"], &f["succeeded"], &f["failed"], &f["rows"]),
        (&3.into(), &2.into(), &1.into(), &4000.into())
    );
    let written: u64 = files_under(&out2).iter().map(|p| size(p)).sum();
    assert_eq!(f["bytes_written"], written);
    assert!(f["message"]
        .as_str()
        .unwrap()
        .starts_with("3 streams: 2 succeeded, 1 failed (broken: "));

    // A clean run ends with the totals too; with --quiet a failed run still shows them.
    let out3 = dir.path().join("out3");
    let spec = write_spec(
        dir.path(),
        "ok.yaml",
        &shop_spec(
            &db,
            &parquet_dest(&out3),
            "streams:\n  - name: orders\n  - name: customers\n",
        ),
    );
    let r = etl(dir.path(), &["run", &spec]).ok();
    let line = last_line(&r.stderr);
    assert!(
        line.contains("INFO")
            && line.contains("2 streams: 2 succeeded; published 4000 rows (2 files, "),
        "{line}"
    );
    let out4 = dir.path().join("out4");
    let spec = parquet_spec(dir.path(), "q.yaml", &db, &out4, streams);
    let r = etl(dir.path(), &["--quiet", "run", &spec]).fails(1, "nope");
    assert!(
        last_line(&r.stderr).contains("3 streams: 2 succeeded, 1 failed"),
        "{}",
        r.stderr
    );
}

#[test]
fn bytes_read_are_the_source_files_sizes_and_sql_destinations_say_null() {
    let dir = tempdir();
    let land = dir.path().join("land");
    std::fs::create_dir_all(&land).unwrap();
    let mut sizes = 0;
    for (name, rows) in [("a.csv", 3), ("b.csv", 5)] {
        let text: String = std::iter::once("id,name\n".to_string())
            .chain((0..rows).map(|i| format!("{i},n{i}\n")))
            .collect();
        std::fs::write(land.join(name), &text).unwrap();
        sizes += text.len() as u64;
    }
    let copy = dir.path().join("copy.db");
    let spec = write_spec(
        dir.path(),
        "f.yaml",
        &format!(
            "version: 1\nname: files\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\n",
            land.display(),
            copy.display()
        ),
    );
    let sum = dir.path().join("sum.json");
    etl(
        dir.path(),
        &["run", &spec, "--summary", &sum.to_string_lossy()],
    )
    .ok();
    let v = summary(&sum);
    assert_eq!(v["streams"][0]["rows"], 8);
    assert_eq!(v["streams"][0]["bytes_read"], sizes);
    assert!(v["streams"][0]["bytes_written"].is_null(), "{v}");
    assert_eq!(v["totals"]["bytes_read"], sizes);
    assert!(
        v["totals"]["message"]
            .as_str()
            .unwrap()
            .ends_with("published 8 rows (1 table)"),
        "{v}"
    );
}

// ---------------------------------------------------------------- 3. state reset --stream

#[test]
fn state_reset_refuses_a_stream_the_spec_does_not_have() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let streams = "streams:\n  - name: orders\n    mode: incremental\n    cursor_field: ordered_at\n  - name: customers\n";
    let spec = parquet_spec(dir.path(), "s.yaml", &db, &out, streams);
    etl(dir.path(), &["run", &spec]).ok();
    let state = dir.path().join(".etl/state/shop.json");
    let before = std::fs::read(&state).expect("state saved beside the spec");
    let r = etl(dir.path(), &["state", "reset", &spec, "--stream", "nope"])
        .fails(2, "--stream nope: no such stream");
    assert!(r.stderr.contains("orders, customers"), "{}", r.stderr);
    let r = etl(dir.path(), &["state", "reset", &spec, "--stream", "order"]).fails(2, "order");
    assert!(r.stderr.contains("did you mean `orders`?"), "{}", r.stderr);
    etl(dir.path(), &["state", "show", &spec, "--stream", "nope"]).fails(2, "no such stream");
    assert_eq!(std::fs::read(&state).unwrap(), before, "nothing was reset");
    // A stream of the spec is reset.
    let r = etl(dir.path(), &["state", "reset", &spec, "--stream", "orders"]).ok();
    assert!(
        r.stderr.contains("state of stream `orders` reset"),
        "{}",
        r.stderr
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    // The folder's commit log keeps the cursor too: the state keeps its newest commit number
    // only, so the next run does not take the forgotten cursor back from it.
    assert_eq!(
        doc["streams"]["orders"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["commit", "run_id", "updated_at"]),
        "{doc}"
    );
    assert_eq!(doc["streams"]["orders"]["commit"], 1, "{doc}");

    // Without `streams:` the streams are those with saved state (etl state does not connect).
    let spec = write_spec(
        dir.path(),
        "all.yaml",
        &shop_spec(&db, &parquet_dest(&dir.path().join("all")), ""),
    );
    let r = etl(
        dir.path(),
        &["state", "reset", &spec, "--stream", "customers"],
    )
    .fails(2, "no such stream");
    assert!(
        r.stderr.contains("the spec has no `streams:`") && r.stderr.contains(": orders)"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------- 4. secrets

#[test]
fn a_short_secret_does_not_mask_ordinary_names_and_a_long_one_is_masked_everywhere() {
    let dir = tempdir();
    let spec = |database: &str, secret: &str| {
        format!(
            "version: 1\nname: sec\nsource:\n  connector_type: postgresql\n  config:\n    host: 127.0.0.1\n    port: 1\n    database: {database}\n    user: postgres\n    connect_timeout: 2\ndestination:\n  connector_type: s3\n  config:\n    bucket: b\n    endpoint: http://127.0.0.1:1\n    aws_access_key_id: k\n    aws_secret_access_key: {secret}\n    overwrite: true\nstreams:\n  - name: t\n"
        )
    };
    // `aws_secret_access_key: test` and a database called `test`: the database stays readable.
    let s = write_spec(dir.path(), "short.yaml", &spec("test", "test"));
    let r = etl(dir.path(), &["run", &s]).fails(1, "cannot connect");
    assert!(
        r.stderr.contains("postgresql://postgres@127.0.0.1:1/test"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("********"), "{}", r.stderr);
    // A secret of 8+ characters is masked wherever its text appears, even as a name.
    let long = "Sh0rtN0t-9f2";
    let s = write_spec(dir.path(), "long.yaml", &spec(long, "${ETL_UX_SECRET}"));
    let r = etl_in(dir.path(), &["run", &s], &[("ETL_UX_SECRET", long)]).fails(1, "cannot connect");
    assert!(
        r.stderr
            .contains("postgresql://postgres@127.0.0.1:1/********"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------- 6. decimals in transforms

fn decimals_db(dir: &Path) -> PathBuf {
    let db = dir.join("dec.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER, total DECIMAL(14,4), rate REAL);
         INSERT INTO orders VALUES (1, '1256.6000', 0.5), (2, '999.9999', 1.5), (3, NULL, 2.0),
                                   (4, '-0.0001', 1.0);",
    )
    .unwrap();
    db
}

/// pyarrow's view of a Parquet column: its type, then one value per line.
fn pyarrow_column(files: &[PathBuf], column: &str) -> Vec<String> {
    let script = "import sys, pyarrow.parquet as pq, pyarrow as pa\n\
                  t = pa.concat_tables([pq.read_table(f) for f in sys.argv[2:]]).sort_by('id')\n\
                  c = t.column(sys.argv[1])\n\
                  print(c.type)\n\
                  for v in c.to_pylist(): print(v)\n";
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(column)
        .args(files)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn decimal_arithmetic_in_a_transform_stays_exact() {
    let dir = tempdir();
    let db = decimals_db(dir.path());
    let out = dir.path().join("out");
    let streams = "streams:\n  - name: orders\n    transform:\n      derive:\n        gross: \"total * 1.2\"\n        plus: \"total + 0.00005\"\n      select: [id, total, gross, plus]\n";
    let spec = parquet_spec(dir.path(), "s.yaml", &db, &out, streams);
    etl(dir.path(), &["run", &spec]).ok();
    let files = files_under(&out.join("orders"));
    // Python's decimal, independently: 1256.6000 * 1.2 = 1507.92000, 999.9999 * 1.2 = 1199.99988.
    assert_eq!(
        pyarrow_column(&files, "gross"),
        [
            "decimal128(38, 5)",
            "1507.92000",
            "1199.99988",
            "None",
            "-0.00012"
        ]
    );
    assert_eq!(
        pyarrow_column(&files, "plus")[1..],
        ["1256.60005", "999.99995", "None", "-0.00005"]
    );

    // A decimal computed with a float column would drift: refused, naming the cast to add.
    let out2 = dir.path().join("out2");
    let streams =
        "streams:\n  - name: orders\n    transform:\n      derive: {x: \"total * rate\"}\n";
    let spec = parquet_spec(dir.path(), "f.yaml", &db, &out2, streams);
    let r = etl(dir.path(), &["run", &spec]).fails(1, "derive `x` = `total * rate`");
    assert!(
        r.stderr
            .contains("CAST the float column `rate` AS DECIMAL(p,s)"),
        "{}",
        r.stderr
    );
    assert!(files_under(&out2).is_empty(), "nothing published");
    // Asking for a float explicitly is accepted.
    let out3 = dir.path().join("out3");
    let streams = "streams:\n  - name: orders\n    transform:\n      derive: {x: \"CAST(total AS DOUBLE) * rate\"}\n      select: [id, x]\n";
    let spec = parquet_spec(dir.path(), "d.yaml", &db, &out3, streams);
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(
        pyarrow_column(&files_under(&out3.join("orders")), "x")[0],
        "double"
    );
}

// ---------------------------------------------------------------- 7. json / jsonb

struct PgSchemas(Vec<String>);
impl Drop for PgSchemas {
    fn drop(&mut self) {
        for s in &self.0 {
            pg_drop_schema(s);
        }
    }
}

#[test]
fn json_and_jsonb_columns_are_json_values_in_json_files_and_come_back() {
    let src = format!("etl_t_ux_{}_jsrc", std::process::id());
    let dst = format!("etl_t_ux_{}_jdst", std::process::id());
    let _drop = PgSchemas(vec![src.clone(), dst.clone()]);
    psql(&format!(
        "DROP SCHEMA IF EXISTS {src} CASCADE; DROP SCHEMA IF EXISTS {dst} CASCADE; CREATE SCHEMA {src}; CREATE SCHEMA {dst};
         CREATE TABLE {src}.docs (id int PRIMARY KEY, meta jsonb, doc json, note text);
         INSERT INTO {src}.docs VALUES
           (1, '{{\"k\": [1, 2], \"s\": \"a\\\"b\"}}', '{{\"x\":\n  1.50}}', '{{\"not\": \"json\"}}'),
           (2, '\"just text\"', '[1, \"two\", null]', NULL),
           (3, NULL, NULL, 'n'),
           (4, '12.500', 'true', NULL);"
    ));
    let dir = tempdir();
    let pg = |schema: &str| {
        format!(
            "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {schema}\n",
            pg_host()
        )
    };
    for format in ["jsonl", "json"] {
        let out = dir.path().join(format);
        let spec = write_spec(
            dir.path(),
            &format!("{format}.yaml"),
            &format!(
                "version: 1\nname: js\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: {format}\nstreams:\n  - name: docs\n",
                pg(&src),
                out.display()
            ),
        );
        etl(dir.path(), &["run", &spec]).ok();
        let files = files_under(&out.join("docs"));
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let rows: Vec<serde_json::Value> = if format == "json" {
            serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap()
        } else {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let mut rows = rows;
        rows.sort_by_key(|r| r["id"].as_i64());
        assert_eq!(
            rows[0]["meta"],
            serde_json::json!({"k": [1, 2], "s": "a\"b"}),
            "{text}"
        );
        assert_eq!(rows[0]["doc"], serde_json::json!({"x": 1.50}));
        assert_eq!(
            rows[0]["note"], "{\"not\": \"json\"}",
            "text stays a string"
        );
        assert_eq!(rows[1]["meta"], "just text");
        assert_eq!(rows[1]["doc"], serde_json::json!([1, "two", null]));
        assert!(rows[2]["meta"].is_null());
        assert_eq!(rows[3]["doc"], true);
        // The number keeps its digits as written by PostgreSQL.
        assert!(text.contains("12.500"), "{text}");
    }
    // Read back with `schema:` declaring the columns json: each value's JSON text.
    let spec = write_spec(
        dir.path(),
        "back.yaml",
        &format!(
            "version: 1\nname: back\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: docs\n    schema: {{meta: json, doc: json}}\n",
            dir.path().join("jsonl/docs").display(),
            pg(&dst)
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let same = psql(&format!(
        "SELECT count(*) FROM {src}.docs s JOIN {dst}.docs d USING (id)
         WHERE s.meta IS NOT DISTINCT FROM d.meta::jsonb AND s.doc::jsonb IS NOT DISTINCT FROM d.doc::jsonb
           AND s.note IS NOT DISTINCT FROM d.note"
    ));
    assert_eq!(same, "4");
}

// ---------------------------------------------------------------- 9. state path

#[test]
fn the_default_state_lives_beside_the_spec_whatever_the_current_folder() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let specs = dir.path().join("specs");
    let (cwd1, cwd2) = (dir.path().join("cron1"), dir.path().join("cron2"));
    for d in [&specs, &cwd1, &cwd2] {
        std::fs::create_dir_all(d).unwrap();
    }
    let streams =
        "streams:\n  - name: orders\n    mode: incremental\n    cursor_field: ordered_at\n";
    let spec = write_spec(
        &specs,
        "s.yaml",
        &shop_spec(&db, &parquet_dest(&dir.path().join("out")), streams),
    );
    let state = specs.join(".etl/state/shop.json");
    let r = etl(&cwd1, &["run", &spec]).ok();
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("run started") && first.contains(&format!("state={}", state.display())),
        "first line: {first}"
    );
    assert!(state.exists(), "state beside the spec");
    assert!(!cwd1.join(".etl").exists(), "nothing in the current folder");
    // Another folder, the same state: the second run continues from the saved cursor.
    let r = etl(&cwd2, &["run", &spec]).ok();
    assert!(r.stderr.contains("incremental read"), "{}", r.stderr);
    assert!(!cwd2.join(".etl").exists());
    let shown = etl(&cwd2, &["state", "show", &spec]).ok().stdout;
    assert!(shown.contains("\"orders\""), "{shown}");
    // A relative spec path works the same.
    let r = etl(&specs, &["run", "s.yaml", "--dry-run"]).ok();
    assert!(
        r.stdout.contains(&format!("state: {}", state.display())),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------- 8. paths, 10. error text

/// `etl validate` refuses `text` with exit 2 and every needle in stderr.
#[track_caller]
fn refused(text: &str, env: &[(&str, &str)], needles: &[&str]) -> String {
    let dir = tempdir();
    let spec = write_spec(dir.path(), "bad.yaml", text);
    let r = etl_in(dir.path(), &["validate", &spec], env);
    for n in needles {
        assert!(r.stderr.contains(n), "stderr lacks {n:?}:\n{}", r.stderr);
    }
    r.fails(2, needles[0]).stderr
}

fn good() -> String {
    shop_spec(
        Path::new("x.db"),
        &parquet_dest(Path::new("out")),
        "streams:\n  - name: orders\n    table: orders\n",
    )
}

#[test]
fn empty_paths_and_buckets_are_refused_at_validate_with_their_line() {
    let empty = "must not be empty";
    refused(
        &good().replace("base_path: out", "base_path: ''"),
        &[],
        &["bad.yaml:10:16: destination.config.base_path: ", empty],
    );
    refused(
        &good().replace("base_path: out", "base_path: ${ETL_UX_EMPTY}"),
        &[("ETL_UX_EMPTY", "")],
        &["bad.yaml:10:16: destination.config.base_path: ", empty],
    );
    let s3 = good().replace(
        "  connector_type: local_file\n  config:\n    base_path: out\n",
        "  connector_type: s3\n  config:\n    bucket: ''\n",
    );
    refused(
        &s3,
        &[],
        &["bad.yaml:10:13: destination.config.bucket: ", empty],
    );
    refused(
        &s3.replace("bucket: ''", "bucket: b\n    prefix: \"\""),
        &[],
        &[
            "bad.yaml:11:13: destination.config.prefix: ",
            "leave the key out",
        ],
    );
    let files = "version: 1\nname: f\nsource:\n  connector_type: local_file\n  config:\n    file_path: \"\"\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: c.db\n";
    refused(
        files,
        &[],
        &["bad.yaml:6:16: source.config.file_path: ", empty],
    );
}

#[test]
fn a_file_named_in_an_error_keeps_its_leading_slash() {
    let dir = tempdir();
    let land = dir.path().join("land");
    std::fs::create_dir_all(&land).unwrap();
    let bad = land.join("y.parquet");
    std::fs::write(&bad, b"not parquet").unwrap();
    assert!(bad.is_absolute());
    let spec = write_spec(
        dir.path(),
        "f.yaml",
        &format!(
            "version: 1\nname: f\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\n",
            land.display(),
            dir.path().join("c.db").display()
        ),
    );
    let r = etl(dir.path(), &["run", &spec]).fails(1, "Parquet");
    assert!(
        r.stderr.contains(&format!("file {}: ", bad.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn spec_errors_say_it_once_and_suggest_the_close_name() {
    let e = refused(
        &good().replace("    table: orders", "    table: orders\n    mode: incremntal"),
        &[],
        &[
            "bad.yaml:15:11: streams[0].mode: unknown mode `incremntal`, expected `full_refresh`, `incremental`, `truncate`, `snapshot`, `backfill` or `definition_only`; did you mean `incremental`?",
        ],
    );
    assert_eq!(e.matches("expected").count(), 1, "said once: {e}");
    refused(
        &good().replace(
            "    table: orders",
            "    table: orders\n    cursor_feild: at",
        ),
        &[],
        &[
            "bad.yaml:15:5: streams[0]: unknown field `cursor_feild`",
            "did you mean `cursor_field`?",
        ],
    );
    refused(
        &good().replace("format: parquet", "format: parqet"),
        &[],
        &[
            "bad.yaml:11:13: destination.config.format: unknown format `parqet`",
            "did you mean `parquet`?",
        ],
    );
    refused(
        &good().replace("connector_type: sqlite", "connector_type: sqllite"),
        &[],
        &["unknown variant `sqllite`", "did you mean `sqlite`?"],
    );
    // Nothing close: no guess.
    let e = refused(
        &good().replace(
            "    format: parquet",
            "    format: parquet\n    colour: red",
        ),
        &[],
        &["unknown field `colour`"],
    );
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn schema_changes_takes_only_its_words_per_stream_and_in_defaults() {
    refused(
        &good().replace(
            "    table: orders",
            "    table: orders\n    schema_changes: evolv",
        ),
        &[],
        &[
            "bad.yaml:15:21: streams[0].schema_changes: unknown schema_changes `evolv`, expected `evolve`, `freeze` or `discard_new_columns`; did you mean `evolve`?",
        ],
    );
    refused(
        &good().replace("streams:", "defaults:\n  schema_changes: drop\nstreams:"),
        &[],
        &["defaults.schema_changes: unknown schema_changes `drop`"],
    );
}

// ---------------------------------------------------------------- 1, 8, 11: PostgreSQL names and numerics

fn pg_source(schema: &str, extra: &str) -> String {
    format!(
        "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {schema}\n{extra}",
        pg_host()
    )
}

fn pg_to_parquet(source: &str, out: &Path, streams: &str) -> String {
    format!(
        "version: 1\nname: pgux\nsource:\n{source}destination:\n{}streams:\n{streams}",
        parquet_dest(out)
    )
}

#[test]
fn a_missing_postgresql_schema_is_said_to_be_missing_by_check_and_run() {
    let missing = format!("etl_t_ux_{}_nu_shopp", std::process::id());
    let dir = tempdir();
    let out = dir.path().join("out");
    // Every table of the schema (no `streams:`): check and run both say the schema is missing.
    let every = write_spec(
        dir.path(),
        "every.yaml",
        &pg_to_parquet(&pg_source(&missing, ""), &out, "").replace("streams:\n", ""),
    );
    let want = format!("schema `{missing}` does not exist in postgresql://postgres@");
    check_fails(
        dir.path(),
        &every,
        &format!("source (postgresql): FAILED: {want}"),
    );
    etl(dir.path(), &["run", &every]).fails(1, &want);
    // A listed stream: not "table customers not found ... (tables: none)".
    let listed = write_spec(
        dir.path(),
        "listed.yaml",
        &pg_to_parquet(
            &pg_source("public", ""),
            &out,
            &format!("  - name: customers\n    table: {missing}.customers\n"),
        ),
    );
    check_fails(
        dir.path(),
        &listed,
        &format!("  stream `customers`: FAILED: {want}"),
    );
    etl(dir.path(), &["run", "--dry-run", &listed]).fails(1, &want);
    let r = etl(dir.path(), &["run", &listed]).fails(1, &want);
    assert!(!r.stderr.contains("tables: none"), "{}", r.stderr);
    assert!(files_under(&out).is_empty());
}

#[test]
fn a_postgresql_query_finds_unqualified_tables_in_the_configured_schema() {
    let sales = format!("etl_t_ux_{}_sales", std::process::id());
    let _drop = PgSchemas(vec![sales.clone()]);
    psql(&format!(
        "DROP SCHEMA IF EXISTS {sales} CASCADE; CREATE SCHEMA {sales};
         CREATE TABLE {sales}.customers (id int PRIMARY KEY, name text);
         INSERT INTO {sales}.customers VALUES (1, 'a'), (2, 'b'), (3, 'c');
         CREATE TABLE {sales}.\"Order\" (id int PRIMARY KEY, customer int);
         INSERT INTO {sales}.\"Order\" VALUES (10, 1), (11, 3);"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    // The query names no schema; `public` has no `customers`. The table is pasted from a SQL
    // client with its quotes, from a source whose schema is another one.
    let streams = format!(
        "  - name: big\n    query: SELECT id, name FROM customers WHERE id > 1\n  - name: orders\n    table: '{sales}.\"Order\"'\n"
    );
    let spec = write_spec(
        dir.path(),
        "q.yaml",
        &pg_to_parquet(&pg_source(&sales, ""), &out, &streams),
    );
    let r = etl(dir.path(), &["check", &spec]).ok();
    assert!(r.stdout.contains("  stream `big`: ok"), "{}", r.stdout);
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(
        pyarrow_column(&files_under(&out.join("big")), "name")[1..],
        ["b", "c"]
    );
    let out = dir.path().join("public");
    let public = write_spec(
        dir.path(),
        "p.yaml",
        &pg_to_parquet(
            &pg_source("public", ""),
            &out,
            &streams.replace(
                "  - name: big\n    query: SELECT id, name FROM customers WHERE id > 1\n",
                "",
            ),
        ),
    );
    etl(dir.path(), &["run", &public]).ok();
    assert_eq!(
        pyarrow_column(&files_under(&out.join("orders")), "customer")[1..],
        ["1", "3"]
    );
}

#[test]
fn unconstrained_postgresql_numerics_read_as_the_source_says() {
    let schema = format!("etl_t_ux_{}_num", std::process::id());
    let _drop = PgSchemas(vec![schema.clone()]);
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.vals AS SELECT g AS id, g / 7.0 AS n FROM generate_series(1, 3) g;"
    ));
    let dir = tempdir();
    let streams = "  - name: vals\n";
    let spec = |file: &str, extra: &str, out: &Path| {
        write_spec(
            dir.path(),
            file,
            &pg_to_parquet(&pg_source(&schema, extra), out, streams),
        )
    };
    // Default (decimal, 10 fractional digits): refused, naming the column, the stream and
    // the keys that fix it.
    let out = dir.path().join("default");
    let r = etl(dir.path(), &["run", &spec("d.yaml", "", &out)]).fails(
        1,
        "column `n`, row 1: numeric has more than 10 fractional digits",
    );
    for want in [
        "`numeric: decimal256` or `numeric: text`",
        "add `cast: {n: numeric(38,20)}` to stream `vals`",
    ] {
        assert!(r.stderr.contains(want), "{want}:\n{}", r.stderr);
    }
    assert!(files_under(&out).is_empty());
    // decimal256: Decimal256(76, 38), the exact values.
    let out = dir.path().join("d256");
    etl(
        dir.path(),
        &["run", &spec("w.yaml", "    numeric: decimal256\n", &out)],
    )
    .ok();
    let got = pyarrow_column(&files_under(&out.join("vals")), "n");
    let want = psql(&format!(
        "SELECT n::numeric(76,38)::text FROM {schema}.vals ORDER BY id"
    ));
    assert_eq!(got[0], "decimal256(76, 38)");
    assert_eq!(got[1..].join("\n"), want);
    // text: PostgreSQL's own text of each value, NaN too.
    psql(&format!("INSERT INTO {schema}.vals VALUES (4, 'NaN')"));
    let out = dir.path().join("text");
    etl(
        dir.path(),
        &["run", &spec("t.yaml", "    numeric: text\n", &out)],
    )
    .ok();
    let got = pyarrow_column(&files_under(&out.join("vals")), "n");
    let want = psql(&format!("SELECT n::text FROM {schema}.vals ORDER BY id"));
    assert_eq!(got[0], "string");
    assert_eq!(got[1..].join("\n"), want);
    assert!(
        want.contains("0.14285714285714285714") && want.ends_with("NaN"),
        "{want}"
    );
    // A scale the decimal cannot hold is refused with the spec, before any connection.
    etl(
        dir.path(),
        &[
            "run",
            &spec("s.yaml", "    numeric_scale: 40\n", &dir.path().join("s")),
        ],
    )
    .fails(
        2,
        "`numeric_scale: 40` is more than `numeric: decimal` holds (at most 38)",
    );
}

// ---------------------------------------------------------------- 1. check proves the destination is writable

/// `etl check` creates and drops a table where etl will write: a MariaDB user who may read the
/// database but not create tables in it is refused by `check` (exit 1, the server's words and
/// the table named), while a user who may is accepted and nothing is left behind.
#[test]
fn check_refuses_a_destination_where_tables_cannot_be_created() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let tag = format!("etl_ro_{}", std::process::id());
    let (ro, rw, pw) = (format!("{tag}_r"), format!("{tag}_w"), "Ro-pw-1234");
    mariadb(
        "mysql",
        &format!(
            "DROP DATABASE IF EXISTS `{tag}`; CREATE DATABASE `{tag}`; \
             DROP USER IF EXISTS '{ro}'@'%', '{rw}'@'%'; \
             CREATE USER '{ro}'@'%' IDENTIFIED BY '{pw}'; GRANT SELECT ON `{tag}`.* TO '{ro}'@'%'; \
             CREATE USER '{rw}'@'%' IDENTIFIED BY '{pw}'; GRANT ALL ON `{tag}`.* TO '{rw}'@'%'"
        ),
    );
    let dest = |user: &str| {
        format!(
            "  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    database: {tag}\n    user: {user}\n    password: {pw}\n    ssl_mode: disabled\n"
        )
    };
    let streams = "streams:\n  - name: customers\n";
    let refused = write_spec(dir.path(), "ro.yaml", &shop_spec(&db, &dest(&ro), streams));
    let r = etl(dir.path(), &["check", &refused]);
    let all = format!("{}{}", r.stdout, r.stderr);
    let accepted = write_spec(dir.path(), "rw.yaml", &shop_spec(&db, &dest(&rw), streams));
    let ok = etl(dir.path(), &["check", &accepted]);
    let left = mariadb(
        "mysql",
        &format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{tag}'"),
    );
    mariadb(
        "mysql",
        &format!("DROP DATABASE `{tag}`; DROP USER '{ro}'@'%', '{rw}'@'%'"),
    );
    assert_eq!(r.code, 1, "{all}");
    assert!(
        all.contains("cannot create table `") && all.contains("_etl_stage_check_"),
        "{all}"
    );
    assert!(all.contains("CREATE command denied"), "{all}");
    assert!(!all.contains(pw), "the password was printed:\n{all}");
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(left.trim(), "0", "the probe table was dropped");
}
