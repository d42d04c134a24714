//! PostgreSQL source and destination through the built binary, against the real local server
//! (`ETL_TEST_PG_HOST`, default 127.0.0.1; user `postgres`, database `test`). Every test makes
//! its own schemas (`etl_t_<pid>_<n>_...`) and drops them afterwards. Results are checked with
//! `psql` (EXCEPT both ways), never with the code under test. The tests fail, not skip, when
//! the server cannot be reached.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Pw-n0t-sh0wn-4f7c";

fn host() -> String {
    pg_host()
}

/// Schemas (and roles) created by one test, dropped when it ends.
struct Db {
    schemas: Vec<String>,
    roles: Vec<String>,
}

static N: AtomicUsize = AtomicUsize::new(0);

impl Db {
    fn new() -> Db {
        Db {
            schemas: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// A new empty schema with a unique name.
    fn schema(&mut self, tag: &str) -> String {
        let name = format!(
            "etl_t_{}_{}_{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&format!("CREATE SCHEMA \"{name}\""));
        self.schemas.push(name.clone());
        name
    }

    /// A login role without privileges.
    fn role(&mut self) -> String {
        let name = format!(
            "etl_t_{}_{}_role",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&format!(
            "CREATE ROLE \"{name}\" LOGIN PASSWORD '{PASSWORD}'"
        ));
        self.roles.push(name.clone());
        name
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        for s in &self.schemas {
            pg_drop_schema(s);
        }
        for r in &self.roles {
            let _ = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-h",
                    &host(),
                    "-U",
                    "postgres",
                    "-d",
                    "test",
                    "-c",
                ])
                .arg(format!(
                    "DROP OWNED BY \"{r}\"; DROP ROLE IF EXISTS \"{r}\""
                ))
                .output();
        }
    }
}

/// A `postgresql` connector block.
fn pg(schema: &str, extra: &str) -> String {
    format!(
        "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    password: ${{ETL_T_PW}}\n    schema: \"{schema}\"\n{extra}",
        host()
    )
}

fn files(out: &Path, format: &str) -> String {
    format!("  connector_type: local_file\n  config:\n    base_path: {}\n    format: {format}\n    overwrite: true\n", out.display())
}

fn file_source(path: &Path) -> String {
    format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        path.display()
    )
}

fn spec(source: &str, destination: &str, rest: &str) -> String {
    format!("version: 1\nname: t\nsource:\n{source}destination:\n{destination}{rest}")
}

/// Runs `etl run` on `text` with the password in the environment.
fn run(dir: &Path, text: &str) -> Run {
    let p = write_spec(dir, "spec.yaml", text);
    etl_in(dir, &["run", &p], &[("ETL_T_PW", PASSWORD)])
}

