//! Builds a SQLite database from a SQL script (used by `make demo`, the tests and the
//! benchmarks, so none of them needs the sqlite3 command-line tool).
//!
//! Usage: sqlite_exec SCRIPT.sql DATABASE.db [NAME=VALUE ...]
//! Every `{{NAME}}` in the script is replaced by VALUE. An existing DATABASE is replaced.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: sqlite_exec SCRIPT.sql DATABASE.db [NAME=VALUE ...]");
        return ExitCode::from(2);
    }
    match run(&args[0], &args[1], &args[2..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlite_exec: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(script: &str, db: &str, vars: &[String]) -> Result<(), String> {
    let mut sql = std::fs::read_to_string(script).map_err(|e| format!("{script}: {e}"))?;
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=VALUE, got `{v}`"))?;
        sql = sql.replace(&format!("{{{{{k}}}}}"), val);
    }
    let tmp = format!("{db}.tmp");
    let _ = std::fs::remove_file(&tmp);
    let conn = rusqlite::Connection::open(&tmp).map_err(|e| format!("{tmp}: {e}"))?;
    conn.execute_batch(&sql)
        .map_err(|e| format!("{script}: {e}"))?;
    drop(conn);
    std::fs::rename(&tmp, db).map_err(|e| format!("{db}: {e}"))
}
