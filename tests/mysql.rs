//! MySQL/MariaDB source and destination against the local MariaDB (127.0.0.1:3306, `root`
//! without a password), through the built binary. Every test creates its own database
//! (`etl_t_<pid>_<n>`) and drops it afterwards. Values are compared in SQL with the `mariadb`
//! command-line client, independently of etl's driver. MariaDB unreachable = failed tests.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const HOST: &str = "127.0.0.1";

#[track_caller]
fn sql(db: &str, q: &str) -> String {
    mariadb(db, q)
}

/// A database that exists for one test.
struct Db(String);

impl Db {
    fn new() -> Db {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "etl_t_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        sql(
            "mysql",
            &format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
            ),
        );
        Db(name)
    }
    fn sql(&self, q: &str) -> String {
        sql(&self.0, q)
    }
    /// Tables of this database, sorted.
    fn tables(&self) -> Vec<String> {
        self.sql("SHOW TABLES")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", HOST, "-uroot", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS {}", self.0))
            .output();
    }
}

fn mysql_config(db: &str) -> String {
    format!("  connector_type: mysql\n  config:\n    host: {HOST}\n    port: 3306\n    database: {db}\n    user: root\n")
}

fn to_files(db: &Db, out: &Path, streams: &str) -> String {
    format!(
        "version: 1\nname: export\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\n{streams}",
        mysql_config(&db.0),
        out.display()
    )
}

fn from_files(folder: &Path, db: &Db, stream: &str) -> String {
    format!(
        "version: 1\nname: import\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: \"{stream}\"\n",
        folder.display(),
        mysql_config(&db.0)
    )
}

const ALL_TYPES: &str = r#"
CREATE TABLE alltypes (
  id INT NOT NULL PRIMARY KEY, b TINYINT(1), ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT,
  siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED, d DECIMAL(12,2), d0 DECIMAL(10,0), du DECIMAL(5,5) UNSIGNED,
  dbig DECIMAL(38,10), dhuge DECIMAL(65,30), f FLOAT, db DOUBLE, c CHAR(5), vc VARCHAR(100), t TEXT, lt LONGTEXT,
  bn BINARY(4), vb VARBINARY(20), bl BLOB, dt DATE, tm TIME(6), dtm DATETIME(6), dt0 DATETIME,
  ts TIMESTAMP(6) NULL, y YEAR, j JSON, e ENUM('a','b c'), st SET('x','y'), bt BIT(5), b1 BIT(1)
);
INSERT INTO alltypes VALUES
 (1, 1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, -1234567890.12, 9999999999, 0.12345,
  1234567890123456789012345678.0123456789, -12345678901234567890123456789012345.123456789012345678901234567891, 3.14159, 2.718281828459045, 'ab', 'héllo 😀 ünï',
  'tab\there\nnewline \\ back\\N', REPEAT('xyz', 5000), 0x00FF10AB, 0xDEADBEEF00, 0x000102FF,
  '2024-02-29', '23:59:59.999999', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00',
  '2038-01-19 03:14:07.999999', 2155, '{"k": [1, 2], "e": "😀"}', 'b c', 'x,y', b'10101', b'1'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL),
 (3, 0, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 0.01, -1, 0.00001,
  -0.0000000001, 0.000000000000000000000000000001, 0.1, 1e308, '', '', '', '', 0x00000000, '', '', '1000-01-01', '00:00:00',
  '1000-01-01 00:00:00', '2024-06-30 12:34:56', '1970-01-01 00:00:01', 1901, '[]', 'a', '',
  b'0', b'0'),
 (4, 0, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -0.5, 0, 0, 0, 0, -1.5e-10, -2.2250738585072014e-308,
  'x', 'NULL', '\\N', '"quoted" ''single''', NULL, 'a\tb', 'line\nbreak', '2000-01-01',
  '12:00:00.5', '2000-01-01 00:00:00.000001', NULL, '2000-01-01 00:00:00', 2000, 'null', NULL,
  'y', b'11111', NULL);
