//! The scenarios, written once over [`TestDb`]; `main.rs` runs each for every database.
//! `test` is the test's name, for `SKIPPED:` lines.

use crate::common::*;
use crate::db::*;
pub use crate::props::*;
use std::path::Path;
use std::time::{Duration, Instant};

type Rows = Vec<Vec<Option<String>>>;

/// Creates `name` in `db` with `id` (the primary key) and the given columns, and inserts
/// `rows` (canonical text, `None` = NULL).
fn create(
    db: &dyn TestDb,
    name: &str,
    cols: &[(String, Kind, String)],
    rows: &[Vec<Option<String>>],
) {
    let mut ddl: Vec<String> = vec![format!(
        "{} {} NOT NULL PRIMARY KEY",
        db.quote("id"),
        db.ddl(Kind::Int)
    )];
    ddl.extend(cols.iter().map(|(c, _, t)| format!("{} {t}", db.quote(c))));
    db.exec(&format!(
        "CREATE TABLE {} ({})",
        db.table(name),
        ddl.join(", ")
    ));
    insert(db, name, cols, rows);
}

fn insert(
    db: &dyn TestDb,
    name: &str,
    cols: &[(String, Kind, String)],
    rows: &[Vec<Option<String>>],
) {
    if rows.is_empty() {
        return;
    }
    let kinds: Vec<Kind> = std::iter::once(Kind::Int)
        .chain(cols.iter().map(|c| c.1))
        .collect();
    let names: Vec<String> = std::iter::once(db.quote("id"))
        .chain(cols.iter().map(|c| db.quote(&c.0)))
        .collect();
    for chunk in rows.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                let v: Vec<String> = r
                    .iter()
                    .zip(&kinds)
                    .map(|(v, k)| match v {
                        Some(v) => db.literal(*k, v),
                        None => "NULL".into(),
                    })
                    .collect();
                format!("({})", v.join(", "))
            })
            .collect();
        db.exec(&format!(
            "INSERT INTO {} ({}) VALUES {}",
            db.table(name),
            names.join(", "),
            values.join(", ")
        ));
    }
}

/// Runs `src` table `table` -> Parquet files under `dir/out/<table>` and reads them back with
/// pyarrow: (column names, canonical rows sorted by id).
fn to_parquet(
    dir: &Path,
    src: &dyn TestDb,
    table: &str,
    env: &[(String, String)],
) -> (Vec<String>, Rows) {
    let out = dir.join("out");
    run(
        dir,
        &spec(
            &block(src),
            &parquet_dest(&out),
            &format!("streams:\n  - name: {table}\n"),
        ),
        env,
    )
    .ok();
    parquet_rows(&out.join(table))
}

fn with_id(cols: &[(String, Kind, String)]) -> Vec<(String, Kind)> {
    std::iter::once(("id".to_string(), Kind::Int))
        .chain(cols.iter().map(|(c, k, _)| (c.clone(), *k)))
        .collect()
}

#[track_caller]
fn same_rows(
    a: &dyn TestDb,
    b: &dyn TestDb,
    table: &str,
    cols: &[(String, Kind)],
    what: &str,
) -> Rows {
    let left = canonical_rows(a, table, cols);
    let right = canonical_rows(b, table, cols);
    assert_eq!(
        left, right,
        "{what}: table `{table}` differs from the source"
    );
    left
}

#[track_caller]
fn no_leftovers(db: &dyn TestDb) {
    let left = etl_leftovers(db);
    assert!(left.is_empty(), "staging/old tables left behind: {left:?}");
}

/// Every type the database offers: DB -> Parquet (read back by pyarrow and compared with the
/// database's own rendering) -> the same database (compared in SQL, column by column).
pub fn every_type_round_trips_through_parquet(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let types = src.types();
    let cols: Vec<(String, Kind, String)> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("c{i}"), t.kind, t.ddl.clone()))
        .collect();
    let mut rows: Rows = Vec::new();
    for (r, id) in [(Some(0), "1"), (None, "2"), (Some(1), "3"), (Some(2), "4")] {
        let mut row = vec![Some(id.to_string())];
        row.extend(types.iter().map(|t| r.map(|r| t.values[r].to_string())));
        rows.push(row);
    }
    create(src.as_ref(), "alltypes", &cols, &rows);
    let canon = |db: &dyn TestDb| -> Rows {
        let exprs: Vec<String> = std::iter::once(db.canon(&db.quote("id"), Kind::Int))
            .chain(types.iter().zip(&cols).map(|(t, (c, k, _))| match t.canon {
                Some(tpl) => {
                    let q = db.quote(c);
                    format!(
                        "CASE WHEN {q} IS NULL THEN NULL ELSE {} END",
                        tpl.replace("{}", &q)
                    )
                }
                None => db.canon(&db.quote(c), *k),
            }))
            .collect();
        db.query(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            exprs.join(", "),
            db.table("alltypes"),
            db.quote("id")
        ))
    };
    let before = canon(src.as_ref());
    // The database's own rendering must be the values inserted: the canonical forms agree.
    assert_eq!(
        before, rows,
        "the database does not render the sample values canonically"
    );
    let dir = tempdir();
    let out = dir.path().join("out");
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let (names, from_parquet) = to_parquet(dir.path(), src.as_ref(), "alltypes", &env);
    let want: Vec<String> = with_id(&cols).into_iter().map(|c| c.0).collect();
    assert_eq!(names, want, "Parquet column names");
    let ddl: Vec<&str> = std::iter::once("id")
        .chain(types.iter().map(|t| t.ddl.as_str()))
        .collect();
    same_cells(
        &from_parquet,
        &before,
        &names,
        &ddl,
        "read back from Parquet by pyarrow",
    );
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("alltypes")),
            &block(dst.as_ref()),
            "streams:\n  - name: alltypes\n    primary_key: [id]\n",
        ),
        &env,
    )
    .ok();
    let after = canon(dst.as_ref());
    same_cells(&after, &before, &names, &ddl, "after the round trip");
    no_leftovers(dst.as_ref());
}

