//! CSV keeps `""` and NULL apart, as PostgreSQL's `COPY ... CSV` does: a quoted empty field is
//! an empty string, an unquoted one NULL; with a `null_value`, only that text unquoted is NULL.
//! Checked CSV -> PostgreSQL (psql), PostgreSQL -> CSV (read back by PostgreSQL's own COPY and by
//! etl) and CSV -> Parquet (pyarrow).

mod common;
use common::*;
use std::path::Path;

/// A schema in database `test` with a unique name, dropped at the end.
struct Schema(String);

impl Schema {
    fn new(tag: &str) -> Schema {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "etl_csvnull_{}_{}_{tag}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        psql(&format!("CREATE SCHEMA \"{name}\""));
        Schema(name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        pg_drop_schema(&self.0);
    }
}

fn pg(schema: &str) -> String {
    format!(
        "  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: \"{schema}\"\n",
        pg_host()
    )
}

fn csv_files(path: &Path, null_value: Option<&str>, key: &str) -> String {
    let null = null_value
        .map(|n| format!("    null_value: \"{n}\"\n"))
        .unwrap_or_default();
    let overwrite = if key == "base_path" {
        "    overwrite: true\n"
    } else {
        ""
    };
    format!("  connector_type: local_file\n  config:\n    {key}: {}\n    format: csv\n{overwrite}{null}", path.display())
}

fn spec(dir: &Path, name: &str, source: &str, destination: &str, streams: &str) -> String {
    write_spec(
        dir,
        &format!("{name}.yaml"),
        &format!("version: 1\nname: {name}\nsource:\n{source}destination:\n{destination}{streams}"),
    )
}

/// `id|a is null|a|b is null|b` per row, as psql prints it.
fn pg_rows(schema: &str, table: &str) -> String {
    psql(&format!(
        "SELECT id, a IS NULL, coalesce(a, '-'), b IS NULL, coalesce(b, '-') FROM \"{schema}\".\"{table}\" ORDER BY id"
    ))
}

/// Every value of a Parquet file as Python's repr, one row a line (`None` for NULL).
fn parquet_rows(dir: &Path) -> String {
    let files = files_under(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1]).sort_by('id')\nfor r in t.to_pylist(): print(r['id'], repr(r['a']), repr(r['b']))",
        ])
        .arg(&files[0])
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The round trips for one CSV text; `want_pg` / `want_parquet` are what every step must hold.
fn round_trips(csv: &str, null_value: Option<&str>, want_pg: &str, want_parquet: &str) {
    let dir = tempdir();
    let schema = Schema::new("t");
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("t.csv"), csv).unwrap();

    // CSV -> PostgreSQL.
    let load = spec(
        dir.path(),
        "load",
        &csv_files(&landing.join("t.csv"), null_value, "file_path"),
        &pg(&schema.0),
        "",
    );
    etl(dir.path(), &["run", &load]).ok();
    assert_eq!(pg_rows(&schema.0, "t"), want_pg, "CSV -> PostgreSQL");

    // PostgreSQL -> CSV, read back by PostgreSQL's own COPY ... CSV.
    let out = dir.path().join("out");
    let export = spec(
        dir.path(),
        "export",
        &pg(&schema.0),
        &csv_files(&out, null_value, "base_path"),
        "streams:\n  - name: t\n",
    );
    etl(dir.path(), &["run", &export]).ok();
    let written = files_under(&out.join("t"));
    assert_eq!(written.len(), 1, "{written:?}");
    psql(&format!(
        "CREATE TABLE \"{s}\".copied (LIKE \"{s}\".t)",
        s = schema.0
    ));
    let null = null_value.unwrap_or("");
    psql_with(
        &[],
        &format!(
            "\\copy \"{}\".copied FROM '{}' WITH (FORMAT csv, HEADER true, NULL '{null}')",
            schema.0,
            written[0].display()
        ),
    );
    assert_eq!(
        pg_rows(&schema.0, "copied"),
        want_pg,
        "etl's CSV read by PostgreSQL's COPY:\n{}",
        std::fs::read_to_string(&written[0]).unwrap()
    );

    // ... and by etl again, into Parquet; and the original CSV straight to Parquet.
    for (name, from) in [
        ("again", written[0].clone()),
        ("direct", landing.join("t.csv")),
    ] {
        let pq_out = dir.path().join(name);
        let to_parquet = spec(
            dir.path(),
            name,
            &csv_files(&from, null_value, "file_path"),
            &format!(
                "  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n",
                pq_out.display()
            ),
            "",
        );
        etl(dir.path(), &["run", &to_parquet]).ok();
        assert_eq!(
            parquet_rows(&pq_out),
            want_parquet,
            "CSV ({name}) -> Parquet"
        );
    }
}

#[test]
fn quoted_empty_is_text_unquoted_empty_is_null() {
    round_trips(
        "id,a,b\n1,\"\",x\n2,,y\n3,\"\"\"\",\n4,\"a,b\",\"\"\n",
        None,
        "1|f||f|x\n2|t|-|f|y\n3|f|\"|t|-\n4|f|a,b|f|",
        "1 '' 'x'\n2 None 'y'\n3 '\"' None\n4 'a,b' ''",
    );
}

#[test]
fn null_value_is_null_only_unquoted() {
    round_trips(
        "id,a,b\n1,NULL,\"NULL\"\n2,,\"\"\n3,\"x\",NULL\n",
        Some("NULL"),
        "1|t|-|f|NULL\n2|f||f|\n3|f|x|t|-",
        "1 None 'NULL'\n2 '' ''\n3 'x' None",
    );
}
