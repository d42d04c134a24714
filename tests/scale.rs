//! Running one spec over many processes (README "Running at scale"), through the binary:
//! parallel `etl run --select` processes on one state document (local and S3/moto) keep every
//! stream's cursor; `etl plan` → units in separate processes (some twice, as an orchestrator's
//! retry) → `--commit` gives exactly the rows of a single-process run, read back by pyarrow
//! and compared with PostgreSQL's own aggregates; a commit with a unit missing fails naming it
//! and publishes nothing; `--shard` as in examples/kubernetes/ (the manifest parsed by PyYAML).

mod common;
use common::scale::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const STREAMS: usize = 8;

/// A SQLite database with tables t0..t7 of `rows` rows each (id = cursor).
fn tables_db(dir: &Path, rows: usize, first: usize) -> PathBuf {
    let db = dir.join("src.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    for t in 0..STREAMS {
        c.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS t{t} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"
        ))
        .unwrap();
        for i in first..first + rows {
            c.execute(
                &format!("INSERT INTO t{t} (id, v) VALUES (?1, ?2)"),
                (i as i64, (i * 3) as i64),
            )
            .unwrap();
        }
    }
    db
}

fn spawn_etl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(args)
        .current_dir(dir)
        .env_remove("ETL_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etl")
}

/// Waits for every child; panics with its stderr when one failed.
fn wait_all(children: Vec<Child>) {
    for c in children {
        let out = c.wait_with_output().unwrap();
        let r = Run::new(
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(r.code, 0, "a parallel etl failed:\n{}", r.stderr);
    }
}

/// 8 processes, one stream each, on one state document, twice (the second wave after new
/// rows): afterwards the state holds every stream's cursor.
fn parallel_selects(state: &str, env: &[(&str, &str)]) {
    let dir = tempdir();
    let db = tables_db(dir.path(), 50, 1);
    let out = dir.path().join("out");
    let spec = incremental_spec(dir.path(), &db, &out);
    for (wave, last) in [(1, 50), (2, 80)] {
        if wave == 2 {
            tables_db(dir.path(), 30, 51);
        }
        let children: Vec<Child> = (0..STREAMS)
            .map(|t| {
                let name = format!("t{t}");
                spawn_etl(
                    dir.path(),
                    &["run", &spec, "--select", &name, "--state", state],
                    env,
                )
            })
            .collect();
        wait_all(children);
        let shown = etl_in(dir.path(), &["state", "show", &spec, "--state", state], env)
            .ok()
            .stdout;
        let doc: serde_json::Value = serde_json::from_str(&shown).unwrap();
        let streams = doc["streams"].as_object().unwrap();
        assert_eq!(streams.len(), STREAMS, "wave {wave}: {shown}");
        for t in 0..STREAMS {
            assert_eq!(
                doc["streams"][format!("t{t}")]["cursor"]["value"],
                serde_json::json!(last),
                "wave {wave}, stream t{t}: {shown}"
            );
        }
    }
    // Each stream's rows once: the second wave read only the new ones.
    let n = stats(&out.join("t3"), "id");
    assert_eq!((n.rows, n.distinct), (80, 80));
}

/// The spec of [`parallel_selects`]: t0..t7, incremental on `id`, into Parquet under `out`.
fn incremental_spec(dir: &Path, db: &Path, out: &Path) -> String {
    let mut text = format!(
        "version: 1\nname: par\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\nstreams:\n",
        db.display(),
        out.display()
    );
    for t in 0..STREAMS {
        text.push_str(&format!(
            "  - name: t{t}\n    mode: incremental\n    cursor_field: id\n"
        ));
    }
    write_spec(dir, "s.yaml", &text)
}

#[test]
fn incremental_streams_through_a_plan() {
    let dir = tempdir();
    let db = tables_db(dir.path(), 50, 1);
    let out = dir.path().join("out");
    let spec = incremental_spec(dir.path(), &db, &out);
    let (plan_file, doc) = plan(dir.path(), &spec, "1");
    assert_eq!(unit_ids(&doc).len(), STREAMS);
    let p = plan_file.display().to_string();
    let children: Vec<Child> = ["0/2", "1/2"]
        .iter()
        .map(|sh| {
            spawn_etl(
                dir.path(),
                &["run", &spec, "--plan", &p, "--shard", sh],
                &[],
            )
        })
        .collect();
    wait_all(children);
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).ok();
    let shown = etl(dir.path(), &["state", "show", &spec]).ok().stdout;
    let state: serde_json::Value = serde_json::from_str(&shown).unwrap();
    for t in 0..STREAMS {
        assert_eq!(
            state["streams"][format!("t{t}")]["cursor"]["value"],
            50,
            "{shown}"
        );
        assert_eq!(state["streams"][format!("t{t}")]["commit"], 1, "{shown}");
    }
    // New rows; a second plan's units read from the saved cursor. Meanwhile a plain run
    // commits t0: the plan's commit refuses t0 (its unit read an older cursor), publishes the rest.
    tables_db(dir.path(), 30, 51);
    let (plan_file, _) = plan(dir.path(), &spec, "1");
    let p = plan_file.display().to_string();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--shard", "0/1"]).ok();
    etl(dir.path(), &["run", &spec, "--select", "t0"]).ok();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).fails(1, "committed by another run");
    for t in 0..STREAMS {
        let n = stats(&out.join(format!("t{t}")), "id");
        assert_eq!((n.rows, n.distinct), (80, 80), "stream t{t}");
    }
    let shown = etl(dir.path(), &["state", "show", &spec]).ok().stdout;
    let state: serde_json::Value = serde_json::from_str(&shown).unwrap();
    for t in 0..STREAMS {
        assert_eq!(
            state["streams"][format!("t{t}")]["cursor"]["value"],
            80,
            "{shown}"
        );
        assert_eq!(state["streams"][format!("t{t}")]["commit"], 2, "{shown}");
    }
}