/// `got` equals `want` (the source's rows), compared cell by cell so that a difference names
/// its row, column and column type.
#[track_caller]
fn same_cells(got: &Rows, want: &Rows, names: &[String], ddl: &[&str], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (j, (gv, wv)) in g.iter().zip(w).enumerate() {
            assert_eq!(gv, wv, "{what}: row {i}, column {} ({})", names[j], ddl[j]);
        }
    }
    assert_eq!(got, want, "{what}: rows differ from the source");
}

fn kv_cols(db: &dyn TestDb) -> Vec<(String, Kind, String)> {
    vec![("v".into(), Kind::Text, db.ddl(Kind::Text).into())]
}

fn kv_rows(ids: impl IntoIterator<Item = u32>, tag: &str) -> Rows {
    ids.into_iter()
        .map(|i| vec![Some(i.to_string()), Some(format!("{tag}{i}"))])
        .collect()
}

/// A second full refresh replaces the table: deleted rows go, changed rows change.
pub fn full_refresh_replaces_the_table(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = kv_cols(src.as_ref());
    create(src.as_ref(), "t", &cols, &kv_rows(1..=5, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec(
        &block(src.as_ref()),
        &block(dst.as_ref()),
        "streams:\n  - name: t\n",
    );
    run(dir.path(), &text, &env).ok();
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "t",
        &with_id(&cols),
        "first run",
    );
    let (t, id, v) = (src.table("t"), src.quote("id"), src.quote("v"));
    src.exec(&format!("DELETE FROM {t} WHERE {id} IN (1, 2)"));
    src.exec(&format!("UPDATE {t} SET {v} = 'changed' WHERE {id} = 3"));
    insert(src.as_ref(), "t", &cols, &kv_rows(6..=7, "new"));
    run(dir.path(), &text, &env).ok();
    let rows = same_rows(
        src.as_ref(),
        dst.as_ref(),
        "t",
        &with_id(&cols),
        "second run",
    );
    assert_eq!(rows.len(), 5);
    assert_eq!(
        dst.tables(),
        vec!["t".to_string()],
        "only the table, no staging"
    );
}

/// A full refresh that fails late (row 5000 of a CSV does not fit its declared type, after
/// several batches were loaded) keeps the old table and leaves no staging or old table.
pub fn failed_full_refresh_keeps_the_old_table(_test: &str, open: Open) {
    let dst = open("dst");
    let dir = tempdir();
    let csv = dir.path().join("t.csv");
    let env = env_of(&[dst.as_ref()]);
    let text = spec(
        &file_source(&csv),
        &block(dst.as_ref()),
        "defaults:\n  batch_size: 1000\nstreams:\n  - name: t\n    schema: {id: int64, v: int32}\n",
    );
    let mut good = String::from("id,v\n");
    for i in 1..=10 {
        good.push_str(&format!("{i},{}\n", i * 3));
    }
    std::fs::write(&csv, good).expect("write csv");
    run(dir.path(), &text, &env).ok();
    let cols = vec![("id".to_string(), Kind::Int), ("v".to_string(), Kind::Int)];
    let before = canonical_rows(dst.as_ref(), "t", &cols);
    assert_eq!(before.len(), 10);
    let mut bad = String::from("id,v\n");
    for i in 1..=6000 {
        if i == 5000 {
            bad.push_str(&format!("{i},not-a-number\n"));
        } else {
            bad.push_str(&format!("{i},{i}\n"));
        }
    }
    std::fs::write(&csv, bad).expect("write csv");
    let r = run(dir.path(), &text, &env);
    assert_eq!(r.code, 1, "the bad value must fail the run:\n{}", r.stderr);
    assert!(
        r.stderr.contains("not-a-number") || r.stderr.contains("5000"),
        "the error names the value or row:\n{}",
        r.stderr
    );
    assert_eq!(
        canonical_rows(dst.as_ref(), "t", &cols),
        before,
        "the old table is intact"
    );
    assert_eq!(
        dst.tables(),
        vec!["t".to_string()],
        "no staging or old table left"
    );
}

fn events_cols(db: &dyn TestDb) -> Vec<(String, Kind, String)> {
    vec![
        ("v".into(), Kind::Text, db.ddl(Kind::Text).into()),
        (
            "updated_at".into(),
            Kind::Timestamp,
            db.ddl(Kind::Timestamp).into(),
        ),
    ]
}

fn event_rows(ids: impl IntoIterator<Item = u32>, day: u32, tag: &str) -> Rows {
    ids.into_iter()
        .map(|i| {
            vec![
                Some(i.to_string()),
                Some(format!("{tag}{i}")),
                Some(ts(day, i)),
            ]
        })
        .collect()
}

fn incremental_spec(src: &dyn TestDb, dst: &dyn TestDb, dir: &Path, batch: usize) -> String {
    spec(
        &block(src),
        &block(dst),
        &format!(
            "state:\n  path: {}\ndefaults:\n  batch_size: {batch}\n  retry_backoff_ms: 10\nstreams:\n  - name: events\n    mode: incremental\n    cursor_field: updated_at\n    primary_key: [id]\n",
            dir.join("state.json").display()
        ),
    )
}

/// Updates every 7th row (moving its cursor forward), changes a row holding the saved cursor
/// value without moving it, adds a row sharing that value and new rows.
fn change_events(src: &dyn TestDb, cols: &[(String, Kind, String)], last: u32) {
    let t = src.table("events");
    let (id, v, at) = (src.quote("id"), src.quote("v"), src.quote("updated_at"));
    let moved = src.literal(Kind::Timestamp, &ts(20, 0));
    let every_7th: Vec<String> = (7..last).step_by(7).map(|i| i.to_string()).collect();
    src.exec(&format!(
        "UPDATE {t} SET {v} = 'upd', {at} = {moved} WHERE {id} IN ({})",
        every_7th.join(", ")
    ));
    src.exec(&format!(
        "UPDATE {t} SET {v} = 'boundary, changed' WHERE {id} = {last}"
    ));
    let boundary = vec![vec![
        Some("100000".to_string()),
        Some("same cursor".to_string()),
        Some(ts(1, last)),
    ]];
    insert(src, "events", cols, &boundary);
    insert(
        src,
        "events",
        cols,
        &event_rows(last + 1..=last + 40, 25, "new"),
    );
}

/// Incremental merge on the primary key: rows sharing the saved cursor value, updated rows and
/// new rows; the destination equals the source afterwards, and a rerun changes nothing.
pub fn incremental_merge_with_boundary_rows(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=50, 1, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = incremental_spec(src.as_ref(), dst.as_ref(), dir.path(), 7);
    run(dir.path(), &text, &env).ok();
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&cols),
        "first run",
    );
    change_events(src.as_ref(), &cols, 50);
    let r = run(dir.path(), &text, &env).ok();
    // 7 moved (ids 7..49 step 7) + the changed boundary row 50 + the new row sharing its value
    // + 40 new rows.
    assert!(r.stderr.contains("rows=49"), "{}", r.stderr);
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&cols),
        "merged: no loss, no duplicate",
    );
    run(dir.path(), &text, &env).ok();
    let rows = same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&cols),
        "rerun",
    );
    assert_eq!(rows.len(), 91);
    no_leftovers(dst.as_ref());
}

