//! Named points where the crash tests stop the process. Built only with the `fault-injection`
//! cargo feature (which `make test` enables); otherwise [`point`] compiles to nothing.
//!
//! With `ETL_FAULT_PAUSE=name[:n]` the n-th (default first) arrival at point `name` prints
//! `ETL-FAULT-PAUSED name` on stderr and sleeps, so a test can SIGKILL the process exactly there.
//! With `ETL_FAULT_RESUME=FILE` too, it goes on once FILE exists (a test breaks something, such
//! as the S3 server, while the run waits).
//! [`fail`] injects a transient error instead.

#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var("ETL_FAULT_PAUSE") else {
        return;
    };
    let (want, nth) = match spec.split_once(':') {
        Some((w, n)) => (w.to_string(), n.parse::<u64>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if want != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("ETL-FAULT-PAUSED {name}");
        let resume = std::env::var_os("ETL_FAULT_RESUME");
        let wait = || loop {
            match &resume {
                Some(f) if std::path::Path::new(f).exists() => return,
                Some(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                None => std::thread::sleep(std::time::Duration::from_secs(3600)),
            }
        };
        // On a runtime worker, hand its other tasks to another thread first: a task this one
        // just woke (the destination, given the previous batch) must go on while this waits.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// With `ETL_FAULT_FAIL=name[:n]` the n-th arrival at `name` returns a transient error (a reset
/// connection), for the retry tests.
#[cfg(feature = "fault-injection")]
pub fn fail(name: &str) -> Option<crate::Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let spec = std::env::var("ETL_FAULT_FAIL").ok()?;
    let (want, nth) = match spec.split_once(':') {
        Some((w, n)) => (w.to_string(), n.parse::<u64>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if want != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return None;
    }
    Some(crate::Error::driver(
        crate::error::ErrorKind::ConnectionLost,
        "",
        "connection reset by peer (injected)",
    ))
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn fail(_name: &str) -> Option<crate::Error> {
    None
}
