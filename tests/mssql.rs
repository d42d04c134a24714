//! The mssql connector through the built binary.
//!
//! Without a server (always run): config validation, `etl connectors`, and connection failures
//! against an unreachable host (10.255.255.1, connect_timeout) and a refused local port — exit
//! 1, one clear error, no password printed (every run is checked for the test secrets).
//!
//! Against a live server (run only when `ETL_TEST_MSSQL_URL` is set, e.g.
//! `mssql://sa:Secret@127.0.0.1:1433/etl_test?trust_server_certificate=true`): every type
//! through Parquet and back, full refresh and merge. The values are compared by the server
//! itself (`EXCEPT` over CONVERT-ed columns), through tiberius directly, not through etl.
//! Without the variable those tests print `SKIPPED: ...` and return.
#![cfg(feature = "mssql")]

mod common;
use common::*;
use std::path::Path;

const PASSWORD: &str = "Pw-n0t-sh0wn-4f7c";

fn mssql_block(host: &str, port: u16, extra: &str) -> String {
    format!(
        "  connector_type: mssql\n  config:\n    host: {host}\n    port: {port}\n    database: shop\n    user: etl\n    password: {PASSWORD}\n{extra}"
    )
}

fn to_files_spec(source: &str, out: &Path) -> String {
    format!(
        "version: 1\nname: mssql_export\nsource:\n{source}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\nstreams:\n  - name: orders\n",
        out.display()
    )
}

/// `etl check SPEC` exits 1 and reports `needle` (check reports on stdout).
#[track_caller]
fn check_fails(dir: &Path, spec: &str, needle: &str) -> Run {
    let r = etl(dir, &["check", spec]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(needle),
        "stdout lacks {needle:?}:\n{}",
        r.stdout
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

#[test]
fn config_is_validated_without_connecting() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let good = to_files_spec(
        &mssql_block(
            "10.255.255.1",
            1433,
            "    schema: sales\n    trust_server_certificate: true\n    encrypt: off\n    connect_timeout: 3\n",
        ),
        &out,
    );
    let spec = write_spec(dir.path(), "good.yaml", &good);
    let r = etl(dir.path(), &["validate", &spec]).ok();
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));

    let bad_key = good.replace("    schema: sales\n", "    schemaa: sales\n");
    let spec = write_spec(dir.path(), "bad_key.yaml", &bad_key);
    etl(dir.path(), &["validate", &spec]).fails(2, "schemaa");

    let bad_encrypt = good.replace("encrypt: off", "encrypt: sometimes");
    let spec = write_spec(dir.path(), "bad_encrypt.yaml", &bad_encrypt);
    etl(dir.path(), &["validate", &spec]).fails(
        2,
        "source.config.encrypt: unknown encrypt `sometimes`, expected `required`, `on`, `off` or `not_supported`",
    );

    let bad_port = good.replace("port: 1433", "port: 99999");
    let spec = write_spec(dir.path(), "bad_port.yaml", &bad_port);
    etl(dir.path(), &["validate", &spec]).fails(2, "port");

    let no_host = good.replace("    host: 10.255.255.1\n", "");
    let spec = write_spec(dir.path(), "no_host.yaml", &no_host);
    etl(dir.path(), &["validate", &spec]).fails(2, "host");

    let incremental = good.replace(
        "  - name: orders\n",
        "  - name: orders\n    mode: incremental\n",
    );
    let spec = write_spec(dir.path(), "incr.yaml", &incremental);
    etl(dir.path(), &["validate", &spec]).fails(2, "cursor_field");
}

