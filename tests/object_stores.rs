//! GCS and Azure Blob through the built binary, against the emulators `make test` starts
//! (scripts/emulator.sh: fake-gcs-server and Azurite). One scenario list; each store runs the
//! scenarios its emulator can serve. Objects are put and read back with an independent client
//! (tests/py/objstore.py) and checked with pyarrow / fastavro (tests/py/compare.py).
//!
//! fake-gcs-server answers the JSON API and XML downloads but not the XML API uploads and
//! copies that object_store's GCS client writes with (`PUT /bucket/object`, `x-goog-copy-source`:
//! "invalid uploadType"); scripts/emulator.sh puts tests/py/gcs_xml_shim.py in front of it,
//! which turns those two requests into the emulator's JSON API calls, so GCS runs every
//! scenario that Azure does.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const SECRET: &str = "s3cr3t-DO-NOT-PRINT";

/// Azurite's published development account (not a secret, but handed to etl as one).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[derive(Clone, Copy, Debug)]
enum Store {
    Gcs,
    Azure,
}

impl Store {
    fn kind(self) -> &'static str {
        match self {
            Store::Gcs => "gcs",
            Store::Azure => "azure",
        }
    }

    fn connector(self) -> &'static str {
        match self {
            Store::Gcs => "gcs",
            Store::Azure => "azure_blob",
        }
    }

    fn endpoint(self) -> String {
        let var = match self {
            Store::Gcs => "ETL_TEST_GCS_ENDPOINT",
            Store::Azure => "ETL_TEST_AZURE_ENDPOINT",
        };
        std::env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: run the tests with `make test` (scripts/emulator.sh starts the emulators)")
        })
    }

    /// tests/py/objstore.py against this store's emulator; its stdout lines.
    #[track_caller]
    fn py(self, args: &[&str]) -> Vec<String> {
        let out = std::process::Command::new(python())
            .arg(Path::new(ROOT).join("tests/py/objstore.py"))
            .arg(self.kind())
            .args(args)
            .env("ETL_TEST_GCS_ENDPOINT", Store::Gcs.endpoint())
            .env("ETL_TEST_AZURE_ENDPOINT", Store::Azure.endpoint())
            .output()
            .expect("spawn python");
        assert!(
            out.status.success(),
            "objstore.py {} {args:?} failed:\n{}",
            self.kind(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A new bucket / container with a unique name.
    fn bucket(self, tag: &str) -> String {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("etl-{tag}-{}-{n}", std::process::id());
        self.py(&["mkbucket", &name]);
        name
    }

    fn keys(self, bucket: &str, prefix: &str) -> Vec<String> {
        self.py(&["keys", bucket, prefix])
    }

    /// Downloads every object under `prefix` into `dest`; their local paths.
    fn download(self, bucket: &str, prefix: &str, dest: &Path) -> Vec<PathBuf> {
        self.py(&["download", bucket, prefix, &dest.to_string_lossy()])
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// The `config:` lines of this connector (bucket, prefix, endpoint, credentials). The
    /// credential goes through `${ETL_TEST_SECRET}` so that the harness checks it never shows.
    fn config(self, bucket: &str, prefix: &str) -> String {
        match self {
            Store::Gcs => format!(
                "    bucket: {bucket}\n    prefix: {prefix}\n    endpoint: {}\n    service_account_key: ${{ETL_TEST_SECRET}}\n",
                self.endpoint()
            ),
            Store::Azure => format!(
                "    container: {bucket}\n    prefix: {prefix}\n    endpoint: {}\n    account: {AZURITE_ACCOUNT}\n    account_key: ${{ETL_TEST_SECRET}}\n",
                self.endpoint()
            ),
        }
    }

    /// The value of `ETL_TEST_SECRET` for [`Self::config`].
    fn secret(self) -> String {
        match self {
            Store::Gcs => service_account_json(),
            Store::Azure => AZURITE_KEY.to_string(),
        }
    }

    fn run(self, dir: &Path, args: &[&str]) -> Run {
        self.run_with(dir, args, &self.secret())
    }

    fn run_with(self, dir: &Path, args: &[&str], secret: &str) -> Run {
        etl_in(dir, args, &[("ETL_TEST_SECRET", secret)])
    }
}

/// A service-account key (a fresh RSA key, made once per test process) as JSON.
fn service_account_json() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new(python())
            .args([
                "-c",
                "import json\nfrom cryptography.hazmat.primitives.asymmetric import rsa\nfrom cryptography.hazmat.primitives import serialization as s\nk = rsa.generate_private_key(public_exponent=65537, key_size=2048)\npem = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()\nprint(json.dumps({'type': 'service_account', 'private_key': pem, 'private_key_id': 'etl-test', 'client_email': 'etl-test@example.iam.gserviceaccount.com'}))",
            ])
            .output()
            .expect("spawn python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
    .clone()
}

fn spec_to(store: Store, db: &Path, bucket: &str, format: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: to_store\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: {}\n  config:\n{}    format: {format}\n{extra}",
        db.display(),
        store.connector(),
        store.config(bucket, "snapshots/")
    )
}

fn spec_from(store: Store, bucket: &str, prefix: &str, db: &Path, extra: &str) -> String {
    format!(
        "version: 1\nname: from_store\nsource:\n  connector_type: {}\n  config:\n{}destination:\n  connector_type: sqlite\n  config:\n    database_path: {}\n{extra}",
        store.connector(),
        store.config(bucket, prefix),
        db.display()
    )
}

/// Puts the shop tables into the store as `snapshots/<table>/part-*` objects: written by etl
/// itself where the store takes etl's uploads, else exported locally and uploaded with the
/// independent client. Returns the local copies (downloaded or uploaded) by table.
fn put_shop(
    store: Store,
    dir: &Path,
    db: &Path,
    bucket: &str,
    format: &str,
    compression: &str,
) -> Vec<(String, Vec<PathBuf>)> {
    let extra = if compression.is_empty() {
        String::new()
    } else {
        format!("    compression: {compression}\n")
    };
    let local = dir.join("dl");
    let spec = write_spec(dir, "to.yaml", &spec_to(store, db, bucket, format, &extra));
    store.run(dir, &["run", &spec]).ok();
    let keys = store.keys(bucket, "");
    assert!(
        keys.iter().all(|k| !k.contains(".etl-tmp")),
        "staging objects left: {keys:?}"
    );
    ["customers", "orders", "order_items"]
        .iter()
        .map(|t| {
            let files = store.download(bucket, &format!("snapshots/{t}/"), &local);
            (t.to_string(), files)
        })
        .collect()
}

/// Every format out (where the emulator takes uploads) and back: each table one object named
/// `part-*.<ext>`, equal to the table for pyarrow / fastavro, and read back by etl into SQLite
/// equal again ("" stays "" and NULL stays NULL, CSV included).
fn formats_both_ways(store: Store, format: &str, compression: &str, ext: &str) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket(format);
    for (table, files) in put_shop(store, dir.path(), &db, &bucket, format, compression) {
        assert_eq!(files.len(), 1, "{table}: {files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-") && name.ends_with(ext), "{name}");
        compare(&db, &table, &files, format);
    }
    let copy = dir.path().join("copy.db");
    let back = spec_from(
        store,
        &bucket,
        "snapshots/",
        &copy,
        "streams:\n  - name: orders\n    file_path: snapshots/orders/\n",
    );
    store
        .run(
            dir.path(),
            &["run", &write_spec(dir.path(), "back.yaml", &back)],
        )
        .ok();
    let files = files_under(&dir.path().join("dl/snapshots/orders"));
    compare(&copy, "orders", &files, format);
}

