//! S3 through the built binary against a local S3-compatible server (moto): every format out
//! and back, read independently with boto3 + pyarrow/fastavro, and the publish rules.

#[macro_use]
mod common;
use common::*;
use std::path::Path;

const SECRET: &str = "s3cr3t-DO-NOT-PRINT";

fn s3_config(bucket: &str, prefix: &str) -> String {
    format!(
        "    bucket: {bucket}\n    prefix: {prefix}\n    region: us-east-1\n    endpoint: {}\n    aws_access_key_id: testing\n    aws_secret_access_key: ${{ETL_TEST_SECRET}}\n",
        s3_endpoint()
    )
}

fn to_s3(db: &Path, bucket: &str, format: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: to_s3\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: s3\n  config:\n{}    format: {format}\n{extra}",
        db.display(),
        s3_config(bucket, "snapshots/")
    )
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let r = etl_in(dir, args, &[("ETL_TEST_SECRET", SECRET)]);
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "secret printed:\n{}",
        r.stderr
    );
    r
}

fn export_and_compare(format: &str, compression: &str, ext: &str) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket(format);
    let extra = if compression.is_empty() {
        String::new()
    } else {
        format!("    compression: {compression}\n")
    };
    let spec = write_spec(dir.path(), "s.yaml", &to_s3(&db, &bucket, format, &extra));
    run(dir.path(), &["run", &spec]).ok();
    let keys = s3py(&["keys", &bucket]);
    assert!(
        keys.iter().all(|k| !k.contains(".etl-tmp")),
        "staging objects left: {keys:?}"
    );
    let local = dir.path().join("dl");
    for t in ["customers", "orders", "order_items"] {
        let tkeys: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&format!("snapshots/{t}/")))
            .collect();
        assert_eq!(tkeys.len(), 1, "{t}: {keys:?}");
        assert!(
            tkeys[0].starts_with(&format!("snapshots/{t}/part-")) && tkeys[0].ends_with(ext),
            "{}",
            tkeys[0]
        );
        let files: Vec<std::path::PathBuf> = s3py(&[
            "download",
            &bucket,
            &format!("snapshots/{t}/"),
            &local.to_string_lossy(),
        ])
        .into_iter()
        .map(Into::into)
        .collect();
        compare(&db, t, &files, format);
    }
    // And back: S3 -> SQLite reads the same objects.
    let copy = dir.path().join("copy.db");
    let back = format!(
        "version: 1\nname: from_s3\nsource:\n  connector_type: s3\n  config:\n{}destination:\n  connector_type: sqlite\n  config:\n    database_path: {}\nstreams:\n  - name: orders\n    file_path: snapshots/orders/\n",
        s3_config(&bucket, "snapshots/"),
        copy.display()
    );
    let spec = write_spec(dir.path(), "back.yaml", &back);
    run(dir.path(), &["run", &spec]).ok();
    compare(
        &copy,
        "orders",
        &files_under(&local.join("snapshots/orders")),
        format,
    );
}

#[test]
fn parquet_to_s3_and_back() {
    export_and_compare("parquet", "", ".parquet");
}

#[test]
fn csv_gzip_to_s3_and_back() {
    export_and_compare("csv", "gzip", ".csv.gz");
}

#[test]
fn json_to_s3_and_back() {
    export_and_compare("json", "", ".json");
}

#[test]
fn jsonl_zstd_to_s3_and_back() {
    export_and_compare("jsonl", "zstd", ".jsonl.zst");
}

#[test]
fn avro_to_s3_and_back() {
    export_and_compare("avro", "snappy", ".avro");
}

