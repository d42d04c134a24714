//! Incremental state: one JSON document per pipeline, holding per stream the typed cursor
//! value (SQL sources) or the files already read (file sources), the run id and the time.
//!
//! The runner saves it only after the destination has durably committed, so a crash at any
//! point re-reads from the previous cursor: nothing is lost. Local files are replaced
//! atomically (temp file, fsync, rename, fsync of the folder); `s3://bucket/key` URLs are
//! written with one PUT, which S3 makes visible atomically.

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
        let Some(bytes) = bytes else {
            return Ok(PipelineState {
                version: STATE_VERSION,
                pipeline: pipeline.into(),
                streams: BTreeMap::new(),
            });
        };
        let state: PipelineState = serde_json::from_slice(&bytes).map_err(|e| {
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

    /// Replaces the state document atomically.
    pub async fn save(&self, state: &PipelineState) -> Result<()> {
        let json = serde_json::to_vec_pretty(state).map_err(Error::run)?;
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
                let tmp = dir.join(format!(
                    ".{}.tmp-{}",
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ));
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
                })
            }
            #[cfg(feature = "s3")]
            StateLocation::S3 { bucket, key } => {
                use object_store::ObjectStoreExt;
                let store = s3_state_store(bucket)?;
                crate::fault::point("state-before-put");
                store
                    .put(&object_store::path::Path::from(key.as_str()), json.into())
                    .await
                    .map_err(|e| {
                        Error::run(format!(
                            "cannot write state {}: {}",
                            self.display(),
                            crate::error::full_message(&e)
                        ))
                    })?;
                Ok(())
            }
        }
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
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left");
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
