//! The `transform:` stage through the built binary: SQLite -> Parquet and PostgreSQL ->
//! Parquet, each output compared by the independent reader (tests/py/compare.py, pyarrow) with
//! the same expressions evaluated by the source database itself. Also: what `etl validate`
//! refuses, and that a failing expression names its column and publishes nothing.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn sqlite_spec(db: &Path, out: &Path, streams: &str) -> String {
    format!(
        "version: 1\nname: t\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\nstreams:\n{streams}",
        db.display(),
        out.display()
    )
}

/// Creates `expected` in `db` from `select` (run by SQLite), with declared column types.
fn sqlite_expected(db: &Path, columns: &str, select: &str) {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS expected; CREATE TABLE expected ({columns}); INSERT INTO expected {select};"
    ))
    .expect("expected rows");
}

/// The Parquet files' Arrow schema as pyarrow prints it (`name: type` per line).
fn parquet_schema(files: &[PathBuf]) -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, pyarrow.parquet as pq\nfor f in pq.read_schema(sys.argv[1]): print(f'{f.name}: {f.type}')",
        ])
        .arg(&files[0])
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_schema(files: &[PathBuf], want: &[&str]) {
    let got = parquet_schema(files);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got, want);
}

const DECLARATIVE: &str = r#"  - name: orders
    table: orders
    transform:
      filter: "status <> 'refunded' AND total > 100 AND id % 3 <> 0"
      derive:
        total_x2: "total * 2"
        status_upper: "UPPER(status)"
        unshipped: "shipped_on IS NULL"
        label: "CASE WHEN discount IS NULL THEN 'none' ELSE 'some' END"
      cast:
        total: "decimal(18,2)"
        customer_id: int32
        ordered_at: "timestamp[us, UTC]"
      select: [id, customer_id, total, total_x2, status_upper, unshipped, label, ordered_at, note]
      rename: {total: amount, note: remark}
"#;

/// Runs `streams` from the shop database, evaluates `select` in SQLite into a table
/// `expected` declared with `columns`, and compares it with the output of `stream` (values by
/// compare.py, Arrow types by pyarrow's reading of the Parquet schema).
fn sqlite_case(streams: &str, stream: &str, columns: &str, select: &str, schema: &[&str]) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "spec.yaml", &sqlite_spec(&db, &out, streams));
    etl(dir.path(), &["validate", &spec]).ok();
    etl(dir.path(), &["run", &spec]).ok();
    sqlite_expected(&db, columns, select);
    let files = files_under(&out.join(stream));
    compare(&db, "expected", &files, "parquet");
    assert_schema(&files, schema);
}

#[test]
fn sqlite_declarative_transform_matches_sqlite() {
    sqlite_case(
        DECLARATIVE,
        "orders",
        "id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(18,2), total_x2 DECIMAL(38,2), \
         status_upper TEXT, unshipped BOOLEAN, label TEXT, ordered_at TIMESTAMPTZ, remark TEXT",
        "SELECT id, customer_id, total, total * 2, UPPER(status), shipped_on IS NULL, \
         CASE WHEN discount IS NULL THEN 'none' ELSE 'some' END, ordered_at || '+00:00', note \
         FROM orders WHERE status <> 'refunded' AND total > 100 AND id % 3 <> 0",
        &[
            "id: int64",
            "customer_id: int32",
            "amount: decimal128(18, 2)",
            "total_x2: decimal128(38, 2)",
            "status_upper: string",
            "unshipped: bool",
            "label: string",
            "ordered_at: timestamp[us, tz=UTC]",
            "remark: string",
        ],
    );
}

#[test]
fn sqlite_sql_transform_matches_sqlite() {
    let select = "SELECT order_id, line_no AS line, sku || '-' || line_no AS code, \
                  COALESCE(weight_kg, -1) AS w, unit_price \
                  FROM {} WHERE gift OR line_no > 2";
    sqlite_case(
        &format!(
            "  - name: items\n    table: order_items\n    transform:\n      sql: \"{}\"\n",
            select.replace("{}", "input")
        ),
        "items",
        "order_id INTEGER, line INTEGER, code TEXT, w REAL, unit_price DECIMAL(10,2), PRIMARY KEY (order_id, line)",
        &select.replace("{}", "order_items"),
        &[
            "order_id: int64",
            "line: int64",
            "code: string",
            "w: double",
            "unit_price: decimal128(10, 2)",
        ],
    );
}

#[test]
fn a_filter_that_keeps_nothing_writes_an_empty_stream() {
    sqlite_case(
        "  - name: none\n    table: customers\n    transform:\n      filter: \"id < 0\"\n      select: [id, name]\n",
        "none",
        "id INTEGER PRIMARY KEY, name TEXT",
        "SELECT id, name FROM customers WHERE id < 0",
        &["id: int64", "name: string"],
    );
}

/// The `orders` stream with a transform `block` (YAML indented for the `transform:` key).
fn orders_with(block: &str) -> String {
    format!("  - name: orders\n    table: orders\n    transform:\n      {block}\n")
}

