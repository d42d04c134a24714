//! Files -> SQLite and SQLite -> SQLite through the built binary: values compared with the
//! independent reader, full refresh swaps atomically, failures leave the old table intact.

mod common;
use common::*;
use std::path::Path;

fn spec_text(source: &str, db: &Path, extra: &str) -> String {
    format!(
        r#"
version: 1
name: load
source:
{source}
destination:
  connector_type: sqlite
  config:
    database_path: {}
{extra}"#,
        db.display()
    )
}

/// Exports `orders` from the fixture to `format` files, then loads them into a new database.
fn round_trip(format: &str) {
    let dir = tempdir();
    let shop = shop_db(dir.path());
    let out = dir.path().join("out");
    let export = write_spec(
        dir.path(),
        "export.yaml",
        &format!(
            "version: 1\nname: e\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: {format}\n",
            shop.display(),
            out.display()
        ),
    );
    etl(dir.path(), &["run", &export]).ok();
    let copy = dir.path().join("copy.db");
    for table in ["customers", "orders", "order_items"] {
        let src = format!(
            "  connector_type: local_file\n  config:\n    file_path: {}\n",
            out.join(table).display()
        );
        let spec = write_spec(
            dir.path(),
            &format!("load_{table}.yaml"),
            &spec_text(&src, &copy, &format!("streams:\n  - name: {table}\n")),
        );
        etl(dir.path(), &["run", &spec]).ok();
        // The files must equal the source (read by pyarrow/fastavro/json, not by etl), and
        // the loaded table the files: so the load equals the source, not merely etl's export.
        compare(&shop, table, &files_under(&out.join(table)), format);
        compare(&copy, table, &files_under(&out.join(table)), format);
    }
}

#[test]
fn parquet_to_sqlite_keeps_every_value() {
    round_trip("parquet");
    // Parquet carries exact types, so the loaded table equals the original too.
    let dir = tempdir();
    let shop = shop_db(dir.path());
    let out = dir.path().join("out");
    let export = write_spec(
        dir.path(),
        "e.yaml",
        &format!(
            "version: 1\nname: e\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n",
            shop.display(),
            out.display()
        ),
    );
    etl(dir.path(), &["run", &export]).ok();
    let copy = dir.path().join("copy.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        out.join("customers").display()
    );
    let spec = write_spec(
        dir.path(),
        "l.yaml",
        &spec_text(
            &src,
            &copy,
            "streams:\n  - name: customers\n    primary_key: [id]\n",
        ),
    );
    etl(dir.path(), &["run", &spec]).ok();
    let ddl = sqlite_scalar(
        &copy,
        "SELECT sql FROM sqlite_master WHERE name = 'customers'",
    );
    let rusqlite::types::Value::Text(ddl) = ddl else {
        panic!("no table")
    };
    for col in [
        "\"credit_limit\" DECIMAL(12,2)",
        "\"created_at\" TIMESTAMP",
        "\"updated_at\" TIMESTAMPTZ",
        "\"signup_date\" DATE",
        "\"is_active\" BOOLEAN",
        "\"avatar\" BLOB",
        "PRIMARY KEY (\"id\")",
    ] {
        assert!(ddl.contains(col), "{col} missing from {ddl}");
    }
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute(&format!("ATTACH '{}' AS orig", shop.display()), [])
        .unwrap();
    let diff: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT * FROM orig.customers EXCEPT SELECT * FROM customers)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Timestamps with offsets are normalised to UTC, so compare only rows without them.
    let offset_rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM orig.customers WHERE updated_at NOT LIKE '%+00:00'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        diff, offset_rows,
        "only rows whose offsets were normalised may differ"
    );
}

#[test]
fn jsonl_to_sqlite() {
    round_trip("jsonl");
}

#[test]
fn json_array_to_sqlite() {
    round_trip("json");
}

#[test]
fn avro_to_sqlite() {
    round_trip("avro");
}