#[test]
fn overwrite_and_failed_run_on_s3() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket("publish");
    let extra =
        "    max_rows_per_file: 1000\ndefaults:\n  batch_size: 250\nstreams:\n  - name: orders\n";
    let spec = write_spec(dir.path(), "s.yaml", &to_s3(&db, &bucket, "parquet", extra));
    run(dir.path(), &["run", &spec]).ok();
    let first = s3py(&["keys", &bucket]);
    assert_eq!(first.len(), 3, "3000 rows at 1000 per file: {first:?}");
    // Without overwrite a second full refresh refuses before writing.
    run(dir.path(), &["run", &spec]).fails(1, "already holds 3 file(s)");
    assert_eq!(s3py(&["keys", &bucket]), first);
    // With overwrite, a run that fails half way leaves the previous objects and nothing else.
    let spec = write_spec(
        dir.path(),
        "o.yaml",
        &to_s3(
            &db,
            &bucket,
            "parquet",
            &format!("    overwrite: true\n{extra}"),
        ),
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET status = X'00ff' WHERE id = 2800", [])
        .unwrap();
    drop(conn);
    run(dir.path(), &["run", &spec]).fails(1, "row 2800");
    assert_eq!(
        s3py(&["keys", &bucket]),
        first,
        "no new object under a final name, old ones intact"
    );
    // Fixed data: the new objects replace the old ones.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET status = 'paid' WHERE id = 2800", [])
        .unwrap();
    drop(conn);
    run(dir.path(), &["run", &spec]).ok();
    let second = s3py(&["keys", &bucket]);
    assert_eq!(second.len(), 3);
    assert!(
        second.iter().all(|k| !first.contains(k)),
        "old objects removed: {second:?}"
    );
}