/// Incremental, SIGKILLed at `point` of the second run, then rerun: exactly the source.
fn killed_at(point: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=100, 1, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = incremental_spec(src.as_ref(), dst.as_ref(), dir.path(), 10);
    run(dir.path(), &text, &env).ok();
    change_events(src.as_ref(), &cols, 100);
    let spec_path = write_spec(dir.path(), "spec.yaml", &text);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_and_kill(dir.path(), &spec_path, point, &env_ref);
    run(dir.path(), &text, &env).ok();
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&cols),
        &format!("killed at {point}"),
    );
    no_leftovers(dst.as_ref());
}

pub fn killed_mid_read_then_rerun(_test: &str, open: Open) {
    killed_at("batch-2", open);
}

pub fn killed_before_commit_then_rerun(_test: &str, open: Open) {
    killed_at("before-commit", open);
}

/// Inside the destination's commit, before the publish SQL (the shared SQL engine's point).
pub fn killed_before_publish_then_rerun(_test: &str, open: Open) {
    killed_at("sql-before-publish", open);
}

pub fn killed_after_commit_then_rerun(_test: &str, open: Open) {
    killed_at("after-commit", open);
}

/// An empty table keeps its columns: to Parquet (zero rows, both columns) and back, and
/// database to database.
pub fn empty_table(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = kv_cols(src.as_ref());
    create(src.as_ref(), "e", &cols, &[]);
    let dir = tempdir();
    let out = dir.path().join("out");
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let (names, rows) = to_parquet(dir.path(), src.as_ref(), "e", &env);
    assert_eq!(names, vec!["id".to_string(), "v".to_string()]);
    assert!(rows.is_empty());
    run(
        dir.path(),
        &spec(
            &file_source(&out.join("e")),
            &block(dst.as_ref()),
            "streams:\n  - name: e_from_parquet\n",
        ),
        &env,
    )
    .ok();
    run(
        dir.path(),
        &spec(
            &block(src.as_ref()),
            &block(dst.as_ref()),
            "streams:\n  - name: e\n",
        ),
        &env,
    )
    .ok();
    for t in ["e", "e_from_parquet"] {
        assert_eq!(
            dst.query(&format!(
                "SELECT COUNT(*), COUNT({}), COUNT({}) FROM {}",
                dst.quote("id"),
                dst.quote("v"),
                dst.table(t)
            )),
            vec![vec![
                Some("0".to_string()),
                Some("0".to_string()),
                Some("0".to_string())
            ]],
            "{t}"
        );
    }
    assert_eq!(
        dst.tables(),
        vec!["e".to_string(), "e_from_parquet".to_string()]
    );
}