#[test]
fn csv_to_sqlite_round_trip() {
    // Every value survives, '' and NULL included (`""` versus an empty field).
    let dir = tempdir();
    let shop = shop_db(dir.path());
    let out = dir.path().join("out");
    let export = write_spec(
        dir.path(),
        "export.yaml",
        &format!(
            "version: 1\nname: e\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: csv\nstreams:\n  - name: orders\n",
            shop.display(),
            out.display()
        ),
    );
    etl(dir.path(), &["run", &export]).ok();
    let copy = dir.path().join("copy.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        out.join("orders").display()
    );
    let spec = write_spec(dir.path(), "l.yaml", &spec_text(&src, &copy, ""));
    etl(dir.path(), &["run", &spec]).ok();
    // Files against the source first, then the load against the files.
    compare(&shop, "orders", &files_under(&out.join("orders")), "csv");
    compare(&copy, "orders", &files_under(&out.join("orders")), "csv");
}

#[test]
fn csv_to_sqlite_infers_types() {
    let dir = tempdir();
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "id,name,score,joined,active\n1,Ana,1.5,2024-01-02,true\n2,\"Bő, Jr\",,2024-02-03,false\n3,李,3.25,,\n",
    )
    .unwrap();
    let db = dir.path().join("t.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        csv.display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &spec_text(&src, &db, ""));
    etl(dir.path(), &["run", &spec]).ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    type Row = (i64, String, Option<f64>, Option<String>, Option<i64>);
    let rows: Vec<Row> = conn
        .prepare("SELECT id, name, score, joined, active FROM people ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                1,
                "Ana".into(),
                Some(1.5),
                Some("2024-01-02".into()),
                Some(1)
            ),
            (2, "Bő, Jr".into(), None, Some("2024-02-03".into()), Some(0)),
            (3, "李".into(), Some(3.25), None, None),
        ]
    );
}

#[test]
fn malformed_csv_row_fails_with_the_file_named_and_keeps_the_old_table() {
    let dir = tempdir();
    let csv = dir.path().join("t.csv");
    let db = dir.path().join("t.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        csv.display()
    );
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &spec_text(&src, &db, "defaults:\n  batch_size: 2\n"),
    );
    std::fs::write(&csv, "id,v\n1,a\n2,b\n").unwrap();
    etl(dir.path(), &["run", &spec]).ok();
    // A row with too many fields after a few good batches.
    let mut text = String::from("id,v\n");
    for i in 0..20 {
        text.push_str(&format!("{i},x{i}\n"));
    }
    text.push_str("99,a,extra\n");
    std::fs::write(&csv, text).unwrap();
    let r = etl(dir.path(), &["run", &spec]).fails(1, "t.csv");
    assert!(
        r.stderr.to_lowercase().contains("line") || r.stderr.contains("fields"),
        "{}",
        r.stderr
    );
    assert_eq!(
        sqlite_scalar(
            &db,
            "SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY id)"
        ),
        rusqlite::types::Value::Text("a,b".into()),
        "the previous table must be intact"
    );
    assert_eq!(
        sqlite_scalar(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE name LIKE '_etl_stage%'"
        ),
        rusqlite::types::Value::Integer(0),
        "no staging table left behind"
    );
}