#[test]
fn parallel_selects_keep_every_cursor_locally() {
    let dir = tempdir();
    let state = dir.path().join("state/par.json");
    parallel_selects(&state.display().to_string(), &[]);
}

#[test]
fn parallel_selects_keep_every_cursor_on_s3() {
    let bucket = s3_bucket("scale");
    let endpoint = s3_endpoint();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "s3cr3t-DO-NOT-PRINT"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    parallel_selects(&format!("s3://{bucket}/state/par.json"), &env);
    assert_eq!(s3py(&["keys", &bucket, "state/"]), ["state/par.json"]);
}

fn plan(dir: &Path, spec: &str, n: &str) -> (PathBuf, serde_json::Value) {
    let r = etl(dir, &["plan", spec, "--json", "--units-per-stream", n]).ok();
    let path = dir.join("plan.json");
    std::fs::write(&path, &r.stdout).unwrap();
    (path, serde_json::from_str(&r.stdout).unwrap())
}

fn unit_ids(plan: &serde_json::Value) -> Vec<String> {
    plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_units_commit_equals_a_single_run_postgres_to_parquet() {
    let rows = 200_000;
    let schema = pg_tables(rows);
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = pg_to_parquet(dir.path(), "big.yaml", &schema.0, &out);
    let (plan_file, plan_doc) = plan(dir.path(), &spec, "4");
    let ids = unit_ids(&plan_doc);
    assert_eq!(
        ids,
        ["big#0", "big#1", "big#2", "big#3", "small"],
        "{plan_doc}"
    );
    assert_eq!(plan_doc["units"][0]["range"]["nulls"], true, "{plan_doc}");
    assert!(plan_doc["run_id"].as_str().is_some_and(|r| !r.is_empty()));
    let plan_arg = plan_file.display().to_string();

    // Every unit but big#2, in separate processes at once; big#1 twice (an orchestrator's retry).
    let children: Vec<Child> = ["big#0", "big#1", "big#3", "small"]
        .iter()
        .map(|id| {
            spawn_etl(
                dir.path(),
                &["run", &spec, "--plan", &plan_arg, "--unit", id],
                &[],
            )
        })
        .collect();
    wait_all(children);
    let r = etl(
        dir.path(),
        &["run", &spec, "--plan", &plan_arg, "--unit", "big#1"],
    )
    .ok();
    assert!(
        r.stderr.contains("unit `big#1` of run") && r.stderr.contains("; staged for the commit "),
        "{}",
        r.stderr
    );
    assert!(published(&out).is_empty(), "units publish nothing");

    // A commit with big#2 missing fails naming it and publishes nothing.
    let r = etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).fails(1, "big#2");
    assert!(r.stderr.contains("nothing was published"), "{}", r.stderr);
    assert!(published(&out).is_empty(), "{:?}", published(&out));

    etl(
        dir.path(),
        &["run", &spec, "--plan", &plan_arg, "--unit", "big#2"],
    )
    .ok();
    let r = etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).ok();
    assert!(r.stderr.contains("2 streams: 2 succeeded"), "{}", r.stderr);
    let units = stats(&out.join("big"), "id");
    assert_same(&units, &pg_stats(&schema.0), "units vs PostgreSQL");
    assert_eq!(units.rows, rows + 2);
    assert_eq!(stats(&out.join("small"), "id").rows, 10);
    // Nothing staged is left behind: replaced attempts and records are gone.
    let left: Vec<PathBuf> = entries_under(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".etl-tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A commit run again (an orchestrator retrying it) changes nothing.
    etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).ok();
    assert_same(&stats(&out.join("big"), "id"), &units, "second commit");
    // A unit of a committed run cannot stage again.
    etl(
        dir.path(),
        &["run", &spec, "--plan", &plan_arg, "--unit", "big#0"],
    )
    .fails(1, "committed already");

    // A single process gives the same rows.
    let single = dir.path().join("single");
    let one = pg_to_parquet(dir.path(), "single.yaml", &schema.0, &single);
    etl(dir.path(), &["run", &one]).ok();
    assert_same(
        &stats(&single.join("big"), "id"),
        &units,
        "units vs one process",
    );

    // A new plan's full refresh replaces the folder's files in one publish.
    psql(&format!("DELETE FROM {}.big WHERE id > 1000", schema.0));
    let (plan_file, _) = plan(dir.path(), &spec, "3");
    let plan_arg = plan_file.display().to_string();
    for shard in ["0/2", "1/2"] {
        etl(
            dir.path(),
            &["run", &spec, "--plan", &plan_arg, "--shard", shard],
        )
        .ok();
    }
    etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).ok();
    assert_same(
        &stats(&out.join("big"), "id"),
        &pg_stats(&schema.0),
        "refresh",
    );
}

