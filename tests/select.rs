//! Streams by pattern: `table: t_*` entries, overrides keyed by name, `disabled`, `exclude`,
//! `--select` globs, and what `--dry-run`, `check` and `discover` show. Sources of 50 tables
//! (SQLite, PostgreSQL) are created here; what moved is read back with the database's own
//! client (rusqlite, psql), not with etl.

mod common;
use common::*;
use std::path::Path;

const TABLES: usize = 50;

/// Rows of table `t_{i:02}`: table i holds i + 1 rows, so a table moved into the wrong one,
/// or twice, shows.
fn rows_of(i: usize) -> usize {
    i + 1
}

/// The SQL that creates the 50 tables `t_00`..`t_49` (and one `other` no pattern matches)
/// under `prefix` (`""` or `schema.`).
fn fifty_tables_sql(prefix: &str) -> String {
    let mut sql = String::new();
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE {prefix}t_{i:02} (id INTEGER NOT NULL, v TEXT);\n"
        ));
        let values: Vec<String> = (1..=rows_of(i)).map(|r| format!("({r}, 'r{r}')")).collect();
        sql.push_str(&format!(
            "INSERT INTO {prefix}t_{i:02} VALUES {};\n",
            values.join(", ")
        ));
    }
    sql.push_str(&format!(
        "CREATE TABLE {prefix}other (id INTEGER); INSERT INTO {prefix}other VALUES (1);\n"
    ));
    sql
}

/// The `streams:` every test here uses: one pattern, one override (incremental on `id`
/// instead of the pattern's full refresh), one disabled table.
fn streams(pattern: &str) -> String {
    format!(
        r#"streams:
  - table: "{pattern}"
    mode: full_refresh
  - name: t_07
    mode: incremental
    cursor_field: id
    primary_key: [id]
  - name: t_13
    disabled: true
"#
    )
}

fn sqlite_source(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("src.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&fifty_tables_sql("")).unwrap();
    db
}

fn sqlite_spec(dir: &Path, src: &Path, pattern: &str) -> String {
    sqlite_spec_with(dir, src, &streams(pattern))
}

/// A SQLite -> SQLite (`dst.db` in `dir`) spec with these `streams:`.
fn sqlite_spec_with(dir: &Path, src: &Path, streams: &str) -> String {
    write_spec(
        dir,
        "spec.yaml",
        &format!(
            r#"version: 1
name: select_sqlite
source:
  connector_type: sqlite
  config:
    database_path: {}
destination:
  connector_type: sqlite
  config:
    database_path: {}
{streams}"#,
            src.display(),
            dir.join("dst.db").display(),
        ),
    )
}

/// The user tables of a SQLite database, in name order.
fn sqlite_tables(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap();
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    names
}

fn sqlite_count(db: &Path, sql: &str) -> i64 {
    match sqlite_scalar(db, sql) {
        rusqlite::types::Value::Integer(n) => n,
        v => panic!("{sql}: {v:?}"),
    }
}

/// The 49 tables the spec moves: t_00..t_49 but the disabled t_13.
fn expected_tables() -> Vec<String> {
    (0..TABLES)
        .filter(|&i| i != 13)
        .map(|i| format!("t_{i:02}"))
        .collect()
}

#[test]
fn sqlite_pattern_moves_49_of_50_tables_with_the_override_applied() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec(dir.path(), &src, "t_*");
    let dst = dir.path().join("dst.db");
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(sqlite_tables(&dst), expected_tables());
    for i in (0..TABLES).filter(|&i| i != 13) {
        let t = format!("t_{i:02}");
        assert_eq!(
            sqlite_count(&dst, &format!("SELECT count(*) FROM {t}")),
            rows_of(i) as i64,
            "{t}"
        );
        assert_eq!(
            sqlite_count(&dst, &format!("SELECT count(DISTINCT id) FROM {t}")),
            rows_of(i) as i64,
            "{t}"
        );
    }
    // The override made t_07 incremental: a second run appends only past the saved cursor,
    // where the pattern's full refresh replaces t_08 whole. A row removed from both
    // destination tables stays gone in t_07 only.
    let dconn = rusqlite::Connection::open(&dst).unwrap();
    dconn
        .execute_batch("DELETE FROM t_07 WHERE id = 1; DELETE FROM t_08 WHERE id = 1;")
        .unwrap();
    drop(dconn);
    let sconn = rusqlite::Connection::open(&src).unwrap();
    sconn
        .execute_batch(
            "INSERT INTO t_07 VALUES (100, 'new'); INSERT INTO t_08 VALUES (100, 'new');",
        )
        .unwrap();
    drop(sconn);
    etl(dir.path(), &["run", &spec]).ok();
    let ids = |t: &str| sqlite_count(&dst, &format!("SELECT count(*) FROM {t} WHERE id = 1"));
    assert_eq!(
        ids("t_07"),
        0,
        "incremental t_07 must not be reloaded whole"
    );
    assert_eq!(ids("t_08"), 1, "full-refresh t_08 is reloaded whole");
    for t in ["t_07", "t_08"] {
        assert_eq!(
            sqlite_count(&dst, &format!("SELECT count(*) FROM {t} WHERE id = 100")),
            1,
            "{t}"
        );
    }
    assert_eq!(sqlite_count(&dst, "SELECT count(*) FROM t_07"), 8); // 8 - 1 + 1
    assert_eq!(sqlite_count(&dst, "SELECT count(*) FROM t_08"), 10); // 9 + 1
}

