//! What the scale-out tests (tests/scale.rs, tests/airflow.rs) share: a PostgreSQL table to
//! split, and its rows, distinct keys and sums as pyarrow and PostgreSQL count them.

use super::*;

/// Row count, distinct keys and the sum of `v` of the Parquet files under `dir`, read by
/// pyarrow.dataset (which skips `_etl/` and `.etl-tmp-*`).
pub struct Stats {
    pub rows: i64,
    pub distinct: i64,
    pub sum: i64,
}

pub fn stats(dir: &Path, key: &str) -> Stats {
    stats_with(&python(), dir, key)
}

/// [`stats`] with another Python that has pyarrow.
pub fn stats_with(py: &Path, dir: &Path, key: &str) -> Stats {
    let script = format!(
        "import pyarrow.dataset as ds, pyarrow.compute as pc\nt = ds.dataset('{}', format='parquet').to_table()\nprint(t.num_rows, len(pc.unique(t['{key}'])), pc.sum(t['v']).as_py() or 0)",
        dir.display()
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<i64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Stats {
        rows: v[0],
        distinct: v[1],
        sum: v[2],
    }
}

/// A PostgreSQL schema with `big` (`rows` rows, id 1..rows, some NULL ids) and `small`.
pub fn pg_tables(rows: i64) -> PgSchema {
    let schema = PgSchema::new(&unique_name("etl_scale"));
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.big (id bigint, v bigint NOT NULL, label text);
         INSERT INTO {s}.big SELECT g, (g * 7) % 1000, 'row ' || g FROM generate_series(1, {rows}) g;
         INSERT INTO {s}.big VALUES (NULL, 5, 'no id'), (NULL, 6, 'no id either');
         CREATE TABLE {s}.small (id bigint PRIMARY KEY, v bigint NOT NULL);
         INSERT INTO {s}.small SELECT g, g FROM generate_series(1, 10) g;"
    ));
    schema
}

pub fn pg_source(schema: &str) -> String {
    format!(
        "source:\n  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {schema}\n",
        pg_host()
    )
}

/// What PostgreSQL itself says of `big`: rows, distinct non-NULL ids (+ 1 for NULL, as
/// pyarrow's unique counts it), sum of v.
pub fn pg_stats(schema: &str) -> Stats {
    let out = psql(&format!(
        "SELECT count(*), count(DISTINCT id) + (count(*) FILTER (WHERE id IS NULL) > 0)::int, sum(v) FROM {schema}.big"
    ));
    let v: Vec<i64> = out.split('|').map(|x| x.parse().unwrap()).collect();
    Stats {
        rows: v[0],
        distinct: v[1],
        sum: v[2],
    }
}

pub fn assert_same(a: &Stats, b: &Stats, what: &str) {
    assert_eq!(
        (a.rows, a.distinct, a.sum),
        (b.rows, b.distinct, b.sum),
        "{what}"
    );
}

/// Parquet files published under `dir` (not staged ones, not `_etl/`).
pub fn published(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(dir).unwrap();
            p.extension().is_some_and(|e| e == "parquet")
                && !rel
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with(['.', '_']))
        })
        .collect()
}

/// PostgreSQL (`big` split on `id`, `small`) to Parquet files under `out`, as `dir/file`.
pub fn pg_to_parquet(dir: &Path, file: &str, schema: &str, out: &Path) -> String {
    let text = format!(
        "version: 1\nname: big\n{}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    overwrite: true\n    max_rows_per_file: 30000\nstreams:\n  - name: big\n    table: big\n    partition: {{column: id, count: 2}}\n  - name: small\n    table: small\n",
        pg_source(schema),
        out.display()
    );
    write_spec(dir, file, &text)
}
