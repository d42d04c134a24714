//! The command line: validate / connectors / check / discover / dry-run, and every kind of bad
//! input: the right exit code, one message that says what and where, no panic, nothing written.

mod common;
use common::*;
use std::path::{Path, PathBuf};

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}
impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

fn good_spec(db: &Path, out: &Path) -> String {
    format!(
        r#"version: 1
name: shop
source:
  connector_type: sqlite
  config:
    database_path: {}
destination:
  connector_type: local_file
  config:
    base_path: {}
    format: parquet
streams:
  - name: orders
    table: orders
"#,
        db.display(),
        out.display()
    )
}

/// Runs `etl run` on a broken spec: exit code, message, and nothing written.
#[track_caller]
fn rejects(text: &str, code: i32, needles: &[&str]) {
    let dir = tempdir();
    let spec = write_spec(dir.path(), "bad.yaml", text);
    for cmd in ["validate", "run"] {
        let r = etl(dir.path(), &[cmd, &spec]);
        for n in needles {
            assert!(
                r.stderr.contains(n),
                "`etl {cmd}`: stderr lacks {n:?}:\n{}",
                r.stderr
            );
        }
        r.fails(code, needles[0]);
    }
    let written: Vec<_> = entries_under(dir.path())
        .into_iter()
        .filter(|p| !p.ends_with("bad.yaml"))
        .collect();
    assert!(written.is_empty(), "nothing may be written: {written:?}");
}

#[test]
fn validate_accepts_a_good_spec_without_connecting() {
    let dir = tempdir();
    // The database does not exist: validate must not open it.
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &good_spec(&dir.path().join("nope.db"), &dir.path().join("out")),
    );
    let r = etl(dir.path(), &["validate", &spec]).ok();
    assert!(
        r.stdout
            .contains("valid (pipeline `shop`, sqlite -> local_file, 1 stream(s))"),
        "{}",
        r.stdout
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn malformed_yaml() {
    rejects(
        "version: 1\nname: [unclosed\nsource: {}\n",
        2,
        ["bad.yaml:"].as_slice(),
    );
}

#[test]
fn unknown_config_key_names_key_line_and_valid_keys() {
    let text = good_spec(Path::new("x.db"), Path::new("out")).replace(
        "    format: parquet",
        "    format: parquet\n    compresion: zstd",
    );
    rejects(
        &text,
        2,
        &[
            "bad.yaml:12:5: destination.config: unknown field `compresion`",
            "`compression`",
        ],
    );
}

#[test]
fn unknown_top_level_key() {
    let text = good_spec(Path::new("x.db"), Path::new("out"))
        .replace("name: shop", "name: shop\nschedule: daily");
    rejects(
        &text,
        2,
        &["bad.yaml:3:1: unknown field `schedule`", "`streams`"],
    );
}

#[test]
fn unknown_connector_type_lists_the_valid_ones() {
    let text = good_spec(Path::new("x.db"), Path::new("out"))
        .replace("connector_type: sqlite", "connector_type: sqlit");
    rejects(
        &text,
        2,
        &[
            "bad.yaml:4:19: source.connector_type: unknown variant `sqlit`",
            "`sqlite`",
            "`local_file`",
        ],
    );
}

#[test]
fn missing_required_key() {
    let text = good_spec(Path::new("x.db"), Path::new("out")).replace("    base_path: out\n", "");
    rejects(&text, 2, &["missing field `base_path`"]);
}

#[test]
fn missing_env_var_is_named_with_its_line() {
    let text = good_spec(Path::new("x.db"), Path::new("out")).replace(
        "base_path: out",
        "base_path: ${ETL_TEST_SURELY_UNSET_VAR}/x",
    );
    rejects(
        &text,
        2,
        &[
            "bad.yaml:10:16:",
            "environment variable `ETL_TEST_SURELY_UNSET_VAR` is not set",
        ],
    );
}

#[test]
fn wrong_value_types() {
    let text = good_spec(Path::new("x.db"), Path::new("out")).replace(
        "    format: parquet",
        "    format: parquet\n    overwrite: sometimes",
    );
    rejects(&text, 2, &["bad.yaml:12:16: destination.config.overwrite: invalid value `sometimes`: expected true or false"]);
    let text =
        good_spec(Path::new("x.db"), Path::new("out")).replace("format: parquet", "format: xlsx");
    rejects(&text, 2, &["bad.yaml:11:13:", "unknown format `xlsx`"]);
    let text = good_spec(Path::new("x.db"), Path::new("out"))
        .replace("    table: orders", "    table: {a: 1}");
    rejects(
        &text,
        2,
        &["bad.yaml:14:12: streams[0].table: invalid type: map"],
    );
}

#[test]
fn semantic_errors() {
    let base = good_spec(Path::new("x.db"), Path::new("out"));
    rejects(
        &base.replace("format: parquet", "format: csv\n    compression: snappy"),
        2,
        &["`snappy` is not available for csv"],
    );
    rejects(
        &base.replace(
            "    table: orders",
            "    table: orders\n    query: SELECT 1",
        ),
        2,
        &["either `table` or `query`"],
    );
    rejects(
        &base.replace("version: 1", "version: 3"),
        2,
        &["spec version 1"],
    );
    rejects(
        &base.replace("  - name: orders", "  - name: ../orders"),
        2,
        &["cannot be used as a file or table name"],
    );
}

#[test]
fn missing_spec_file() {
    let dir = tempdir();
    etl(dir.path(), &["validate", "nope.yaml"]).fails(2, "cannot read spec file nope.yaml");
}

#[test]
fn missing_database_file_fails_the_run() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &good_spec(&dir.path().join("nope.db"), &out),
    );
    etl(dir.path(), &["run", &spec]).fails(1, "sqlite database file not found");
    assert!(
        !dir.path().join("nope.db").exists(),
        "the source database must not be created"
    );
    assert!(!out.exists());
    let r = etl(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("source (sqlite): FAILED: sqlite database file not found"),
        "{}",
        r.stdout
    );
}