#[test]
fn postgres_schema_pattern_moves_49_of_50_tables_with_the_override_applied() {
    let src = PgSchema::new(&unique_name("etl_sel_src"));
    let dst = PgSchema::new(&unique_name("etl_sel_dst"));
    psql(&fifty_tables_sql(&format!("{}.", src.0)));
    let dir = tempdir();
    let pg = |schema: &str| {
        format!(
            "  config:\n    host: {}\n    user: postgres\n    database: test\n    schema: {schema}\n",
            pg_host()
        )
    };
    // The source's own schema is `public`: the pattern names the schema it reads.
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &format!(
            "version: 1\nname: select_pg\nsource:\n  connector_type: postgresql\n{}destination:\n  connector_type: postgresql\n{}{}",
            pg("public"),
            pg(&dst.0),
            streams(&format!("{}.t_*", src.0))
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let moved = psql(&format!(
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{}'",
        dst.0
    ));
    assert_eq!(moved, expected_tables().join(","));
    let counts = psql(&format!(
        "SELECT {}",
        expected_tables()
            .iter()
            .map(|t| format!("(SELECT count(DISTINCT id) FROM {}.{t})", dst.0))
            .collect::<Vec<_>>()
            .join(" || ',' || ")
    ));
    let want: Vec<String> = (0..TABLES)
        .filter(|&i| i != 13)
        .map(|i| rows_of(i).to_string())
        .collect();
    assert_eq!(counts, want.join(","));
    // The override's primary key made it to t_07's table only.
    let keyed = psql(&format!(
        "SELECT string_agg(tc.table_name, ',') FROM information_schema.table_constraints tc \
         WHERE tc.table_schema = '{}' AND tc.constraint_type = 'PRIMARY KEY'",
        dst.0
    ));
    assert_eq!(keyed, "t_07");
    // And its mode: a second run appends past the cursor into t_07, reloads t_08 whole.
    psql(&format!(
        "DELETE FROM {d}.t_07 WHERE id = 1; DELETE FROM {d}.t_08 WHERE id = 1; \
         INSERT INTO {s}.t_07 VALUES (100, 'new'); INSERT INTO {s}.t_08 VALUES (100, 'new');",
        d = dst.0,
        s = src.0
    ));
    etl(dir.path(), &["run", &spec]).ok();
    let got = psql(&format!(
        "SELECT (SELECT count(*) FROM {d}.t_07) || ',' || (SELECT count(*) FROM {d}.t_08) || ',' || \
         (SELECT count(*) FROM {d}.t_07 WHERE id = 1) || ',' || (SELECT count(*) FROM {d}.t_08 WHERE id = 1)",
        d = dst.0
    ));
    assert_eq!(got, "8,10,0,1");
}

#[test]
fn select_takes_globs_and_exact_names() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec(dir.path(), &src, "t_*");
    let dst = dir.path().join("dst.db");
    etl(
        dir.path(),
        &["run", &spec, "--select", "t_1?", "--select", "t_42"],
    )
    .ok();
    let want: Vec<String> = (10..20)
        .filter(|&i| i != 13)
        .map(|i| format!("t_{i}"))
        .chain(["t_42".to_string()])
        .collect();
    assert_eq!(sqlite_tables(&dst), want);
    etl(dir.path(), &["run", &spec, "--select", "x_*"])
        .fails(2, "--select x_*: the pattern matches no stream");
    etl(dir.path(), &["run", &spec, "--select", "t_13"]).fails(2, "t_13: the stream is disabled");
    etl(dir.path(), &["run", &spec, "--select", "t_077"]).fails(2, "no such stream");
}

