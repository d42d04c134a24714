//! examples/airflow/etl_scale.py run for real by Apache Airflow (`airflow dags test`, installed
//! from PyPI into its own venv by scripts/airflow-venv.sh): PostgreSQL → Parquet planned into 4
//! key ranges + 1 stream, one mapped task per unit, then the commit; the files equal a
//! single-process run and PostgreSQL's own numbers. Not in `make test` (`test = false` in
//! Cargo.toml: the install takes minutes); `make test-airflow` runs it, and `.ci/run` calls that.

mod common;
use common::scale::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn airflow_python() -> PathBuf {
    let out = Command::new(Path::new(ROOT).join("scripts/airflow-venv.sh"))
        .output()
        .expect("run scripts/airflow-venv.sh");
    assert!(
        out.status.success(),
        "scripts/airflow-venv.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

#[test]
fn airflow_dag_maps_one_task_per_unit_and_commits() {
    let py = airflow_python();
    let airflow = py.with_file_name("airflow");
    let schema = pg_tables(40_000);
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = pg_to_parquet(dir.path(), "big.yaml", &schema.0, &out);
    let home = dir.path().join("airflow");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    let env: Vec<(String, String)> = vec![
        ("AIRFLOW_HOME".into(), home.display().to_string()),
        (
            "AIRFLOW__CORE__DAGS_FOLDER".into(),
            Path::new(ROOT)
                .join("examples/airflow")
                .display()
                .to_string(),
        ),
        ("AIRFLOW__CORE__LOAD_EXAMPLES".into(), "False".into()),
        (
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN".into(),
            format!("sqlite:///{}/airflow.db", home.display()),
        ),
        ("ETL_BIN".into(), env!("CARGO_BIN_EXE_etl").into()),
        ("ETL_SPEC".into(), spec.clone()),
        ("ETL_PLAN_DIR".into(), plans.display().to_string()),
        ("ETL_UNITS_PER_STREAM".into(), "4".into()),
    ];
    let run = |args: &[&str]| {
        let out = Command::new(&airflow)
            .args(args)
            .current_dir(dir.path())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run airflow");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "airflow {args:?} failed:\n{text}");
        text
    };
    run(&["db", "migrate"]);
    let log = run(&["dags", "test", "etl_scale"]);
    // Five units, each its own mapped task instance, then the commit.
    let plan_files: Vec<PathBuf> = files_under(&plans);
    assert_eq!(plan_files.len(), 1, "{plan_files:?}");
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_files[0]).unwrap()).unwrap();
    let units = plan["units"].as_array().unwrap().len();
    assert_eq!(units, 5, "{plan}");
    for i in 0..units {
        assert!(
            log.contains(&format!("task_id=unit, run_id="))
                && log.contains(&format!("map_index={i}")),
            "no mapped task {i}:\n{log}"
        );
    }
    assert!(
        log.contains("task_id=commit") && !log.contains("Marking task as FAILED"),
        "{log}"
    );
    let dag = stats_with(&py, &out.join("big"), "id");
    assert_same(&dag, &pg_stats(&schema.0), "DAG vs PostgreSQL");
    let single = dir.path().join("single");
    let one = pg_to_parquet(dir.path(), "single.yaml", &schema.0, &single);
    etl(dir.path(), &["run", &one]).ok();
    assert_same(
        &stats_with(&py, &single.join("big"), "id"),
        &dag,
        "DAG vs one process",
    );
    assert_eq!(stats_with(&py, &out.join("small"), "id").rows, 10);
}
