//! The oracle connector through the built binary.
//!
//! Without a server or client library (always run): config validation, `etl connectors`, and
//! the exact "client library missing" error of `etl check` and `etl run` (exit 1, no password
//! printed), with the other connectors still working in the same binary.
//!
//! Against a live server (run only when `ETL_TEST_ORACLE_DSN` is set, with
//! `ETL_TEST_ORACLE_USER` and `ETL_TEST_ORACLE_PASSWORD`, on a machine with Oracle Instant
//! Client): every type through Parquet and back, full refresh and merge, compared by the server
//! (`MINUS`) through the oracle crate directly. Without the variable those tests print
//! `SKIPPED: ...` and return.
#![cfg(feature = "oracle")]

mod common;
use common::*;
use std::path::Path;

const PASSWORD: &str = "Pw-n0t-sh0wn-4f7c";

fn oracle_block(extra: &str) -> String {
    format!(
        "  connector_type: oracle\n  config:\n    dsn: 127.0.0.1:1521/FREEPDB1\n    user: etl\n    password: {PASSWORD}\n{extra}"
    )
}

fn export_spec(out: &Path) -> String {
    format!(
        "version: 1\nname: ora_export\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\nstreams:\n  - name: orders\n",
        oracle_block("    connect_timeout: 3\n"),
        out.display()
    )
}

/// Whether this machine is set up for live Oracle tests (then it has a client library, and
/// the "missing library" tests cannot run).
fn live_oracle() -> bool {
    std::env::var("ETL_TEST_ORACLE_DSN").is_ok()
}

const MISSING: &str = "the Oracle client library (libclntsh) could not be loaded, so etl cannot talk to Oracle. Install Oracle Instant Client";

#[test]
fn config_is_validated_without_the_client_library() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let good = export_spec(&out);
    let spec = write_spec(dir.path(), "good.yaml", &good);
    etl(dir.path(), &["validate", &spec]).ok();
    let spec = write_spec(
        dir.path(),
        "bad_key.yaml",
        &good.replace("    user: etl\n", "    username: etl\n"),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "username");
    let spec = write_spec(
        dir.path(),
        "no_dsn.yaml",
        &good.replace("    dsn: 127.0.0.1:1521/FREEPDB1\n", ""),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "dsn");
    let spec = write_spec(
        dir.path(),
        "bad_timeout.yaml",
        &good.replace("connect_timeout: 3", "connect_timeout: soon"),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "connect_timeout");
}

#[test]
fn connectors_lists_oracle_keys() {
    let dir = tempdir();
    let r = etl(dir.path(), &["connectors", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let oracle = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector_type"] == "oracle")
        .unwrap_or_else(|| panic!("oracle missing: {}", r.stdout));
    let text = oracle.to_string();
    for key in ["dsn", "user", "password", "schema", "connect_timeout"] {
        assert!(
            text.contains(&format!("\"{key}\"")),
            "{key} missing: {text}"
        );
    }
}

#[test]
fn missing_client_library_is_one_clear_error_for_check_and_run() {
    if live_oracle() {
        return skipped(
            "missing_client_library_is_one_clear_error_for_check_and_run",
            "ETL_TEST_ORACLE_DSN is set, so this machine has an Oracle client library",
        );
    }
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "spec.yaml", &export_spec(&out));
    let r = check_fails(
        dir.path(),
        &spec,
        &format!("source (oracle): FAILED: {MISSING}"),
    );
    for needle in ["LD_LIBRARY_PATH", "ldconfig", "DPI-1047"] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
    assert!(
        r.stdout.contains("destination (local_file): ok"),
        "{}",
        r.stdout
    );
    let r = etl(dir.path(), &["run", &spec]).fails(1, MISSING);
    assert!(r.stderr.contains("LD_LIBRARY_PATH"), "{}", r.stderr);
    assert!(!out.join("orders").exists(), "nothing may be written");

    // As a destination too: the run fails before anything is read.
    let db = shop_db(dir.path());
    let to_oracle = format!(
        "version: 1\nname: to_ora\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{}streams:\n  - name: customers\n",
        db.display(),
        oracle_block("")
    );
    let spec = write_spec(dir.path(), "to_oracle.yaml", &to_oracle);
    let r = etl(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("destination (oracle): FAILED: {MISSING}")),
        "{}",
        r.stdout
    );
    etl(dir.path(), &["run", &spec]).fails(1, MISSING);
}

#[test]
fn other_connectors_work_in_the_same_binary() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = format!(
        "version: 1\nname: no_oracle\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\nstreams:\n  - name: customers\n",
        db.display(),
        out.display()
    );
    let spec = write_spec(dir.path(), "spec.yaml", &spec);
    etl(dir.path(), &["check", &spec]).ok();
    etl(dir.path(), &["run", &spec]).ok();
    let files = files_under(&out.join("customers"));
    assert_eq!(files.len(), 1, "{files:?}");
}