"#;

/// The same normalised columns from both sides: binary as hex, bits as numbers.
const ALL_TYPES_SELECT: &str = "SELECT id, b, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d, d0, du, dbig, dhuge, f, db, c, vc, t, MD5(lt), LENGTH(lt), HEX(bn), HEX(vb), HEX(bl), dt, tm, dtm, dt0, ts, y, j, e, st, bt + 0, b1 + 0 FROM alltypes ORDER BY id";

#[test]
fn every_type_round_trips_through_parquet() {
    let src = Db::new();
    src.sql(ALL_TYPES);
    src.sql("CREATE TABLE `order by` (`select` INT, `col``tick ü` VARCHAR(10)); INSERT INTO `order by` VALUES (1, 'a`b'), (NULL, NULL)");
    src.sql("CREATE TABLE empty_one (id BIGINT UNSIGNED NOT NULL, name VARCHAR(5))");
    src.sql("ANALYZE TABLE alltypes");
    let dir = tempdir();
    let out = dir.path().join("out");
    // No streams: every table of the database.
    let export = write_spec(dir.path(), "export.yaml", &to_files(&src, &out, ""));
    let found = etl(dir.path(), &["discover", &export]).ok().stdout;
    for needle in [
        "alltypes",
        "biu",
        "UInt64",
        "Decimal256(65, 30)",
        "Timestamp(µs, \"UTC\")",
        "empty_one",
        // InnoDB's estimate, exact for a small analysed table.
        "alltypes  (~4 rows)",
    ] {
        assert!(
            found.contains(needle),
            "{needle} missing from discover:\n{found}"
        );
    }
    etl(dir.path(), &["check", &export]).ok();
    let run = etl(dir.path(), &["run", &export]).ok();
    assert!(run.stderr.contains("rows=4"), "{}", run.stderr);

    let dst = Db::new();
    for table in ["alltypes", "order by", "empty_one"] {
        let spec = write_spec(
            dir.path(),
            "import.yaml",
            &from_files(&out.join(table), &dst, table),
        );
        etl(dir.path(), &["run", &spec]).ok();
    }
    let before = src.sql(ALL_TYPES_SELECT);
    assert_eq!(before.lines().count(), 4);
    assert_eq!(before, dst.sql(ALL_TYPES_SELECT));
    // NULL stays NULL in every column of row 2.
    assert_eq!(
        dst.sql("SELECT COUNT(*) FROM alltypes WHERE id = 2 AND COALESCE(b, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d, d0, du, dbig, dhuge, f, db, c, vc, t, lt, bn, vb, bl, dt, tm, dtm, dt0, ts, y, j, e, st, bt, b1) IS NULL"),
        "1\n"
    );
    // The unsigned BIGINT maximum and the emoji arrive as themselves.
    assert_eq!(
        dst.sql("SELECT biu, vc FROM alltypes WHERE id = 1"),
        "18446744073709551615\théllo 😀 ünï\n"
    );
    // Odd identifiers and an empty table.
    let weird = "SELECT `select`, `col``tick ü` FROM `order by` ORDER BY `select`";
    assert_eq!(src.sql(weird), dst.sql(weird));
    assert_eq!(dst.sql("SELECT COUNT(*) FROM empty_one"), "0\n");
    // The declared types come back too (Parquet keeps the `mysql.type` field metadata).
    let cols = |db: &Db, t: &str| {
        db.sql(&format!("SELECT column_name, column_type, is_nullable FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{t}' ORDER BY ordinal_position"))
    };
    assert_eq!(cols(&src, "alltypes"), cols(&dst, "alltypes"));
    assert!(cols(&dst, "alltypes").contains("e\tenum('a','b c')\tYES"));
    assert_eq!(cols(&src, "empty_one"), cols(&dst, "empty_one"));
    // No staging tables are left behind.
    assert_eq!(dst.tables(), vec!["alltypes", "empty_one", "order by"]);
}