/// Lists of lists, structs and maps (string and integer keys) from a Parquet file written by
/// pyarrow land as JSON text (`jsonb`, `JSON`, `NVARCHAR(MAX)`, `CLOB`) that the database's
/// own client reads back as the same JSON values (tests/nested.rs covers every column type).
pub fn nested_values_load_as_json(_test: &str, open: Open) {
    let dst = open("dst");
    let dir = tempdir();
    let written = std::process::Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/nested_files.py"))
        .arg("write")
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let env = env_of(&[dst.as_ref()]);
    run(
        dir.path(),
        &spec(
            &file_source(&dir.path().join("pyarrow.parquet")),
            &block(dst.as_ref()),
            "streams:\n  - name: nested\n",
        ),
        &env,
    )
    .ok();
    let cols = ["ll", "s", "ms", "mi", "ml"];
    let select: Vec<String> = cols.iter().map(|c| dst.quote(c)).collect();
    let rows = dst.query(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        select.join(", "),
        dst.table("nested"),
        dst.quote("id")
    ));
    let json = |v: &Option<String>| -> serde_json::Value {
        v.as_deref().map_or(serde_json::Value::Null, |t| {
            serde_json::from_str(t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
        })
    };
    let got: Vec<Vec<serde_json::Value>> =
        rows.iter().map(|r| r.iter().map(json).collect()).collect();
    use serde_json::json;
    let want = vec![
        vec![
            json!([[1, 2], [], null]),
            json!({"a": 1, "b": "x", "c": [1.5]}),
            json!({"k": 1, "k2": null}),
            json!({"1": "one", "-20": "minus twenty"}),
            json!({"7": [1, 2]}),
        ],
        vec![
            json!(null),
            json!(null),
            json!(null),
            json!({}),
            json!(null),
        ],
        vec![
            json!([[-5]]),
            json!({"a": null, "b": "tab\tnew\nline", "c": null}),
            json!({}),
            json!(null),
            json!({"0": null}),
        ],
    ];
    assert_eq!(got, want, "columns {cols:?}");
}

/// Reserved words, mixed case, spaces and quote characters as table and column names.
pub fn quoted_reserved_and_mixed_case_identifiers(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols: Vec<(String, Kind, String)> = vec![
        ("select".into(), Kind::Int, src.ddl(Kind::Int).into()),
        ("Mixed Col".into(), Kind::Text, src.ddl(Kind::Text).into()),
        ("c\"q'".into(), Kind::Text, src.ddl(Kind::Text).into()),
    ];
    let rows: Rows = vec![
        vec![
            Some("1".into()),
            Some("10".into()),
            Some("a".into()),
            Some("it's".into()),
        ],
        vec![Some("2".into()), None, None, Some("\"q\"".into())],
    ];
    let tables = ["order", "Mixed Case", "qu\"ote's"];
    for t in tables {
        create(src.as_ref(), t, &cols, &rows);
    }
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let streams: String = tables
        .iter()
        .map(|t| format!("  - name: {}\n    primary_key: [id]\n", yaml(t)))
        .collect();
    run(
        dir.path(),
        &spec(
            &block(src.as_ref()),
            &block(dst.as_ref()),
            &format!("streams:\n{streams}"),
        ),
        &env,
    )
    .ok();
    for t in tables {
        same_rows(
            src.as_ref(),
            dst.as_ref(),
            t,
            &with_id(&cols),
            "odd identifiers",
        );
    }
    let mut want: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    want.sort();
    let mut got = dst.tables();
    got.sort();
    assert_eq!(got, want);
}

/// `defaults.timeout` ends a stream whose source query is slow: exit 1 naming the timeout, no
/// retry, nothing published.
pub fn timeout_fails_without_publishing(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let t = Instant::now();
    let r = run(
        dir.path(),
        &spec(
            &block(src.as_ref()),
            &block(dst.as_ref()),
            &format!(
                "defaults:\n  timeout: 2s\n  retries: 3\nstreams:\n  - name: slow\n    query: {}\n",
                yaml(&src.slow_query())
            ),
        ),
        &env,
    )
    .fails(1, "timed out after 2s (defaults.timeout)");
    let took = t.elapsed();
    // 2 s, then the grace period for the write to wind down.
    assert!(
        took < Duration::from_secs(15),
        "the timeout did not stop the stream ({took:?})"
    );
    assert!(
        !r.stderr.contains("retrying"),
        "a timeout was retried:\n{}",
        r.stderr
    );
    assert!(
        dst.tables().is_empty(),
        "published or left: {:?}",
        dst.tables()
    );
    // The duration is checked when the spec is read.
    etl_spec(
        dir.path(),
        &["validate", "{spec}"],
        &spec(
            &block(src.as_ref()),
            &block(dst.as_ref()),
            "defaults:\n  timeout: soon\n",
        ),
        &env,
    )
    .fails(2, "expected a duration such as 45s, 30m, 2h or 1d");
}