#[track_caller]
fn no_password(r: &Run) {
    assert!(
        !r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD),
        "the password was printed:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// Creates `"s"."AllTypes"` with every mapped type, NULLs and edge values.
fn all_types(s: &str) {
    psql(&format!(
        r#"
CREATE TYPE "{s}".mood AS ENUM ('sad', 'happy', 'it''s');
CREATE TABLE "{s}"."AllTypes" (
  id int PRIMARY KEY, s smallint, b bigint, n numeric(12,2), nu numeric, big numeric(50,5),
  r real, d double precision, bo boolean, t text, vc varchar(20), c char(5), by bytea,
  dt date, tm time, ts timestamp, tz timestamptz, iv interval, u uuid, j json, jb jsonb,
  m "{s}".mood, ai int[], at text[], an numeric(10,3)[], ats timestamptz[], "select" text);
INSERT INTO "{s}"."AllTypes" VALUES
(1, 1, 9223372036854775807, -1234567890.12, 3.1415926535, 123456789012345678901234567890123456789012345.12345,
 1.5, 2.25, true, 'héllo, "wörld"', 'vc', 'ab', '\xdeadbeef00',
 '2024-02-29', '23:59:59.999999', '1999-12-31 23:59:59.123456', '2024-01-01 12:00:00.000001+02',
 '1 year 2 months 3 days 04:05:06.000007', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{{"a": [1, 2]}}', '{{"b": null, "c": "☃"}}', 'it''s', '{{1,NULL,3}}', '{{"x","y,z",NULL}}', '{{1.5,NULL}}',
 '{{"2020-01-01 00:00:00+00"}}', 'sel'),
(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(3, -32768, -9223372036854775808, 0, -0.0000000001, -1, 'NaN', '-Infinity', false, '', '', '', '',
 '0001-01-01', '00:00', '1900-01-01', '1970-01-01 00:00:00+00', '-1 days -00:00:01.5',
 '00000000-0000-0000-0000-000000000000', '[]', '{{}}', 'sad', '{{}}', '{{}}', '{{}}', '{{}}', ''),
(4, 32767, 0, 9999999999.99, 12345678901234567890.5, 0.00001, 3.4e38, 1e-300, true, E'line\nbreak\ttab', 'x', 'abcde', '\x',
 '9999-12-31', '23:59:59.999999', '2262-04-11 23:47:16.854775', '1677-09-21 00:12:44+00', '-178000000 years',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"s"', '[1, 2.50]', 'happy', '{{-1}}', '{{""}}', '{{0.001}}', '{{NULL}}', 'NULL');
"#
    ));
}

/// The column list of `AllTypes` with json (which has no equality) compared as text.
const ALL_COLS: &str = r#"id, s, b, n, nu, big, r, d, bo, t, vc, c, by, dt, tm, ts, tz, iv, u, j::text, jb, m, ai, at, an, ats, "select""#;

/// Rows in one table and not in the other, both ways (0 when they hold the same rows); the
/// differing rows are printed.
#[track_caller]
fn diff(a: &str, b: &str, cols_a: &str, cols_b: &str) -> i64 {
    let rows = psql(&format!(
        "(SELECT 'only in first' AS side, * FROM (SELECT {cols_a} FROM {a} EXCEPT ALL SELECT {cols_b} FROM {b}) x) \
         UNION ALL (SELECT 'only in second', * FROM (SELECT {cols_b} FROM {b} EXCEPT ALL SELECT {cols_a} FROM {a}) y)"
    ));
    if !rows.is_empty() {
        eprintln!("differences:\n{rows}");
    }
    rows.lines().count() as i64
}

fn column_types(table: &str) -> String {
    psql(&format!(
        "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END, ', ' ORDER BY attnum) \
         FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
    ))
}

#[test]
fn every_type_round_trips_through_parquet_exactly() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    all_types(&src);
    let dir = tempdir();
    let out = dir.path().join("out");
    // No `streams:`: every table of the schema moves.
    run(
        dir.path(),
        &spec(&pg(&src, ""), &files(&out, "parquet"), ""),
    )
    .ok();
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("AllTypes")),
            &pg(&dst, ""),
            "streams:\n  - name: AllTypes\n    primary_key: [id]\n",
        ),
    )
    .ok();
    let (a, b) = (
        format!("\"{src}\".\"AllTypes\""),
        format!("\"{dst}\".\"AllTypes\""),
    );
    assert_eq!(psql(&format!("SELECT count(*) FROM {b}")), "4");
    assert_eq!(diff(&a, &b, ALL_COLS, ALL_COLS), 0, "tables differ");
    // The same column types, including varchar(20), char(5), json/jsonb, the enum and arrays.
    assert_eq!(column_types(&a), column_types(&b));
    // NOT NULL survives too (the primary key column).
    assert_eq!(
        psql(&format!("SELECT attnotnull FROM pg_attribute WHERE attrelid = '{b}'::regclass AND attname = 'id'")),
        "t"
    );
    assert!(psql(&format!("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{b}'::regclass AND contype = 'p'")).contains("PRIMARY KEY (id)"));
}

