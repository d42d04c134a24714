//! SQL Server: one schema per [`TestDb`] in the database of `ETL_TEST_MSSQL_URL`
//! (`mssql://user:password@host:port/database[?trust_server_certificate=true]`), read back
//! through tiberius directly. Without the variable every test prints `SKIPPED:`.

use crate::common::*;
use crate::db::*;
use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::Compat;

type Server = MssqlUrl;

pub struct Mssql {
    server: Server,
    schema: String,
}

/// Runs only with `ETL_TEST_MSSQL_URL`.
pub fn backend(test: &str) -> Option<Backend> {
    let server = mssql_url(test)?;
    Some(Box::new(move |tag: &str| {
        let db = Mssql {
            server: server.clone(),
            schema: unique(tag),
        };
        db.exec(&format!("EXEC('CREATE SCHEMA [{}]')", db.schema));
        Box::new(db) as Box<dyn TestDb>
    }))
}

trait Connect {
    fn run<T>(&self, f: impl AsyncFnOnce(&mut Client<Compat<TcpStream>>) -> T) -> T;
}

impl Connect for Server {
    fn run<T>(&self, f: impl AsyncFnOnce(&mut Client<Compat<TcpStream>>) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut client = self.client().await;
            f(&mut client).await
        })
    }
}

impl Drop for Mssql {
    fn drop(&mut self) {
        let s = self.schema.clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.exec(&format!(
                "DECLARE @s NVARCHAR(MAX) = N''; \
                 SELECT @s += N'DROP TABLE ' + QUOTENAME(s.name) + N'.' + QUOTENAME(t.name) + N';' \
                 FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE s.name = N'{s}'; \
                 EXEC(@s); EXEC(N'DROP SCHEMA [{s}]')"
            ))
        }));
    }
}

/// One cell as text: the scenarios render values as NVARCHAR in SQL; counts and sums come as
/// integers.
fn cell(row: &tiberius::Row, i: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<&str, _>(i) {
        return v.map(str::to_string);
    }
    if let Ok(v) = row.try_get::<i64, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<i32, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<tiberius::numeric::Numeric, _>(i) {
        return v.map(|v| v.to_string());
    }
    panic!("column {i}: convert it to NVARCHAR in the query")
}

