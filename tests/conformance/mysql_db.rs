//! MySQL/MariaDB: one database per [`TestDb`] on 127.0.0.1:3306 (`root` without a password),
//! read back with the `mariadb` command-line client (UTC session).

use crate::common::*;
use crate::db::*;
use std::process::Command;
use std::sync::Mutex;

pub struct Mysql {
    database: String,
    users: Mutex<Vec<String>>,
}

/// The server the tests need: always run (an unreachable server fails the tests).
pub fn backend(_test: &str) -> Option<Backend> {
    Some(Box::new(|tag: &str| {
        let database = unique(tag);
        mariadb(
            "mysql",
            &format!("CREATE DATABASE `{database}` CHARACTER SET utf8mb4"),
        );
        Box::new(Mysql {
            database,
            users: Mutex::new(Vec::new()),
        }) as Box<dyn TestDb>
    }))
}

/// Runs SQL as root without failing the caller (for `Drop` and races with ended sessions).
fn best_effort(sql: &str) {
    let _ = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-uroot", "-e", sql])
        .output();
}

impl Drop for Mysql {
    fn drop(&mut self) {
        best_effort(&format!("DROP DATABASE IF EXISTS `{}`", self.database));
        if let Ok(users) = self.users.lock() {
            for u in users.iter() {
                best_effort(&format!("DROP USER IF EXISTS '{u}'@'%'"));
            }
        }
    }
}

