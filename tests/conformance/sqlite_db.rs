//! SQLite: one database file per [`TestDb`], read back with Python's own `sqlite3` module
//! (tests/py/sqlite_sql.py).

use crate::common::*;
use crate::db::*;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// SQLite needs no server: always available.
pub fn backend(_test: &str) -> Option<Backend> {
    Some(Box::new(|tag: &str| {
        Box::new(Sqlite::new(tag)) as Box<dyn TestDb>
    }))
}

impl Sqlite {
    fn new(tag: &str) -> Sqlite {
        let dir = tempdir();
        let path = dir.path().join(format!("{tag}.db"));
        let db = Sqlite { _dir: dir, path };
        // An existing, empty database (a source must exist to be opened).
        db.exec("PRAGMA user_version = 1");
        db
    }

    fn py(&self, what: &str, sql: &str) -> Vec<u8> {
        let out = Command::new(python())
            .arg(Path::new(ROOT).join("tests/py/sqlite_sql.py"))
            .arg(&self.path)
            .arg(what)
            .arg(sql)
            .output()
            .expect("spawn python");
        assert!(
            out.status.success(),
            "sqlite3 failed on:\n{sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl TestDb for Sqlite {
    fn connector_type(&self) -> &'static str {
        "sqlite"
    }

    fn config(&self) -> String {
        format!("    database_path: {}\n", self.path.display())
    }

    fn exec(&self, sql: &str) {
        self.py("exec", sql);
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let out = self.py("query", sql);
        json_rows(&serde_json::from_slice(&out).expect("JSON from sqlite_sql.py"))
    }

    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    fn table(&self, name: &str) -> String {
        self.quote(name)
    }

    fn ddl(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "INTEGER",
            Kind::Timestamp => "TIMESTAMP",
            _ => "TEXT",
        }
    }

    fn canon(&self, e: &str, kind: Kind) -> String {
        let text = match kind {
            Kind::Int | Kind::Bool => format!("CAST({e} AS TEXT)"),
            Kind::Decimal => format!("printf('%.2f', {e})"),
            Kind::Float => format!("printf('%.6f', {e})"),
            Kind::Bytes => format!("lower(hex({e}))"),
            Kind::Text | Kind::Date | Kind::Time | Kind::Timestamp => format!("CAST({e} AS TEXT)"),
            // Written with an offset or a `Z` by some writers: the first 26 characters are the
            // UTC time when the offset is zero.
            Kind::TimestampTz => format!("substr(replace({e}, 'T', ' '), 1, 26)"),
        };
        format!("CASE WHEN {e} IS NULL THEN NULL ELSE {text} END")
    }

    fn literal(&self, kind: Kind, v: &str) -> String {
        match kind {
            Kind::Bytes => format!("X'{v}'"),
            _ => format!("'{}'", v.replace('\'', "''")),
        }
    }

    fn types(&self) -> Vec<TypeCase> {
        vec![
            case(
                "INTEGER",
                Kind::Int,
                ["9223372036854775807", "-9223372036854775808", "0"],
            ),
            case(
                "DECIMAL(12,2)",
                Kind::Decimal,
                ["-1234567890.12", "0.00", "9999999.99"],
            ),
            case("REAL", Kind::Float, ["1.500000", "-2.250000", "0.000000"]),
            case("BOOLEAN", Kind::Bool, ["1", "0", "1"]),
            case(
                "TEXT",
                Kind::Text,
                ["héllo, \"wörld\" 'q' ☃ 😀", "", "line\nbreak\ttab"],
            ),
            case("VARCHAR(20)", Kind::Text, ["vc", "", "x"]),
            case("BLOB", Kind::Bytes, ["deadbeef00", "", "00ff"]),
            case(
                "DATE",
                Kind::Date,
                ["2024-02-29", "0001-01-01", "9999-12-31"],
            ),
            case(
                "TIME",
                Kind::Time,
                ["23:59:59.999999", "00:00:00.000000", "12:00:00.500000"],
            ),
            case(
                "TIMESTAMP",
                Kind::Timestamp,
                [
                    "1999-12-31 23:59:59.123456",
                    "1900-01-01 00:00:00.000000",
                    "2262-04-11 23:47:16.854775",
                ],
            ),
            case(
                "TIMESTAMPTZ",
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
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) AS s"
        )
    }

    fn slow_query(&self) -> String {
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 80000000) SELECT max(i) AS x FROM s".into()
    }

    fn tables(&self) -> Vec<String> {
        first_column(
            self.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
        )
    }

    fn kill_sessions(&self) -> Result<usize, NotSupported> {
        Err(NotSupported(
            "SQLite is a file opened inside the etl process: there is no connection to end".into(),
        ))
    }

    fn bad_login(&self) -> Result<BadLogin, NotSupported> {
        // No login and no password: a path that cannot be opened (its folder does not exist)
        // stands for a refused connection.
        Ok(BadLogin {
            config: "    database_path: /nonexistent-etl-dir/x.db\n".into(),
            env: Vec::new(),
            secret: None,
            needle: "/nonexistent-etl-dir/x.db".into(),
        })
    }
}
