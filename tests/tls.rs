//! Verified TLS to PostgreSQL and MariaDB, through the built binary. Each test starts its own
//! server (PostgreSQL 15 from /usr/lib/postgresql/15/bin, MariaDB's `mariadbd`) on a free port
//! in a temporary folder, with certificates the test makes with `openssl`: a CA, a server
//! certificate for `localhost` only (so `127.0.0.1` is a wrong host name), a client certificate
//! and a second, unrelated CA. The servers run as `nobody` when the tests run as root
//! (PostgreSQL refuses root). A Drop guard stops the server and removes the folder, also when
//! an assertion fails.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a command and returns its stdout; panics with its output when it fails.
#[track_caller]
fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    sh(Command::new("id").arg("-u")).trim() == "0"
}

/// `program` run as the servers' user: `nobody` when the tests run as root, else ourselves.
fn as_server_user(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The certificates of one test, in `dir`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        pki.ca("ca", "etl test CA");
        pki.ca("other-ca", "unrelated CA");
        pki.leaf(
            "server",
            "localhost",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        );
        pki.leaf(
            "client",
            "certuser",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        );
        pki
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn openssl(&self) -> Command {
        let mut c = Command::new("openssl");
        c.current_dir(&self.dir);
        c
    }

    fn ca(&self, name: &str, cn: &str) {
        sh(self.openssl().args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ]));
    }

    /// A key and a certificate signed by `ca` with the given extensions.
    fn leaf(&self, name: &str, cn: &str, ext: &str) {
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).expect("ext");
        sh(self.openssl().args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]));
        sh(self.openssl().args([
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]));
    }
}

/// A temporary folder the servers' user can use: certificates in `pki/`, data in `data/`.
fn server_dir() -> (tempfile::TempDir, Pki) {
    let dir = tempdir();
    let pki_dir = dir.path().join("pki");
    std::fs::create_dir(&pki_dir).expect("pki dir");
    let pki = Pki::new(&pki_dir);
    if is_root() {
        sh(Command::new("chown")
            .args(["-R", "nobody:"])
            .arg(dir.path()));
    }
    // The servers refuse a key others can read.
    sh(Command::new("chmod")
        .arg("0600")
        .arg(pki.path("server.key")));
    sh(Command::new("chmod").arg("0755").arg(dir.path()));
    (dir, pki)
}