/// Undoes the `mariadb -B` escapes of one field.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl TestDb for Mysql {
    fn connector_type(&self) -> &'static str {
        "mysql"
    }

    fn config(&self) -> String {
        format!(
            "    host: 127.0.0.1\n    port: 3306\n    database: {}\n    user: root\n",
            yaml(&self.database)
        )
    }

    fn exec(&self, sql: &str) {
        mariadb(&self.database, sql);
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        mariadb(&self.database, sql)
            .lines()
            .map(|line| {
                line.split('\t')
                    .map(|f| (f != "NULL").then(|| unescape(f)))
                    .collect()
            })
            .collect()
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{}", self.quote(&self.database), self.quote(name))
    }

    fn ddl(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "INT",
            Kind::Timestamp => "DATETIME(6)",
            _ => "VARCHAR(200)",
        }
    }

    fn canon(&self, e: &str, kind: Kind) -> String {
        match kind {
            Kind::Int | Kind::Decimal | Kind::Bool => format!("CAST({e} AS CHAR)"),
            Kind::Float => format!("CAST(CAST({e} AS DECIMAL(40,6)) AS CHAR)"),
            Kind::Text => format!("CAST({e} AS CHAR)"),
            Kind::Bytes => format!("LOWER(HEX({e}))"),
            Kind::Date => format!("DATE_FORMAT({e}, '%Y-%m-%d')"),
            Kind::Time => format!("TIME_FORMAT({e}, '%H:%i:%s.%f')"),
            Kind::Timestamp | Kind::TimestampTz => {
                format!("DATE_FORMAT({e}, '%Y-%m-%d %H:%i:%s.%f')")
            }
        }
    }

    fn literal(&self, kind: Kind, v: &str) -> String {
        match kind {
            Kind::Bytes => format!("X'{v}'"),
            _ => format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''")),
        }
    }

    fn types(&self) -> Vec<TypeCase> {
        vec![
            case("TINYINT", Kind::Int, ["-128", "127", "0"]),
            case("TINYINT UNSIGNED", Kind::Int, ["255", "0", "1"]),
            case("SMALLINT", Kind::Int, ["-32768", "32767", "0"]),
            case("MEDIUMINT", Kind::Int, ["-8388608", "8388607", "0"]),
            case("INT", Kind::Int, ["-2147483648", "2147483647", "0"]),
            case("INT UNSIGNED", Kind::Int, ["4294967295", "0", "1"]),
            case(
                "BIGINT",
                Kind::Int,
                ["-9223372036854775808", "9223372036854775807", "0"],
            ),
            case(
                "BIGINT UNSIGNED",
                Kind::Int,
                ["18446744073709551615", "0", "1"],
            ),
            case(
                "DECIMAL(12,2)",
                Kind::Decimal,
                ["-1234567890.12", "0.00", "9999999999.99"],
            ),
            case(
                "DECIMAL(65,30)",
                Kind::Decimal,
                [
                    "-12345678901234567890123456789012345.123456789012345678901234567891",
                    "0.000000000000000000000000000001",
                    "0.000000000000000000000000000000",
                ],
            ),
            case("FLOAT", Kind::Float, ["1.500000", "-0.250000", "0.000000"]),
            case(
                "DOUBLE",
                Kind::Float,
                ["2.250000", "-1.000000", "1234567.125000"],
            ),
            case("TINYINT(1)", Kind::Bool, ["1", "0", "1"]),
            case("CHAR(5)", Kind::Text, ["abcde", "", "x"]),
            case(
                "VARCHAR(100)",
                Kind::Text,
                ["héllo, \"wörld\" 'q' ☃ 😀", "", "line\nbreak\ttab"],
            ),
            case("TEXT", Kind::Text, ["back\\slash", "", "NUL"]),
            case("LONGTEXT", Kind::Text, ["x", "", "y"]),
            case(
                "BINARY(4)",
                Kind::Bytes,
                ["00ff10ab", "00000000", "deadbeef"],
            ),
            case("VARBINARY(20)", Kind::Bytes, ["deadbeef00", "", "00ff"]),
            case("BLOB", Kind::Bytes, ["000102ff", "", "ff"]),
            case(
                "DATE",
                Kind::Date,
                ["2024-02-29", "1000-01-01", "9999-12-31"],
            ),
            case(
                "TIME(6)",
                Kind::Time,
                ["23:59:59.999999", "00:00:00.000000", "12:00:00.500000"],
            ),
            case(
                "DATETIME(6)",
                Kind::Timestamp,
                [
                    "9999-12-31 23:59:59.999999",
                    "1000-01-01 00:00:00.000000",
                    "2000-01-01 00:00:00.000001",
                ],
            ),
            case(
                "TIMESTAMP(6) NULL",
                Kind::TimestampTz,
                [
                    "2038-01-19 03:14:07.999999",
                    "1970-01-01 00:00:01.000000",
                    "2024-01-01 12:00:00.000001",
                ],
            ),
            case("YEAR", Kind::Int, ["2155", "1901", "2000"]),
            case("ENUM('a','b c')", Kind::Text, ["b c", "a", "a"]),
            case(
                "JSON",
                Kind::Text,
                ["{\"k\": [1, 2], \"e\": \"😀\"}", "[]", "null"],
            ),
        ]
    }

    fn series(&self, n: u64) -> String {
        format!("(SELECT seq AS i FROM seq_1_to_{n}) AS s")
    }

    fn slow_query(&self) -> String {
        "SELECT SLEEP(30) AS x".into()
    }

    fn tables(&self) -> Vec<String> {
        first_column(self.query(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' ORDER BY 1",
            self.database
        )))
    }

    fn kill_sessions(&self) -> Result<usize, NotSupported> {
        // etl connects with `database:` set, so its sessions show this database in DB. The one
        // to end runs a statement (the LOAD DATA; a SELECT still sending) or, a source whose
        // whole result already left the server, has been idle for a second: a session idle
        // for less may be a check's about to close, and ending it would leave the load alone.
        // Nothing found yet: the scenario asks again.
        let rows = mariadb(
            "mysql",
            &format!(
                "SELECT ID, COMMAND, TIME FROM information_schema.PROCESSLIST \
                 WHERE DB = '{}' AND ID <> CONNECTION_ID()",
                self.database
            ),
        );
        let sessions: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
        let pick = |keep: &dyn Fn(&[&str]) -> bool| -> Vec<String> {
            sessions
                .iter()
                .filter(|r| r.len() == 3 && keep(r))
                .map(|r| r[0].to_string())
                .collect()
        };
        let mut ids = pick(&|r| r[1] == "Query");
        if ids.is_empty() {
            ids = pick(&|r| r[2].parse::<u64>().unwrap_or(0) >= 1);
        }
        for id in &ids {
            best_effort(&format!("KILL {id}"));
        }
        Ok(ids.len())
    }

    fn bad_login(&self) -> Result<BadLogin, NotSupported> {
        let user = unique("u");
        let right = format!("R1ght-{}-pw", std::process::id());
        let wrong = format!("Wr0ng-{}-pw", std::process::id());
        mariadb(
            "mysql",
            &format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{right}'; GRANT ALL ON `{}`.* TO '{user}'@'%'",
                self.database
            ),
        );
        if let Ok(mut users) = self.users.lock() {
            users.push(user.clone());
        }
        Ok(BadLogin {
            config: format!(
                "    host: 127.0.0.1\n    port: 3306\n    database: {}\n    user: {user}\n    password: ${{ETL_C_BAD_PW}}\n",
                yaml(&self.database)
            ),
            env: vec![("ETL_C_BAD_PW".into(), wrong.clone())],
            secret: Some(wrong),
            needle: "Access denied".into(),
        })
    }
}
