//! Oracle: one user (schema) per [`TestDb`], created by `ETL_TEST_ORACLE_USER` (which needs
//! CREATE USER, DROP USER, CREATE ANY TABLE and ALTER SYSTEM, e.g. SYSTEM on a test server) on
//! `ETL_TEST_ORACLE_DSN`, read back through the oracle crate directly. Without the variable
//! every test prints `SKIPPED:`.

use crate::common::skipped;
use crate::db::*;

#[derive(Clone)]
struct Server {
    dsn: String,
    user: String,
    password: String,
}

pub struct Oracle {
    server: Server,
    schema: String,
}

/// Runs only with `ETL_TEST_ORACLE_DSN` (and `_USER`, `_PASSWORD`).
pub fn backend(test: &str) -> Option<Backend> {
    let Ok(dsn) = std::env::var("ETL_TEST_ORACLE_DSN") else {
        skipped(
            test,
            "ETL_TEST_ORACLE_DSN not set (no Oracle server to test against)",
        );
        return None;
    };
    let server = Server {
        dsn,
        user: std::env::var("ETL_TEST_ORACLE_USER").expect("ETL_TEST_ORACLE_USER"),
        password: std::env::var("ETL_TEST_ORACLE_PASSWORD").expect("ETL_TEST_ORACLE_PASSWORD"),
    };
    Some(Box::new(move |tag: &str| {
        let db = Oracle {
            server: server.clone(),
            schema: unique(tag).to_uppercase(),
        };
        db.exec(&format!(
            "CREATE USER \"{}\" IDENTIFIED BY \"Unused-{}\" QUOTA UNLIMITED ON USERS",
            db.schema,
            std::process::id()
        ));
        Box::new(db) as Box<dyn TestDb>
    }))
}

impl Oracle {
    fn conn(&self) -> oracle::Connection {
        let s = &self.server;
        oracle::Connection::connect(&s.user, &s.password, &s.dsn).expect("connect to Oracle")
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        if let Ok(c) =
            oracle::Connection::connect(&self.server.user, &self.server.password, &self.server.dsn)
        {
            let _ = c.execute(&format!("DROP USER \"{}\" CASCADE", self.schema), &[]);
        }
    }
}

