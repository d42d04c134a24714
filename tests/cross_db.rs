//! MySQL/MariaDB -> PostgreSQL and PostgreSQL -> MySQL/MariaDB directly, through the built
//! binary against the two local servers. Each side is read back with its own command-line
//! client into one canonical text form and compared row by row (text without tabs or line
//! breaks: the two clients escape those differently; the per-database tests cover them).

mod common;
use common::*;

/// A MariaDB database and a PostgreSQL schema with the same unique name, dropped at the end
/// (the two guards are held for their `Drop`).
struct Both(
    String,
    #[allow(dead_code)] MariaDbDatabase,
    #[allow(dead_code)] PgSchema,
);

impl Both {
    fn new() -> Both {
        let name = unique_name("etl_x");
        Both(
            name.clone(),
            MariaDbDatabase::new(&name),
            PgSchema::new(&name),
        )
    }
}

fn mysql_end(db: &str) -> String {
    format!("  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    database: {db}\n    user: root\n")
}

fn pg_end(schema: &str) -> String {
    format!(
        "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {schema}\n",
        pg_host()
    )
}

/// The rows as MariaDB sees them: one line per row, `|`-separated, NULL as `NULL`.
fn mysql_rows(db: &str) -> Vec<String> {
    mariadb(
        db,
        "SELECT CONCAT_WS('|', id, IFNULL(bi, 'NULL'), IFNULL(d, 'NULL'), IFNULL(db, 'NULL'), \
         IFNULL(vc, 'NULL'), IFNULL(t, 'NULL'), IFNULL(dt, 'NULL'), \
         IFNULL(DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f'), 'NULL'), \
         IFNULL(DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), 'NULL'), IFNULL(b, 'NULL'), \
         IFNULL(HEX(bl), 'NULL')) FROM t ORDER BY id",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// The same canonical form from PostgreSQL.
fn pg_rows(schema: &str) -> Vec<String> {
    psql(&format!(
        "SELECT concat_ws('|', id, coalesce(bi::text, 'NULL'), coalesce(d::text, 'NULL'), \
         coalesce(db::text, 'NULL'), coalesce(vc, 'NULL'), coalesce(t, 'NULL'), \
         coalesce(dt::text, 'NULL'), coalesce(to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), 'NULL'), \
         coalesce(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'NULL'), \
         coalesce((b::int)::text, 'NULL'), coalesce(upper(encode(bl, 'hex')), 'NULL')) \
         FROM {schema}.t ORDER BY id"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

fn run(dir: &std::path::Path, source: &str, destination: &str) {
    let spec = write_spec(
        dir,
        "x.yaml",
        &format!("version: 1\nname: x\nsource:\n{source}destination:\n{destination}streams:\n  - name: t\n    table: t\n    primary_key: [id]\n"),
    );
    etl(dir, &["run", &spec]).ok();
}

const ROWS: &str = "(1, -9223372036854775808, -1234567890.12, 2.718281828459045, 'héllo 😀', 'it''s \"q\" ü', '2024-02-29', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 1, X'00FF10AB'), \
     (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
     (3, 9223372036854775807, 0.01, -1234.5678, '', '', '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', 0, X'')";

#[test]
fn mysql_to_postgres_keeps_values_and_types() {
    let both = Both::new();
    mariadb(
        &both.0,
        &format!(
            "CREATE TABLE t (id INT PRIMARY KEY, bi BIGINT, d DECIMAL(12,2), db DOUBLE, vc VARCHAR(40), t TEXT, \
             dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL, b TINYINT(1), bl BLOB); INSERT INTO t VALUES {ROWS}"
        ),
    );
    let dir = tempdir();
    run(dir.path(), &mysql_end(&both.0), &pg_end(&both.0));
    let want = mysql_rows(&both.0);
    assert_eq!(want.len(), 3);
    assert_eq!(pg_rows(&both.0), want);
    let types = psql(&format!(
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 't'",
        both.0
    ));
    assert_eq!(
        types,
        "id integer, bi bigint, d numeric, db double precision, vc text, t text, dt date, \
         dtm timestamp without time zone, ts timestamp with time zone, b boolean, bl bytea"
    );
    assert_eq!(
        psql(&format!("SELECT numeric_precision || ',' || numeric_scale FROM information_schema.columns WHERE table_schema = '{}' AND column_name = 'd'", both.0)),
        "12,2"
    );
}

#[test]
fn postgres_to_mysql_keeps_values_and_types() {
    let both = Both::new();
    psql(&format!(
        "CREATE TABLE {s}.t (id int PRIMARY KEY, bi bigint, d numeric(12,2), db double precision, vc varchar(40), \
         t text, dt date, dtm timestamp, ts timestamptz, b boolean, bl bytea); \
         INSERT INTO {s}.t VALUES (1, -9223372036854775808, -1234567890.12, 2.718281828459045, 'héllo 😀', 'it''s \"q\" ü', \
         '2024-02-29', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+00', true, '\\x00ff10ab'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
         (3, 9223372036854775807, 0.01, -1234.5678, '', '', '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01+00', false, '')",
        s = both.0
    ));
    let dir = tempdir();
    run(dir.path(), &pg_end(&both.0), &mysql_end(&both.0));
    let want = pg_rows(&both.0);
    assert_eq!(want.len(), 3);
    assert_eq!(mysql_rows(&both.0), want);
    let types = mariadb(
        &both.0,
        "SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) ORDER BY ORDINAL_POSITION SEPARATOR ', ') \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'",
    );
    // Declared lengths do not cross databases (varchar(40) -> longtext, as MySQL's varchar(40)
    // becomes PostgreSQL's text above); timestamptz becomes DATETIME(6) holding UTC, because
    // MySQL's TIMESTAMP ends in 2038.
    assert_eq!(
        types.trim(),
        "id int(11), bi bigint(20), d decimal(12,2), db double, vc longtext, t longtext, dt date, \
         dtm datetime(6), ts datetime(6), b tinyint(1), bl longblob"
    );
}