#[test]
fn postgres_to_postgres_directly_and_rerun_replaces() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    all_types(&src);
    let dir = tempdir();
    let text = spec(&pg(&src, ""), &pg(&dst, ""), "defaults:\n  batch_size: 3\n");
    run(dir.path(), &text).ok();
    run(dir.path(), &text).ok();
    let (a, b) = (
        format!("\"{src}\".\"AllTypes\""),
        format!("\"{dst}\".\"AllTypes\""),
    );
    assert_eq!(diff(&a, &b, ALL_COLS, ALL_COLS), 0);
    assert_eq!(column_types(&a), column_types(&b));
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{dst}' AND relname LIKE '\\_etl\\_stage%'"
        )),
        "0"
    );
}

/// Loaded text columns cast back to the original types, for formats without metadata.
const CAST_BACK: &str = r#"id::int, s::smallint, b::bigint, n::numeric(12,2), nu::numeric, big::numeric(50,5), r::real, d::float8, bo::boolean, t::text, vc::varchar(20), c::char(5), decode(by, 'hex'), dt::date, tm::time, ts::timestamp, tz::timestamptz, iv::interval, u::uuid, j::json::text, jb::jsonb, m::text"#;
const ORIG_SCALARS: &str =
    r#"id, s, b, n, nu, big, r, d, bo, t, vc, c, by, dt, tm, ts, tz, iv, u, j::text, jb, m::text"#;

#[test]
fn jsonl_round_trip_keeps_values() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    all_types(&src);
    // Known limits of the file formats, not of this connector: JSON numbers are read back as
    // floats (keep decimals within 15 significant digits), and JSON has no NaN/Infinity (the
    // writer emits null).
    psql(&format!(
        "UPDATE \"{src}\".\"AllTypes\" SET big = 1.5, nu = 3.5 WHERE id IN (1, 4); \
         UPDATE \"{src}\".\"AllTypes\" SET r = 0, d = 0 WHERE id = 3"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    run(dir.path(), &spec(&pg(&src, ""), &files(&out, "jsonl"), "")).ok();
    // json/jsonb are written as JSON values; declared `json`, they read back as JSON text
    // (compact: whitespace between tokens is not kept, so `j` is compared as jsonb).
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("AllTypes")),
            &pg(&dst, ""),
            "streams:\n  - name: AllTypes\n    schema: {j: json, jb: json}\n",
        ),
    )
    .ok();
    let (a, b) = (
        format!("\"{src}\".\"AllTypes\""),
        format!("\"{dst}\".\"AllTypes\""),
    );
    assert_eq!(
        diff(
            &a,
            &b,
            &format!("{}, ai, at", ORIG_SCALARS.replace("j::text", "j::jsonb")),
            &format!(
                "{}, ai::int[], at::text[]",
                CAST_BACK.replace("j::json::text", "j::jsonb")
            )
        ),
        0
    );
}

#[test]
fn csv_round_trip_keeps_scalar_values() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    all_types(&src);
    // The CSV reader infers decimal text as Float64: keep decimals within 15 digits.
    psql(&format!(
        "UPDATE \"{src}\".\"AllTypes\" SET big = 1.5, nu = 3.5 WHERE id IN (1, 4)"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    // CSV has no lists: the array columns are written as JSON text (a list of integers reads
    // back as text, not as an array), so the round trip below leaves them out.
    let cols = ORIG_SCALARS.replace("::text", "");
    let all = dir.path().join("all");
    run(dir.path(), &spec(&pg(&src, ""), &files(&all, "csv"), "")).ok();
    let text = std::fs::read_to_string(&files_under(&all.join("AllTypes"))[0]).unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"[") && l.contains("]\"")),
        "{text}"
    );
    let query = format!("SELECT {cols} FROM \"{src}\".\"AllTypes\"");
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &files(&out, "csv"),
            &format!("streams:\n  - name: AllTypes\n    query: '{query}'\n"),
        ),
    )
    .ok();
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("AllTypes")),
            &pg(&dst, ""),
            "streams:\n  - name: AllTypes\n",
        ),
    )
    .ok();
    // Empty strings and empty bytea come back as themselves, NULLs as NULL (PostgreSQL's CSV
    // rule: `""` is the empty string; binary is written and read as hex).
    let orig = ORIG_SCALARS.to_string();
    let back = CAST_BACK;
    assert_eq!(
        diff(
            &format!("\"{src}\".\"AllTypes\""),
            &format!("\"{dst}\".\"AllTypes\""),
            &orig,
            back
        ),
        0
    );
}