#[test]
fn plan_units_commit_into_s3() {
    let schema = pg_tables(20_000);
    let dir = tempdir();
    let bucket = s3_bucket("plan");
    let text = format!(
        "version: 1\nname: big\n{}destination:\n  connector_type: s3\n  config:\n    bucket: {bucket}\n    prefix: out\n    region: us-east-1\n    endpoint: {}\n    aws_access_key_id: testing\n    aws_secret_access_key: s3cr3t-DO-NOT-PRINT\n    format: parquet\n    overwrite: true\nstreams:\n  - name: big\n    table: big\n    partition: {{column: id, count: 2}}\n",
        pg_source(&schema.0),
        s3_endpoint()
    );
    let spec = write_spec(dir.path(), "s3.yaml", &text);
    let (plan_file, plan_doc) = plan(dir.path(), &spec, "3");
    let plan_arg = plan_file.display().to_string();
    let ids = unit_ids(&plan_doc);
    assert_eq!(ids.len(), 3);
    for id in &ids[..2] {
        etl(
            dir.path(),
            &["run", &spec, "--plan", &plan_arg, "--unit", id],
        )
        .ok();
    }
    etl(
        dir.path(),
        &["run", &spec, "--plan", &plan_arg, "--unit", &ids[0]],
    )
    .ok();
    let visible = |b: &str| -> Vec<String> {
        s3py(&["keys", b, "out/big/"])
            .into_iter()
            .filter(|k| k.ends_with(".parquet") && !k.contains("/.") && !k.contains("/_"))
            .collect()
    };
    etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).fails(1, &ids[2]);
    assert!(visible(&bucket).is_empty());
    etl(
        dir.path(),
        &["run", &spec, "--plan", &plan_arg, "--unit", &ids[2]],
    )
    .ok();
    etl(dir.path(), &["run", &spec, "--plan", &plan_arg, "--commit"]).ok();
    let keys = visible(&bucket);
    assert_eq!(keys.len(), 3, "{keys:?}");
    // Read back through a local copy with pyarrow (which skips `_etl/` and staging folders).
    let local = dir.path().join("copy");
    s3py(&[
        "download",
        &bucket,
        "out/big/",
        &local.display().to_string(),
    ]);
    let local = local.join("out/big");
    assert_same(
        &stats(&local, "id"),
        &pg_stats(&schema.0),
        "s3 units vs PostgreSQL",
    );
}