/// `etl discover` lists the tables and their columns; `etl check` connects to both ends.
pub fn discover_and_check(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=3, 1, "v"));
    create(src.as_ref(), "Mixed Case", &kv_cols(src.as_ref()), &[]);
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec(&block(src.as_ref()), &block(dst.as_ref()), "");
    let r = etl_spec(dir.path(), &["discover", "{spec}"], &text, &env).ok();
    for want in ["events", "Mixed Case", "updated_at", "Timestamp("] {
        assert!(
            r.stdout.contains(want),
            "{want} missing from discover:\n{}",
            r.stdout
        );
    }
    let r = etl_spec(dir.path(), &["check", "{spec}"], &text, &env).ok();
    assert!(r.stdout.contains("ok"), "{}", r.stdout);
}

/// `etl check` and `run --dry-run` find what a run would fail on, each stream named: a missing
/// table, a missing schema (said as such), a query that does not prepare. A table written
/// with SQL quotes, as pasted from a SQL client (`"schema"."Order"`), is found.
pub fn check_finds_missing_tables_schemas_and_bad_queries(_test: &str, open: Open) {
    let src = open("src");
    let cols = kv_cols(src.as_ref());
    create(src.as_ref(), "Order", &cols, &kv_rows(1..=2, "a"));
    let dir = tempdir();
    let out = dir.path().join("out");
    let env = env_of(&[src.as_ref()]);
    let good = format!(
        "streams:\n  - name: orders\n    table: {}\n",
        yaml(&src.table("Order"))
    );
    let text = spec(&block(src.as_ref()), &parquet_dest(&out), &good);
    let r = etl_spec(dir.path(), &["check", "{spec}"], &text, &env).ok();
    assert!(r.stdout.contains("  stream `orders`: ok"), "{}", r.stdout);
    run(dir.path(), &text, &env).ok();
    assert_eq!(parquet_rows(&out.join("orders")).1.len(), 2);

    let bad = format!(
        "{good}  - name: missing\n    table: nope\n  - name: elsewhere\n    table: nu_shopp.nope\n  - name: broken\n    query: {}\n",
        yaml(&format!("SELECT no_such_column FROM {}", src.table("Order")))
    );
    let text = spec(&block(src.as_ref()), &parquet_dest(&out), &bad);
    let r = etl_spec(dir.path(), &["check", "{spec}"], &text, &env).fails(1, "");
    for want in [
        "  stream `orders`: ok",
        "  stream `missing`: FAILED: table `nope` not found in ",
        "`nu_shopp` does not exist in ",
        "  stream `broken`: FAILED: ",
    ] {
        assert!(r.stdout.contains(want), "{want} missing:\n{}", r.stdout);
    }
    let broken = r
        .stdout
        .lines()
        .find(|l| l.contains("stream `broken`"))
        .unwrap_or_default();
    assert!(broken.contains("no_such_column"), "{broken}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("  stream `elsewhere`: FAILED: ") && l.contains("nu_shopp")),
        "{}",
        r.stdout
    );
    // A dry run checks the same before it prints a plan, and writes nothing.
    let before = files_under(&out);
    let r = etl_spec(dir.path(), &["run", "--dry-run", "{spec}"], &text, &env)
        .fails(1, "stream `missing`: table `nope` not found");
    assert!(!r.stdout.contains("plan for"), "{}", r.stdout);
    assert_eq!(files_under(&out), before);
}

/// A wrong password (SQLite: a path that cannot be opened) is refused by `run` and `check`,
/// and the password is never printed.
pub fn wrong_login_is_refused_and_never_printed(test: &str, open: Open) {
    let src = open("src");
    let bad = match src.bad_login() {
        Ok(b) => b,
        Err(NotSupported(why)) => return skipped(test, &why),
    };
    let dir = tempdir();
    let out = dir.path().join("out");
    let source = format!(
        "  connector_type: {}\n  config:\n{}",
        src.connector_type(),
        bad.config
    );
    let text = spec(&source, &parquet_dest(&out), "streams:\n  - name: t\n");
    let r = run(dir.path(), &text, &bad.env).fails(1, &bad.needle);
    let c = etl_spec(dir.path(), &["check", "{spec}"], &text, &bad.env);
    assert_eq!(c.code, 1, "check must fail:\n{}\n{}", c.stdout, c.stderr);
    assert!(
        c.stdout.contains(&bad.needle) || c.stderr.contains(&bad.needle),
        "{}\n{}",
        c.stdout,
        c.stderr
    );
    if let Some(secret) = &bad.secret {
        for out in [&r.stdout, &r.stderr, &c.stdout, &c.stderr] {
            assert!(
                !out.contains(secret.as_str()),
                "the password was printed:\n{out}"
            );
        }
    }
    assert!(files_under(&out).is_empty(), "nothing is written");
}