/// `partition_by` writes Hive folders into the store that pyarrow reads back.
fn partition_by(store: Store) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket("hive");
    let spec = spec_to(
        store,
        &db,
        &bucket,
        "parquet",
        "streams:\n  - name: orders\n    partition_by: [status]\n",
    );
    store
        .run(
            dir.path(),
            &["run", &write_spec(dir.path(), "p.yaml", &spec)],
        )
        .ok();
    let keys = store.keys(&bucket, "snapshots/orders/");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("snapshots/orders/status=")),
        "{keys:?}"
    );
    let local = dir.path().join("dl");
    store.download(&bucket, "snapshots/orders/", &local);
    let out = std::process::Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/hive_check.py"))
        .args(["--sqlite", &db.to_string_lossy(), "--root"])
        .arg(local.join("snapshots/orders"))
        .args([
            "--query",
            "SELECT id, status FROM orders",
            "--key",
            "id",
            "--partition",
            "status",
        ])
        .output()
        .expect("spawn python");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("OK 3000"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An incremental stream into the store adds a part object per run; the objects together
/// hold every row of the table.
fn incremental_destination(store: Store) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket("inc");
    let state = dir.path().join("state.json");
    let spec = spec_to(
        store,
        &db,
        &bucket,
        "parquet",
        &format!(
            "state:\n  path: {}\nstreams:\n  - name: orders\n    mode: incremental\n    cursor_field: id\n",
            state.display()
        ),
    );
    let spec = write_spec(dir.path(), "inc.yaml", &spec);
    store.run(dir.path(), &["run", &spec]).ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO orders (id, customer_id, status, total) SELECT id + 3000, customer_id, status, total FROM orders WHERE id <= 20",
    )
    .unwrap();
    drop(conn);
    store.run(dir.path(), &["run", &spec]).ok();
    let all = store.keys(&bucket, "snapshots/orders/");
    let (log, keys): (Vec<&String>, Vec<&String>) = all.iter().partition(|k| k.contains("/_etl/"));
    assert_eq!(
        keys.len(),
        2,
        "a new part object beside the old one: {all:?}"
    );
    assert_eq!(
        log,
        [
            "snapshots/orders/_etl/commits/00000000000000000001.json",
            "snapshots/orders/_etl/commits/00000000000000000002.json",
            "snapshots/orders/_etl/schema.json"
        ],
        "one commit marker per run, and the stream's schema history: {all:?}"
    );
    let local = dir.path().join("dl");
    store.download(&bucket, "snapshots/orders/", &local);
    let out = std::process::Command::new(python())
        .arg(Path::new(ROOT).join("tests/py/union_check.py"))
        .args([
            "--sqlite",
            &db.to_string_lossy(),
            "--table",
            "orders",
            "--dir",
        ])
        .arg(local.join("snapshots"))
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "union check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An incremental file source reads only the objects it has not read before; a CSV's `""`
/// arrives as '' and its empty field as NULL.
fn incremental_source(store: Store) {
    let dir = tempdir();
    let bucket = store.bucket("land");
    let put = |key: &str, text: &str| {
        let f = dir.path().join("upload.csv");
        std::fs::write(&f, text).unwrap();
        store.py(&["upload", &bucket, key, &f.to_string_lossy()]);
    };
    put("landing/a.csv", "id,v\n1,\"\"\n2,\n");
    let db = dir.path().join("t.db");
    let spec = spec_from(
        store,
        &bucket,
        "landing/",
        &db,
        &format!(
            "state:\n  path: {}\nstreams:\n  - name: landing\n    mode: incremental\n",
            dir.path().join("st.json").display()
        ),
    );
    let spec = write_spec(dir.path(), "s.yaml", &spec);
    store.run(dir.path(), &["run", &spec]).ok();
    put("landing/b.csv", "id,v\n3,c\n");
    store.run(dir.path(), &["run", &spec]).ok();
    let r = store.run(dir.path(), &["run", &spec]).ok();
    assert!(r.stderr.contains("no new rows"), "{}", r.stderr);
    assert_eq!(
        sqlite_scalar(
            &db,
            "SELECT group_concat(id || ':' || quote(v), ' ') FROM (SELECT * FROM landing ORDER BY id)"
        ),
        rusqlite::types::Value::Text("1:'' 2:NULL 3:'c'".into()),
        "each object read once, '' and NULL kept apart"
    );
}

