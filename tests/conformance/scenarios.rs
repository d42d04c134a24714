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

/// The extra columns (name, kind, DDL) a scenario's table has in one database.
type ColumnsOf = fn(&dyn TestDb) -> Vec<(String, Kind, String)>;

/// A source table `t` of `cols` holding `rows`, an empty destination, a folder, the
/// environment and a spec of both with `rest` after the blocks; run once.
struct Pair {
    src: Box<dyn TestDb>,
    dst: Box<dyn TestDb>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    text: String,
}

fn pair_with_t(open: Open, cols: ColumnsOf, rows: Rows, rest: &str) -> Pair {
    let (src, dst) = (open("src"), open("dst"));
    create(src.as_ref(), "t", &cols(src.as_ref()), &rows);
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec_between(src.as_ref(), dst.as_ref(), rest);
    run(dir.path(), &text, &env).ok();
    Pair {
        src,
        dst,
        dir,
        env,
        text,
    }
}

/// Deletes ids 1 and 2 of `t`, changes 3, adds `new`.
fn change_t(src: &dyn TestDb, cols: &[(String, Kind, String)], new: &Rows) {
    let (t, id, v) = (src.table("t"), src.quote("id"), src.quote("v"));
    src.exec(&format!("DELETE FROM {t} WHERE {id} IN (1, 2)"));
    src.exec(&format!("UPDATE {t} SET {v} = 'changed' WHERE {id} = 3"));
    insert(src, "t", cols, new);
}