#[test]
fn avro_export_writes_every_type() {
    let mut db = Db::new();
    let src = db.schema("src");
    all_types(&src);
    let dir = tempdir();
    let out = dir.path().join("out");
    let r = run(dir.path(), &spec(&pg(&src, ""), &files(&out, "avro"), ""));
    no_password(&r);
    let r = r.ok();
    let _ = r;
    let f = files_under(&out.join("AllTypes"));
    assert_eq!(f.len(), 1);
    let py = Command::new(python())
        .arg("-c")
        .arg("import fastavro,sys; rows=list(fastavro.reader(open(sys.argv[1],'rb'))); print(len(rows), sorted(r['id'] for r in rows))")
        .arg(&f[0])
        .output()
        .expect("python");
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "4 [1, 2, 3, 4]",
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
}

#[test]
fn a_ten_megabyte_text_value_survives() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    psql(&format!(
        "CREATE TABLE \"{src}\".big (id int, v text, b bytea); \
         INSERT INTO \"{src}\".big SELECT 1, string_agg(md5(i::text), '') || 'é', decode(repeat('ab', 5000000), 'hex') FROM generate_series(1, 330000) i"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    run(
        dir.path(),
        &spec(&pg(&src, ""), &files(&out, "parquet"), ""),
    )
    .ok();
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("big")),
            &pg(&dst, ""),
            "streams:\n  - name: big\n",
        ),
    )
    .ok();
    assert_eq!(
        psql(&format!(
            "SELECT length(v) > 10000000, md5(v) = (SELECT md5(v) FROM \"{src}\".big), md5(b) = (SELECT md5(b) FROM \"{src}\".big) FROM \"{dst}\".big"
        )),
        "t|t|t"
    );
}

#[test]
fn a_load_failing_half_way_leaves_the_old_table() {
    let mut db = Db::new();
    let dst = db.schema("dst");
    let dir = tempdir();
    let good = "streams:\n  - name: t\n    query: SELECT i AS id, 'v' || i AS v FROM generate_series(1, 10) i\n";
    run(dir.path(), &spec(&pg(&dst, ""), &pg(&dst, ""), good)).ok();
    // The source fails at row 2500, after many batches have been copied into the staging table.
    let bad = "defaults:\n  batch_size: 100\nstreams:\n  - name: t\n    query: SELECT i AS id, (10 / (2500 - i))::text AS v FROM generate_series(1, 3000) i\n";
    let r = run(dir.path(), &spec(&pg(&dst, ""), &pg(&dst, ""), bad)).fails(1, "division by zero");
    no_password(&r);
    assert_eq!(
        psql(&format!(
            "SELECT count(*), min(v), max(id) FROM \"{dst}\".t"
        )),
        "10|v1|10"
    );
    // A destination-side failure (duplicate primary key) also keeps the old rows.
    let dup = "streams:\n  - name: t\n    primary_key: [id]\n    query: SELECT i % 5 AS id, 'x' AS v FROM generate_series(1, 10) i\n";
    run(dir.path(), &spec(&pg(&dst, ""), &pg(&dst, ""), dup)).fails(1, "duplicate key");
    assert_eq!(psql(&format!("SELECT count(*) FROM \"{dst}\".t")), "10");
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{dst}' AND relname LIKE '\\_etl\\_stage%'"
        )),
        "0",
        "no staging table left behind"
    );
}