#[test]
fn sql_destinations_refuse_a_plan() {
    let schema = pg_tables(10);
    let dir = tempdir();
    let text = format!(
        "version: 1\nname: pg\n{}destination:\n  connector_type: postgresql\n  config:\n    host: {}\n    database: test\n    user: postgres\n    schema: {}\nstreams:\n  - name: small\n",
        pg_source(&schema.0),
        pg_host(),
        schema.0
    );
    let spec = write_spec(dir.path(), "pg.yaml", &text);
    let r = etl(dir.path(), &["plan", &spec, "--json"]).fails(2, "does not take `--plan` units");
    assert!(r.stdout.is_empty());
}

#[test]
fn plan_command_line_errors() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let text = format!(
        "version: 1\nname: shop\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\nstreams:\n  - name: orders\n  - name: customers\n",
        db.display(),
        dir.path().join("out").display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &text);
    let r = etl(dir.path(), &["plan", &spec, "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(unit_ids(&doc), ["orders", "customers"]);
    let p = dir.path().join("p.json");
    std::fs::write(&p, &r.stdout).unwrap();
    let p = p.display().to_string();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--unit", "order"])
        .fails(2, "did you mean `orders`?");
    etl(dir.path(), &["run", &spec, "--plan", &p]).fails(2, "--unit ID, --shard I/N or --commit");
    etl(dir.path(), &["run", &spec, "--plan", &p, "--shard", "2"]).fails(2, "JOB_COMPLETION_INDEX");
    etl(dir.path(), &["run", &spec, "--plan", &p, "--shard", "2/2"]).fails(2, "I must be below N");
    etl(
        dir.path(),
        &["run", &spec, "--plan", &p, "--select", "orders", "--commit"],
    )
    .fails(2, "cannot be used with");
    // JOB_COMPLETION_INDEX picks the shard.
    etl_in(
        dir.path(),
        &["run", &spec, "--plan", &p, "--shard", "2"],
        &[("JOB_COMPLETION_INDEX", "1")],
    )
    .ok();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).fails(1, "orders");
    etl(dir.path(), &["run", &spec, "--plan", &p, "--shard", "0/2"]).ok();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).ok();
    compare(
        &db,
        "orders",
        &published(&dir.path().join("out/orders")),
        "parquet",
    );
    // Another pipeline's plan is refused.
    let other = write_spec(
        dir.path(),
        "o.yaml",
        &text.replace("name: shop", "name: other"),
    );
    etl(dir.path(), &["run", &other, "--plan", &p, "--commit"]).fails(2, "is for pipeline `shop`");
}