// ---------------------------------------------------------------------------------------------
// Live tests (ETL_TEST_ORACLE_DSN)

struct Live {
    dsn: String,
    user: String,
    password: String,
}

fn live(test: &str) -> Option<Live> {
    let Ok(dsn) = std::env::var("ETL_TEST_ORACLE_DSN") else {
        skipped(
            test,
            "ETL_TEST_ORACLE_DSN not set (no Oracle server to test against)",
        );
        return None;
    };
    Some(Live {
        dsn,
        user: std::env::var("ETL_TEST_ORACLE_USER").expect("ETL_TEST_ORACLE_USER"),
        password: std::env::var("ETL_TEST_ORACLE_PASSWORD").expect("ETL_TEST_ORACLE_PASSWORD"),
    })
}

impl Live {
    fn block(&self) -> String {
        format!(
            "  connector_type: oracle\n  config:\n    dsn: {}\n    user: {}\n    password: ${{ETL_TEST_ORACLE_PASSWORD}}\n    connect_timeout: 30\n",
            self.dsn, self.user
        )
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("ETL_TEST_ORACLE_PASSWORD", self.password.as_str())]
    }

    fn conn(&self) -> oracle::Connection {
        oracle::Connection::connect(&self.user, &self.password, &self.dsn).expect("connect")
    }

    /// Runs statements (each without a trailing `;`), ignoring ORA-00942 on DROPs.
    fn exec(&self, statements: &[&str]) {
        let c = self.conn();
        for s in statements {
            match c.execute(s, &[]) {
                Ok(_) => {}
                Err(e) if s.starts_with("DROP") && e.oci_code() == Some(942) => {}
                Err(e) => panic!("{s}: {e}"),
            }
        }
        c.commit().expect("commit");
    }

    /// The first column of every row, as text.
    fn strings(&self, sql: &str) -> Vec<String> {
        let c = self.conn();
        c.query_as::<Option<String>>(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .map(|r| r.expect("row").unwrap_or_else(|| "NULL".into()))
            .collect()
    }
}

fn table(tag: &str) -> String {
    format!("etl_t_{}_{tag}", std::process::id())
}

/// Every column as comparable text, formatted by the server. `back`: the round-tripped table,
/// where VARCHAR2/NVARCHAR2/CHAR came back as CLOB and RAW as BLOB (LOBs cannot be compared
/// by MINUS, national text only after TO_CHAR).
fn ora_text(back: bool) -> String {
    let text = |c: &str| {
        if back {
            format!("TO_CHAR(DBMS_LOB.SUBSTR(\"{c}\", 4000, 1))")
        } else {
            format!("TO_CHAR(\"{c}\")")
        }
    };
    let raw = |c: &str| {
        if back {
            format!("RAWTOHEX(DBMS_LOB.SUBSTR(\"{c}\", 2000, 1))")
        } else {
            format!("RAWTOHEX(\"{c}\")")
        }
    };
    [
        "\"id\"".to_string(),
        "TO_CHAR(\"n\")".into(),
        "TO_CHAR(\"n0\")".into(),
        "TO_CHAR(\"nb\")".into(),
        "TO_CHAR(\"bf\")".into(),
        "TO_CHAR(\"bd\")".into(),
        text("vc"),
        text("nvc"),
        text("ch"),
        "DBMS_LOB.GETLENGTH(\"cl\")".into(),
        "TO_CHAR(DBMS_LOB.SUBSTR(\"cl\", 4000, 1))".into(),
        "TO_CHAR(DBMS_LOB.SUBSTR(\"cl\", 4000, 16001))".into(),
        "TO_CHAR(DBMS_LOB.SUBSTR(\"ncl\", 4000, 1))".into(),
        raw("r"),
        "DBMS_LOB.GETLENGTH(\"bl\")".into(),
        "RAWTOHEX(DBMS_LOB.SUBSTR(\"bl\", 2000, 1))".into(),
        "TO_CHAR(\"d\", 'YYYY-MM-DD HH24:MI:SS')".into(),
        "TO_CHAR(\"ts\", 'YYYY-MM-DD HH24:MI:SS.FF6')".into(),
        "TO_CHAR(\"ts9\", 'YYYY-MM-DD HH24:MI:SS.FF9')".into(),
        "TO_CHAR(SYS_EXTRACT_UTC(\"tstz\"), 'YYYY-MM-DD HH24:MI:SS.FF6')".into(),
        "TO_CHAR(SYS_EXTRACT_UTC(CAST(\"tsltz\" AS TIMESTAMP(6) WITH TIME ZONE)), 'YYYY-MM-DD HH24:MI:SS.FF6')".into(),
        "TO_CHAR(EXTRACT(DAY FROM \"ids\") * 86400 + EXTRACT(HOUR FROM \"ids\") * 3600 + EXTRACT(MINUTE FROM \"ids\") * 60 + EXTRACT(SECOND FROM \"ids\"))".into(),
        "TO_CHAR(EXTRACT(YEAR FROM \"iym\") * 12 + EXTRACT(MONTH FROM \"iym\"))".into(),
    ]
    .join(", ")
}