#[test]
fn csv_dialect_options_both_ways() {
    let dir = tempdir();
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "id;name;note\n1;'a;b';NULL\n2;'it''s';''\n3;plain;x\n",
    )
    .unwrap();
    let db = dir.path().join("t.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n    delimiter: \";\"\n    quote: \"'\"\n    null_value: \"NULL\"\n",
        csv.display()
    );
    let spec = write_spec(dir.path(), "in.yaml", &spec_text(&src, &db, ""));
    etl(dir.path(), &["run", &spec]).ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, String, Option<String>)> = conn
        .prepare("SELECT id, name, note FROM \"in\" ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // With a null_value, only `NULL` is NULL: the empty field stays an empty string.
    assert_eq!(
        rows,
        vec![
            (1, "a;b".into(), None),
            (2, "it's".into(), Some(String::new())),
            (3, "plain".into(), Some("x".into()))
        ]
    );
    // Writing with the same options: NULL as `NULL`, the delimiter and quote quoted.
    let out = dir.path().join("out");
    let export = format!(
        "version: 1\nname: e\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: csv\n    delimiter: \";\"\n    quote: \"'\"\n    null_value: \"NULL\"\n",
        db.display(),
        out.display()
    );
    let spec = write_spec(dir.path(), "out.yaml", &export);
    etl(dir.path(), &["run", &spec]).ok();
    let text = std::fs::read_to_string(&files_under(&out.join("in"))[0]).unwrap();
    assert_eq!(
        text,
        "id;name;note\n1;'a;b';NULL\n2;'it''s';''\n3;plain;x\n"
    );
    // A quote equal to the delimiter is refused at validate time.
    let bad = write_spec(
        dir.path(),
        "bad.yaml",
        &export.replace("quote: \"'\"", "quote: \";\""),
    );
    etl(dir.path(), &["validate", &bad]).fails(2, "quote: must differ from the delimiter");
}

#[test]
fn files_whose_schemas_disagree_fail_naming_the_file() {
    let dir = tempdir();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("a.csv"), "id,v\n1,x\n").unwrap();
    std::fs::write(landing.join("b.csv"), "id,w\n2,y\n").unwrap();
    let db = dir.path().join("t.db");
    let src = format!(
        "  connector_type: local_file\n  config:\n    file_path: {}\n",
        landing.display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &spec_text(&src, &db, ""));
    let r = etl(dir.path(), &["run", &spec]).fails(1, "b.csv");
    assert!(r.stderr.contains("schema differs"), "{}", r.stderr);
    assert!(
        !db.exists()
            || sqlite_scalar(
                &db,
                "SELECT count(*) FROM sqlite_master WHERE name = 'landing'"
            ) == rusqlite::types::Value::Integer(0)
    );
}

/// A stream's `schema:` replaces inferred CSV/JSON Lines types: a zip code with leading zeros
/// stays text, an amount is an exact decimal rather than a float, a timestamp keeps its zone.
#[test]
fn declared_schema_replaces_inferred_types() {
    let dir = tempdir();
    let data = dir.path().join("in");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("people.csv"),
        "id,zip,amount,seen\n1,01234,10.10,2024-03-01T10:00:00Z\n2,99999,0.30,2024-03-02T23:59:59.123456+02:00\n3,,,\n",
    )
    .unwrap();
    std::fs::write(
        data.join("people.jsonl"),
        "{\"id\": 1, \"zip\": \"01234\", \"amount\": 10.10}\n{\"id\": 2, \"zip\": null, \"amount\": 0.3}\n",
    )
    .unwrap();
    let db = dir.path().join("load.db");
    let src = |glob: &str| {
        format!(
            "  connector_type: local_file\n  config:\n    file_path: {}\n    glob_pattern: \"{glob}\"\n",
            data.display()
        )
    };
    let streams = "streams:\n  - name: people\n    schema:\n      zip: string\n      amount: decimal(12,2)\n      seen: timestamp[us, UTC]\n";
    let p = write_spec(
        dir.path(),
        "csv.yaml",
        &spec_text(&src("*.csv"), &db, streams),
    );
    etl(dir.path(), &["run", &p]).ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let types: Vec<(String, String)> = conn
        .prepare("SELECT name, type FROM pragma_table_info('people') ORDER BY cid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let types: Vec<String> = types.iter().map(|(n, t)| format!("{n} {t}")).collect();
    assert_eq!(
        types,
        [
            "id INTEGER",
            "zip TEXT",
            "amount DECIMAL(12,2)",
            "seen TIMESTAMPTZ"
        ]
    );
    let rows: Vec<String> = conn
        .prepare("SELECT id, quote(zip), quote(amount), quote(seen) FROM people ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            // DECIMAL columns have SQLite's NUMERIC affinity: 10.10 is stored as the number 10.1.
            "1|'01234'|10.1|'2024-03-01 10:00:00.000000+00:00'",
            "2|'99999'|0.3|'2024-03-02 21:59:59.123456+00:00'",
            "3|NULL|NULL|NULL",
        ]
    );

    // JSON Lines too; a declared column the file lacks is named.
    let p = write_spec(
        dir.path(),
        "jsonl.yaml",
        &spec_text(&src("*.jsonl"), &dir.path().join("j.db"), streams),
    );
    etl(dir.path(), &["run", &p]).fails(
        1,
        "schema: column `seen` is not in the file (columns: id, zip, amount)",
    );
    // Bad types and formats that carry their own types fail validation, located.
    let p = write_spec(
        dir.path(),
        "bad.yaml",
        &spec_text(
            &src("*.csv"),
            &db,
            "streams:\n  - name: people\n    schema:\n      zip: varchar2\n",
        ),
    );
    etl(dir.path(), &["validate", &p]).fails(2, "unknown type `varchar2`");
    let p = write_spec(
        dir.path(),
        "bad2.yaml",
        &spec_text(
            &src("*.parquet"),
            &db,
            "streams:\n  - name: people\n    format: parquet\n    schema:\n      zip: string\n",
        ),
    );
    etl(dir.path(), &["validate", &p])
        .fails(2, "`schema` applies to CSV, JSON and JSON Lines files");
}