/// `etl validate` refuses each of these with exit 2, naming the stream and the expression.
#[test]
fn validate_refuses_invalid_and_not_row_wise_expressions() {
    let dir = tempdir();
    let cases: &[(&str, &str)] = &[
        ("filter: \"total >\"", "total >"),
        ("filter: \"SUM(total) > 3\"", "aggregate"),
        (
            "derive: {r: \"row_number() OVER (ORDER BY id)\"}",
            "window function",
        ),
        ("derive: {r: \"lag(total)\"}", "not row-wise"),
        ("derive: {r: \"no_such_fn(total)\"}", "no_such_fn"),
        ("sql: \"SELECT id FROM input ORDER BY id\"", "ORDER BY"),
        (
            "sql: \"SELECT status, count(*) AS n FROM input GROUP BY status\"",
            "GROUP BY",
        ),
        ("sql: \"SELECT DISTINCT status FROM input\"", "DISTINCT"),
        ("sql: \"SELECT id FROM input LIMIT 5\"", "LIMIT"),
        (
            "sql: \"SELECT o.id FROM input o JOIN customers c ON c.id = o.customer_id\"",
            "joins",
        ),
        ("cast: {total: money}", "unknown type `money`"),
        (
            "sql: \"SELECT id FROM input\"\n      filter: \"id > 1\"",
            "either `sql`",
        ),
        ("{}", "is empty"),
    ];
    for (block, needle) in cases {
        let spec = write_spec(
            dir.path(),
            "bad.yaml",
            &sqlite_spec(Path::new("shop.db"), Path::new("out"), &orders_with(block)),
        );
        let r = etl(dir.path(), &["validate", &spec]).fails(2, needle);
        assert!(
            r.stderr.contains("streams[0] (`orders`): transform"),
            "{block}: {}",
            r.stderr
        );
    }
}

/// Runs `orders` with each transform `block`: the run fails (exit 1) with a message naming
/// the stream and containing `needle`, and publishes no output file.
fn run_fails_publishing_nothing(cases: &[(&str, &str)]) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    for (block, needle) in cases {
        let spec = write_spec(
            dir.path(),
            "spec.yaml",
            &sqlite_spec(&db, &out, &orders_with(block)),
        );
        let r = etl(dir.path(), &["run", &spec]).fails(1, needle);
        assert!(r.stderr.contains("stream `orders`"), "{}", r.stderr);
        let published: Vec<PathBuf> = files_under(&out)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains("part-"))
            .collect();
        assert!(published.is_empty(), "{block}: published {published:?}");
    }
}

/// An unknown column is found when the run starts, before anything is written.
#[test]
fn unknown_columns_fail_before_anything_is_written() {
    run_fails_publishing_nothing(&[
        (
            "filter: \"totl > 1\"",
            "filter `totl > 1`: unknown column `totl`",
        ),
        (
            "derive: {x: \"nope + 1\"}",
            "derive `x` = `nope + 1`: unknown column `nope`",
        ),
        ("select: [id, nope]", "select: unknown column `nope`"),
        (
            "sql: \"SELECT id, nope FROM input\"",
            "unknown column `nope`",
        ),
        ("filter: \"total + 1\"", "not a boolean condition"),
    ]);
}

/// A value an expression cannot convert fails the run, names the column, publishes nothing.
#[test]
fn a_failed_cast_names_the_column_and_publishes_nothing() {
    run_fails_publishing_nothing(&[
        (
            "cast: {status: int64}",
            "cast of `status` to `Int64`: conversion from `str` to `i64` failed in column 'status'",
        ),
        (
            "derive: {n: \"CAST(status AS INTEGER)\"}",
            "derive `n` = `CAST(status AS INTEGER)`: conversion from `str` to `i32` failed in column 'status'",
        ),
    ]);
}

// ------------------------------------------------------------------ PostgreSQL -> Parquet

/// Runs SQL with psql; fields split by 0x1f, rows by 0x1e, NULL as `\N`.
#[track_caller]
fn psql(sql: &str) -> String {
    psql_with(&["-F", "\x1f", "-R", "\x1e", "-P", "null=\\N"], sql)
}

/// A schema of its own, dropped when the test ends.
struct PgSchema(String);

impl PgSchema {
    fn new(tag: &str) -> PgSchema {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "etl_tt_{}_{}_{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&format!("CREATE SCHEMA \"{name}\""));
        PgSchema(name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        pg_drop_schema(&self.0);
    }
}

