//! PostgreSQL: one schema of database `test` per [`TestDb`] (`ETL_TEST_PG_HOST`, default
//! 127.0.0.1; user `postgres` without a password), read back with `psql`.

use crate::common::*;
use crate::db::*;
use std::process::Command;

pub struct Postgres {
    schema: String,
}

/// The server the tests need: always run (an unreachable server fails the tests).
pub fn backend(_test: &str) -> Option<Backend> {
    Some(Box::new(|tag: &str| {
        let schema = unique(tag);
        psql(&format!("CREATE SCHEMA \"{schema}\""));
        Box::new(Postgres { schema }) as Box<dyn TestDb>
    }))
}

impl Drop for Postgres {
    fn drop(&mut self) {
        pg_drop_schema(&self.schema);
    }
}

const NULL: &str = "\u{1}NULL\u{1}";

impl TestDb for Postgres {
    fn connector_type(&self) -> &'static str {
        "postgresql"
    }

    fn config(&self) -> String {
        format!(
            "    host: {}\n    database: test\n    user: postgres\n    schema: {}\n",
            pg_host(),
            yaml(&self.schema)
        )
    }

    fn exec(&self, sql: &str) {
        psql_with(&[], sql);
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-F", "\u{1f}", "-R", "\u{1e}", "-P"])
            .arg(format!("null={NULL}"))
            .arg("-h")
            .arg(pg_host())
            .args(["-U", "postgres", "-d", "test", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed on:\n{sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if text.is_empty() {
            return Vec::new();
        }
        text.split('\u{1e}')
            .map(|row| {
                row.split('\u{1f}')
                    .map(|v| (v != NULL).then(|| v.to_string()))
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

    fn ddl(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "integer",
            Kind::Timestamp => "timestamp",
            _ => "text",
        }
    }

    fn canon(&self, e: &str, kind: Kind) -> String {
        match kind {
            Kind::Int | Kind::Decimal | Kind::Text => format!("({e})::text"),
            Kind::Float => format!("(({e})::numeric(40,6))::text"),
            Kind::Bool => format!("(({e})::int)::text"),
            Kind::Bytes => format!("encode({e}, 'hex')"),
            Kind::Date => format!("to_char({e}, 'YYYY-MM-DD')"),
            Kind::Time => format!("to_char({e}, 'HH24:MI:SS.US')"),
            Kind::Timestamp => format!("to_char({e}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            Kind::TimestampTz => {
                format!("to_char(({e}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
        }
    }

    fn literal(&self, kind: Kind, v: &str) -> String {
        match kind {
            Kind::Bytes => format!("decode('{v}', 'hex')"),
            Kind::TimestampTz => format!("'{v}+00'"),
            _ => format!("'{}'", v.replace('\'', "''")),
        }
    }

    fn types(&self) -> Vec<TypeCase> {
        vec![
            case("smallint", Kind::Int, ["1", "-32768", "32767"]),
            case("integer", Kind::Int, ["7", "-2147483648", "2147483647"]),
            case(
                "bigint",
                Kind::Int,
                ["9223372036854775807", "-9223372036854775808", "0"],
            ),
            case(
                "numeric(12,2)",
                Kind::Decimal,
                ["-1234567890.12", "0.00", "9999999999.99"],
            ),
            case(
                "numeric(50,5)",
                Kind::Decimal,
                [
                    "123456789012345678901234567890123456789012345.12345",
                    "-1.00000",
                    "0.00001",
                ],
            ),
            case("real", Kind::Float, ["1.500000", "-0.250000", "0.000000"]),
            case(
                "double precision",
                Kind::Float,
                ["2.250000", "-1.000000", "1234567.125000"],
            ),
            case("boolean", Kind::Bool, ["1", "0", "1"]),
            case(
                "text",
                Kind::Text,
                ["héllo, \"wörld\" 'q' ☃ 😀", "", "line\nbreak\ttab"],
            ),
            case("varchar(20)", Kind::Text, ["vc", "", "x"]),
            // Padded to its length, as PostgreSQL stores it (`::text` would trim it).
            TypeCase {
                canon: Some("rpad({}, 5)"),
                ..case("char(5)", Kind::Text, ["abcde", "x    ", "ab   "])
            },
            case("bytea", Kind::Bytes, ["deadbeef00", "", "00ff"]),
            case(
                "date",
                Kind::Date,
                ["2024-02-29", "0001-01-01", "9999-12-31"],
            ),
            case(
                "time",
                Kind::Time,
                ["23:59:59.999999", "00:00:00.000000", "12:00:00.500000"],
            ),
            case(
                "timestamp",
                Kind::Timestamp,
                [
                    "1999-12-31 23:59:59.123456",
                    "1900-01-01 00:00:00.000000",
                    "2262-04-11 23:47:16.854775",
                ],
            ),
            case(
                "timestamptz",
                Kind::TimestampTz,
                [
                    "2024-01-01 12:00:00.000001",
                    "1970-01-01 00:00:00.000000",
                    "1677-09-21 00:12:44.000000",
                ],
            ),
            TypeCase {
                canon: Some("replace(({})::text, '-', '')"),
                ..case(
                    "uuid",
                    Kind::Text,
                    [
                        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
                        "00000000000000000000000000000000",
                        "ffffffffffffffffffffffffffffffff",
                    ],
                )
            },
            case(
                "jsonb",
                Kind::Text,
                ["{\"a\": [1, 2]}", "[]", "{\"b\": null, \"c\": \"☃\"}"],
            ),
        ]
    }

    fn series(&self, n: u64) -> String {
        format!("generate_series(1, {n}) AS s(i)")
    }

    fn slow_query(&self) -> String {
        "SELECT 1 AS x FROM pg_sleep(30)".into()
    }

    fn tables(&self) -> Vec<String> {
        first_column(self.query(&format!(
            "SELECT tablename FROM pg_tables WHERE schemaname = '{}' ORDER BY 1",
            self.schema
        )))
    }

    fn kill_sessions(&self) -> Result<usize, NotSupported> {
        // etl names itself `etl`; its statements name the schema (tables are always qualified).
        let n = psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND application_name = 'etl' AND datname = 'test' \
             AND strpos(query, '\"{}\"') > 0",
            self.schema
        ));
        Ok(n.trim().parse().expect("a count"))
    }

    fn bad_login(&self) -> Result<BadLogin, NotSupported> {
        // The local server trusts 127.0.0.1, so any password of an existing role is accepted:
        // an unknown role with a password is the refused login here.
        let secret = "Pw-n0t-sh0wn-4f7c".to_string();
        Ok(BadLogin {
            config: format!(
                "    host: {}\n    database: test\n    user: etl_no_such_role\n    password: ${{ETL_C_BAD_PW}}\n    schema: {}\n",
                pg_host(),
                yaml(&self.schema)
            ),
            env: vec![("ETL_C_BAD_PW".into(), secret.clone())],
            secret: Some(secret),
            needle: "role \"etl_no_such_role\" does not exist".into(),
        })
    }
}