#[test]
fn mysql_to_mysql_with_query_and_primary_key() {
    let src = Db::new();
    src.sql(ALL_TYPES);
    src.sql("CREATE TABLE `we``ird tbl` (`select` INT NOT NULL, `col``tick` VARCHAR(10)); INSERT INTO `we``ird tbl` VALUES (1, 'a`b'), (2, NULL)");
    let dst = Db::new();
    let dir = tempdir();
    let spec = write_spec(
        dir.path(),
        "copy.yaml",
        &format!(
            "version: 1\nname: copy\nsource:\n{}destination:\n{}streams:\n  - name: alltypes\n    primary_key: [id]\n  - name: picked\n    query: \"SELECT id, vc AS name, d * 2 AS twice FROM alltypes WHERE id <> 2\"\n  - name: \"we`ird tbl\"\n    primary_key: [select]\n",
            mysql_config(&src.0),
            mysql_config(&dst.0)
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    assert_eq!(src.sql(ALL_TYPES_SELECT), dst.sql(ALL_TYPES_SELECT));
    assert!(dst
        .sql("SHOW CREATE TABLE alltypes")
        .contains("PRIMARY KEY (`id`)"));
    assert_eq!(
        dst.sql("SELECT id, name, twice FROM picked ORDER BY id"),
        src.sql("SELECT id, vc, d * 2 FROM alltypes WHERE id <> 2 ORDER BY id")
    );
    let weird = "SELECT `select`, `col``tick` FROM `we``ird tbl` ORDER BY `select`";
    assert_eq!(dst.sql(weird), "1\ta`b\n2\tNULL\n");
    assert!(dst
        .sql("SHOW CREATE TABLE `we``ird tbl`")
        .contains("PRIMARY KEY (`select`)"));
}

#[test]
fn zero_dates_fail_by_default_and_read_as_null_on_request() {
    let src = Db::new();
    src.sql("SET SESSION sql_mode = ''; CREATE TABLE z (id INT, d DATE, t DATETIME); INSERT INTO z VALUES (1, '2024-01-02', '2024-01-02 03:04:05'), (2, '0000-00-00', '0000-00-00 00:00:00')");
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "z.yaml",
        &to_files(&src, &out, "streams:\n  - name: z\n"),
    );
    etl(dir.path(), &["run", &spec]).fails(1, "table `z`, column `d`, row 2: zero or invalid date");
    assert!(files_under(&out).is_empty(), "nothing is published");
    let spec = write_spec(
        dir.path(),
        "z.yaml",
        &to_files(&src, &out, "streams:\n  - name: z\n    zero_dates: null\n"),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let dst = Db::new();
    let load = write_spec(dir.path(), "l.yaml", &from_files(&out.join("z"), &dst, "z"));
    etl(dir.path(), &["run", &load]).ok();
    assert_eq!(
        dst.sql("SELECT id, d, t FROM z ORDER BY id"),
        "1\t2024-01-02\t2024-01-02 03:04:05\n2\tNULL\tNULL\n"
    );
    // A bad option value is a spec error.
    let spec = write_spec(
        dir.path(),
        "z.yaml",
        &to_files(&src, &out, "streams:\n  - name: z\n    zero_dates: zero\n"),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "zero_dates");
    let spec = write_spec(
        dir.path(),
        "z.yaml",
        &to_files(
            &src,
            &out,
            "streams:\n  - name: z\n    partition: {column: id, count: 0}\n",
        ),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "partition.count must be from 1 to 64");
}

#[test]
fn partitioned_read_moves_every_row_once() {
    let src = Db::new();
    src.sql("CREATE TABLE big (id BIGINT, v VARCHAR(20)); INSERT INTO big SELECT seq, CONCAT('row ', seq) FROM seq_1_to_10007; INSERT INTO big VALUES (NULL, 'no id')");
    let dst = Db::new();
    let dir = tempdir();
    let spec = write_spec(
        dir.path(),
        "p.yaml",
        &format!(
            "version: 1\nname: p\nsource:\n{}destination:\n{}defaults:\n  batch_size: 1000\nstreams:\n  - name: big\n    partition: {{column: id, count: 3}}\n",
            mysql_config(&src.0),
            mysql_config(&dst.0)
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let q =
        "SELECT COUNT(*), COUNT(DISTINCT id), SUM(id), MD5(GROUP_CONCAT(v ORDER BY v)) FROM big";
    assert_eq!(src.sql(q), dst.sql(q));
    assert_eq!(dst.sql("SELECT COUNT(*) FROM big WHERE id IS NULL"), "1\n");
}

#[test]
fn connection_problems_are_clear_and_never_show_the_password() {
    let db = Db::new();
    db.sql("CREATE TABLE t (id INT)");
    let user = format!("etl_u_{}", std::process::id());
    let right = format!("R1ght-{}-pw", std::process::id());
    let wrong = format!("Wr0ng-{}-pw", std::process::id());
    sql(
        "mysql",
        &format!("DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{right}'; GRANT ALL ON {}.* TO '{user}'@'%'", db.0),
    );
    struct DropUser(String);
    impl Drop for DropUser {
        fn drop(&mut self) {
            let _ = Command::new("mariadb")
                .args(["-h", HOST, "-uroot", "-e"])
                .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.0))
                .output();
        }
    }
    let _cleanup = DropUser(user.clone());
    let dir = tempdir();
    let spec = |database: &str, table: &str, extra: &str| {
        write_spec(
            dir.path(),
            "s.yaml",
            &format!(
                "version: 1\nname: s\nsource:\n  connector_type: mysql\n  config:\n    host: {HOST}\n    database: {database}\n    user: {user}\n    password: ${{ETL_T_PW}}\n{extra}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: {table}\n",
                dir.path().join("out").display()
            ),
        )
    };
    let check = |run: Run, pw: &str| {
        assert!(
            !run.stderr.contains(pw) && !run.stdout.contains(pw),
            "password printed:\n{}{}",
            run.stdout,
            run.stderr
        );
    };
    // Wrong password.
    let s = spec(&db.0, "t", "");
    let run = etl_in(dir.path(), &["run", &s], &[("ETL_T_PW", &wrong)]).fails(1, "Access denied");
    assert!(
        run.stderr.contains(&format!("user `{user}`")),
        "{}",
        run.stderr
    );
    // The server's message as a sentence, its codes after it; not mysql_async's `quoting'.
    assert!(
        run.stderr.contains("(MySQL error 1045, SQLSTATE 28000)")
            && !run.stderr.contains("`ERROR")
            && !run.stderr.contains("Server error"),
        "{}",
        run.stderr
    );
    check(run, &wrong);
    let run = etl_in(dir.path(), &["check", &s], &[("ETL_T_PW", &wrong)]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("Access denied"), "{}", run.stdout);
    check(run, &wrong);
    // Unknown database.
    let s = spec("etl_t_no_such_db", "t", "");
    let run =
        etl_in(dir.path(), &["run", &s], &[("ETL_T_PW", &right)]).fails(1, "etl_t_no_such_db");
    check(run, &right);
    // Missing table, with the right password.
    let s = spec(&db.0, "nope", "");
    let run = etl_in(dir.path(), &["run", &s], &[("ETL_T_PW", &right)])
        .fails(1, "table `nope` not found in database `");
    assert!(run.stderr.contains("(tables: t)"), "{}", run.stderr);
    check(run, &right);
    // validate and dry-run never print it either.
    let run = etl_in(dir.path(), &["validate", &s], &[("ETL_T_PW", &right)]);
    check(run, &right);
    // Nothing listens on port 1: refused at once, well before connect_timeout (60 s).
    let s = spec(&db.0, "t", "    port: 1\n    connect_timeout: 60\n");
    let t = std::time::Instant::now();
    let run = etl_in(dir.path(), &["run", &s], &[("ETL_T_PW", &right)])
        .fails(1, "cannot connect to MySQL at 127.0.0.1:1");
    assert!(t.elapsed().as_secs() < 30, "took {:?}", t.elapsed());
    check(run, &right);
    // A destination that cannot be used fails before anything is read.
    let s = write_spec(
        dir.path(),
        "dest.yaml",
        &format!(
            "version: 1\nname: d\nsource:\n{}destination:\n{}",
            mysql_config(&db.0),
            mysql_config("etl_t_no_such_db")
        ),
    );
    let run = etl(dir.path(), &["run", &s]).fails(1, "Unknown database 'etl_t_no_such_db'");
    assert!(!run.stderr.contains("stream started"), "{}", run.stderr);
    // A host that never answers (a non-routable address): connect_timeout ends the wait.
    let s = spec(&db.0, "t", "    connect_timeout: 1\n");
    let s = write_spec(
        dir.path(),
        "far.yaml",
        &std::fs::read_to_string(&s)
            .unwrap()
            .replace("127.0.0.1", "10.255.255.1"),
    );
    let t = std::time::Instant::now();
    let run = etl_in(dir.path(), &["run", &s], &[("ETL_T_PW", &right)])
        .fails(1, "cannot connect to MySQL at 10.255.255.1:3306");
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    check(run, &right);
}

#[test]
fn connectors_lists_mysql_keys() {
    let dir = tempdir();
    let run = etl(dir.path(), &["connectors"]).ok();
    // Only mysql's own lines (`mysql  source|destination  key, key, ...`): other connectors
    // have a host and a port too.
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("mysql"))
        .collect();
    assert_eq!(lines.len(), 2, "a source and a destination: {}", run.stdout);
    for line in lines {
        let keys: Vec<&str> = line
            .split_whitespace()
            .skip(2)
            .map(|k| k.trim_end_matches(','))
            .collect();
        for key in [
            "host",
            "port",
            "database",
            "user",
            "password",
            "connect_timeout",
        ] {
            assert!(keys.contains(&key), "{key} missing: {line}");
        }
    }
}

#[test]
fn values_without_an_exact_arrow_type_fail_naming_the_column() {
    let src = Db::new();
    src.sql("CREATE TABLE w (id INT, dur TIME, g GEOMETRY); INSERT INTO w VALUES (1, '100:00:00', POINT(1, 2))");
    let dir = tempdir();
    let out = dir.path().join("out");
    for (query, needle) in [
        (
            "SELECT id, dur FROM w",
            "column `dur`, row 1: TIME '100:00:00.000000' is not a time of day",
        ),
        (
            "SELECT id, g FROM w",
            "column `g`: MySQL type MYSQL_TYPE_GEOMETRY has no Arrow mapping",
        ),
    ] {
        let spec = write_spec(
            dir.path(),
            "w.yaml",
            &to_files(
                &src,
                &out,
                &format!("streams:\n  - name: w\n    query: \"{query}\"\n"),
            ),
        );
        etl(dir.path(), &["run", &spec]).fails(1, needle);
    }
    // The documented way out: CAST in the query.
    let spec = write_spec(
        dir.path(),
        "w.yaml",
        &to_files(&src, &out, "streams:\n  - name: w\n    query: \"SELECT id, CAST(dur AS CHAR) AS dur, ST_AsText(g) AS g FROM w\"\n"),
    );
    etl(dir.path(), &["run", &spec]).ok();
}

/// Append and merge (what the runner will use for `incremental`), driven through the library
/// since the runner does not enable incremental runs yet.
#[test]
fn incremental_appends_or_merges_on_the_primary_key() {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use etl::connectors::sql::mysql::{MysqlConfig, MysqlDestination};
    use etl::connectors::{Destination, WriteTarget};
    use etl::spec::{Mode, StreamSpec};
    use std::sync::Arc;

    let db = Db::new();
    let config = MysqlConfig {
        host: HOST.into(),
        port: 3306,
        database: db.0.clone(),
        user: "root".into(),
        password: Default::default(),
        connect_timeout: 10,
        ssl_mode: Default::default(),
        ssl_ca: None,
        ssl_cert: None,
        ssl_key: None,
        consistent_snapshot: false,
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = |ids: Vec<i64>, names: Vec<Option<&str>>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dest = MysqlDestination::new(config);
    let runs = |stream: StreamSpec, runs: Vec<(&'static str, RecordBatch)>| {
        rt.block_on(async {
            for (run, b) in runs {
                let target = WriteTarget {
                    stream: stream.clone(),
                    mode: Mode::Incremental,
                    run_id: format!("20260101T000000Z-{run}"),
                };
                let batches: etl::connectors::BatchStream =
                    Box::pin(futures::stream::iter(vec![Ok(b)]));
                let staged = dest.write(&target, schema.clone(), batches).await.unwrap();
                let report = staged.commit().await.unwrap();
                assert_eq!(report.outputs, vec![stream.name.clone()]);
            }
        })
    };
    // No primary key: every run's rows are added.
    runs(
        StreamSpec::named("t"),
        vec![
            ("r1", batch(vec![1, 2], vec![Some("a"), None])),
            ("r2", batch(vec![3, 1], vec![Some("c😀"), Some("again")])),
        ],
    );
    assert_eq!(
        db.sql("SELECT id, name FROM t ORDER BY id, name"),
        "1\ta\n1\tagain\n2\tNULL\n3\tc😀\n"
    );
    // With a primary key: existing keys are updated, new ones added, none duplicated.
    let mut keyed = StreamSpec::named("k");
    keyed.primary_key = vec!["id".into()];
    runs(
        keyed,
        vec![
            ("r3", batch(vec![1, 2], vec![Some("a"), None])),
            ("r4", batch(vec![2, 3], vec![Some("b"), Some("c")])),
        ],
    );
    assert_eq!(
        db.sql("SELECT id, name FROM k ORDER BY id"),
        "1\ta\n2\tb\n3\tc\n"
    );
    assert_eq!(db.tables(), vec!["k", "t"]);
}

#[test]
fn incremental_to_parquet_adds_only_new_rows() {
    let src = Db::new();
    src.sql(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_30",
    );
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = write_spec(
        dir.path(),
        "inc.yaml",
        &format!(
            "version: 1\nname: inc\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\nstate:\n  path: {}\nstreams:\n  - name: t\n    mode: incremental\n    cursor_field: id\n",
            mysql_config(&src.0),
            out.display(),
            dir.path().join("st.json").display()
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    src.sql("INSERT INTO t SELECT seq, CONCAT('n', seq) FROM seq_31_to_40");
    let r = etl(dir.path(), &["run", &spec]).ok();
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

/// MySQL's own rule (the shared full-refresh scenarios are in tests/conformance/): a
/// TINYINT(1) read as Boolean that holds 7 fails the run naming the column and row.
#[test]
fn a_tinyint1_holding_another_value_fails_naming_the_column_and_row() {
    let src = Db::new();
    src.sql("CREATE TABLE t (id INT, flag TINYINT(1)); INSERT INTO t VALUES (1, 1), (2, 0), (3, 1), (4, 7)");
    let dst = Db::new();
    let dir = tempdir();
    let spec = write_spec(
        dir.path(),
        "copy.yaml",
        &format!(
            "version: 1\nname: copy\nsource:\n{}destination:\n{}streams:\n  - name: t\n",
            mysql_config(&src.0),
            mysql_config(&dst.0)
        ),
    );
    etl(dir.path(), &["run", &spec]).fails(1, "table `t`, column `flag`, row 4");
    assert!(
        dst.tables().is_empty(),
        "nothing published: {:?}",
        dst.tables()
    );
}