#[test]
fn connectors_lists_mssql_keys() {
    let dir = tempdir();
    let r = etl(dir.path(), &["connectors", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mssql = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector_type"] == "mssql")
        .unwrap_or_else(|| panic!("mssql missing: {}", r.stdout));
    let text = mssql.to_string();
    for key in [
        "host",
        "port",
        "database",
        "user",
        "password",
        "schema",
        "trust_server_certificate",
        "encrypt",
        "connect_timeout",
    ] {
        assert!(
            text.contains(&format!("\"{key}\"")),
            "{key} missing: {text}"
        );
    }
    assert!(
        text.contains("source") && text.contains("destination"),
        "{text}"
    );
}

#[test]
fn silent_server_times_out_with_one_clear_error() {
    // A listener that never accepts: the TCP handshake completes (the kernel's backlog), the
    // TDS pre-login gets no answer. connect_timeout must bound the whole attempt.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = to_files_spec(
        &mssql_block("127.0.0.1", port, "    connect_timeout: 2\n"),
        &out,
    );
    let spec = write_spec(dir.path(), "spec.yaml", &spec);
    let started = std::time::Instant::now();
    check_fails(dir.path(), &spec, "no answer within 2s (connect_timeout)");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "check took {:?}",
        started.elapsed()
    );
    etl(dir.path(), &["run", &spec]).fails(1, "no answer within 2s (connect_timeout)");
    assert!(!out.join("orders").exists(), "nothing may be written");
    drop(silent);
}

#[test]
fn unreachable_host_fails_within_the_timeout() {
    // 10.255.255.1 is not routed: normally the attempt times out; behind a proxy that accepts
    // every connection it is reset instead. Either way: exit 1, one clear error, in time.
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = to_files_spec(
        &mssql_block("10.255.255.1", 1433, "    connect_timeout: 2\n"),
        &out,
    );
    let spec = write_spec(dir.path(), "spec.yaml", &spec);
    let started = std::time::Instant::now();
    check_fails(
        dir.path(),
        &spec,
        "source (mssql): FAILED: cannot connect to SQL Server at 10.255.255.1:1433 (user `etl`, database `shop`): ",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "check took {:?}",
        started.elapsed()
    );
    let r =
        etl(dir.path(), &["run", &spec]).fails(1, "cannot connect to SQL Server at 10.255.255.1");
    // Reported once where the stream fails (the run's closing line names it again).
    let failures = r
        .stderr
        .lines()
        .filter(|l| l.contains("stream failed") && l.contains("cannot connect"))
        .count();
    assert_eq!(failures, 1, "one error, once:\n{}", r.stderr);
    assert!(!out.join("orders").exists(), "nothing may be written");
}

#[test]
fn refused_port_fails_fast_as_destination_too() {
    // A port nobody listens on: a socket bound to it but not listening (connections to it
    // are refused), held for the whole test so that no other process can take the port.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = held
        .local_addr()
        .unwrap()
        .as_socket()
        .expect("an IPv4 address")
        .port();
    let dir = tempdir();
    let db = shop_db(dir.path());
    let spec = format!(
        "version: 1\nname: to_mssql\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n{}streams:\n  - name: customers\n",
        db.display(),
        mssql_block("127.0.0.1", port, "    connect_timeout: 60\n")
    );
    let spec = write_spec(dir.path(), "spec.yaml", &spec);
    let started = std::time::Instant::now();
    let r = check_fails(
        dir.path(),
        &spec,
        "destination (mssql): FAILED: cannot connect to SQL Server at 127.0.0.1",
    );
    assert!(
        r.stdout.to_ascii_lowercase().contains("refused"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("source (sqlite): ok"), "{}", r.stdout);
    // Refused at once, not after connect_timeout (60 s): generous for 2 shared cores.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "check took {:?}",
        started.elapsed()
    );
    etl(dir.path(), &["run", &spec]).fails(1, "cannot connect to SQL Server");
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// Live tests (ETL_TEST_MSSQL_URL)

mod live {

    pub use super::common::MssqlUrl as Server;

    /// The live server, or `None` after saying loudly that the test did not run.
    pub fn server(test: &str) -> Option<Server> {
        super::common::mssql_url(test)
    }

    impl Server {
        pub fn block(&self) -> String {
            format!(
                "  connector_type: mssql\n  config:\n    host: {}\n    port: {}\n    database: {}\n    user: {}\n    password: ${{ETL_TEST_MSSQL_PASSWORD}}\n    trust_server_certificate: {}\n    connect_timeout: 15\n",
                self.host, self.port, self.database, self.user, self.trust
            )
        }

        pub fn env(&self) -> [(&str, &str); 1] {
            [("ETL_TEST_MSSQL_PASSWORD", self.password.as_str())]
        }

        /// Runs a batch and returns every row of its first result, each cell converted to text
        /// by the server (NULL as `NULL`).
        pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = self.client().await;
                let rows = c
                    .simple_query(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_first_result()
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<&str, _>(i)
                                    .ok()
                                    .flatten()
                                    .map(str::to_string)
                                    .or_else(|| {
                                        r.try_get::<i32, _>(i).ok().flatten().map(|v| v.to_string())
                                    })
                                    .unwrap_or_else(|| "NULL".into())
                            })
                            .collect()
                    })
                    .collect()
            })
        }

        pub fn exec(&self, sql: &str) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = self.client().await;
                c.simple_query(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_results()
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            })
        }
    }

    /// A table name unique to this test process.
    pub fn name(tag: &str) -> String {
        format!("etl_t_{}_{tag}", std::process::id())
    }
}