/// A table `big` of `rows` integers (`id`, `v`).
fn big_table(db: &dyn TestDb, rows: u64) {
    let (t, id, v, int) = (
        db.table("big"),
        db.quote("id"),
        db.quote("v"),
        db.ddl(Kind::Int),
    );
    db.exec(&format!(
        "CREATE TABLE {t} ({id} {int} NOT NULL PRIMARY KEY, {v} {int})"
    ));
    db.exec(&format!(
        "INSERT INTO {t} ({id}, {v}) SELECT i, i * 7 FROM {}",
        db.series(rows)
    ));
}

const BIG: u64 = 300_000;

/// Ends the sessions of `side` (the source or the destination) while the run is paused at
/// its second batch, then lets it go on with `retries` retries.
fn connection_ended(test: &str, open: Open, kill_source: bool, retries: u32) {
    let (src, dst) = (open("src"), open("dst"));
    big_table(src.as_ref(), BIG);
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec(
        &block(src.as_ref()),
        &block(dst.as_ref()),
        &format!("defaults:\n  batch_size: 1000\n  retries: {retries}\n  retry_backoff_ms: 10\nstreams:\n  - name: big\n"),
    );
    let victim = if kill_source {
        src.as_ref()
    } else {
        dst.as_ref()
    };
    let mut killed = Ok(0);
    let mut unsupported = None;
    let r = run_paused(dir.path(), &text, &env, "batch-2", || {
        // The destination may be between statements (its last one not naming the schema yet):
        // look again for a few seconds.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            killed = victim.kill_sessions();
            match &killed {
                Err(NotSupported(why)) => unsupported = Some(why.clone()),
                Ok(0) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Ok(_) => {}
            }
            break;
        }
        // Let the server notice before the run goes on.
        std::thread::sleep(Duration::from_millis(300));
    });
    if let Some(why) = unsupported {
        return skipped(test, &why);
    }
    let killed = killed.unwrap_or(0);
    assert!(killed >= 1, "no session of etl was found to end");
    if retries > 0 {
        assert_eq!(
            r.code, 0,
            "the stream should have been retried\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains("retrying"),
            "no retry logged:\n{}",
            r.stderr
        );
        assert_eq!(
            fingerprint(src.as_ref(), "big"),
            fingerprint(dst.as_ref(), "big"),
            "exactly the source"
        );
        assert_eq!(dst.tables(), vec!["big".to_string()]);
    } else {
        assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("the server closed the connection"),
            "the message must say the server closed the connection:\n{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("retrying"),
            "retried with retries: 0:\n{}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(
            dst.tables().is_empty(),
            "nothing is published: {:?}",
            dst.tables()
        );
    }
}

pub fn source_connection_ended_mid_read_is_retried(test: &str, open: Open) {
    connection_ended(test, open, true, 2);
}

pub fn source_connection_ended_mid_read_without_retries_fails(test: &str, open: Open) {
    connection_ended(test, open, true, 0);
}

pub fn destination_connection_ended_mid_load_is_retried(test: &str, open: Open) {
    connection_ended(test, open, false, 2);
}

pub fn destination_connection_ended_mid_load_without_retries_fails(test: &str, open: Open) {
    connection_ended(test, open, false, 0);
}

// ---------------------------------------------------------------------------------------------
// Schema changes between incremental runs (README "Schema changes"). Each scenario loads a
// source table `t` incrementally (cursor and key `id`), recreates it with another shape, runs
// again and reads the destination back with the database's own client.

/// One schema-change scenario: the source table, the stream's spec and the run directory.
struct Drift {
    src: Box<dyn TestDb>,
    dst: Box<dyn TestDb>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    text: String,
}

impl Drift {
    fn new(open: Open, policy: &str) -> Drift {
        let (src, dst) = (open("src"), open("dst"));
        let dir = tempdir();
        let env = env_of(&[src.as_ref(), dst.as_ref()]);
        let text = spec(
            &block(src.as_ref()),
            &block(dst.as_ref()),
            &format!(
                "state:\n  path: {}\ndefaults:\n  retry_backoff_ms: 10\nstreams:\n  - name: t\n    mode: incremental\n    cursor_field: id\n    primary_key: [id]\n    schema_changes: {policy}\n",
                dir.path().join("state.json").display()
            ),
        );
        Drift {
            src,
            dst,
            dir,
            env,
            text,
        }
    }

    /// Recreates the source table with `cols` (name, SQL type spelled by [`TestDb::spell`]) and
    /// `rows` (id first; text literals).
    fn source(&self, cols: &[(&str, &str)], rows: &[Vec<Option<&str>>]) {
        let src = self.src.as_ref();
        if src.tables().iter().any(|t| t == "t") {
            src.exec(&format!("DROP TABLE {}", src.table("t")));
        }
        let cols: Vec<(String, Kind, String)> = cols
            .iter()
            .map(|(c, t)| (c.to_string(), Kind::Text, src.spell(t)))
            .collect();
        let rows: Rows = rows
            .iter()
            .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
            .collect();
        create(src, "t", &cols, &rows);
    }