/// A second full refresh replaces the table: deleted rows go, changed rows change.
pub fn full_refresh_replaces_the_table(_test: &str, open: Open) {
    let Pair {
        src,
        dst,
        dir,
        env,
        text,
    } = pair_with_t(
        open,
        kv_cols,
        kv_rows(1..=5, "v"),
        "streams:\n  - name: t\n",
    );
    let cols = kv_cols(src.as_ref());
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "t",
        &with_id(&cols),
        "first run",
    );
    change_t(src.as_ref(), &cols, &kv_rows(6..=7, "new"));
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
        &spec_between(src.as_ref(), dst.as_ref(), "streams:\n  - name: e\n"),
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
        &spec_between(src.as_ref(), dst.as_ref(), &format!("streams:\n{streams}")),
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
        &spec_between(
            src.as_ref(),
            dst.as_ref(),
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
        &spec_between(src.as_ref(), dst.as_ref(), "defaults:\n  timeout: soon\n"),
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
    let text = spec_between(src.as_ref(), dst.as_ref(), "");
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
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
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
        let text = spec_between(
            src.as_ref(),
            dst.as_ref(),
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

// ---- Modes and merge strategies (README "Modes") ----

/// `v` text and `n` int beside `id`.
fn vn_cols(db: &dyn TestDb) -> Vec<(String, Kind, String)> {
    vec![
        ("v".into(), Kind::Text, db.ddl(Kind::Text).into()),
        ("n".into(), Kind::Int, db.ddl(Kind::Int).into()),
    ]
}

fn vn_rows(ids: impl IntoIterator<Item = u32>, tag: &str) -> Rows {
    ids.into_iter()
        .map(|i| {
            vec![
                Some(i.to_string()),
                Some(format!("{tag}{i}")),
                Some((i * 10).to_string()),
            ]
        })
        .collect()
}

/// Whether index `name` exists on `db`, asked of its catalog; `None` where the scenario does
/// not know the catalog.
fn index_exists(db: &dyn TestDb, table: &str, name: &str) -> Option<bool> {
    let rows = match db.connector_type() {
        "sqlite" => db.query(&format!(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name = '{name}'"
        )),
        "postgresql" => db.query(&format!(
            "SELECT to_regclass('{}')::text",
            db.table(name).replace('\'', "''")
        )),
        "mysql" => db
            .query(&format!("SHOW INDEX FROM {}", db.table(table)))
            .into_iter()
            .filter(|r| r.get(2).cloned().flatten().as_deref() == Some(name))
            .collect(),
        _ => return None,
    };
    Some(rows.iter().any(|r| r.first().cloned().flatten().is_some()))
}

/// `mode: truncate` replaces the rows and keeps the table: an index and a view made on it after
/// the first run are still there after the second, the view sees the new rows; a load that
/// fails inside the publish (a duplicate for that unique index, after the DELETE ran) leaves
/// the previous rows.
pub fn truncate_keeps_the_table(_test: &str, open: Open) {
    let Pair {
        src,
        dst,
        dir,
        env,
        text,
    } = pair_with_t(
        open,
        vn_cols,
        vn_rows(1..=5, "v"),
        "defaults:\n  retries: 0\nstreams:\n  - name: t\n    mode: truncate\n    primary_key: [id]\n",
    );
    let cols = vn_cols(src.as_ref());
    let all = with_id(&cols);
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "t",
        &all,
        "first run creates the table",
    );
    let (t, n) = (dst.table("t"), dst.quote("n"));
    dst.exec(&format!("CREATE UNIQUE INDEX t_n_ix ON {t} ({n})"));
    dst.exec(&format!(
        "CREATE VIEW {} AS SELECT {}, {} FROM {t}",
        dst.table("t_view"),
        dst.quote("id"),
        dst.quote("v")
    ));
    change_t(src.as_ref(), &cols, &vn_rows(6..=7, "new"));
    run(dir.path(), &text, &env).ok();
    let second = same_rows(src.as_ref(), dst.as_ref(), "t", &all, "second run");
    assert_eq!(second.len(), 5);
    if let Some(exists) = index_exists(dst.as_ref(), "t", "t_n_ix") {
        assert!(exists, "the index made on the table was dropped");
    }
    let through_view = dst.query(&format!(
        "SELECT {} FROM {} ORDER BY 1",
        dst.canon(&dst.quote("id"), Kind::Int),
        dst.table("t_view")
    ));
    assert_eq!(
        first_column(through_view),
        vec!["3", "4", "5", "6", "7"],
        "the view on the table sees the new rows"
    );
    // Two source rows with the same n: the INSERT breaks the unique index after the DELETE.
    src.exec(&format!(
        "UPDATE {} SET {} = 40 WHERE {} = 5",
        src.table("t"),
        src.quote("n"),
        src.quote("id")
    ));
    // A load that fails mid-read (the fault point after the first batch) publishes nothing.
    let mut faulty = env.clone();
    faulty.push(("ETL_FAULT_FAIL".into(), "batch".into()));
    let r = run(dir.path(), &text, &faulty);
    assert_eq!(
        r.code, 1,
        "the injected fault must fail the run:\n{}",
        r.stderr
    );
    assert_eq!(
        canonical_rows(dst.as_ref(), "t", &all),
        second,
        "a truncate whose load failed leaves the previous rows"
    );
    let r = run(dir.path(), &text, &env);
    assert_eq!(
        r.code, 1,
        "the duplicate must fail the publish:\n{}",
        r.stderr
    );
    assert_eq!(
        canonical_rows(dst.as_ref(), "t", &all),
        second,
        "a failed truncate leaves the previous rows"
    );
    no_leftovers(dst.as_ref());
}

/// `mode: snapshot` appends the whole table every run with `_etl_loaded_at`, the run's start
/// time: two runs give every row twice under two times (with a `primary_key`, which the load
/// time joins in the table's key). A source column of that name is refused.
pub fn snapshot_appends_with_the_load_time(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = kv_cols(src.as_ref());
    create(src.as_ref(), "t", &cols, &kv_rows(1..=3, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
        "streams:\n  - name: t\n    mode: snapshot\n    primary_key: [id]\n",
    );
    let before = chrono_now_micros();
    run(dir.path(), &text, &env).ok();
    std::thread::sleep(Duration::from_millis(20));
    run(dir.path(), &text, &env).ok();
    let after = chrono_now_micros();
    let (t, at) = (dst.table("t"), dst.quote("_etl_loaded_at"));
    let per_time = dst.query(&format!(
        "SELECT {}, COUNT(*), COUNT(DISTINCT {}) FROM {t} GROUP BY {at} ORDER BY {at}",
        dst.canon(&at, Kind::TimestampTz),
        dst.quote("id")
    ));
    assert_eq!(per_time.len(), 2, "two runs, two load times: {per_time:?}");
    for row in &per_time {
        assert_eq!(
            row[1].as_deref(),
            Some("3"),
            "each run holds every row: {per_time:?}"
        );
        assert_eq!(row[2].as_deref(), Some("3"), "{per_time:?}");
        let text = row[0].clone().unwrap_or_default();
        let micros = micros_of(&text);
        assert!(
            (before - 1_000_000..=after).contains(&micros),
            "`_etl_loaded_at` {text} is not the run's start time"
        );
    }
    no_leftovers(dst.as_ref());
    // A source column named `_etl_loaded_at` is refused, nothing written.
    let odd = vec![(
        "_etl_loaded_at".to_string(),
        Kind::Text,
        src.ddl(Kind::Text).to_string(),
    )];
    create(src.as_ref(), "u", &odd, &kv_rows(1..=2, "x"));
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
        "streams:\n  - name: u\n    mode: snapshot\n",
    );
    run(dir.path(), &text, &env).fails(1, "already has one");
    assert!(!dst.tables().contains(&"u".to_string()));
}

fn chrono_now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Microseconds since 1970 of canonical `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
fn micros_of(text: &str) -> i64 {
    let num = |s: &str| {
        s.parse::<i64>()
            .unwrap_or_else(|_| panic!("timestamp `{text}`"))
    };
    let (date, time) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let d: Vec<i64> = date.split('-').map(num).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let (hms, frac) = time
        .split_once('.')
        .unwrap_or((&time[..8.min(time.len())], "0"));
    let t: Vec<i64> = hms.split(':').map(num).collect();
    let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
    let frac = format!("{digits:0<6}");
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000_000 + t[2] * 1_000_000 + num(&frac[..6])
}

/// `etl run --range` on an incremental stream is a backfill: it upserts the rows of the range
/// only (both ends included), leaves the state file byte for byte as it was, and a value that
/// is not of the cursor's type is refused. `mode: backfill` with `range:` in the spec does
/// the same.
pub fn backfill_merges_the_range_and_keeps_the_state(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=50, 1, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = incremental_spec(src.as_ref(), dst.as_ref(), dir.path(), 7);
    run(dir.path(), &text, &env).ok();
    let state = std::fs::read(dir.path().join("state.json")).expect("state file");
    // Fixed in the source without moving the cursor: 5..=45 (minutes), and a late row at 15.
    let (t, id, v) = (src.table("events"), src.quote("id"), src.quote("v"));
    src.exec(&format!(
        "UPDATE {t} SET {v} = 'fixed' WHERE {id} BETWEEN 5 AND 45"
    ));
    insert(
        src.as_ref(),
        "events",
        &cols,
        &[vec![
            Some("1000".into()),
            Some("late".into()),
            Some(ts(1, 15)),
        ]],
    );
    let range = format!("{},{}", ts(1, 10), ts(1, 20));
    etl_spec(
        dir.path(),
        &["run", "{spec}", "--range", &range],
        &text,
        &env,
    )
    .ok();
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).expect("state file"),
        state,
        "a backfill leaves the state as it was"
    );
    let rows = canonical_rows(
        dst.as_ref(),
        "events",
        &[("id".into(), Kind::Int), ("v".into(), Kind::Text)],
    );
    let mut fixed: Vec<u32> = rows
        .iter()
        .filter(|r| matches!(r[1].as_deref(), Some("fixed") | Some("late")))
        .filter_map(|r| r[0].as_deref()?.parse().ok())
        .collect();
    fixed.sort_unstable();
    let want: Vec<u32> = (10..=20).chain([1000]).collect();
    assert_eq!(fixed, want, "exactly the range's rows were merged");
    assert_eq!(rows.len(), 51);
    etl_spec(
        dir.path(),
        &["run", "{spec}", "--range", "soon,later"],
        &text,
        &env,
    )
    .fails(1, "range value `soon`");
    // The same through the spec: mode backfill with a range.
    let spec_backfill = text.replace(
        "    mode: incremental\n",
        &format!(
            "    mode: backfill\n    range: [{}, {}]\n",
            yaml(&ts(1, 40)),
            yaml(&ts(1, 41))
        ),
    );
    run(dir.path(), &spec_backfill, &env).ok();
    let fixed = dst.query(&format!(
        "SELECT COUNT(*) FROM {} WHERE {} = 'fixed'",
        dst.table("events"),
        dst.quote("v")
    ));
    assert_eq!(
        fixed,
        vec![vec![Some("13".to_string())]],
        "11 + ids 40 and 41"
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).expect("state file"),
        state
    );
    no_leftovers(dst.as_ref());
}

/// Each column's name and declared type, from the database's catalog, in order; `None` where
/// the scenario does not know the catalog.
fn declared_columns(db: &dyn TestDb, table: &str) -> Option<Rows> {
    let rows = match db.connector_type() {
        "sqlite" => db.query(&format!(
            "SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid"
        )),
        "postgresql" => db.query(&format!(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = '{}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            db.table(table).replace('\'', "''")
        )),
        "mysql" => db.query(&format!("SHOW COLUMNS FROM {}", db.table(table))),
        _ => return None,
    };
    Some(rows.into_iter().map(|r| r[..2].to_vec()).collect())
}

/// `mode: definition_only` creates the table with the columns a load would create, empty,
/// and leaves an existing table (and its rows) alone.
pub fn definition_only_creates_an_empty_table(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let mut cols = events_cols(src.as_ref());
    cols.push(("n".into(), Kind::Int, src.ddl(Kind::Int).into()));
    let rows: Rows = event_rows(1..=4, 1, "v")
        .into_iter()
        .map(|mut r| {
            r.push(Some("7".into()));
            r
        })
        .collect();
    create(src.as_ref(), "events", &cols, &rows);
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
        "streams:\n  - name: events\n    mode: definition_only\n    primary_key: [id]\n  - name: loaded\n    table: events\n    primary_key: [id]\n",
    );
    run(dir.path(), &text, &env).ok();
    let all = with_id(&cols);
    assert!(
        canonical_rows(dst.as_ref(), "events", &all).is_empty(),
        "no row loaded"
    );
    assert_eq!(canonical_rows(dst.as_ref(), "loaded", &all).len(), 4);
    if let Some(defined) = declared_columns(dst.as_ref(), "events") {
        assert_eq!(defined.len(), 4, "{defined:?}");
        assert_eq!(
            Some(defined),
            declared_columns(dst.as_ref(), "loaded"),
            "the same columns and types as a load creates"
        );
    }
    insert(dst.as_ref(), "events", &cols, &rows[..2]);
    run(dir.path(), &text, &env).ok();
    assert_eq!(
        canonical_rows(dst.as_ref(), "events", &all),
        rows[..2].to_vec(),
        "an existing table is left alone"
    );
    no_leftovers(dst.as_ref());
}

/// The rows (id, v, note) after an incremental run with `merge_strategy` over a destination
/// whose rows carry a `note` the source does not have (so a deleted and re-inserted row shows).
fn merged_with(open: Open, strategy: &str) -> Rows {
    let (src, dst) = (open("src"), open("dst"));
    let cols = vn_cols(src.as_ref());
    let rows: Rows = vn_rows(1..=5, "v")
        .into_iter()
        .map(|mut r| {
            r[2] = Some("1".into());
            r
        })
        .collect();
    create(src.as_ref(), "m", &cols, &rows);
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
        &format!(
            "state:\n  path: {}\nstreams:\n  - name: m\n    mode: incremental\n    cursor_field: n\n    primary_key: [id]\n    merge_strategy: {strategy}\n",
            dir.path().join("state.json").display()
        ),
    );
    run(dir.path(), &text, &env).ok();
    let dt = dst.table("m");
    dst.exec(&format!(
        "ALTER TABLE {dt} ADD COLUMN {} {}",
        dst.quote("note"),
        dst.ddl(Kind::Text)
    ));
    dst.exec(&format!("UPDATE {dt} SET {} = 'kept'", dst.quote("note")));
    let (t, id, v, n) = (
        src.table("m"),
        src.quote("id"),
        src.quote("v"),
        src.quote("n"),
    );
    src.exec(&format!(
        "UPDATE {t} SET {v} = 'upd', {n} = 2 WHERE {id} IN (2, 3)"
    ));
    let new: Rows = vn_rows(6..=7, "new")
        .into_iter()
        .map(|mut r| {
            r[2] = Some("2".into());
            r
        })
        .collect();
    insert(src.as_ref(), "m", &cols, &new);
    run(dir.path(), &text, &env).ok();
    no_leftovers(dst.as_ref());
    canonical_rows(
        dst.as_ref(),
        "m",
        &[
            ("id".into(), Kind::Int),
            ("v".into(), Kind::Text),
            ("note".into(), Kind::Text),
        ],
    )
}

/// What a strategy does to the rows whose key is already in the table (2 and 3, changed in
/// the source).
enum Existing {
    Updated,
    /// Deleted and inserted again: the destination-only `note` is gone.
    Replaced,
    Untouched,
}

/// The rows `merged_with` should leave: 1, 4, 5 as loaded first; 2, 3 as `existing` says; the
/// new keys 6, 7 when `new_keys`.
fn expected(existing: Existing, new_keys: bool) -> Rows {
    let row = |i: u32, v: String, note: Option<&str>| {
        vec![Some(i.to_string()), Some(v), note.map(str::to_string)]
    };
    let mut rows = Vec::new();
    for i in 1..=5 {
        rows.push(match (i, &existing) {
            (2 | 3, Existing::Updated) => row(i, "upd".into(), Some("kept")),
            (2 | 3, Existing::Replaced) => row(i, "upd".into(), None),
            _ => row(i, format!("v{i}"), Some("kept")),
        });
    }
    if new_keys {
        rows.extend((6..=7).map(|i| row(i, format!("new{i}"), None)));
    }
    rows
}

/// One scenario per strategy: `merged_with(strategy)` leaves `expected(existing, new_keys)`.
macro_rules! merge_scenario {
    ($(#[$doc:meta])* $name:ident, $strategy:literal, $existing:expr, $new_keys:expr) => {
        $(#[$doc])*
        pub fn $name(_test: &str, open: Open) {
            assert_eq!(merged_with(open, $strategy), expected($existing, $new_keys));
        }
    };
}

merge_scenario!(
    /// `update_insert` (the default): changed keys updated in place, new keys inserted.
    merge_strategy_update_insert, "update_insert", Existing::Updated, true
);
merge_scenario!(
    /// `delete_insert`: rows whose key is staged are deleted, then every staged row inserted
    /// (the destination-only column of a replaced row is gone).
    merge_strategy_delete_insert, "delete_insert", Existing::Replaced, true
);
merge_scenario!(
    /// `insert_only`: existing keys untouched, new keys inserted.
    merge_strategy_insert_only, "insert_only", Existing::Untouched, true
);
merge_scenario!(
    /// `update_only`: existing keys updated, new keys skipped.
    merge_strategy_update_only, "update_only", Existing::Updated, false
);
/// Whether `delete_missing` runs on `db` as a destination: SQL Server and Oracle refuse it at
/// `etl validate` until it is tested there (the scenario says so with a `SKIPPED:` line).
fn takes_delete_missing(test: &str, db: &dyn TestDb) -> bool {
    let takes = !matches!(db.connector_type(), "mssql" | "oracle");
    if !takes {
        skipped(
            test,
            "delete_missing is refused for this destination (not tested there yet)",
        );
    }
    takes
}

/// A `delete_missing` scenario after its first run: 30 events moved.
struct DeletesRun {
    src: Box<dyn TestDb>,
    dst: Box<dyn TestDb>,
    cols: Vec<(String, Kind, String)>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    text: String,
}

fn deletes_first_run(test: &str, open: Open, how: &str) -> Option<DeletesRun> {
    let (src, dst) = (open("src"), open("dst"));
    if !takes_delete_missing(test, dst.as_ref()) {
        return None;
    }
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=30, 1, "v"));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = format!(
        "{}    delete_missing: {how}\n",
        incremental_spec(src.as_ref(), dst.as_ref(), dir.path(), 7)
    );
    run(dir.path(), &text, &env).ok();
    Some(DeletesRun {
        src,
        dst,
        cols,
        dir,
        env,
        text,
    })
}

/// The ids of `events` in `db` whose `_etl_deleted_at` is set.
fn marked_deleted(db: &dyn TestDb) -> Vec<String> {
    first_column(db.query(&format!(
        "SELECT {id} FROM {} WHERE {} IS NOT NULL ORDER BY {id}",
        db.table("events"),
        db.quote("_etl_deleted_at"),
        id = db.quote("id")
    )))
}

/// `delete_missing: hard`: keys gone from the source are deleted from the destination, in the
/// merge's transaction, also on a run that finds no new rows.
pub fn delete_missing_hard(test: &str, open: Open) {
    let Some(r) = deletes_first_run(test, open, "hard") else {
        return;
    };
    let (src, dst, cols, dir, env, text) = (&r.src, &r.dst, &r.cols, &r.dir, &r.env, &r.text);
    let (t, id) = (src.table("events"), src.quote("id"));
    src.exec(&format!("DELETE FROM {t} WHERE {id} IN (3, 10, 17)"));
    change_events(src.as_ref(), cols, 30);
    run(dir.path(), text, env).ok();
    let rows = same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(cols),
        "deleted and merged",
    );
    assert_eq!(rows.len(), 30 - 3 + 41);
    // Nothing new, one more key gone.
    src.exec(&format!("DELETE FROM {t} WHERE {id} = 20"));
    let r = run(dir.path(), text, env).ok();
    assert!(r.stderr.contains("keys="), "{}", r.stderr);
    let rows = same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(cols),
        "deleted without new rows",
    );
    assert_eq!(rows.len(), 67);
    no_leftovers(dst.as_ref());
}

/// `delete_missing: soft`: keys gone from the source keep their row with `_etl_deleted_at`
/// set (the column is added); a key that comes back gets it cleared.
pub fn delete_missing_soft(test: &str, open: Open) {
    let Some(r) = deletes_first_run(test, open, "soft") else {
        return;
    };
    let (src, dst, cols, dir, env, text) = (&r.src, &r.dst, &r.cols, &r.dir, &r.env, &r.text);
    let (t, id) = (src.table("events"), src.quote("id"));
    src.exec(&format!("DELETE FROM {t} WHERE {id} IN (3, 10)"));
    run(dir.path(), text, env).ok();
    assert_eq!(marked_deleted(dst.as_ref()), vec!["3", "10"]);
    let all = canonical_rows(dst.as_ref(), "events", &with_id(cols));
    assert_eq!(all.len(), 30, "soft deletes keep the rows");
    let stamps = dst.query(&format!(
        "SELECT DISTINCT {} FROM {} WHERE {} IS NOT NULL",
        dst.canon(&dst.quote("_etl_deleted_at"), Kind::TimestampTz),
        dst.table("events"),
        dst.quote("_etl_deleted_at")
    ));
    assert_eq!(stamps.len(), 1, "one run, one time: {stamps:?}");
    // Id 3 comes back (with a newer cursor), id 12 goes.
    insert(
        src.as_ref(),
        "events",
        cols,
        &[vec![Some("3".into()), Some("back".into()), Some(ts(9, 3))]],
    );
    src.exec(&format!("DELETE FROM {t} WHERE {id} = 12"));
    run(dir.path(), text, env).ok();
    assert_eq!(marked_deleted(dst.as_ref()), vec!["10", "12"]);
    let kept: Rows = canonical_rows(dst.as_ref(), "events", &with_id(cols))
        .into_iter()
        .filter(|r| !matches!(r[0].as_deref(), Some("10" | "12")))
        .collect();
    assert_eq!(
        kept,
        canonical_rows(src.as_ref(), "events", &with_id(cols)),
        "the live rows are the source's"
    );
    no_leftovers(dst.as_ref());
}

/// `pre_sql` and `post_sql` run in the stream's write (post_sql sees the merged rows); a
/// failing `post_sql` fails the stream naming its statement and commits nothing; a failing
/// `source_pre_sql` fails the stream naming its statement.
pub fn pre_and_post_sql_hooks(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = events_cols(src.as_ref());
    create(src.as_ref(), "events", &cols, &event_rows(1..=20, 1, "v"));
    dst.exec(&format!(
        "CREATE TABLE {} ({} {})",
        dst.table("audit"),
        dst.quote("n"),
        dst.ddl(Kind::Int)
    ));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let audit = |n: &str| format!("INSERT INTO {} VALUES ({n})", dst.table("audit"));
    let hooks = format!(
        "    pre_sql: [{}]\n    post_sql: [{}]\n",
        yaml(&audit("-1")),
        yaml(&format!(
            "INSERT INTO {} SELECT COUNT(*) FROM {}",
            dst.table("audit"),
            dst.table("events")
        ))
    );
    let text = format!(
        "{}{hooks}",
        incremental_spec(src.as_ref(), dst.as_ref(), dir.path(), 7)
    );
    run(dir.path(), &text, &env).ok();
    let audit_rows = || {
        first_column(dst.query(&format!(
            "SELECT {} FROM {} ORDER BY 1",
            dst.canon(&dst.quote("n"), Kind::Int),
            dst.table("audit")
        )))
    };
    assert_eq!(
        audit_rows(),
        vec!["-1", "20"],
        "pre_sql ran, post_sql saw the published rows"
    );
    // A failing post_sql: the new rows are not committed, nor is anything pre_sql did where
    // the database's DDL is transactional.
    let before = canonical_rows(dst.as_ref(), "events", &with_id(&cols));
    change_events(src.as_ref(), &cols, 20);
    let bad = format!("INSERT INTO {} VALUES (1)", dst.table("no_such_table"));
    let failing = text.replace(
        &yaml(&format!(
            "INSERT INTO {} SELECT COUNT(*) FROM {}",
            dst.table("audit"),
            dst.table("events")
        )),
        &yaml(&bad),
    );
    let r = run(dir.path(), &failing, &env);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("post_sql `{bad}` failed")),
        "{}",
        r.stderr
    );
    assert_eq!(
        canonical_rows(dst.as_ref(), "events", &with_id(&cols)),
        before,
        "nothing committed"
    );
    if dst.connector_type() != "mysql" {
        assert_eq!(audit_rows(), vec!["-1", "20"], "pre_sql rolled back");
    }
    no_leftovers(dst.as_ref());
    // The successful spec again: merged.
    run(dir.path(), &text, &env).ok();
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&cols),
        "after the hooks",
    );
    // A failing source_pre_sql names its statement.
    let bad_source = format!("SELECT * FROM {}", src.table("no_such_table"));
    let r = run(
        dir.path(),
        &format!("{text}    source_pre_sql: [{}]\n", yaml(&bad_source)),
        &env,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("source_pre_sql `{bad_source}` failed")),
        "{}",
        r.stderr
    );
}

/// A run's `hooks:` run once on the destination: `pre_sql` before the first stream, `post_sql`
/// after the last (it sees the published rows); a failing `pre_sql` fails the run naming its
/// statement before anything is read or written.
pub fn run_hooks(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols = kv_cols(src.as_ref());
    create(src.as_ref(), "t", &cols, &kv_rows(1..=5, "v"));
    let audit = dst.table("audit");
    dst.exec(&format!(
        "CREATE TABLE {audit} ({} {})",
        dst.quote("n"),
        dst.ddl(Kind::Int)
    ));
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let hooks = |pre: &str| {
        spec_between(
            src.as_ref(),
            dst.as_ref(),
            &format!(
                "streams:\n  - name: t\n  - name: u\n    table: t\nhooks:\n  pre_sql: [{}]\n  post_sql: [{}]\n",
                yaml(pre),
                yaml(&format!(
                    "INSERT INTO {audit} SELECT COUNT(*) FROM {}",
                    dst.table("u")
                ))
            ),
        )
    };
    run(
        dir.path(),
        &hooks(&format!("INSERT INTO {audit} VALUES (-1)")),
        &env,
    )
    .ok();
    let audit_rows = || {
        first_column(dst.query(&format!(
            "SELECT {} FROM {audit} ORDER BY 1",
            dst.canon(&dst.quote("n"), Kind::Int)
        )))
    };
    assert_eq!(
        audit_rows(),
        vec!["-1", "5"],
        "once each, post_sql after the streams"
    );
    insert(src.as_ref(), "t", &cols, &kv_rows(6..=7, "new"));
    let bad = format!("INSERT INTO {} VALUES (1)", dst.table("no_such_table"));
    let r = run(dir.path(), &hooks(&bad), &env);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("hooks.pre_sql `{bad}` failed")),
        "{}",
        r.stderr
    );
    assert_eq!(
        canonical_rows(dst.as_ref(), "t", &with_id(&cols)).len(),
        5,
        "no stream ran"
    );
    assert_eq!(audit_rows(), vec!["-1", "5"]);
}

/// `delete_missing: hard`, SIGKILLed before the publish (keys table loaded) and rerun: the
/// destination equals the source, and no staging or keys table is left behind.
pub fn delete_missing_killed_before_publish_then_rerun(test: &str, open: Open) {
    let Some(r) = deletes_first_run(test, open, "hard") else {
        return;
    };
    let (src, dst) = (&r.src, &r.dst);
    let (t, id) = (src.table("events"), src.quote("id"));
    src.exec(&format!("DELETE FROM {t} WHERE {id} IN (4, 11)"));
    change_events(src.as_ref(), &r.cols, 30);
    let spec_path = write_spec(r.dir.path(), "spec.yaml", &r.text);
    let env: Vec<(&str, &str)> = r
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    run_and_kill(r.dir.path(), &spec_path, "sql-before-publish", &env);
    run(r.dir.path(), &r.text, &r.env).ok();
    same_rows(
        src.as_ref(),
        dst.as_ref(),
        "events",
        &with_id(&r.cols),
        "killed before the publish, rerun",
    );
    no_leftovers(dst.as_ref());
}

/// `column_casing: snake` names the destination's columns, and maps the primary key with them
/// (an incremental merge on it updates rows instead of adding them); two source columns that
/// map to one name fail the stream naming both, before anything is written.
pub fn column_casing_maps_columns_and_keys(_test: &str, open: Open) {
    let (src, dst) = (open("src"), open("dst"));
    let cols: Vec<(String, Kind, String)> = vec![
        ("OrderID".into(), Kind::Int, src.ddl(Kind::Int).into()),
        (
            "customerName".into(),
            Kind::Text,
            src.ddl(Kind::Text).into(),
        ),
        ("Mixed Col".into(), Kind::Text, src.ddl(Kind::Text).into()),
    ];
    let row = |id: u32, name: &str| {
        vec![
            Some(id.to_string()),
            Some((id * 10).to_string()),
            Some(name.to_string()),
            Some(format!("m{id}")),
        ]
    };
    create(
        src.as_ref(),
        "orders",
        &cols,
        &[row(1, "ann"), row(2, "bob")],
    );
    let dir = tempdir();
    let env = env_of(&[src.as_ref(), dst.as_ref()]);
    let text = spec_between(
        src.as_ref(),
        dst.as_ref(),
        "streams:\n  - name: orders\n    mode: incremental\n    cursor_field: OrderID\n    primary_key: [OrderID]\n    column_casing: snake\n",
    );
    run(dir.path(), &text, &env).ok();
    let source_cols = with_id(&cols);
    let snake_cols: Vec<(String, Kind)> = ["id", "order_id", "customer_name", "mixed_col"]
        .iter()
        .zip(&source_cols)
        .map(|(n, (_, k))| (n.to_string(), *k))
        .collect();
    let same = |what: &str| {
        assert_eq!(
            canonical_rows(dst.as_ref(), "orders", &snake_cols),
            canonical_rows(src.as_ref(), "orders", &source_cols),
            "{what}"
        );
    };
    same("first run");
    // The boundary row changes and a row is added: merged on `order_id`, not appended.
    src.exec(&format!(
        "UPDATE {} SET {} = 'bea' WHERE {} = 2",
        src.table("orders"),
        src.quote("customerName"),
        src.quote("id")
    ));
    insert(src.as_ref(), "orders", &cols, &[row(3, "cy")]);
    run(dir.path(), &text, &env).ok();
    same("second run, merged on the mapped primary key");
    // Two columns that snake_case to one name: refused, nothing created.
    let clash: Vec<(String, Kind, String)> = vec![
        ("aB".into(), Kind::Text, src.ddl(Kind::Text).into()),
        ("a_b".into(), Kind::Text, src.ddl(Kind::Text).into()),
    ];
    create(
        src.as_ref(),
        "clash",
        &clash,
        &[vec![Some("1".into()), Some("x".into()), Some("y".into())]],
    );
    run(
        dir.path(),
        &spec_between(
            src.as_ref(),
            dst.as_ref(),
            "defaults:\n  column_casing: snake\nstreams:\n  - name: clash\n",
        ),
        &env,
    )
    .fails(
        1,
        "column_casing: snake maps columns `aB` and `a_b` both to `a_b`",
    );
    assert_eq!(dst.tables(), ["orders"]);
    no_leftovers(dst.as_ref());
}
