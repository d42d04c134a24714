//! `delete_missing` at scale: bench/deletes.sh (1,000,000 keys by default, run by hand for the
//! numbers in bench/RESULTS.md) with 50,000 keys, 1 % deleted at the source, `hard` and
//! `soft`. The script checks the destination exactly with Python's sqlite3 module.

#[path = "common/mod.rs"]
mod common;

use common::ROOT;
use std::process::Command;

fn deletes(how: &str) {
    let out = Command::new("bash")
        .arg(std::path::Path::new(ROOT).join("bench/deletes.sh"))
        .env("ETL", env!("CARGO_BIN_EXE_etl"))
        .env("DELETES_ROWS", "50000")
        .env("DELETES_HOW", how)
        .output()
        .expect("run bench/deletes.sh");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("deletes: exact"), "{stdout}\n{stderr}");
    println!("{stdout}");
}

#[test]
fn delete_missing_hard_50k_keys_one_percent_gone() {
    deletes("hard");
}

#[test]
fn delete_missing_soft_50k_keys_one_percent_gone() {
    deletes("soft");
}