#[test]
fn s3_bad_inputs() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    // A bucket that does not exist.
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &to_s3(
            &db,
            "etl-no-such-bucket-xyz",
            "parquet",
            "streams:\n  - name: orders\n",
        ),
    );
    let r = run(dir.path(), &["run", &spec]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("etl-no-such-bucket-xyz"), "{}", r.stderr);
    let r = run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("destination (s3): FAILED") && r.stdout.contains("does not exist"),
        "{}",
        r.stdout
    );
    // A prefix that matches nothing.
    let bucket = s3_bucket("empty");
    let src = format!(
        "version: 1\nname: x\nsource:\n  connector_type: s3\n  config:\n{}    glob_pattern: \"*.csv\"\ndestination:\n  connector_type: sqlite\n  config:\n    database_path: {}\n",
        s3_config(&bucket, "landing/"),
        dir.path().join("t.db").display()
    );
    let spec = write_spec(dir.path(), "src.yaml", &src);
    run(dir.path(), &["run", &spec]).fails(1, "no files found for stream `landing` in s3://");
    // An endpoint nobody listens on fails (retries are bounded), it does not hang.
    let dead = to_s3(&db, &bucket, "parquet", "streams:\n  - name: orders\n")
        .replace(&s3_endpoint(), "http://127.0.0.1:9");
    let spec = write_spec(dir.path(), "dead.yaml", &dead);
    let t = std::time::Instant::now();
    let r = run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn incremental_state_in_s3() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket("state");
    let out = dir.path().join("out");
    let text = format!(
        "version: 1\nname: st\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: orders\n    mode: incremental\n    cursor_field: id\n",
        db.display(),
        out.display()
    );
    let spec = write_spec(dir.path(), "s.yaml", &text);
    let state = format!("s3://{bucket}/state/st.json");
    let env = [
        ("AWS_ENDPOINT_URL", s3_endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    etl_in(dir.path(), &["run", &spec, "--state", &state], &env).ok();
    assert_eq!(s3py(&["keys", &bucket, "state/"]), ["state/st.json"]);
    let shown = etl_in(
        dir.path(),
        &["state", "show", &spec, "--state", &state],
        &env,
    )
    .ok()
    .stdout;
    assert!(shown.contains("\"value\": 3000"), "{shown}");
    // A second run reads only the boundary row (id >= 3000), already written: nothing new.
    let r = etl_in(dir.path(), &["run", &spec, "--state", &state], &env).ok();
    assert!(r.stderr.contains("no new rows"), "{}", r.stderr);
}

/// The exactly-once crash scenario (tests/common/exactly_once.rs) with the stream's folder on
/// S3: SIGKILLs between the objects of one publish, between publish and marker, between marker
/// and state, during the state's write (local, or an S3 state object with `s3_state`).
fn s3_once(points: &[&str], with_key: bool, s3_state: bool) {
    let bucket = s3_bucket("once");
    let download = |d: &Path| {
        let local = d.join("dl");
        let _ = std::fs::remove_dir_all(&local);
        s3py(&["download", &bucket, "once/", &local.to_string_lossy()]);
        local.join("once")
    };
    let dest = exactly_once::Dest {
        config: format!(
            "  connector_type: s3\n  config:\n{}",
            s3_config(&bucket, "once/")
        ),
        folder: &download,
        state: s3_state.then(|| format!("s3://{bucket}/state/once.json")),
    };
    let env = [
        ("ETL_TEST_SECRET", SECRET.to_string()),
        ("AWS_ENDPOINT_URL", s3_endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    exactly_once::run(&dest, points, with_key, &env);
    let keys = s3py(&["keys", &bucket, "once/ticks/_etl/"]);
    assert!(
        keys.iter().all(
            |k| k.starts_with("once/ticks/_etl/commits/") || k == "once/ticks/_etl/schema.json"
        ) && !keys.is_empty(),
        "only commit markers and the schema history are left in the commit log: {keys:?}"
    );
}

cases! { s3_once {
    s3_once_pending_written: &["pending-written"], true, false;
    s3_once_between_objects: &["published-file:2"], true, false;
    s3_once_publish_then_marker: &["after-commit"], true, false;
    s3_once_marker_written: &["marker-written"], true, false;
    s3_once_marker_then_state: &["after-marker"], true, false;
    s3_once_state_half_written: &["state-half-written"], true, false;
    s3_once_state_object_put: &["state-before-put"], true, true;
    s3_once_rollback_killed: &["published-file:1", "rolled-back-file:2"], true, false;
    s3_once_no_key_between_objects: &["published-file:3"], false, false;
    s3_once_no_key_marker_then_state: &["after-marker", "reconciled"], false, true;
}}

/// A child process killed when the test ends.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn endpoint_port() -> String {
    s3_endpoint()
        .rsplit(':')
        .next()
        .expect("endpoint with a port")
        .trim_end_matches('/')
        .to_string()
}

/// The S3 server goes away while a run is uploading (a proxy in front of moto cuts every
/// connection): the run fails with exit 1, no object appears under a final name, and the
/// previous run's objects are intact; the next run succeeds.
#[test]
fn server_gone_mid_upload_leaves_the_previous_run_intact() {
    use std::io::BufRead;
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = s3_bucket("cut");
    let flag = dir.path().join("cut");
    let mut proxy = Child(
        std::process::Command::new(python())
            .arg(Path::new(ROOT).join("tests/py/cut_proxy.py"))
            .arg(endpoint_port())
            .arg(&flag)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the proxy"),
    );
    let mut line = String::new();
    std::io::BufReader::new(proxy.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("proxy port");
    let via_proxy = format!("http://127.0.0.1:{}", line.trim());
    let extra = "    overwrite: true\n    max_rows_per_file: 500\ndefaults:\n  batch_size: 500\n  retries: 0\nstreams:\n  - name: orders\n";
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &to_s3(&db, &bucket, "parquet", extra).replace(&s3_endpoint(), &via_proxy),
    );
    run(dir.path(), &["run", &spec]).ok();
    let first = s3py(&["keys", &bucket]);
    assert_eq!(first.len(), 6, "{first:?}");

    // Second run: pause after two of six files are staged, cut the server, resume.
    let resume = dir.path().join("resume");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", &spec])
        .current_dir(dir.path())
        .env("ETL_TEST_SECRET", SECRET)
        .env("ETL_FAULT_PAUSE", "batch-3")
        .env("ETL_FAULT_RESUME", &resume)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start etl");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut log = String::new();
    loop {
        let mut l = String::new();
        if stderr.read_line(&mut l).expect("read") == 0 {
            panic!("etl never paused:\n{log}");
        }
        log.push_str(&l);
        if l.starts_with("ETL-FAULT-PAUSED") {
            break;
        }
    }
    // Cut only once the writer has uploaded a staged object (the first part file is complete
    // before batch 3 is read), so the failed run has staged objects to clean up.
    let t = std::time::Instant::now();
    while !s3py(&["keys", &bucket])
        .iter()
        .any(|k| k.contains("/.etl-tmp-"))
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "no staged object appeared while etl was paused:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::fs::write(&flag, "").unwrap();
    std::fs::write(&resume, "").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    let status = child.wait().expect("wait");
    log.push_str(&rest);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(!log.contains("panicked") && !log.contains(SECRET), "{log}");
    assert!(log.contains("stream `orders`"), "{log}");

    // Back up: the final names hold exactly the first run's objects.
    std::fs::remove_file(&flag).unwrap();
    let after: Vec<String> = s3py(&["keys", &bucket])
        .into_iter()
        .filter(|k| !k.contains("/.etl-tmp-"))
        .collect();
    assert_eq!(
        after, first,
        "a final-named object changed after the failed run"
    );
    let local = dir.path().join("dl");
    let files: Vec<std::path::PathBuf> = s3py(&[
        "download",
        &bucket,
        "snapshots/orders/part-",
        &local.to_string_lossy(),
    ])
    .into_iter()
    .map(Into::into)
    .collect();
    compare(&db, "orders", &files, "parquet");
    run(dir.path(), &["run", &spec]).ok();
    let third: Vec<String> = s3py(&["keys", &bucket])
        .into_iter()
        .filter(|k| !k.contains("/.etl-tmp-"))
        .collect();
    assert_eq!(third.len(), 6);
    assert!(third.iter().all(|k| !first.contains(k)), "{third:?}");
}

/// Wrong credentials against a server that checks them (a second moto with IAM
/// authentication on): exit 1, a message that says the credentials were refused, the secret
/// never printed; the right ones work.
#[test]
fn wrong_credentials_are_refused_clearly() {
    let dir = tempdir();
    let db = shop_db(dir.path());
    use std::io::BufRead;
    let moto = Path::new(&python()).with_file_name("moto_server");
    // Port 0: moto binds a free port itself and names it (` * Running on http://...:PORT`), so
    // no other process can take the port between choosing and binding it.
    let mut server = Child(
        std::process::Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", "0"])
            // The setup below makes exactly 3 requests (user, key, policy); every later
            // request must be signed with a key moto knows.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start moto"),
    );
    let mut log = std::io::BufReader::new(server.0.stderr.take().expect("stderr"));
    let port = loop {
        let mut l = String::new();
        assert!(
            log.read_line(&mut l).expect("read moto's log") > 0,
            "moto exited before naming its port"
        );
        if let Some(p) = l.split("Running on http://127.0.0.1:").nth(1) {
            break p.trim().parse::<u16>().expect("moto's port");
        }
    };
    // Keep draining its request log so that moto never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    let endpoint = format!("http://127.0.0.1:{port}");
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed().as_secs() < 60,
            "moto did not start on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let creds = s3py_at(&endpoint, &["iam-user", "etl-auth"]);
    let [key, secret] = [&creds[0], &creds[1]].map(String::clone);
    let spec_with = |key: &str| {
        format!(
            "version: 1\nname: auth\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: s3\n  config:\n    bucket: etl-auth\n    prefix: p/\n    region: us-east-1\n    endpoint: {endpoint}\n    aws_access_key_id: {key}\n    aws_secret_access_key: ${{ETL_TEST_SECRET}}\nstreams:\n  - name: orders\n",
            db.display()
        )
    };
    let good = write_spec(dir.path(), "good.yaml", &spec_with(&key));
    etl_in(dir.path(), &["run", &good], &[("ETL_TEST_SECRET", &secret)]).ok();
    // The right key id with a wrong secret, then a key id moto does not know.
    for (name, key_id, needle) in [
        ("wrong-secret", key.as_str(), "SignatureDoesNotMatch"),
        ("unknown-key", "AKIAUNKNOWNKEY000000", "InvalidAccessKeyId"),
    ] {
        let p = write_spec(dir.path(), &format!("{name}.yaml"), &spec_with(key_id));
        for cmd in ["run", "check"] {
            let r = etl_in(dir.path(), &[cmd, &p], &[("ETL_TEST_SECRET", SECRET)]);
            assert_eq!(r.code, 1, "{name} {cmd}:\n{}\n{}", r.stdout, r.stderr);
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(
                all.contains(needle) && all.contains("credentials"),
                "{name} {cmd}: {all}"
            );
            assert!(!all.contains(SECRET) && !all.contains(&secret), "{all}");
            assert!(!all.contains("panicked"), "{all}");
        }
    }
}