#[test]
fn dry_run_check_and_discover_show_what_the_pattern_matched() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec(dir.path(), &src, "t_*");
    let r = etl(dir.path(), &["run", &spec, "--dry-run"]).ok();
    assert!(
        r.stdout
            .contains("streams[0] `table: t_*` matched 50 stream(s): t_00, t_01,"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("overridden: t_07 (streams[1]), t_13 (streams[2])"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("disabled: t_13"), "{}", r.stdout);
    let planned: Vec<&str> = r.stdout.lines().filter(|l| l.contains("-> ")).collect();
    assert_eq!(planned.len(), 49, "{}", r.stdout);
    assert!(
        planned
            .iter()
            .any(|l| l.contains("t_07") && l.contains("incremental")),
        "{}",
        r.stdout
    );
    assert!(
        !dir.path().join("dst.db").exists(),
        "a dry run writes nothing"
    );
    let r = etl(dir.path(), &["check", &spec]).ok();
    assert!(r.stdout.contains("matched 50 stream(s)"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("  stream `t_").count(), 49, "{}", r.stdout);
    let r = etl(dir.path(), &["discover", &spec]).ok();
    assert!(r.stdout.contains("matched 50 stream(s)"), "{}", r.stdout);
    let r = etl(dir.path(), &["discover", &spec, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["patterns"][0]["disabled"][0], "t_13");
    assert_eq!(v["streams"].as_array().map(Vec::len), Some(TABLES + 1));
    let r = etl(dir.path(), &["validate", &spec]).ok();
    assert!(r.stdout.contains("1 table pattern(s)"), "{}", r.stdout);
}

#[test]
fn a_pattern_matching_nothing_fails_the_run_naming_it() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec(dir.path(), &src, "sales_*");
    etl(dir.path(), &["run", &spec]).fails(2, "`table: sales_*` matches no table");
    assert!(!dir.path().join("dst.db").exists());
    // A schema the source cannot list is refused, as is a pattern in the schema part.
    let spec = sqlite_spec(dir.path(), &src, "other.t_*");
    etl(dir.path(), &["run", &spec]).fails(2, "write the pattern without `other.`");
    let spec = sqlite_spec(dir.path(), &src, "o*.t_*");
    etl(dir.path(), &["validate", &spec]).fails(2, "the schema before the `.` is written out");
}

#[test]
fn exclude_and_name_templates() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec_with(
        dir.path(),
        &src,
        r#"streams:
  - table: "t_4?"
    name: "copy_{table}"
    exclude: ["T_41", "*9"]
"#,
    );
    etl(dir.path(), &["run", &spec]).ok();
    let want: Vec<String> = (40..49)
        .filter(|&i| i != 41)
        .map(|i| format!("copy_t_{i}"))
        .collect();
    assert_eq!(sqlite_tables(&dir.path().join("dst.db")), want);
    assert_eq!(
        sqlite_count(&dir.path().join("dst.db"), "SELECT count(*) FROM copy_t_45"),
        rows_of(45) as i64
    );
}

#[test]
fn file_source_pattern_gives_one_stream_per_folder() {
    let dir = tempdir();
    let data = dir.path().join("data");
    for (folder, rows) in [("sales_eu", 2), ("sales_us", 3), ("hr", 1), ("_tmp", 5)] {
        std::fs::create_dir_all(data.join(folder)).unwrap();
        for part in 0..2 {
            let body: String = (0..rows)
                .map(|r| format!("{},{folder}\n", part * 100 + r))
                .collect();
            std::fs::write(
                data.join(folder).join(format!("p{part}.csv")),
                format!("id,src\n{body}"),
            )
            .unwrap();
        }
    }
    let dst = dir.path().join("dst.db");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &format!(
            r#"version: 1
name: select_files
source:
  connector_type: local_file
  config:
    file_path: {}
    format: csv
destination:
  connector_type: sqlite
  config:
    database_path: {}
streams:
  - table: "sales_*"
  - name: sales_us
    glob_pattern: "p0.csv"
"#,
            data.display(),
            dst.display(),
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(sqlite_tables(&dst), ["sales_eu", "sales_us"]);
    assert_eq!(sqlite_count(&dst, "SELECT count(*) FROM sales_eu"), 4);
    assert_eq!(
        sqlite_count(&dst, "SELECT count(*) FROM sales_us WHERE src = 'sales_us'"),
        3,
        "the override reads p0.csv only"
    );
}

/// An override is checked merged with its pattern: here it takes the pattern's incremental
/// mode but drops its cursor.
#[test]
fn merged_overrides_are_validated() {
    let dir = tempdir();
    let src = sqlite_source(dir.path());
    let spec = sqlite_spec_with(
        dir.path(),
        &src,
        "streams:\n  - table: \"t_0*\"\n    mode: incremental\n    cursor_field: id\n  - name: t_01\n    cursor_field: null\n",
    );
    etl(dir.path(), &["validate", &spec]).ok();
    let r = etl(dir.path(), &["run", &spec]).fails(2, "after expanding the `table:` patterns");
    assert!(
        r.stderr.contains("t_01") && r.stderr.contains("cursor_field"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("dst.db").exists());
}

/// MySQL/MariaDB: `table: otherdb.t_*` lists the tables of another database than the source's.
#[test]
fn mysql_pattern_over_another_database() {
    let other = MariaDbDatabase::new(&unique_name("etl_sel_other"));
    let own = MariaDbDatabase::new(&unique_name("etl_sel_own"));
    mariadb(
        &other.0,
        "CREATE TABLE t_a (id INT); INSERT INTO t_a VALUES (1), (2); \
         CREATE TABLE t_b (id INT); INSERT INTO t_b VALUES (3); CREATE TABLE u (id INT);",
    );
    mariadb(&own.0, "CREATE TABLE t_own (id INT);");
    let dir = tempdir();
    let dst = dir.path().join("dst.db");
    let spec = write_spec(
        dir.path(),
        "spec.yaml",
        &format!(
            "version: 1\nname: select_mysql\nsource:\n  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    database: {}\n    user: root\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\nstreams:\n  - table: \"{}.t_*\"\n",
            own.0,
            dst.display(),
            other.0
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(sqlite_tables(&dst), ["t_a", "t_b"]);
    assert_eq!(sqlite_count(&dst, "SELECT sum(id) FROM t_a"), 3);
    assert_eq!(sqlite_count(&dst, "SELECT count(*) FROM t_b"), 1);
}