const ALL_TYPES_COLUMNS: &str = "id INT NOT NULL PRIMARY KEY, b BIT, ti TINYINT, si SMALLINT, i INT, bi BIGINT, \
 d DECIMAL(12,2), dmax DECIMAL(38,10), n NUMERIC(5,5), m MONEY, sm SMALLMONEY, r REAL, f FLOAT, \
 c CHAR(5), vc VARCHAR(100), vmax VARCHAR(MAX), nc NCHAR(4), nv NVARCHAR(50), nvmax NVARCHAR(MAX), \
 bn BINARY(4), vb VARBINARY(20), vbmax VARBINARY(MAX), dt DATE, tm TIME(7), tm3 TIME(3), dtm DATETIME, \
 sdt SMALLDATETIME, dt2 DATETIME2(7), dt26 DATETIME2(6), dto DATETIMEOFFSET(7), u UNIQUEIDENTIFIER, x XML";

const ALL_TYPES_ROWS: &str = "\
(1, 1, 255, -32768, -2147483648, -9223372036854775808, -1234567890.12, \
 1234567890123456789012345678.0123456789, 0.12345, -922337203685477.5808, 214748.3647, \
 3.14159, 2.718281828459045, 'ab', 'tab	and ''quote''', REPLICATE(CAST('xyz' AS VARCHAR(MAX)), 5000), \
 N'héll', N'héllo 😀 ünï', REPLICATE(CAST(N'ü😀' AS NVARCHAR(MAX)), 3000), 0x00FF10AB, 0xDEADBEEF00, \
 0x000102FF, '2024-02-29', '23:59:59.9999999', '12:34:56.789', '2024-02-29 23:59:59.997', \
 '2024-02-29 23:59', '9999-12-31 23:59:59.9999999', '0001-01-01 00:00:00.000001', \
 '2024-02-29 23:59:59.1234567 +05:30', '6F9619FF-8B86-D011-B42D-00C04FC964FF', '<a b=\"1\">x</a>'), \
(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
(3, 0, 0, 32767, 2147483647, 9223372036854775807, 0.01, -0.0000000001, 0.00001, 922337203685477.5807, \
 -214748.3648, -1.5e-10, 1e308, '', '', '', N'', N'', N'', 0x00000000, 0x, 0x, '0001-01-01', \
 '00:00:00', '00:00:00', '1753-01-01 00:00:00', '1900-01-01 00:00', '1970-01-01 00:00:00', \
 '2000-01-01 00:00:00', '1970-01-01 00:00:00 -08:00', '00000000-0000-0000-0000-000000000000', '<r/>')";

