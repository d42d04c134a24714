//! Incremental state: one JSON document per pipeline, holding per stream the typed cursor
//! value (SQL sources) or the files already read (file sources), the run id and the time.
//!
//! The runner saves it only after the destination has durably committed, so a crash at any
//! point re-reads from the previous cursor: nothing is lost. Local files are replaced
//! atomically (temp file, fsync, rename, fsync of the folder); `s3://bucket/key` URLs are
//! written with one PUT, which S3 makes visible atomically.
//!
//! Several etl processes may share one state document (parallel `etl run --select`, the units
//! of a plan): a save is a read-modify-write of the one stream it changes, never a blind
//! overwrite of the whole document. Locally it holds an exclusive `flock` on a lock file beside
//! the document (`.{name}.lock`; the kernel releases it when a process dies, so a SIGKILL never
//! leaves a stale lock); on S3 the PUT is conditional on the e-tag that was read (`If-Match`,
//! or `If-None-Match: *` for a new document), and a lost race reads again and retries.

use super::cursor::Boundary;
use crate::contract::CursorValue;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineState {
    pub version: u32,
    pub pipeline: String,
    pub streams: BTreeMap<String, StreamState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    /// The largest cursor value committed (SQL sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorValue>,
    /// What identifies the rows at `cursor` already written: the next run, which reads from
    /// `cursor` inclusive, drops exactly those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<Boundary>,
    /// Files already read, path -> last modified (file sources).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// The destination's commit this state reflects (the sequence number of its commit marker,
    /// for destinations that keep one): a newer marker found at the start of a run wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
    pub run_id: String,
    pub updated_at: String,
}

/// Where the state document lives.
#[derive(Debug, Clone)]
pub enum StateLocation {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3 {
        bucket: String,
        key: String,
    },
}

impl StateLocation {
    /// `--state` beats `state.path`, which beats `.etl/state/{pipeline}.json`. A relative
    /// `--state` is relative to the current folder, as any command-line path; a relative
    /// `state.path`, and the default, are relative to `spec_dir` (the spec file's folder), so a
    /// cron job run from another folder finds the same state.
    pub fn resolve(
        cli: Option<&str>,
        spec: Option<&str>,
        pipeline: &str,
        spec_dir: &std::path::Path,
    ) -> Result<Self> {
        let from_spec = cli.is_none();
        let raw = cli
            .or(spec)
            .map(str::to_string)
            .unwrap_or_else(|| format!(".etl/state/{pipeline}.json"));
        if let Some(rest) = raw.strip_prefix("s3://") {
            #[cfg(feature = "s3")]
            {
                let (bucket, key) = rest
                    .split_once('/')
                    .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                    .ok_or_else(|| {
                        Error::spec(format!("state path `{raw}`: expected s3://bucket/key"))
                    })?;
                return Ok(StateLocation::S3 {
                    bucket: bucket.into(),
                    key: key.into(),
                });
            }
            #[cfg(not(feature = "s3"))]
            {
                let _ = rest;
                return Err(Error::spec(format!(
                    "state path `{raw}`: this etl was built without the `s3` feature"
                )));
            }
        }
        let path = PathBuf::from(raw);
        Ok(StateLocation::Local(if from_spec && path.is_relative() {
            spec_dir.join(path)
        } else {
            path
        }))
    }