impl TestDb for Oracle {
    fn connector_type(&self) -> &'static str {
        "oracle"
    }

    fn config(&self) -> String {
        let s = &self.server;
        format!(
            "    dsn: {}\n    user: {}\n    password: ${{ETL_TEST_ORACLE_PASSWORD}}\n    connect_timeout: 30\n    schema: {}\n",
            s.dsn, s.user, self.schema
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "ETL_TEST_ORACLE_PASSWORD".into(),
            self.server.password.clone(),
        )]
    }

    fn exec(&self, sql: &str) {
        let c = self.conn();
        c.execute(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.commit().expect("commit");
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let c = self.conn();
        let rows = c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.map(|r| {
            let r = r.expect("row");
            (0..r.sql_values().len())
                .map(|i| r.get::<usize, Option<String>>(i).expect("a value as text"))
                .collect()
        })
        .collect()
    }

    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{}", self.quote(&self.schema), self.quote(name))
    }

    fn spell(&self, sql_type: &str) -> String {
        match sql_type {
            "int" => "NUMBER(10)".into(),
            "bigint" => "NUMBER(19)".into(),
            other => other.to_string(),
        }
    }

    fn ddl(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "NUMBER(10)",
            Kind::Timestamp => "TIMESTAMP(6)",
            _ => "VARCHAR2(200)",
        }
    }

    fn canon(&self, e: &str, kind: Kind) -> String {
        // Text and binary come back as CLOB/BLOB after a round trip: read both through LOBs.
        match kind {
            Kind::Int | Kind::Bool => format!("TO_CHAR({e})"),
            Kind::Decimal => format!("TO_CHAR({e}, 'FM9999999999990.00')"),
            Kind::Float => format!("TO_CHAR(CAST({e} AS NUMBER), 'FM9999999999990.000000')"),
            Kind::Text => format!("TO_CHAR(DBMS_LOB.SUBSTR(TO_CLOB({e}), 4000, 1))"),
            Kind::Bytes => format!("LOWER(RAWTOHEX(DBMS_LOB.SUBSTR(TO_BLOB({e}), 2000, 1)))"),
            Kind::Date => format!("TO_CHAR({e}, 'YYYY-MM-DD')"),
            Kind::Time => format!("TO_CHAR({e}, 'HH24:MI:SS.FF6')"),
            Kind::Timestamp => format!("TO_CHAR({e}, 'YYYY-MM-DD HH24:MI:SS.FF6')"),
            Kind::TimestampTz => {
                format!("TO_CHAR(SYS_EXTRACT_UTC({e}), 'YYYY-MM-DD HH24:MI:SS.FF6')")
            }
        }
    }

    fn literal(&self, kind: Kind, v: &str) -> String {
        match kind {
            Kind::Bytes => format!("HEXTORAW('{v}')"),
            Kind::Timestamp => format!("TIMESTAMP '{v}'"),
            Kind::TimestampTz => format!("TIMESTAMP '{v} +00:00'"),
            _ => format!("'{}'", v.replace('\'', "''")),
        }
    }

    fn types(&self) -> Vec<TypeCase> {
        // Oracle stores '' as NULL: no empty sample values.
        vec![
            case("NUMBER(10)", Kind::Int, ["-2147483648", "2147483647", "0"]),
            case(
                "NUMBER(18)",
                Kind::Int,
                ["-999999999999999999", "999999999999999999", "1"],
            ),
            case(
                "NUMBER(12,2)",
                Kind::Decimal,
                ["-1234567890.12", "0.00", "9999999999.99"],
            ),
            case(
                "BINARY_FLOAT",
                Kind::Float,
                ["1.500000", "-0.250000", "0.000000"],
            ),
            case(
                "BINARY_DOUBLE",
                Kind::Float,
                ["2.250000", "-1.000000", "1234567.125000"],
            ),
            case(
                "VARCHAR2(100)",
                Kind::Text,
                ["héllo, \"wörld\" 'q'", " ", "line\nbreak\ttab"],
            ),
            case("NVARCHAR2(50)", Kind::Text, ["ünï ☃", "x", "y"]),
            case("CLOB", Kind::Text, ["clob", "z", "w"]),
            case("RAW(16)", Kind::Bytes, ["deadbeef00", "00", "00ff"]),
            case("BLOB", Kind::Bytes, ["000102ff", "ff", "00"]),
            case(
                "TIMESTAMP(6)",
                Kind::Timestamp,
                [
                    "9999-12-31 23:59:59.999999",
                    "0001-01-01 00:00:00.000000",
                    "2000-01-01 00:00:00.000001",
                ],
            ),
            case(
                "TIMESTAMP(6) WITH TIME ZONE",
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
        format!("(SELECT LEVEL AS i FROM dual CONNECT BY LEVEL <= {n}) s")
    }

    fn slow_query(&self) -> String {
        "SELECT COUNT(*) AS x FROM all_objects a, all_objects b, all_objects c".into()
    }

    fn tables(&self) -> Vec<String> {
        first_column(self.query(&format!(
            "SELECT table_name FROM all_tables WHERE owner = '{}' ORDER BY table_name",
            self.schema
        )))
    }

    fn kill_sessions(&self) -> Result<usize, NotSupported> {
        // etl's statements name the schema: the sessions whose current or last statement did.
        let sessions = self.query(&format!(
            "SELECT DISTINCT TO_CHAR(s.sid) || ',' || TO_CHAR(s.serial#) FROM v$session s \
             JOIN v$sql q ON q.sql_id IN (s.sql_id, s.prev_sql_id) \
             WHERE s.audsid <> SYS_CONTEXT('USERENV', 'SESSIONID') AND INSTR(q.sql_text, '\"{}\"') > 0",
            self.schema
        ));
        let c = self.conn();
        for s in sessions.iter().filter_map(|r| r.first().cloned().flatten()) {
            let _ = c.execute(&format!("ALTER SYSTEM KILL SESSION '{s}' IMMEDIATE"), &[]);
        }
        Ok(sessions.len())
    }

    fn bad_login(&self) -> Result<BadLogin, NotSupported> {
        let wrong = format!("Wr0ng-{}-pw", std::process::id());
        Ok(BadLogin {
            config: format!(
                "    dsn: {}\n    user: {}\n    password: ${{ETL_C_BAD_PW}}\n    connect_timeout: 30\n",
                self.server.dsn, self.server.user
            ),
            env: vec![("ETL_C_BAD_PW".into(), wrong.clone())],
            secret: Some(wrong),
            needle: "ORA-01017".into(),
        })
    }
}