/// `overwrite: false` refuses a second full refresh before writing; with overwrite a run that
/// fails half way leaves the previous objects and nothing else; a good run replaces them.
fn publish_rules(store: Store) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket("publish");
    let extra =
        "    max_rows_per_file: 1000\ndefaults:\n  batch_size: 250\nstreams:\n  - name: orders\n";
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &spec_to(store, &db, &bucket, "parquet", extra),
    );
    store.run(dir.path(), &["run", &spec]).ok();
    let first = store.keys(&bucket, "");
    assert_eq!(first.len(), 3, "3000 rows at 1000 per file: {first:?}");
    store
        .run(dir.path(), &["run", &spec])
        .fails(1, "already holds 3 file(s)");
    assert_eq!(store.keys(&bucket, ""), first);
    let spec = write_spec(
        dir.path(),
        "o.yaml",
        &spec_to(
            store,
            &db,
            &bucket,
            "parquet",
            &format!("    overwrite: true\n{extra}"),
        ),
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET status = X'00ff' WHERE id = 2800", [])
        .unwrap();
    store.run(dir.path(), &["run", &spec]).fails(1, "row 2800");
    assert_eq!(
        store.keys(&bucket, ""),
        first,
        "no new object under a final name, no staging object left, old ones intact"
    );
    conn.execute("UPDATE orders SET status = 'paid' WHERE id = 2800", [])
        .unwrap();
    store.run(dir.path(), &["run", &spec]).ok();
    let second = store.keys(&bucket, "");
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|k| !first.contains(k)), "{second:?}");
    let files = store.download(&bucket, "snapshots/orders/", &dir.path().join("dl"));
    compare(&db, "orders", &files, "parquet");
}