    /// The folder holding `spec` as an absolute path (the base of a relative state path).
    pub fn spec_dir(spec: &std::path::Path) -> PathBuf {
        let dir = spec
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    pub fn display(&self) -> String {
        match self {
            StateLocation::Local(p) => p.display().to_string(),
            #[cfg(feature = "s3")]
            StateLocation::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Reads the state; a missing document is an empty state, a corrupt one an error (never a
    /// silent reset to a full load).
    pub async fn load(&self, pipeline: &str) -> Result<PipelineState> {
        let bytes = match self {
            StateLocation::Local(p) => match std::fs::read(p) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(Error::run(format!(
                        "cannot read state file {}: {e}",
                        p.display()
                    )))
                }
            },
            #[cfg(feature = "s3")]
            StateLocation::S3 { bucket, key } => {
                use object_store::ObjectStoreExt;
                let store = s3_state_store(bucket)?;
                match store
                    .get(&object_store::path::Path::from(key.as_str()))
                    .await
                {
                    Ok(r) => Some(r.bytes().await?.to_vec()),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => {
                        return Err(Error::run(format!(
                            "cannot read state {}: {}",
                            self.display(),
                            crate::error::full_message(&e)
                        )))
                    }
                }
            }
        };
        match bytes {
            Some(bytes) => self.parse(&bytes),
            None => Ok(empty(pipeline)),
        }
    }

    /// Replaces the whole state document (`etl state reset`), as one read-modify-write.
    pub async fn save(&self, state: &PipelineState) -> Result<()> {
        let replacement = state.clone();
        self.update(&state.pipeline, move |doc| *doc = replacement.clone())
            .await
            .map(|_| ())
    }

    /// Saves one stream's state, keeping every other stream's as it is in the document now
    /// (another process may have saved its own since this one loaded it).
    pub async fn save_stream(
        &self,
        pipeline: &str,
        stream: &str,
        next: &StreamState,
    ) -> Result<PipelineState> {
        self.update(pipeline, |doc| {
            doc.streams.insert(stream.to_string(), next.clone());
        })
        .await
    }

    /// Reads the document as it is now, applies `change` and writes it back atomically, such
    /// that no other process's save in between is lost: under an exclusive lock on a local
    /// file, conditionally on the e-tag read on S3 (`change` runs again after a lost race).
    /// Returns the document written.
    pub async fn update(
        &self,
        pipeline: &str,
        mut change: impl FnMut(&mut PipelineState),
    ) -> Result<PipelineState> {
        match self {
            StateLocation::Local(p) => {
                let dir = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| ".".into());
                std::fs::create_dir_all(&dir).map_err(|e| {
                    Error::run(format!("cannot create state folder {}: {e}", dir.display()))
                })?;
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let _lock = lock::Exclusive::acquire(&dir.join(format!(".{name}.lock"))).await?;
                let mut doc = self.load(pipeline).await?;
                change(&mut doc);
                doc.version = STATE_VERSION;
                doc.pipeline = pipeline.to_string();
                let json = serde_json::to_vec_pretty(&doc).map_err(Error::run)?;
                let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
                let write = || -> std::io::Result<()> {
                    let mut f = std::fs::File::create(&tmp)?;
                    let (head, tail) = json.split_at(json.len() / 2);
                    f.write_all(head)?;
                    f.flush()?;
                    crate::fault::point("state-half-written");
                    f.write_all(tail)?;
                    f.sync_all()?;
                    crate::fault::point("state-written-before-rename");
                    std::fs::rename(&tmp, p)?;
                    std::fs::File::open(&dir)?.sync_all()
                };
                write().map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    Error::run(format!("cannot write state file {}: {e}", p.display()))
                })?;
                Ok(doc)
            }
            #[cfg(feature = "s3")]
            StateLocation::S3 { bucket, key } => {
                use object_store::{ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
                let store = s3_state_store(bucket)?;
                let path = object_store::path::Path::from(key.as_str());
                let failed = |e: &object_store::Error| {
                    Error::run(format!(
                        "cannot write state {}: {}",
                        self.display(),
                        crate::error::full_message(e)
                    ))
                };
                for attempt in 1..=CONDITIONAL_ATTEMPTS {
                    let (mut doc, version) = match store.get(&path).await {
                        Ok(r) => {
                            let version = UpdateVersion {
                                e_tag: r.meta.e_tag.clone(),
                                version: r.meta.version.clone(),
                            };
                            (self.parse(&r.bytes().await?)?, Some(version))
                        }
                        Err(object_store::Error::NotFound { .. }) => (empty(pipeline), None),
                        Err(e) => return Err(failed(&e)),
                    };
                    change(&mut doc);
                    doc.version = STATE_VERSION;
                    doc.pipeline = pipeline.to_string();
                    let json = serde_json::to_vec_pretty(&doc).map_err(Error::run)?;
                    let mode = match version {
                        Some(v) => PutMode::Update(v),
                        None => PutMode::Create,
                    };
                    crate::fault::point("state-before-put");
                    match store
                        .put_opts(&path, json.clone().into(), PutOptions::from(mode))
                        .await
                    {
                        Ok(_) => return Ok(doc),
                        Err(
                            object_store::Error::Precondition { .. }
                            | object_store::Error::AlreadyExists { .. },
                        ) => {
                            // Another process saved in between: read its document and retry.
                            tracing::debug!(attempt, state = %self.display(), "state changed since it was read; saving again");
                            let wait = 20 + uuid::Uuid::new_v4().as_u128() % 80;
                            tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
                        }
                        // A store without conditional writes: one plain PUT, still atomic, but
                        // parallel processes may then overwrite each other's streams.
                        Err(object_store::Error::NotImplemented { .. }) => {
                            tracing::warn!(state = %self.display(), "the state's store takes no conditional writes: parallel runs on this state may lose each other's cursors");
                            store
                                .put(&path, json.into())
                                .await
                                .map_err(|e| failed(&e))?;
                            return Ok(doc);
                        }
                        Err(e) => return Err(failed(&e)),
                    }
                }
                Err(Error::run(format!(
                    "cannot write state {}: it changed under every one of {CONDITIONAL_ATTEMPTS} attempts (too many processes saving at once?)",
                    self.display()
                )))
            }
        }
    }

    /// Parses a state document.
    fn parse(&self, bytes: &[u8]) -> Result<PipelineState> {
        let state: PipelineState = serde_json::from_slice(bytes).map_err(|e| {
            Error::run(format!(
                "state {} is corrupt ({e}); fix or remove it (`etl state reset`) — etl will not silently start over with a full load",
                self.display()
            ))
        })?;
        if state.version != STATE_VERSION {
            return Err(Error::run(format!(
                "state {} has version {}, this etl reads version {STATE_VERSION}",
                self.display(),
                state.version
            )));
        }
        Ok(state)
    }
}