#[test]
fn unsupported_types_fail_naming_the_column_unless_cast() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    psql(&format!(
        "CREATE TABLE \"{src}\".m (id int, price money, ok numeric); INSERT INTO \"{src}\".m VALUES (1, 12.5, 1.25), (2, NULL, 'NaN')"
    ));
    let dir = tempdir();
    let r = run(
        dir.path(),
        &spec(&pg(&src, ""), &pg(&dst, ""), "streams:\n  - name: m\n"),
    )
    .fails(1, "column `price`: type `money`");
    assert!(r.stderr.contains("cast"), "{}", r.stderr);
    // NaN in an unconstrained numeric cannot become a decimal: the row is named.
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &pg(&dst, ""),
            "streams:\n  - name: m\n    cast: {price: text}\n",
        ),
    )
    .fails(1, "column `ok`, row 2: numeric is NaN");
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &pg(&dst, ""),
            "streams:\n  - name: m\n    cast: {price: text, ok: text}\n",
        ),
    )
    .ok();
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(id || ':' || coalesce(price, '-') || ':' || ok, ',' ORDER BY id) FROM \"{dst}\".m"
        )),
        "1:$12.50:1.25,2:-:NaN"
    );
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &pg(&dst, ""),
            "streams:\n  - name: m\n    cast: {nope: text}\n",
        ),
    )
    .fails(1, "cast of column `nope`");
}

#[test]
fn connection_errors_are_clear_and_never_print_the_password() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let with = |host: &str, extra: &str| {
        spec(
            &format!(
                "  connector_type: postgresql\n  config:\n    host: {host}\n    database: test\n    user: postgres\n    password: ${{ETL_T_PW}}\n{extra}"
            ),
            &files(&out, "parquet"),
            "",
        )
    };
    // Unknown host.
    let r = run(dir.path(), &with("no-such-host.invalid", "")).fails(1, "no-such-host.invalid");
    no_password(&r);
    // An address that never answers: the connect timeout ends the attempt.
    let t = Instant::now();
    let r = run(
        dir.path(),
        &with("10.255.255.1", "    connect_timeout: 2\n"),
    )
    .fails(
        1,
        "cannot connect to postgresql://postgres@10.255.255.1:5432/test",
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    no_password(&r);
    // A server that accepts the connection and never answers: connect_timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let t = Instant::now();
    let r = run(
        dir.path(),
        &with(
            "127.0.0.1",
            &format!("    port: {port}\n    connect_timeout: 2\n    sslmode: disable\n"),
        ),
    )
    .fails(1, "no answer within 2 s");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    no_password(&r);
    drop(silent);
    // Nothing listening.
    let r = run(dir.path(), &with(&host(), "    port: 1\n")).fails(1, "cannot connect");
    no_password(&r);
    // Unknown database.
    let r = run(
        dir.path(),
        &with(&host(), "").replace("database: test", "database: etl_no_such_db"),
    )
    .fails(1, "etl_no_such_db");
    no_password(&r);
    // Authentication fails for an unknown role (the server trusts 127.0.0.1, so a wrong
    // password cannot be provoked without editing pg_hba.conf).
    let r = run(
        dir.path(),
        &with(&host(), "").replace("user: postgres", "user: etl_no_such_role"),
    )
    .fails(1, "role \"etl_no_such_role\" does not exist");
    no_password(&r);
    // `check` too.
    let p = write_spec(dir.path(), "c.yaml", &with("no-such-host.invalid", ""));
    let r = etl_in(dir.path(), &["check", &p], &[("ETL_T_PW", PASSWORD)]);
    assert_eq!(r.code, 1);
    no_password(&r);
}