/// A bucket that does not exist, a prefix with nothing under it, an endpoint nobody listens on.
fn bad_inputs(store: Store) {
    let dir = tempdir();
    let db = dir.path().join("t.db");
    let missing = "etl-no-such-bucket-xyz";
    let spec = write_spec(
        dir.path(),
        "m.yaml",
        &spec_from(store, missing, "landing/", &db, ""),
    );
    let r = store.run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("source ({}): FAILED", store.connector()))
            && r.stdout.contains(missing),
        "{}",
        r.stdout
    );
    // GCS says 404 NoSuchBucket; fake-gcs-server says "500 ... no bucket named" instead, which
    // etl does not take for a missing bucket.
    if let Store::Azure = store {
        assert!(r.stdout.contains("does not exist"), "{}", r.stdout);
    }
    let r = store.run(dir.path(), &["run", &spec]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(missing), "{}", r.stderr);

    let bucket = store.bucket("empty");
    let spec = write_spec(
        dir.path(),
        "e.yaml",
        &spec_from(store, &bucket, "landing/", &db, ""),
    );
    store
        .run(dir.path(), &["run", &spec])
        .fails(1, "no files found for stream `landing` in ");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = spec_from(store, &bucket, "landing/", &db, "").replace(
        &store.endpoint(),
        &format!("http://127.0.0.1:{port}/devstoreaccount1"),
    );
    let spec = write_spec(dir.path(), "dead.yaml", &dead);
    let t = std::time::Instant::now();
    let r = store.run(dir.path(), &["check", &spec]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "{:?}",
        t.elapsed()
    );
}

/// Wrong credentials are refused with exit 1 and a message that says so; the secret is never
/// printed (the harness checks every output for it).
fn wrong_credentials(store: Store) {
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket("auth");
    let spec = write_spec(
        dir.path(),
        "s.yaml",
        &spec_to(
            store,
            &db,
            &bucket,
            "parquet",
            "streams:\n  - name: orders\n",
        ),
    );
    let wrong = match store {
        // A well-formed key of the right length that is not the account's.
        Store::Azure => "V3Jvbmcta2V5LXMzY3IzdC1ETy1OT1QtUFJJTlQtV3Jvbmcta2V5LXMzY3IzdC1ETy1OT1QtUFJJTlQtV3Jvbmc=".to_string(),
        // A service-account file whose key is not a key.
        Store::Gcs => service_account_json().replace("BEGIN PRIVATE KEY-----\\n", &format!("BEGIN PRIVATE KEY-----\\n{SECRET}")),
    };
    for cmd in ["check", "run"] {
        let r = store.run_with(dir.path(), &[cmd, &spec], &wrong);
        assert_eq!(r.code, 1, "{cmd}:\n{}\n{}", r.stdout, r.stderr);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains("credentials"), "{cmd}: {all}");
        assert!(!all.contains(&wrong) && !all.contains(SECRET), "{all}");
        assert!(!all.contains("panicked"), "{all}");
    }
    assert!(store.keys(&bucket, "").is_empty());
}