/// A table with the types a transform has to carry exactly: decimals, time zones, NULLs.
fn pg_sales(s: &str) {
    psql(&format!(
        r#"SET TIME ZONE 'UTC';
CREATE TABLE "{s}".sales (
  id int PRIMARY KEY, region text, qty smallint, price numeric(12,2), rate double precision,
  sold_at timestamptz, day date, note varchar(40));
INSERT INTO "{s}".sales
SELECT i, (ARRAY['north','south','east','west'])[i % 4 + 1], (i % 50)::smallint,
       CASE WHEN i % 17 = 0 THEN NULL ELSE round((i * 7919 % 100000) / 100.0, 2) END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE (i % 11) / 8.0 END,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => i * 3607.000123),
       date '2023-12-25' + i % 40,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'n' || i END
FROM generate_series(1, 20000) i;"#
    ));
}

/// Copies the rows of `select` (run by PostgreSQL) into `expected` of a new SQLite file, whose
/// declared `columns` tell compare.py how to read them.
fn pg_expected(dir: &Path, columns: &str, select: &str) -> PathBuf {
    let text = psql(&format!("SET TIME ZONE 'UTC'; {select}"));
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let db = dir.join("expected.db");
    let mut conn = rusqlite::Connection::open(&db).expect("open db");
    conn.execute_batch(&format!("CREATE TABLE expected ({columns})"))
        .expect("create");
    let tx = conn.transaction().expect("tx");
    for row in text.split('\x1e').filter(|r| !r.is_empty()) {
        let values: Vec<Option<&str>> = row
            .split('\x1f')
            .map(|v| if v == "\\N" { None } else { Some(v) })
            .collect();
        let marks = vec!["?"; values.len()].join(", ");
        tx.execute(
            &format!("INSERT INTO expected VALUES ({marks})"),
            rusqlite::params_from_iter(values),
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    db
}

fn pg_spec(schema: &str, out: &Path, streams: &str) -> String {
    format!(
        "version: 1\nname: t\nsource:\n  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: \"{schema}\"\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\ndefaults:\n  batch_size: 3000\nstreams:\n{streams}",
        pg_host(),
        out.display()
    )
}

/// Runs `streams` over a new schema holding `sales`, evaluates `select` (where `{}` stands
/// for the table) in PostgreSQL, and compares as `sqlite_case` does.
fn pg_case(streams: &str, columns: &str, select: &str, schema: &[&str]) {
    let s = PgSchema::new("t");
    pg_sales(&s.0);
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), "spec.yaml", &pg_spec(&s.0, &out, streams));
    etl(dir.path(), &["run", &spec]).ok();
    let table = format!("\"{}\".sales", s.0);
    let db = pg_expected(dir.path(), columns, &select.replace("{}", &table));
    let files = files_under(&out.join("sales"));
    compare(&db, "expected", &files, "parquet");
    assert_schema(&files, schema);
}

#[test]
fn postgres_declarative_transform_matches_postgres() {
    let streams = r#"  - name: sales
    table: sales
    transform:
      filter: "region IN ('north', 'east') AND (price > 50 OR price IS NULL)"
      derive:
        amount: "price * qty"
        rate_pct: "rate * 100"
        tag: "UPPER(region) || '/' || COALESCE(note, '-')"
      cast:
        qty: int64
        price: "decimal(18,4)"
        sold_at: "timestamp[ms, UTC]"
      select: [id, qty, price, amount, rate_pct, tag, sold_at, day]
      rename: {day: sale_day}
"#;
    pg_case(
        streams,
        "id INTEGER PRIMARY KEY, qty INTEGER, price DECIMAL(18,4), amount DECIMAL(38,2), \
         rate_pct REAL, tag TEXT, sold_at TIMESTAMPTZ, sale_day DATE",
        "SELECT id, qty::bigint, price, price * qty, rate * 100, \
         upper(region) || '/' || coalesce(note, '-'), date_trunc('milliseconds', sold_at), day \
         FROM {} WHERE region IN ('north', 'east') AND (price > 50 OR price IS NULL)",
        &[
            "id: int32",
            "qty: int64",
            "price: decimal128(18, 4)",
            "amount: decimal128(38, 2)",
            "rate_pct: double",
            "tag: string",
            "sold_at: timestamp[ms, tz=UTC]",
            "sale_day: date32[day]",
        ],
    );
}

#[test]
fn postgres_sql_transform_matches_postgres() {
    let select = "SELECT id, region AS area, CAST(price AS DECIMAL(10,1)) AS price1, \
                  price IS NULL AS no_price, sold_at, note \
                  FROM {} WHERE qty BETWEEN 10 AND 30 AND note IS NOT NULL";
    pg_case(
        &format!(
            "  - name: sales\n    table: sales\n    transform:\n      sql: \"{}\"\n",
            select.replace("{}", "input")
        ),
        "id INTEGER PRIMARY KEY, area TEXT, price1 DECIMAL(10,1), no_price BOOLEAN, \
         sold_at TIMESTAMPTZ, note TEXT",
        &select.replace("price IS NULL AS", "(price IS NULL)::int AS"),
        &[
            "id: int32",
            "area: string",
            "price1: decimal128(10, 1)",
            "no_price: bool",
            "sold_at: timestamp[us, tz=UTC]",
            "note: string",
        ],
    );
}