#[test]
fn missing_table_is_named_with_the_tables_that_exist() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &good_spec(&db, &out).replace("table: orders", "table: ordres"),
    );
    let r = etl(dir.path(), &["run", &spec]).fails(1, "table `ordres` not found");
    assert!(
        r.stderr.contains("customers, order_items, orders"),
        "{}",
        r.stderr
    );
    assert!(files_under(&out).is_empty(), "nothing may be published");
}

#[test]
fn not_a_database_file() {
    let dir = tempdir();
    let db = dir.path().join("junk.db");
    std::fs::write(
        &db,
        b"this is not sqlite, just text that is long enough to look like a header........",
    )
    .unwrap();
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &good_spec(&db, &dir.path().join("out")),
    );
    etl(dir.path(), &["run", &spec]).fails(1, "junk.db");
}

#[test]
fn env_values_with_special_characters_survive() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let odd = dir.path().join("we:ird #name 'q\" $x.db");
    std::fs::rename(&db, &odd).unwrap();
    let out = dir.path().join("out");
    let text = good_spec(Path::new("IGNORED"), &out)
        .replace("database_path: IGNORED", "database_path: ${ETL_ODD_DB}");
    let spec = write_spec(dir.path(), "s.yaml", &text);
    etl_in(
        dir.path(),
        &["run", &spec],
        &[("ETL_ODD_DB", &odd.to_string_lossy())],
    )
    .ok();
    compare(&odd, "orders", &files_under(&out.join("orders")), "parquet");
    // A default applies when the variable is unset.
    let db2 = shop_db(&dir.path().join("sub").tap_mkdir());
    let out2 = dir.path().join("out2");
    let text = good_spec(Path::new("IGNORED"), &out2).replace(
        "database_path: IGNORED",
        &format!("database_path: ${{ETL_UNSET_DB:-{}}}", db2.display()),
    );
    let spec = write_spec(dir.path(), "s2.yaml", &text);
    etl(dir.path(), &["run", &spec]).ok();
    compare(
        &db2,
        "orders",
        &files_under(&out2.join("orders")),
        "parquet",
    );
}

#[test]
fn connectors_lists_types_roles_and_keys() {
    let dir = tempdir();
    let r = etl(dir.path(), &["connectors"]).ok();
    assert!(
        r.stdout
            .contains("sqlite       source       database_path, batch_size"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("local_file   destination  base_path, format, compression, overwrite"),
        "{}",
        r.stdout
    );
    let r = etl(dir.path(), &["connectors", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let types: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["connector_type"].as_str())
        .collect();
    for t in ["sqlite", "local_file", "s3", "postgresql", "mysql"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    assert!(r.stdout.contains("aws_secret_access_key"), "{}", r.stdout);
}

#[test]
fn check_discover_and_dry_run() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "s.yaml", &good_spec(&db, &out));
    let r = etl(dir.path(), &["check", &spec]).ok();
    assert!(
        r.stdout.contains("source (sqlite): ok")
            && r.stdout.contains("destination (local_file): ok"),
        "{}",
        r.stdout
    );
    let r = etl(dir.path(), &["discover", &spec]).ok();
    // SQLite keeps no statistics: the figure is a count, exact.
    assert!(
        r.stdout.contains("customers  (~1000 rows)\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("credit_limit") && r.stdout.contains("Decimal128(12, 2)"),
        "{}",
        r.stdout
    );
    let r = etl(dir.path(), &["discover", &spec, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["name"], "customers");
    assert_eq!(v[0]["rows_estimate"], 1000);
    let r = etl(dir.path(), &["run", &spec, "--dry-run"]).ok();
    assert!(
        r.stdout.contains("orders")
            && r.stdout.contains("full_refresh")
            && r.stdout.contains("table `orders`"),
        "{}",
        r.stdout
    );
    assert!(!out.exists(), "--dry-run writes nothing");
}

#[test]
fn logs_go_to_stderr_and_json_logs_are_json() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "s.yaml", &good_spec(&db, &out));
    let r = etl(dir.path(), &["--log-format", "json", "run", &spec]).ok();
    assert!(
        r.stdout.is_empty(),
        "stdout carries only requested output: {}",
        r.stdout
    );
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines.len() >= 2);
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
        assert!(v["fields"].is_object(), "{l}");
    }
    assert!(
        !r.stderr.contains('\r'),
        "no carriage-return animation in a log"
    );
    let out2 = dir.path().join("out2");
    let spec = write_spec(dir.path(), "q.yaml", &good_spec(&db, &out2));
    let r = etl(dir.path(), &["--quiet", "run", &spec]).ok();
    assert!(r.stderr.is_empty(), "--quiet: {}", r.stderr);
}