    /// `etl run` with a summary; returns the run and the stream's `schema_changes` as
    /// `change column` strings.
    fn run(&self) -> (Run, Vec<String>) {
        let summary = self.dir.path().join("summary.json");
        let _ = std::fs::remove_file(&summary);
        let s = summary.display().to_string();
        let r = etl_spec(
            self.dir.path(),
            &["run", "{spec}", "--summary", &s],
            &self.text,
            &self.env,
        );
        let json: serde_json::Value = std::fs::read(&summary)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let changes = json["streams"][0]["schema_changes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        format!(
                            "{} {}",
                            c["change"].as_str().unwrap_or("?"),
                            c["column"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (r, changes)
    }

    /// The destination's rows as text (`cols` after `id`), ordered by id.
    fn rows(&self, cols: &[&str]) -> Rows {
        let cols: Vec<(String, Kind)> = std::iter::once(("id".to_string(), Kind::Int))
            .chain(cols.iter().map(|c| (c.to_string(), Kind::Text)))
            .collect();
        canonical_rows(self.dst.as_ref(), "t", &cols)
    }

    /// How many columns the destination table has.
    fn width(&self) -> usize {
        let dst = self.dst.as_ref();
        let rows = dst.query(&format!("SELECT * FROM {}", dst.table("t")));
        rows.first().map_or(0, Vec::len)
    }

    /// Whether the destination holds `id` with column `col` equal to the SQL `literal`.
    fn holds(&self, id: u32, col: &str, literal: &str) -> bool {
        let dst = self.dst.as_ref();
        let n = dst.query(&format!(
            "SELECT COUNT(*) FROM {} WHERE {} = {id} AND {} = {literal}",
            dst.table("t"),
            dst.quote("id"),
            dst.quote(col)
        ));
        first_column(n) == ["1"]
    }
}

fn text_rows(rows: &[&[Option<&str>]]) -> Rows {
    rows.iter()
        .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
        .collect()
}

/// Loads `t` (id, v) with rows 1 and 2 under `policy`, then runs again after the source gained
/// a column `extra` and a row 3; returns the second run and its reported changes.
fn gains_a_column(open: Open, policy: &str) -> (Drift, Run, Vec<String>) {
    let d = Drift::new(open, policy);
    let v = [("v", "varchar(20)")];
    d.source(
        &v,
        &[vec![Some("1"), Some("a")], vec![Some("2"), Some("b")]],
    );
    d.run().0.ok();
    d.source(
        &[v[0], ("extra", "varchar(20)")],
        &[
            vec![Some("1"), Some("a"), Some("x1")],
            vec![Some("2"), Some("b"), Some("x2")],
            vec![Some("3"), Some("c"), Some("x3")],
        ],
    );
    let (r, changes) = d.run();
    (d, r, changes)
}

/// A new source column is added to the table (NULL in older rows) and reported.
pub fn schema_change_column_added(_test: &str, open: Open) {
    let (d, r, changes) = gains_a_column(open, "evolve");
    let r = r.ok();
    assert_eq!(changes, ["added extra"], "{}", r.stderr);
    assert!(
        r.stderr.contains("schema change") && r.stderr.contains("extra"),
        "one log line per change:\n{}",
        r.stderr
    );
    // Row 2 holds the saved cursor and is read again: it takes the new column's value.
    assert_eq!(
        d.rows(&["v", "extra"]),
        text_rows(&[
            &[Some("1"), Some("a"), None],
            &[Some("2"), Some("b"), Some("x2")],
            &[Some("3"), Some("c"), Some("x3")],
        ])
    );
    // The next run sees no difference.
    assert!(d.run().1.is_empty());
    no_leftovers(d.dst.as_ref());
}

/// A column the source no longer has is kept; new rows hold NULL in it.
pub fn schema_change_column_dropped(_test: &str, open: Open) {
    let d = Drift::new(open, "evolve");
    d.source(
        &[("v", "varchar(20)"), ("gone", "varchar(20)")],
        &[
            vec![Some("1"), Some("a"), Some("g1")],
            vec![Some("2"), Some("b"), Some("g2")],
        ],
    );
    d.run().0.ok();
    d.source(
        &[("v", "varchar(20)")],
        &[vec![Some("2"), Some("B")], vec![Some("3"), Some("c")]],
    );
    let (r, changes) = d.run();
    r.ok();
    assert!(
        changes.is_empty(),
        "a nullable column needs no change: {changes:?}"
    );
    assert_eq!(
        d.rows(&["v", "gone"]),
        text_rows(&[
            &[Some("1"), Some("a"), Some("g1")],
            &[Some("2"), Some("B"), Some("g2")],
            &[Some("3"), Some("c"), None],
        ])
    );
}

/// Loads `t` (id, v `old`) with row 1 = `value`, then runs again after the source's `v` became
/// `new` and gained row 2 = `new_value`; returns the second run and its reported changes.
fn retyped(
    open: Open,
    old: &str,
    value: &str,
    new: &str,
    new_value: &str,
) -> (Drift, Run, Vec<String>) {
    let d = Drift::new(open, "evolve");
    d.source(&[("v", old)], &[vec![Some("1"), Some(value)]]);
    d.run().0.ok();
    d.source(
        &[("v", new)],
        &[
            vec![Some("1"), Some(value)],
            vec![Some("2"), Some(new_value)],
        ],
    );
    let (r, changes) = d.run();
    (d, r, changes)
}

/// int -> bigint: the column is widened and takes a value past 2^31.
pub fn schema_change_int_to_bigint(_test: &str, open: Open) {
    let (d, r, changes) = retyped(open, "int", "7", "bigint", "5000000000");
    let r = r.ok();
    // SQLite declares every integer INTEGER: nothing to widen there.
    if d.dst.connector_type() != "sqlite" {
        assert_eq!(changes, ["widened v"], "{}", r.stderr);
    }
    assert!(d.holds(1, "v", "7") && d.holds(2, "v", "5000000000"));
}

/// varchar(10) -> varchar(50): a 40-character value fits afterwards.
pub fn schema_change_varchar_widened(_test: &str, open: Open) {
    let long = "x".repeat(40);
    let (d, r, changes) = retyped(open, "varchar(10)", "short", "varchar(50)", &long);
    let r = r.ok();
    // Where text keeps its declared length in the destination, it is widened.
    if matches!(d.dst.connector_type(), "postgresql" | "mysql" | "mssql") {
        assert_eq!(changes, ["widened v"], "{}", r.stderr);
    }
    assert_eq!(
        d.rows(&["v"]),
        text_rows(&[&[Some("1"), Some("short")], &[Some("2"), Some(&long)]])
    );
}

/// decimal(10,2) -> decimal(14,4): old values keep every digit, new ones fit.
pub fn schema_change_decimal_widened(_test: &str, open: Open) {
    let (d, r, changes) = retyped(
        open,
        "decimal(10,2)",
        "12345678.12",
        "decimal(14,4)",
        "1234567890.1234",
    );
    let r = r.ok();
    assert_eq!(changes, ["widened v"], "{}", r.stderr);
    assert!(d.holds(1, "v", "12345678.12"), "{:?}", d.rows(&["v"]));
    assert!(d.holds(2, "v", "1234567890.1234"), "{:?}", d.rows(&["v"]));
}

/// decimal(14,4) -> decimal(10,2) is a narrowing: refused, naming the column and both types,
/// before anything is written.
pub fn schema_change_narrowing_refused(_test: &str, open: Open) {
    let (d, r, _) = retyped(open, "decimal(14,4)", "1.5", "decimal(10,2)", "2.5");
    assert_eq!(r.code, 1, "a narrowing must fail the run:\n{}", r.stderr);
    let lower = r.stderr.to_ascii_lowercase();
    assert!(
        lower.contains("`v`")
            && lower.contains("(14,4)")
            && lower.contains("(10,2)")
            && lower.contains("--full-refresh"),
        "the error names the column, both types and what to do:\n{}",
        r.stderr
    );
    assert_eq!(d.rows(&["v"]).len(), 1, "nothing was written");
    assert!(d.holds(1, "v", "1.5"));
    no_leftovers(d.dst.as_ref());
}

/// `schema_changes: freeze` refuses a new column before anything is written.
pub fn schema_change_freeze_refuses(_test: &str, open: Open) {
    let (d, r, _) = gains_a_column(open, "freeze");
    assert_eq!(r.code, 1, "freeze must refuse:\n{}", r.stderr);
    assert!(
        r.stderr.contains("freeze") && r.stderr.contains("`extra`"),
        "{}",
        r.stderr
    );
    assert_eq!(d.width(), 2, "no column added");
    assert_eq!(
        d.rows(&["v"]),
        text_rows(&[&[Some("1"), Some("a")], &[Some("2"), Some("b")]])
    );
    no_leftovers(d.dst.as_ref());
}

/// `schema_changes: discard_new_columns` loads the rows without the new column, with one
/// warning naming it.
pub fn schema_change_discard_new_columns(_test: &str, open: Open) {
    let (d, r, changes) = gains_a_column(open, "discard_new_columns");
    let r = r.ok();
    assert_eq!(changes, ["discarded extra"]);
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("extra"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming the column:\n{}",
        r.stderr
    );
    assert_eq!(d.width(), 2, "the new column is left out");
    assert_eq!(
        d.rows(&["v"]),
        text_rows(&[
            &[Some("1"), Some("a")],
            &[Some("2"), Some("b")],
            &[Some("3"), Some("c")]
        ])
    );
}

/// A NOT NULL column that the source does not have (here: of a table made by hand before the
/// first run) is made nullable, so new rows can hold NULL in it.
pub fn schema_change_not_null_column_dropped(_test: &str, open: Open) {
    let d = Drift::new(open, "evolve");
    let dst = d.dst.as_ref();
    let v = ("v", "varchar(20)");
    let typed = |c: &str, t: &str| (c.to_string(), Kind::Text, dst.spell(t));
    create(
        dst,
        "t",
        &[typed(v.0, v.1), typed("gone", "varchar(20) NOT NULL")],
        &text_rows(&[&[Some("1"), Some("a"), Some("g1")]]),
    );
    d.source(
        &[v],
        &[vec![Some("1"), Some("a")], vec![Some("2"), Some("b")]],
    );
    let (r, changes) = d.run();
    let r = r.ok();
    assert_eq!(changes, ["made_nullable gone"], "{}", r.stderr);
    assert_eq!(
        d.rows(&["v", "gone"]),
        text_rows(&[
            &[Some("1"), Some("a"), Some("g1")],
            &[Some("2"), Some("b"), None]
        ])
    );
}