#[test]
fn missing_table_and_permission_denied() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    let role = db.role();
    psql(&format!(
        "CREATE TABLE \"{src}\".secret (id int); CREATE TABLE \"{src}\".other (id int)"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    let r = run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &files(&out, "parquet"),
            "streams:\n  - name: nope\n",
        ),
    )
    .fails(1, "table `nope` not found in schema");
    assert!(r.stderr.contains("other, secret"), "{}", r.stderr);
    no_password(&r);
    // A role without privileges on the schema.
    let as_role = |s: &str| pg(s, "").replace("user: postgres", &format!("user: {role}"));
    let r = run(
        dir.path(),
        &spec(
            &as_role(&src),
            &files(&out, "parquet"),
            "streams:\n  - name: secret\n    table: secret\n",
        ),
    )
    .fails(1, "permission denied");
    no_password(&r);
    psql(&format!("GRANT USAGE ON SCHEMA \"{src}\" TO \"{role}\""));
    run(
        dir.path(),
        &spec(
            &as_role(&src),
            &files(&out, "parquet"),
            "streams:\n  - name: secret\n",
        ),
    )
    .fails(1, "permission denied for table secret");
    // Writing into a schema without CREATE fails before anything is read.
    let r = run(
        dir.path(),
        &spec(&pg(&src, ""), &as_role(&dst), "streams:\n  - name: other\n"),
    )
    .fails(1, "may not create tables in schema");
    no_password(&r);
}

#[test]
fn sslmode_require_and_disable() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    psql(&format!(
        "CREATE TABLE \"{src}\".t AS SELECT i AS id FROM generate_series(1, 100) i"
    ));
    let dir = tempdir();
    for mode in ["require", "disable", "prefer"] {
        // Each mode writes the table anew: the check below must not see an earlier mode's.
        psql(&format!("DROP TABLE IF EXISTS \"{dst}\".t"));
        run(
            dir.path(),
            &spec(
                &pg(&src, &format!("    sslmode: {mode}\n")),
                &pg(&dst, &format!("    sslmode: {mode}\n")),
                "",
            ),
        )
        .ok();
        assert_eq!(psql(&format!("SELECT sum(id) FROM \"{dst}\".t")), "5050");
    }
    let r = run(
        dir.path(),
        &spec(&pg(&src, "    sslmode: verify-full\n"), &pg(&dst, ""), ""),
    );
    // verify-full without its CA file is a spec error (tests/tls.rs has the verified modes).
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "`sslmode: verify-full` verifies the server's certificate and needs `sslrootcert`"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn partitioned_reads_return_every_row_once() {
    let mut db = Db::new();
    let src = db.schema("src");
    let dst = db.schema("dst");
    psql(&format!(
        "CREATE TABLE \"{src}\".p AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 20000) i; \
         INSERT INTO \"{src}\".p VALUES (NULL, 'null id'), (-5, 'negative'), (1000000, 'far')"
    ));
    let dir = tempdir();
    for partition in [
        "{column: id, count: 4}",
        "{count: 3}",
        "{column: id, count: 7}",
    ] {
        // Each partitioning writes the table anew: the diff must not see an earlier run's.
        psql(&format!("DROP TABLE IF EXISTS \"{dst}\".p"));
        run(
            dir.path(),
            &spec(
                &pg(&src, ""),
                &pg(&dst, ""),
                &format!(
                    "defaults:\n  batch_size: 1000\nstreams:\n  - name: p\n    partition: {partition}\n"
                ),
            ),
        )
        .ok();
        assert_eq!(
            diff(
                &format!("\"{src}\".p"),
                &format!("\"{dst}\".p"),
                "id, v",
                "id, v"
            ),
            0,
            "{partition}"
        );
    }
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &pg(&dst, ""),
            "streams:\n  - name: p\n    partition: {column: v, count: 2}\n",
        ),
    )
    .fails(1, "partition column `v` must be an integer column");
    run(
        dir.path(),
        &spec(
            &pg(&src, ""),
            &pg(&dst, ""),
            "streams:\n  - name: p\n    partition: {count: 1000}\n",
        ),
    )
    .fails(2, "partition.count must be from 1 to 64");
}