fn wait_until(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start within 60 s; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A private PostgreSQL with TLS: user `etl` (trust over TLS) and `certuser` (client
/// certificate required: `hostssl ... cert`), table `public.items`.
struct Pg {
    dir: tempfile::TempDir,
    pki: Pki,
    port: u16,
}

impl Pg {
    fn start() -> Pg {
        let (dir, pki) = server_dir();
        let data = dir.path().join("data");
        let port = free_port();
        sh(as_server_user(&format!("{PG_BIN}/initdb"))
            .args(["-U", "etl", "-A", "trust", "--no-sync", "-D"])
            .arg(&data));
        let conf = format!(
            "port = {port}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{d}'\n\
             ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nssl_ca_file = '{ca}'\n\
             fsync = off\n",
            d = dir.path().display(),
            cert = pki.path("server.pem"),
            key = pki.path("server.key"),
            ca = pki.path("ca.pem"),
        );
        let mut all = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        all.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), all).expect("conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\nhostssl all certuser ::1/128 cert\n\
             hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("hba");
        let pg = Pg { dir, pki, port };
        sh(as_server_user(&format!("{PG_BIN}/pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(pg.dir.path().join("pg.log"))
            .arg("start"));
        pg.psql(
            "CREATE USER certuser;
             CREATE TABLE items (id int PRIMARY KEY, name text);
             INSERT INTO items VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');
             GRANT SELECT ON items TO certuser;",
        );
        pg
    }

    fn psql(&self, sql: &str) -> String {
        sh(Command::new("psql")
            .args([
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "etl",
                "-d",
                "postgres",
            ])
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(sql))
    }

    /// A `postgresql` source block for `host` and `user` with extra config lines.
    fn source(&self, host: &str, user: &str, extra: &str) -> String {
        format!(
            "  connector_type: postgresql\n  config:\n    host: {host}\n    port: {}\n    database: postgres\n    user: {user}\n    connect_timeout: 5\n{extra}",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = as_server_user(&format!("{PG_BIN}/pg_ctl"))
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

/// A private MariaDB with TLS: database `t` with table `items`, user `etl` (no TLS
/// requirement) and `certuser` (`REQUIRE X509`).
struct Maria {
    dir: tempfile::TempDir,
    pki: Pki,
    port: u16,
    server: Child,
}

impl Maria {
    fn start() -> Maria {
        let (dir, pki) = server_dir();
        let data = dir.path().join("data");
        let port = free_port();
        sh(as_server_user("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display())));
        let server = as_server_user("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("my.sock").display()))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("my.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                dir.path().join("my.err").display()
            ))
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M")
            .arg(format!("--ssl-ca={}", pki.path("ca.pem")))
            .arg(format!("--ssl-cert={}", pki.path("server.pem")))
            .arg(format!("--ssl-key={}", pki.path("server.key")))
            // Its start-up warnings; everything else goes to --log-error.
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let m = Maria {
            dir,
            pki,
            port,
            server,
        };
        wait_until("mariadbd", &m.dir.path().join("my.err"), || {
            m.client()
                .arg("-e")
                .arg("SELECT 1")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        sh(m.client().arg("-e").arg(
            "CREATE DATABASE t;
             CREATE TABLE t.items (id INT PRIMARY KEY, name VARCHAR(20));
             INSERT INTO t.items VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');
             CREATE USER 'etl'@'%';
             GRANT ALL ON t.* TO 'etl'@'%';
             CREATE USER 'certuser'@'%' REQUIRE X509;
             GRANT ALL ON t.* TO 'certuser'@'%';",
        ));
        m
    }

    fn client(&self) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("my.sock").display()
            ))
            .args(["-uroot", "-N"]);
        c
    }

    fn source(&self, host: &str, user: &str, extra: &str) -> String {
        format!(
            "  connector_type: mysql\n  config:\n    host: {host}\n    port: {}\n    database: t\n    user: {user}\n    connect_timeout: 5\n{extra}",
            self.port
        )
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = self.client().arg("-e").arg("SHUTDOWN").output();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Still running: end the server we started (its pid, never by name).
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("my.pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).output();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// `etl check` then `etl run` of `source` into CSV files; the rows must arrive.
#[track_caller]
fn check_and_run(dir: &Path, source: &str) {
    let out = dir.join("out");
    let spec = write_spec(
        dir,
        "ok.yaml",
        &format!(
            "version: 1\nname: tls\nsource:\n{source}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: csv\n    overwrite: true\nstreams:\n  - name: items\n",
            out.display()
        ),
    );
    etl(dir, &["check", &spec]).ok();
    etl(dir, &["run", &spec]).ok();
    let text: String = files_under(&out)
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read csv"))
        .collect();
    for name in ["alpha", "beta", "gamma"] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

/// `etl check` and `etl run` of `source` fail, saying `needle`, and write nothing.
#[track_caller]
fn refused(dir: &Path, source: &str, needle: &str) {
    let spec = write_spec(
        dir,
        "refused.yaml",
        &format!(
            "version: 1\nname: tls\nsource:\n{source}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: csv\nstreams:\n  - name: items\n",
            dir.join("never").display()
        ),
    );
    for command in ["check", "run"] {
        let r = etl(dir, &[command, &spec]);
        let said = format!("{}{}", r.stdout, r.stderr);
        assert_ne!(r.code, 0, "{command} passed:\n{said}");
        assert!(
            said.contains(needle),
            "{command}: output lacks {needle:?}:\n{said}"
        );
        assert!(!said.contains("panicked"), "{said}");
    }
    assert!(
        files_under(&dir.join("never")).is_empty(),
        "a refused run wrote files"
    );
}

#[test]
fn postgresql_verifies_the_server_certificate_and_presents_a_client_certificate() {
    let pg = Pg::start();
    let dir = tempdir();
    let d = dir.path();
    let ca = pg.pki.path("ca.pem");
    let other = pg.pki.path("other-ca.pem");
    let full = |ca: &str| format!("    sslmode: verify-full\n    sslrootcert: {ca}\n");

    // The good CA and the certificate's own name.
    check_and_run(d, &pg.source("localhost", "etl", &full(&ca)));
    // An unrelated CA.
    refused(
        d,
        &pg.source("localhost", "etl", &full(&other)),
        "the server's certificate could not be verified: it is not signed by the CA in `sslrootcert`",
    );
    // 127.0.0.1 is not in the certificate: refused by verify-full, accepted by verify-ca.
    refused(
        d,
        &pg.source("127.0.0.1", "etl", &full(&ca)),
        "the server's certificate does not match the host name `127.0.0.1`",
    );
    check_and_run(
        d,
        &pg.source(
            "127.0.0.1",
            "etl",
            &format!("    sslmode: verify-ca\n    sslrootcert: {ca}\n"),
        ),
    );
    // require checks nothing; with sslrootcert it checks the chain (libpq).
    check_and_run(d, &pg.source("127.0.0.1", "etl", "    sslmode: require\n"));
    refused(
        d,
        &pg.source(
            "127.0.0.1",
            "etl",
            &format!("    sslmode: require\n    sslrootcert: {other}\n"),
        ),
        "could not be verified",
    );
    // pg_hba `cert`: the client certificate logs certuser in; without it the server refuses.
    let client = format!(
        "    sslcert: {}\n    sslkey: {}\n",
        pg.pki.path("client.pem"),
        pg.pki.path("client.key")
    );
    check_and_run(
        d,
        &pg.source("localhost", "certuser", &(full(&ca) + &client)),
    );
    refused(
        d,
        &pg.source("localhost", "certuser", &full(&ca)),
        "certificate",
    );
}

#[test]
fn mariadb_verifies_the_server_certificate_and_presents_a_client_certificate() {
    let m = Maria::start();
    let dir = tempdir();
    let d = dir.path();
    let ca = m.pki.path("ca.pem");
    let other = m.pki.path("other-ca.pem");
    let identity = |ca: &str| format!("    ssl_mode: verify_identity\n    ssl_ca: {ca}\n");

    check_and_run(d, &m.source("localhost", "etl", &identity(&ca)));
    refused(
        d,
        &m.source("localhost", "etl", &identity(&other)),
        "the server's certificate could not be verified: it is not signed by the CA in `ssl_ca`",
    );
    refused(
        d,
        &m.source("127.0.0.1", "etl", &identity(&ca)),
        "the server's certificate does not match the host name `127.0.0.1`",
    );
    // verify_ca checks the chain only: 127.0.0.1 is accepted, an unrelated CA is not.
    let ca_only = |ca: &str| format!("    ssl_mode: verify_ca\n    ssl_ca: {ca}\n");
    check_and_run(d, &m.source("127.0.0.1", "etl", &ca_only(&ca)));
    refused(
        d,
        &m.source("127.0.0.1", "etl", &ca_only(&other)),
        "the server's certificate could not be verified: it is not signed by the CA in `ssl_ca`",
    );
    // required checks nothing; with ssl_ca it checks the chain, as PostgreSQL's require.
    check_and_run(d, &m.source("127.0.0.1", "etl", "    ssl_mode: required\n"));
    check_and_run(
        d,
        &m.source(
            "127.0.0.1",
            "etl",
            &format!("    ssl_mode: required\n    ssl_ca: {ca}\n"),
        ),
    );
    refused(
        d,
        &m.source(
            "127.0.0.1",
            "etl",
            &format!("    ssl_mode: required\n    ssl_ca: {other}\n"),
        ),
        "could not be verified",
    );
    check_and_run(
        d,
        &m.source("127.0.0.1", "etl", "    ssl_mode: preferred\n"),
    );
    // REQUIRE X509: the client certificate logs certuser in; without it the server refuses.
    let client = format!(
        "    ssl_cert: {}\n    ssl_key: {}\n",
        m.pki.path("client.pem"),
        m.pki.path("client.key")
    );
    check_and_run(
        d,
        &m.source("localhost", "certuser", &(identity(&ca) + &client)),
    );
    refused(
        d,
        &m.source("localhost", "certuser", &identity(&ca)),
        "Access denied",
    );
}

/// The shared MariaDB on 3306 runs without TLS: `preferred` (the default) connects in plain
/// text, the modes that need TLS say the server offers none.
#[test]
fn mysql_modes_needing_tls_refuse_a_server_without_it() {
    let dir = tempdir();
    let d = dir.path();
    let plain = |extra: &str| {
        format!("  connector_type: mysql\n  config:\n    host: 127.0.0.1\n    port: 3306\n    database: mysql\n    user: root\n{extra}")
    };
    if !mariadb("mysql", "SHOW VARIABLES LIKE 'have_ssl'").contains("DISABLED") {
        skipped(
            "mysql_modes_needing_tls_refuse_a_server_without_it",
            "the MariaDB on 3306 has TLS on",
        );
        return;
    }
    for mode in ["required", "verify_identity", "verify_ca"] {
        let ca = Pki::new(&{
            let p = d.join(mode);
            std::fs::create_dir(&p).expect("dir");
            p
        })
        .path("ca.pem");
        refused(
            d,
            &plain(&format!("    ssl_mode: {mode}\n    ssl_ca: {ca}\n")),
            &format!("the server does not offer TLS, which `ssl_mode: {mode}` requires"),
        );
    }
}

#[test]
fn tls_files_are_checked_by_validate_naming_the_key_and_path() {
    let dir = tempdir();
    let d = dir.path();
    for (source, needle) in [
        (
            "  connector_type: postgresql\n  config:\n    host: localhost\n    database: d\n    user: u\n    sslmode: verify-full\n",
            "`sslmode: verify-full` verifies the server's certificate and needs `sslrootcert`",
        ),
        (
            "  connector_type: postgresql\n  config:\n    host: localhost\n    database: d\n    user: u\n    sslmode: verify-ca\n    sslrootcert: /no/such/ca.pem\n",
            "`sslrootcert`: cannot read `/no/such/ca.pem`",
        ),
        (
            "  connector_type: mysql\n  config:\n    host: localhost\n    database: d\n    user: u\n    ssl_mode: required\n    ssl_cert: /no/such/client.pem\n",
            "`ssl_cert` and `ssl_key` go together",
        ),
        (
            "  connector_type: mysql\n  config:\n    host: localhost\n    database: d\n    user: u\n    ssl_mode: verify_identity\n    ssl_ca: /no/such/ca.pem\n",
            "`ssl_ca`: cannot read `/no/such/ca.pem`",
        ),
    ] {
        let spec = write_spec(
            d,
            "bad.yaml",
            &format!("version: 1\nname: tls\nsource:\n{source}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\n    format: csv\nstreams:\n  - name: items\n", d.join("o").display()),
        );
        etl(d, &["validate", &spec]).fails(2, needle);
    }
    // The same checks for a destination.
    let spec = write_spec(
        d,
        "dest.yaml",
        &format!("version: 1\nname: tls\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\ndestination:\n  connector_type: mysql\n  config:\n    host: localhost\n    database: d\n    user: u\n    ssl_mode: verify_ca\nstreams:\n  - name: items\n", d.join("x.csv").display()),
    );
    etl(d, &["validate", &spec]).fails(2, "needs `ssl_ca`");
}