impl TestDb for Mssql {
    fn connector_type(&self) -> &'static str {
        "mssql"
    }

    fn config(&self) -> String {
        let s = &self.server;
        format!(
            "    host: {}\n    port: {}\n    database: {}\n    user: {}\n    password: ${{ETL_TEST_MSSQL_PASSWORD}}\n    trust_server_certificate: {}\n    connect_timeout: 15\n    schema: {}\n",
            s.host, s.port, s.database, s.user, s.trust, yaml(&self.schema)
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "ETL_TEST_MSSQL_PASSWORD".into(),
            self.server.password.clone(),
        )]
    }

    fn exec(&self, sql: &str) {
        self.server.run(async |c| {
            c.simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_results()
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.server.run(async |c| {
            let rows = c
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_first_result()
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter()
                .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                .collect()
        })
    }

    fn quote(&self, ident: &str) -> String {
        format!("[{}]", ident.replace(']', "]]"))
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{}", self.quote(&self.schema), self.quote(name))
    }

    fn ddl(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "INT",
            Kind::Timestamp => "DATETIME2(6)",
            _ => "NVARCHAR(200)",
        }
    }

    fn canon(&self, e: &str, kind: Kind) -> String {
        match kind {
            Kind::Int | Kind::Decimal | Kind::Bool => format!("CONVERT(NVARCHAR(100), {e})"),
            Kind::Float => format!("CONVERT(NVARCHAR(100), CAST({e} AS DECIMAL(38,6)))"),
            Kind::Text => format!("CAST({e} AS NVARCHAR(MAX))"),
            Kind::Bytes => format!("LOWER(CONVERT(NVARCHAR(MAX), {e}, 2))"),
            Kind::Date => format!("CONVERT(NVARCHAR(10), {e}, 23)"),
            Kind::Time => format!("CONVERT(NVARCHAR(15), CAST({e} AS TIME(6)))"),
            Kind::Timestamp => format!("CONVERT(NVARCHAR(26), CAST({e} AS DATETIME2(6)), 121)"),
            Kind::TimestampTz => format!(
                "CONVERT(NVARCHAR(26), CAST(SWITCHOFFSET({e}, '+00:00') AS DATETIME2(6)), 121)"
            ),
        }
    }

    fn literal(&self, kind: Kind, v: &str) -> String {
        match kind {
            Kind::Bytes => format!("0x{v}"),
            Kind::TimestampTz => format!("'{v} +00:00'"),
            _ => format!("N'{}'", v.replace('\'', "''")),
        }
    }

    fn types(&self) -> Vec<TypeCase> {
        vec![
            case("TINYINT", Kind::Int, ["255", "0", "1"]),
            case("SMALLINT", Kind::Int, ["-32768", "32767", "0"]),
            case("INT", Kind::Int, ["-2147483648", "2147483647", "0"]),
            case(
                "BIGINT",
                Kind::Int,
                ["-9223372036854775808", "9223372036854775807", "0"],
            ),
            case(
                "DECIMAL(12,2)",
                Kind::Decimal,
                ["-1234567890.12", "0.00", "9999999999.99"],
            ),
            case("REAL", Kind::Float, ["1.500000", "-0.250000", "0.000000"]),
            case(
                "FLOAT",
                Kind::Float,
                ["2.250000", "-1.000000", "1234567.125000"],
            ),
            case("BIT", Kind::Bool, ["1", "0", "1"]),
            case(
                "NVARCHAR(100)",
                Kind::Text,
                ["héllo, \"wörld\" 'q' ☃ 😀", "", "line\nbreak\ttab"],
            ),
            case("VARCHAR(100)", Kind::Text, ["plain", "", "x"]),
            case("NVARCHAR(MAX)", Kind::Text, ["ü😀", "", "y"]),
            case("VARBINARY(20)", Kind::Bytes, ["deadbeef00", "", "00ff"]),
            case("VARBINARY(MAX)", Kind::Bytes, ["000102ff", "", "ff"]),
            case(
                "DATE",
                Kind::Date,
                ["2024-02-29", "0001-01-01", "9999-12-31"],
            ),
            case(
                "TIME(6)",
                Kind::Time,
                ["23:59:59.999999", "00:00:00.000000", "12:00:00.500000"],
            ),
            case(
                "DATETIME2(6)",
                Kind::Timestamp,
                [
                    "9999-12-31 23:59:59.999999",
                    "0001-01-01 00:00:00.000000",
                    "2000-01-01 00:00:00.000001",
                ],
            ),
            case(
                "DATETIMEOFFSET(6)",
                Kind::TimestampTz,
                [
                    "2024-01-01 12:00:00.000001",
                    "1970-01-01 00:00:00.000000",
                    "2038-01-19 03:14:07.999999",
                ],
            ),
        ]
    }

    fn series(&self, n: u64) -> String {
        format!(
            "(SELECT TOP ({n}) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS i \
             FROM sys.all_objects a CROSS JOIN sys.all_objects b) AS s"
        )
    }

    fn slow_query(&self) -> String {
        "SELECT COUNT_BIG(*) AS x FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c".into()
    }

    fn tables(&self) -> Vec<String> {
        first_column(self.query(&format!(
            "SELECT t.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
             WHERE s.name = N'{}' ORDER BY t.name",
            self.schema
        )))
    }

    fn kill_sessions(&self) -> Result<usize, NotSupported> {
        // etl's statements name the schema: find the sessions whose last statement did.
        let ids = self.query(&format!(
            "SELECT CONVERT(NVARCHAR(20), c.session_id) FROM sys.dm_exec_connections c \
             CROSS APPLY sys.dm_exec_sql_text(c.most_recent_sql_handle) t \
             WHERE c.session_id <> @@SPID AND t.text LIKE N'%{}%'",
            self.schema
        ));
        for id in ids.iter().filter_map(|r| r.first().cloned().flatten()) {
            let _ = std::panic::catch_unwind(|| self.exec(&format!("KILL {id}")));
        }
        Ok(ids.len())
    }

    fn bad_login(&self) -> Result<BadLogin, NotSupported> {
        let wrong = format!("Wr0ng-{}-pw", std::process::id());
        let s = &self.server;
        Ok(BadLogin {
            config: format!(
                "    host: {}\n    port: {}\n    database: {}\n    user: {}\n    password: ${{ETL_C_BAD_PW}}\n    trust_server_certificate: {}\n    connect_timeout: 15\n",
                s.host, s.port, s.database, s.user, s.trust
            ),
            env: vec![("ETL_C_BAD_PW".into(), wrong.clone())],
            secret: Some(wrong),
            needle: "Login failed".into(),
        })
    }
}