#[test]
fn discover_and_check() {
    let mut db = Db::new();
    let src = db.schema("src");
    all_types(&src);
    psql(&format!("CREATE TABLE \"{src}\".never_analysed (x int)"));
    psql(&format!("ANALYZE \"{src}\".\"AllTypes\""));
    let rows = psql(&format!("SELECT count(*) FROM \"{src}\".\"AllTypes\""));
    let dir = tempdir();
    let p = write_spec(
        dir.path(),
        "d.yaml",
        &spec(&pg(&src, ""), &pg(&src, ""), ""),
    );
    let r = etl_in(dir.path(), &["discover", &p], &[("ETL_T_PW", PASSWORD)]).ok();
    for want in [
        "AllTypes",
        "Decimal128(12, 2)",
        "Decimal256(50, 5)",
        "FixedSizeBinary(16)",
        "List(Int32)",
        "Timestamp(µs, \"UTC\")",
    ] {
        assert!(r.stdout.contains(want), "{want} missing:\n{}", r.stdout);
    }
    // Row estimates come from the planner's statistics: exact after ANALYZE of a small table,
    // absent for a table never analysed.
    assert!(
        r.stdout.contains(&format!("AllTypes  (~{rows} rows)\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("never_analysed\n"), "{}", r.stdout);
    etl_in(dir.path(), &["check", &p], &[("ETL_T_PW", PASSWORD)]).ok();
}

/// Append (what `incremental` will use once the runner supports it) is not reachable from the
/// CLI yet, so this drives the destination through the library.
#[test]
fn append_adds_rows_to_the_existing_table_keeping_its_types() {
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use etl::connectors::sql::postgres::{PostgresConfig, PostgresDestination};
    use etl::connectors::{Destination, WriteTarget};
    use etl::spec::{Mode, StreamSpec};
    use std::sync::Arc;

    let mut db = Db::new();
    let dst = db.schema("dst");
    psql(&format!(
        "CREATE TABLE \"{dst}\".t (id int, v varchar(5)); INSERT INTO \"{dst}\".t VALUES (1, 'a')"
    ));
    let config: PostgresConfig = serde_yaml_ng::from_str(&format!(
        "host: {}\ndatabase: test\nuser: postgres\nschema: {dst}\n",
        host()
    ))
    .unwrap();
    // The stream's columns are the table's (int, varchar(5)): nothing for schema_changes to
    // widen (an int64 or unbounded text column would widen them under the default `evolve`).
    let varchar5 = std::collections::HashMap::from([(
        "postgresql.type".to_string(),
        "character varying(5)".to_string(),
    )]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, true),
        Field::new("v", DataType::Utf8, true).with_metadata(varchar5),
    ]));
    let batch = |ids: Vec<i32>, vs: Vec<&str>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(ids)),
                Arc::new(StringArray::from(vs)),
            ],
        )
        .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = PostgresDestination::new(config);
        let target = WriteTarget {
            stream: StreamSpec::named("t"),
            mode: Mode::Incremental,
            run_id: "20260101T000000Z-abcdef12".into(),
        };
        let batches = vec![Ok(batch(vec![2, 3], vec!["b", "c"]))];
        let staged = d
            .write(
                &target,
                schema.clone(),
                Box::pin(futures::stream::iter(batches)),
            )
            .await
            .unwrap();
        assert_eq!(staged.commit().await.unwrap().rows, 2);
        // A failing append (value too long for varchar(5)) adds nothing: it fails loading the
        // staging table (declared varchar(5) too) or merging it.
        let batches = vec![Ok(batch(vec![4], vec!["too long"]))];
        let written = d
            .write(
                &target,
                schema.clone(),
                Box::pin(futures::stream::iter(batches)),
            )
            .await;
        let e = match written {
            Ok(staged) => staged.commit().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("too long for type character varying(5)"), "{e}");
    });
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(id || v, ',' ORDER BY id) FROM \"{dst}\".t"
        )),
        "1a,2b,3c"
    );
    assert_eq!(
        column_types(&format!("\"{dst}\".t")),
        "id integer, v character varying(5)"
    );
}

#[test]
fn unix_socket_host() {
    let mut db = Db::new();
    let src = db.schema("src");
    psql(&format!("CREATE TABLE \"{src}\".t AS SELECT 1 AS id"));
    let dir = tempdir();
    let out = dir.path().join("out");
    let socket =
        std::env::var("ETL_TEST_PG_SOCKET").unwrap_or_else(|_| "/var/run/postgresql".into());
    run(
        dir.path(),
        &spec(
            &pg(&src, "").replace(&format!("host: {}", host()), &format!("host: {socket}")),
            &files(&out, "parquet"),
            "",
        ),
    )
    .ok();
    assert_eq!(files_under(&out.join("t")).len(), 1);
}