/// Azure's other credentials: a SAS token, a connection string (from the environment), and a
/// SAS token that is not the account's, refused.
fn azure_sas_and_connection_string() {
    let store = Store::Azure;
    let dir = tempdir();
    let db = shop_db(dir.path());
    let bucket = store.bucket("sas");
    let sas = store.py(&["sas", &bucket]).remove(0);
    let with_sas = spec_to(
        store,
        &db,
        &bucket,
        "parquet",
        "streams:\n  - name: orders\n",
    )
    .replace("account_key:", "sas_token:");
    let spec = write_spec(dir.path(), "sas.yaml", &with_sas);
    store.run_with(dir.path(), &["run", &spec], &sas).ok();
    assert_eq!(store.keys(&bucket, "snapshots/orders/").len(), 1);
    // A signature made with another key.
    let forged: String = {
        let (head, sig) = sas.split_at(sas.find("sig=").expect("sig=") + 4);
        format!(
            "{head}{}",
            sig.replace(|c: char| c.is_ascii_alphanumeric(), "A")
        )
    };
    let r = store.run_with(dir.path(), &["check", &spec], &forged);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("credentials"), "{}", r.stdout);
    // A token that may read and list but not write: `check` finds out with its probe object.
    let read_only = store.py(&["sas", &bucket, "read-only"]).remove(0);
    let r = store.run_with(dir.path(), &["check", &spec], &read_only);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("destination (azure_blob): FAILED")
            && r.stdout.contains("writing the probe object"),
        "{}",
        r.stdout
    );
    let r = store.run_with(dir.path(), &["check", &spec], &sas);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        store
            .keys(&bucket, "")
            .iter()
            .all(|k| !k.contains("_etl/check-")),
        "the probe object was deleted"
    );

    // Nothing in the spec but the container: the connection string from the environment.
    let bare = format!(
        "version: 1\nname: cs\nsource:\n  connector_type: sqlite\n  config:\n    database_path: {}\ndestination:\n  connector_type: azure_blob\n  config:\n    container: {bucket}\n    prefix: cs/\n    format: csv\nstreams:\n  - name: orders\n",
        db.display()
    );
    let spec = write_spec(dir.path(), "cs.yaml", &bare);
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={};",
        store.endpoint()
    );
    etl_in(
        dir.path(),
        &["run", &spec],
        &[
            ("AZURE_STORAGE_CONNECTION_STRING", &cs),
            ("ETL_TEST_SECRET", AZURITE_KEY),
        ],
    )
    .ok();
    let files = store.download(&bucket, "cs/orders/", &dir.path().join("dl"));
    compare(&db, "orders", &files, "csv");
}

/// One test per scenario and store.
macro_rules! scenarios {
    ($store:ident: $($name:ident => $body:expr,)*) => {
        #[allow(non_snake_case)]
        mod $store {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let scenario: fn(Store) = $body;
                    scenario(Store::$store)
                }
            )*
        }
    };
}

scenarios! { Azure:
    parquet_both_ways => |store| formats_both_ways(store, "parquet", "", ".parquet"),
    csv_gzip_both_ways => |store| formats_both_ways(store, "csv", "gzip", ".csv.gz"),
    json_both_ways => |store| formats_both_ways(store, "json", "", ".json"),
    jsonl_zstd_both_ways => |store| formats_both_ways(store, "jsonl", "zstd", ".jsonl.zst"),
    avro_both_ways => |store| formats_both_ways(store, "avro", "snappy", ".avro"),
    partition_by_writes_hive_folders => |store| partition_by(store),
    incremental_destination_adds_parts => |store| incremental_destination(store),
    incremental_source_reads_new_objects_only => |store| incremental_source(store),
    publish_rules_and_a_failed_run => |store| publish_rules(store),
    bad_inputs_fail_clearly => |store| bad_inputs(store),
    wrong_credentials_are_refused => |store| wrong_credentials(store),
    sas_token_and_connection_string => |_| azure_sas_and_connection_string(),
}

scenarios! { Gcs:
    parquet_both_ways => |store| formats_both_ways(store, "parquet", "", ".parquet"),
    csv_gzip_both_ways => |store| formats_both_ways(store, "csv", "gzip", ".csv.gz"),
    json_both_ways => |store| formats_both_ways(store, "json", "", ".json"),
    jsonl_zstd_both_ways => |store| formats_both_ways(store, "jsonl", "zstd", ".jsonl.zst"),
    avro_both_ways => |store| formats_both_ways(store, "avro", "snappy", ".avro"),
    partition_by_writes_hive_folders => |store| partition_by(store),
    incremental_destination_adds_parts => |store| incremental_destination(store),
    incremental_source_reads_new_objects_only => |store| incremental_source(store),
    publish_rules_and_a_failed_run => |store| publish_rules(store),
    bad_inputs_fail_clearly => |store| bad_inputs(store),
    unusable_credentials_are_refused => |store| wrong_credentials(store),
}