#[test]
fn summary_is_written_even_when_the_run_fails() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &good_spec(&db, &out).replace("table: orders", "table: nope"),
    );
    let summary = dir.path().join("sum.json");
    etl(
        dir.path(),
        &["run", &spec, "--summary", &summary.to_string_lossy()],
    )
    .fails(1, "not found");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(v["streams"][0]["status"], "failed");
    assert!(v["streams"][0]["error"]
        .as_str()
        .unwrap()
        .contains("table `nope` not found"));
}

#[test]
fn help_reads_like_documentation() {
    let dir = tempdir();
    let r = etl(dir.path(), &["--help"]).ok();
    assert!(r.stdout.contains("Exit codes"), "{}", r.stdout);
    etl(dir.path(), &["frobnicate"]).fails(2, "unrecognized subcommand");
}

#[test]
fn a_terminal_gets_progress_bars() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "s.yaml", &good_spec(&db, &out));
    let cmd = format!("{} run {spec}", env!("CARGO_BIN_EXE_etl"));
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("orders") && text.contains("done: 3000 rows"),
        "{text}"
    );
    assert!(
        !text.contains("stream started"),
        "a terminal gets bars, not log lines: {text}"
    );
}

fn three_streams(db: &Path, dest: &str, defaults: &str) -> String {
    format!(
        "version: 1\nname: many\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{dest}defaults:\n{defaults}streams:\n  - name: broken\n    table: nope\n  - name: orders\n  - name: customers\n",
        db.display()
    )
}

#[test]
fn one_failing_stream_does_not_stop_the_others_unless_fail_fast() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let copy = dir.path().join("copy.db");
    let dest = format!(
        "  connector_type: sqlite\n  config:\n    database_path: {}\n",
        copy.display()
    );
    let sum = dir.path().join("sum.json");
    let statuses = |path: &Path| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_string())
            .collect()
    };
    // Two streams at a time into one SQLite file: they take turns as writers.
    let spec = write_spec(
        dir.path(),
        "a.yaml",
        &three_streams(&db, &dest, "  max_concurrency: 2\n"),
    );
    etl(
        dir.path(),
        &["run", &spec, "--summary", &sum.to_string_lossy()],
    )
    .fails(1, "table `nope` not found");
    assert_eq!(statuses(&sum), ["failed", "succeeded", "succeeded"]);
    assert_eq!(
        sqlite_scalar(&copy, "SELECT count(*) FROM orders"),
        rusqlite::types::Value::Integer(3000)
    );
    let spec = write_spec(
        dir.path(),
        "b.yaml",
        &three_streams(&db, &dest, "  max_concurrency: 1\n  fail_fast: true\n"),
    );
    etl(
        dir.path(),
        &["run", &spec, "--summary", &sum.to_string_lossy()],
    )
    .fails(1, "fail_fast");
    assert_eq!(statuses(&sum), ["failed", "skipped", "skipped"]);
}

/// An Avro file whose data block holds more bytes than its records use (found by fuzzing,
/// fuzz/hangs/) makes arrow-avro spin without reading on: the read fails naming the file once
/// the decoder has made no progress for `ETL_AVRO_STALL_SECS`, and the process exits.
#[test]
fn a_malformed_avro_block_fails_the_stream_instead_of_hanging() {
    let dir = tempdir();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("fuzz/hangs/read_avro-timeout-42690ade"),
        input.join("x.avro"),
    )
    .unwrap();
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &format!(
            "version: 1\nname: av\nsource:\n  connector_type: local_file\n  config: {{file_path: {}}}\ndestination:\n  connector_type: local_file\n  config: {{base_path: {}, format: csv}}\nstreams:\n  - name: x\n",
            input.display(),
            dir.path().join("out").display()
        ),
    );
    etl_in(dir.path(), &["run", &spec], &[("ETL_AVRO_STALL_SECS", "2")]).fails(
        1,
        "x.avro: the Avro decoder made no progress for 2 s: a data block holds more bytes than its records use",
    );
    assert!(!dir.path().join("out/x").exists(), "nothing published");
}