#[test]
fn incremental_to_parquet_adds_only_new_rows() {
    let mut db = Db::new();
    let src = db.schema("ifiles");
    let dir = tempdir();
    psql(&format!(
        "CREATE TABLE \"{src}\".t (id bigint PRIMARY KEY, v text);
         INSERT INTO \"{src}\".t SELECT i, 'v' || i FROM generate_series(1, 30) i"
    ));
    let out = dir.path().join("out");
    let text = spec(
        &pg(&src, ""),
        &format!("  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n", out.display()),
        &format!(
            "state:\n  path: {}\nstreams:\n  - name: t\n    mode: incremental\n    cursor_field: id\n",
            dir.path().join("st.json").display()
        ),
    );
    run(dir.path(), &text).ok();
    psql(&format!(
        "INSERT INTO \"{src}\".t SELECT i, 'n' || i FROM generate_series(31, 40) i"
    ));
    let r = run(dir.path(), &text).ok();
    assert!(
        r.stderr.contains("rows=10"),
        "10 new (the boundary row, re-read, is dropped):\n{}",
        r.stderr
    );
    assert_eq!(
        files_under(&out.join("t"))
            .iter()
            .filter(|f| !f.to_string_lossy().contains("/_etl/"))
            .count(),
        2,
        "a new part beside the first"
    );
}

/// PostgreSQL's own lookup (quoted identifiers in general are in tests/conformance/): a
/// stream's `table:` may name the schema, in any case, and may be a reserved word.
#[test]
fn table_names_may_be_schema_qualified_in_any_case() {
    let mut db = Db::new();
    let src = db.schema("Src");
    let dst = db.schema("Dst");
    psql(&format!(
        r#"CREATE TABLE "{src}"."Order" (id int); INSERT INTO "{src}"."Order" VALUES (1), (2);
           CREATE TABLE "{src}"."user" (id int)"#
    ));
    let dir = tempdir();
    let streams = format!(
        "streams:\n  - name: Order\n    table: '{}.order'\n  - name: user\n    table: user\n",
        src.to_uppercase()
    );
    run(dir.path(), &spec(&pg(&src, ""), &pg(&dst, ""), &streams)).ok();
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM \"{dst}\".\"Order\""
        )),
        "1,2"
    );
    assert_eq!(
        psql(&format!("SELECT count(*) FROM \"{dst}\".\"user\"")),
        "0"
    );
}

/// A `numeric_scale` the chosen `numeric` type cannot hold is a spec error at `etl validate`,
/// before any connection (it used to fail only when a stream with such a column was read).
#[test]
fn numeric_scale_beyond_the_type_is_refused_at_validate() {
    let dir = tempdir();
    for (extra, needle) in [
        (
            "    numeric_scale: 39\n",
            "`numeric_scale: 39` is more than `numeric: decimal` holds (at most 38)",
        ),
        (
            "    numeric: decimal256\n    numeric_scale: 77\n",
            "`numeric_scale: 77` is more than `numeric: decimal256` holds (at most 76)",
        ),
    ] {
        let p = write_spec(
            dir.path(),
            "spec.yaml",
            &spec(&pg("public", extra), &pg("public", ""), ""),
        );
        etl_in(dir.path(), &["validate", &p], &[("ETL_T_PW", PASSWORD)]).fails(2, needle);
    }
    // At the limit it is accepted.
    let p = write_spec(
        dir.path(),
        "spec.yaml",
        &spec(
            &pg("public", "    numeric_scale: 38\n"),
            &pg("public", ""),
            "",
        ),
    );
    etl_in(dir.path(), &["validate", &p], &[("ETL_T_PW", PASSWORD)]).ok();
}