/// Conditional PUTs tried before a save gives up (each lost race waits 20-100 ms).
#[cfg(feature = "s3")]
const CONDITIONAL_ATTEMPTS: u32 = 100;

/// The state of a pipeline that has none yet.
fn empty(pipeline: &str) -> PipelineState {
    PipelineState {
        version: STATE_VERSION,
        pipeline: pipeline.into(),
        streams: BTreeMap::new(),
    }
}

/// An exclusive advisory lock on a local file, held while the value lives.
mod lock {
    use crate::error::{Error, Result};
    use std::path::Path;

    pub struct Exclusive {
        _file: std::fs::File,
    }

    impl Exclusive {
        /// Waits (without blocking the runtime) until the lock on `path` is this process's.
        pub async fn acquire(path: &Path) -> Result<Exclusive> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| {
                    Error::run(format!("cannot open state lock {}: {e}", path.display()))
                })?;
            let mut waited = std::time::Duration::ZERO;
            loop {
                match try_lock(&file) {
                    Ok(true) => return Ok(Exclusive { _file: file }),
                    Ok(false) => {}
                    Err(e) => {
                        return Err(Error::run(format!(
                            "cannot lock state {}: {e}",
                            path.display()
                        )))
                    }
                }
                let step = std::time::Duration::from_millis(10);
                if waited >= std::time::Duration::from_secs(600) {
                    return Err(Error::run(format!(
                        "state lock {} held by another process for 10 minutes",
                        path.display()
                    )));
                }
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }

    /// `Ok(false)` when another open file holds the lock. Released when the file is closed,
    /// also by the kernel when the process dies.
    #[cfg(unix)]
    fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor this function borrows for the call only.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// Without `flock`, saves of parallel processes are not serialised.
    #[cfg(not(unix))]
    fn try_lock(_: &std::fs::File) -> std::io::Result<bool> {
        Ok(true)
    }
}

/// The state bucket uses the standard AWS environment (AWS_ENDPOINT_URL for S3-compatible
/// stores), since it is not tied to either connector's config.
#[cfg(feature = "s3")]
fn s3_state_store(bucket: &str) -> Result<std::sync::Arc<dyn object_store::ObjectStore>> {
    crate::connectors::file::store::s3_store(&crate::connectors::file::S3Connection {
        bucket: bucket.into(),
        region: None,
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_state_round_trips_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let loc = StateLocation::Local(dir.path().join("sub/p.json"));
        let mut s = loc.load("p").await.unwrap();
        assert!(s.streams.is_empty());
        s.streams.insert(
            "orders".into(),
            StreamState {
                cursor: Some(CursorValue::Int(42)),
                run_id: "r".into(),
                updated_at: "t".into(),
                ..Default::default()
            },
        );
        loc.save(&s).await.unwrap();
        assert_eq!(loc.load("p").await.unwrap(), s);
        std::fs::write(dir.path().join("sub/p.json"), b"{ not json").unwrap();
        let e = loc.load("p").await.unwrap_err().to_string();
        assert!(
            e.contains("is corrupt") && e.contains("will not silently start over"),
            "{e}"
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".p.json.lock", "p.json"], "no temp files left");
    }

    /// Saves of one stream each, at once (each its own open lock file, as separate processes
    /// have): every stream is in the document afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_stream_saves_keep_every_stream() {
        let dir = tempfile::tempdir().unwrap();
        let loc = StateLocation::Local(dir.path().join("p.json"));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let loc = loc.clone();
                tokio::spawn(async move {
                    let st = StreamState {
                        cursor: Some(CursorValue::Int(i)),
                        run_id: format!("r{i}"),
                        updated_at: "t".into(),
                        ..Default::default()
                    };
                    loc.save_stream("p", &format!("s{i}"), &st).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let doc = loc.load("p").await.unwrap();
        assert_eq!(doc.streams.len(), 16, "{:?}", doc.streams.keys());
        assert_eq!(doc.streams["s7"].cursor, Some(CursorValue::Int(7)));
    }

    #[test]
    fn resolve_prefers_the_command_line() {
        let dir = std::path::Path::new("/srv/specs");
        let l = StateLocation::resolve(Some("a.json"), Some("b.json"), "p", dir).unwrap();
        assert_eq!(
            l.display(),
            "a.json",
            "--state is relative to the current folder"
        );
        let l = StateLocation::resolve(None, None, "nightly", dir).unwrap();
        assert_eq!(l.display(), "/srv/specs/.etl/state/nightly.json");
        let l = StateLocation::resolve(None, Some("st/x.json"), "p", dir).unwrap();
        assert_eq!(l.display(), "/srv/specs/st/x.json");
        let l = StateLocation::resolve(None, Some("/var/etl/x.json"), "p", dir).unwrap();
        assert_eq!(l.display(), "/var/etl/x.json");
        assert!(StateLocation::resolve(Some("s3://bucket"), None, "p", dir).is_err());
        assert_eq!(
            StateLocation::spec_dir(std::path::Path::new("s.yaml")),
            std::env::current_dir().unwrap()
        );
    }
}