/// examples/kubernetes/{plan,units,commit}.yaml as PyYAML reads them: each Job's
/// `completionMode`, `completions`, `parallelism` and its container's command.
fn k8s_jobs() -> Vec<serde_json::Value> {
    let script = "import json, sys, yaml\nout = []\nfor f in sys.argv[1:]:\n    for d in yaml.safe_load_all(open(f)):\n        s = d['spec']\n        c = s['template']['spec']['containers'][0]\n        out.append({'name': d['metadata']['name'], 'kind': d['kind'], 'mode': s.get('completionMode'), 'completions': s.get('completions', 1), 'parallelism': s.get('parallelism', 1), 'command': c['command'] + c.get('args', [])})\nprint(json.dumps(out))";
    let dir = Path::new(ROOT).join("examples/kubernetes");
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(["plan.yaml", "units.yaml", "commit.yaml"].map(|f| dir.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kubernetes_manifests_run_as_local_processes() {
    let jobs = k8s_jobs();
    let names: Vec<&str> = jobs.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["etl-plan", "etl-units", "etl-commit"]);
    assert!(jobs.iter().all(|j| j["kind"] == "Job"));
    let units = &jobs[1];
    assert_eq!(units["mode"], "Indexed");
    let n = units["completions"].as_u64().unwrap();
    assert_eq!(units["parallelism"], n);
    let command = |j: &serde_json::Value| -> Vec<String> {
        j["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        command(units).last().map(String::as_str),
        Some(n.to_string().as_str()),
        "--shard N must say the Job's completions"
    );

    // The same commands as local processes: the spec and plan paths of the pods replaced by
    // the test's, `etl` by the built binary.
    let schema = pg_tables(30_000);
    let dir = tempdir();
    let out = dir.path().join("out");
    let spec = pg_to_parquet(dir.path(), "big.yaml", &schema.0, &out);
    let plan = dir.path().join("plan.json").display().to_string();
    let bin = env!("CARGO_BIN_EXE_etl");
    let local = |arg: &str| -> String {
        arg.replace("/etc/etl/nightly.yaml", &spec)
            .replace("/plans/plan.json", &plan)
            .replace("etl plan", &format!("{bin} plan"))
    };
    let run = |j: &serde_json::Value, index: Option<u64>| -> Child {
        let args: Vec<String> = command(j).iter().map(|a| local(a)).collect();
        let program = match args[0].as_str() {
            "etl" => bin.to_string(),
            other => other.to_string(),
        };
        let mut cmd = Command::new(program);
        cmd.args(&args[1..])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(i) = index {
            cmd.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        cmd.spawn().unwrap()
    };
    wait_all(vec![run(&jobs[0], None)]);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(unit_ids(&doc).len(), 9, "8 ranges of big, and small: {doc}");
    wait_all((0..n).map(|i| run(units, Some(i))).collect());
    assert!(published(&out).is_empty(), "units publish nothing");
    wait_all(vec![run(&jobs[2], None)]);
    assert_same(
        &stats(&out.join("big"), "id"),
        &pg_stats(&schema.0),
        "Indexed Job vs PostgreSQL",
    );
    assert_eq!(stats(&out.join("small"), "id").rows, 10);
}

/// Runs etl with `args` until it pauses at fault point `point`, then SIGKILLs it.
fn kill_at(dir: &Path, args: &[&str], point: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = spawn_etl(dir, args, &[("ETL_FAULT_PAUSE", point)]);
    let stderr = child.stderr.take().unwrap();
    let mut log = String::new();
    let mut paused = false;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.starts_with("ETL-FAULT-PAUSED") {
            paused = true;
            let _ = child.kill();
            break;
        }
        log.push_str(&line);
        log.push('\n');
    }
    child.wait().unwrap();
    assert!(
        paused,
        "etl never paused at `{point}` (built with --features fault-injection?):\n{log}"
    );
}

#[test]
fn killed_unit_attempts_leave_nothing_the_commit_takes() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let out = dir.path().join("out");
    let text = format!(
        "version: 1\nname: shop\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: parquet\n    max_rows_per_file: 40\ndefaults:\n  batch_size: 16\nstreams:\n  - name: orders\n  - name: customers\n",
        db.display(),
        out.display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &text);
    let (plan_file, _) = plan(dir.path(), &spec, "1");
    let p = plan_file.display().to_string();
    let unit = ["run", &spec, "--plan", &p, "--unit", "orders"];
    // Killed while writing: its staged files have no record.
    kill_at(dir.path(), &unit, "batch-3");
    // A whole attempt, then one killed after its record replaced the first's, before the first
    // attempt's files were removed.
    etl(dir.path(), &unit).ok();
    kill_at(dir.path(), &unit, "unit-kept");
    let staged = |d: &Path| -> usize {
        entries_under(d)
            .iter()
            .filter(|p| p.to_string_lossy().contains(".etl-tmp-") && p.is_file())
            .count()
    };
    assert!(staged(&out) > 0);
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).fails(1, "customers");
    etl(
        dir.path(),
        &["run", &spec, "--plan", &p, "--unit", "customers"],
    )
    .ok();
    etl(dir.path(), &["run", &spec, "--plan", &p, "--commit"]).ok();
    compare(&db, "orders", &published(&out.join("orders")), "parquet");
    compare(
        &db,
        "customers",
        &published(&out.join("customers")),
        "parquet",
    );
    assert_eq!(staged(&out), 0, "{:?}", entries_under(&out));
}