/// Many files are read several at a time: every row of every file arrives exactly once,
/// whatever the interleaving; one bad file among them fails the run naming it and commits
/// nothing; `parallel_files: 1` and out-of-range values behave as documented.
#[test]
fn many_files_read_in_parallel_arrive_exactly_once() {
    let dir = tempdir();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let mut want = 0i64;
    for f in 0..24 {
        let mut text = String::from("id,file,v\n");
        for r in 0..(500 + f * 37) {
            let id = f * 100_000 + r;
            want += id;
            text.push_str(&format!("{id},{f},row {r} of file {f}\n"));
        }
        std::fs::write(landing.join(format!("part-{f:02}.csv")), text).unwrap();
    }
    let src = |extra: &str| {
        format!(
            "  connector_type: local_file\n  config:\n    file_path: {}\n{extra}",
            landing.display()
        )
    };
    for (name, extra) in [
        ("par.db", "    parallel_files: 8\n"),
        ("seq.db", "    parallel_files: 1\n"),
        ("default.db", ""),
    ] {
        let db = dir.path().join(name);
        let spec = write_spec(dir.path(), "s.yaml", &spec_text(&src(extra), &db, ""));
        etl(dir.path(), &["run", &spec]).ok();
        let got = |sql: &str| match sqlite_scalar(&db, sql) {
            rusqlite::types::Value::Integer(n) => n,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(
            got("SELECT count(*) FROM landing"),
            (0..24).map(|f| 500 + f * 37).sum::<i64>(),
            "{name}"
        );
        assert_eq!(
            got("SELECT count(DISTINCT id) FROM landing"),
            got("SELECT count(*) FROM landing"),
            "{name}"
        );
        assert_eq!(got("SELECT sum(id) FROM landing"), want, "{name}");
        assert_eq!(got("SELECT count(*) FROM landing WHERE v != 'row ' || (id % 100000) || ' of file ' || file"), 0, "{name}");
    }
    // A file in the middle that does not parse: named, and the previous table stays.
    std::fs::write(
        landing.join("part-11.csv"),
        "id,file,v\n1,11,ok\nnot-a-number,11,bad\n",
    )
    .unwrap();
    let db = dir.path().join("par.db");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &spec_text(&src("    parallel_files: 8\n"), &db, ""),
    );
    etl(dir.path(), &["run", &spec]).fails(1, "part-11.csv");
    assert_eq!(
        sqlite_scalar(&db, "SELECT sum(id) FROM landing"),
        rusqlite::types::Value::Integer(want)
    );
    let spec = write_spec(
        dir.path(),
        "bad.yaml",
        &spec_text(&src("    parallel_files: 0\n"), &db, ""),
    );
    etl(dir.path(), &["validate", &spec]).fails(2, "parallel_files must be from 1 to 64");
}