#[test]
fn live_every_type_round_trips_through_parquet() {
    let Some(o) = live("live_every_type_round_trips_through_parquet") else {
        return;
    };
    let (src, back) = (table("alltypes"), table("alltypes_back"));
    o.exec(&[
        &format!("DROP TABLE \"{src}\" PURGE"),
        &format!("DROP TABLE \"{back}\" PURGE"),
        &format!(
            "CREATE TABLE \"{src}\" (\"id\" NUMBER(10) PRIMARY KEY, \"n\" NUMBER(12,2), \"n0\" NUMBER(38), \
             \"nb\" NUMBER, \"bf\" BINARY_FLOAT, \"bd\" BINARY_DOUBLE, \"vc\" VARCHAR2(100), \
             \"nvc\" NVARCHAR2(50), \"ch\" CHAR(5), \"cl\" CLOB, \"ncl\" NCLOB, \"r\" RAW(16), \"bl\" BLOB, \
             \"d\" DATE, \"ts\" TIMESTAMP(6), \"ts9\" TIMESTAMP(9), \"tstz\" TIMESTAMP(6) WITH TIME ZONE, \
             \"tsltz\" TIMESTAMP(6) WITH LOCAL TIME ZONE, \"ids\" INTERVAL DAY(3) TO SECOND(6), \
             \"iym\" INTERVAL YEAR(3) TO MONTH)"
        ),
        &format!(
            "INSERT INTO \"{src}\" VALUES (1, -1234567890.12, 12345678901234567890123456789012345678, \
             123.456, 1.5, 2.718281828459045, 'tab\tand ''quote''', N'héllo ünï', 'ab', \
             RPAD('x', 20000, 'yz'), TO_NCLOB(N'ü'), HEXTORAW('00FF10AB'), HEXTORAW('DEADBEEF00'), \
             DATE '2024-02-29', TIMESTAMP '2024-02-29 23:59:59.999999', \
             TIMESTAMP '2000-01-01 00:00:00.123456789', TIMESTAMP '2024-02-29 23:59:59.123456 +05:30', \
             TIMESTAMP '2024-01-01 00:00:00 UTC', INTERVAL '1 02:03:04.000005' DAY TO SECOND, \
             INTERVAL '2-3' YEAR TO MONTH)"
        ),
        &format!(
            "INSERT INTO \"{src}\" (\"id\") VALUES (2)"
        ),
    ]);
    let dir = tempdir();
    let out = dir.path().join("out");
    let export = format!(
        "version: 1\nname: ora_export\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\nstreams:\n  - name: alltypes\n    table: {src}\n",
        o.block(),
        out.display()
    );
    let export = write_spec(dir.path(), "export.yaml", &export);
    etl_in(dir.path(), &["run", &export], &o.env()).ok();
    let import = format!(
        "version: 1\nname: ora_import\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: {back}\n    primary_key: [id]\n",
        out.join("alltypes").display(),
        o.block()
    );
    let import = write_spec(dir.path(), "import.yaml", &import);
    etl_in(dir.path(), &["run", &import], &o.env()).ok();
    let (a, b) = (ora_text(false), ora_text(true));
    let diff = o.strings(&format!(
        "SELECT TO_CHAR(COUNT(*)) FROM ((SELECT {a} FROM \"{src}\" MINUS SELECT {b} FROM \"{back}\") \
         UNION ALL (SELECT {b} FROM \"{back}\" MINUS SELECT {a} FROM \"{src}\"))"
    ));
    assert_eq!(
        diff,
        vec!["0".to_string()],
        "rows differ after the round trip"
    );
    o.exec(&[
        &format!("DROP TABLE \"{src}\" PURGE"),
        &format!("DROP TABLE \"{back}\" PURGE"),
    ]);
}

#[test]
fn example_pipeline_validates() {
    let dir = tempdir();
    let spec = Path::new(ROOT).join("pipelines/parquet_to_oracle.yaml");
    etl_in(
        dir.path(),
        &["validate", &spec.to_string_lossy()],
        &[
            ("ORACLE_DSN", "db.internal:1521/ORCLPDB1"),
            ("ORACLE_PASSWORD", PASSWORD),
        ],
    )
    .ok();
}