/// Every column as text, formatted by the server (style 121/126 for dates, hex for binary).
const ALL_TYPES_TEXT: &str = "id, CONVERT(NVARCHAR(MAX), b), CONVERT(NVARCHAR(MAX), ti), \
 CONVERT(NVARCHAR(MAX), si), CONVERT(NVARCHAR(MAX), i), CONVERT(NVARCHAR(MAX), bi), \
 CONVERT(NVARCHAR(MAX), d), CONVERT(NVARCHAR(MAX), dmax), CONVERT(NVARCHAR(MAX), n), \
 CONVERT(NVARCHAR(MAX), CAST(m AS DECIMAL(19,4))), CONVERT(NVARCHAR(MAX), CAST(sm AS DECIMAL(10,4))), \
 CONVERT(NVARCHAR(MAX), r, 3), CONVERT(NVARCHAR(MAX), f, 3), c, vc, CONVERT(NVARCHAR(64), HASHBYTES('SHA2_256', vmax), 2), \
 nc, nv, CONVERT(NVARCHAR(64), HASHBYTES('SHA2_256', nvmax), 2), CONVERT(NVARCHAR(MAX), bn, 2), \
 CONVERT(NVARCHAR(MAX), vb, 2), CONVERT(NVARCHAR(MAX), vbmax, 2), CONVERT(NVARCHAR(MAX), dt, 121), \
 CONVERT(NVARCHAR(MAX), tm, 121), CONVERT(NVARCHAR(MAX), tm3, 121), CONVERT(NVARCHAR(MAX), dtm, 121), \
 CONVERT(NVARCHAR(MAX), sdt, 121), CONVERT(NVARCHAR(MAX), dt2, 121), CONVERT(NVARCHAR(MAX), dt26, 121), \
 CONVERT(NVARCHAR(MAX), SWITCHOFFSET(dto, '+00:00'), 121), CONVERT(NVARCHAR(MAX), u), CONVERT(NVARCHAR(MAX), x)";

#[test]
fn live_every_type_round_trips_through_parquet() {
    let Some(s) = live::server("live_every_type_round_trips_through_parquet") else {
        return;
    };
    let (src, back) = (live::name("alltypes"), live::name("alltypes_back"));
    s.exec(&format!(
        "DROP TABLE IF EXISTS dbo.[{src}]; DROP TABLE IF EXISTS dbo.[{back}]; \
         CREATE TABLE dbo.[{src}] ({ALL_TYPES_COLUMNS}); INSERT INTO dbo.[{src}] VALUES {ALL_TYPES_ROWS};"
    ));
    let dir = tempdir();
    let out = dir.path().join("out");
    let export = format!(
        "version: 1\nname: ms_export\nsource:\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\nstreams:\n  - name: alltypes\n    table: {src}\n",
        s.block(),
        out.display()
    );
    let export = write_spec(dir.path(), "export.yaml", &export);
    etl_in(dir.path(), &["run", &export], &s.env()).ok();
    let import = format!(
        "version: 1\nname: ms_import\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n{}streams:\n  - name: {back}\n    primary_key: [id]\n",
        out.join("alltypes").display(),
        s.block()
    );
    let import = write_spec(dir.path(), "import.yaml", &import);
    etl_in(dir.path(), &["run", &import], &s.env()).ok();
    let diff = s.rows(&format!(
        "SELECT COUNT(*) FROM ((SELECT {ALL_TYPES_TEXT} FROM dbo.[{src}] EXCEPT SELECT {ALL_TYPES_TEXT} FROM dbo.[{back}]) \
         UNION ALL (SELECT {ALL_TYPES_TEXT} FROM dbo.[{back}] EXCEPT SELECT {ALL_TYPES_TEXT} FROM dbo.[{src}])) AS d"
    ));
    assert_eq!(
        diff,
        vec![vec!["0".to_string()]],
        "rows differ after the round trip"
    );
    // Declared types survive (xml is recreated as nvarchar(max): bulk insert cannot load xml).
    let types = |t: &str| {
        s.rows(&format!(
            "SELECT COLUMN_NAME, DATA_TYPE, CONVERT(NVARCHAR(20), CHARACTER_MAXIMUM_LENGTH), \
             CONVERT(NVARCHAR(20), NUMERIC_PRECISION), CONVERT(NVARCHAR(20), NUMERIC_SCALE), \
             CONVERT(NVARCHAR(20), DATETIME_PRECISION) FROM INFORMATION_SCHEMA.COLUMNS \
             WHERE TABLE_NAME = '{t}' AND COLUMN_NAME <> 'x' ORDER BY ORDINAL_POSITION"
        ))
    };
    assert_eq!(types(&src), types(&back));
    s.exec(&format!("DROP TABLE dbo.[{src}]; DROP TABLE dbo.[{back}];"));
}

#[test]
fn example_pipeline_validates() {
    let dir = tempdir();
    let spec = Path::new(ROOT).join("pipelines/mssql_to_parquet.yaml");
    etl_in(
        dir.path(),
        &["validate", &spec.to_string_lossy()],
        &[("MSSQL_HOST", "db.internal"), ("MSSQL_PASSWORD", PASSWORD)],
    )
    .ok();
}
