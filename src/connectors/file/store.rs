//! Where files live. This is the only module that knows local disk from S3: everything else
//! sees an `ObjectStore` and paths inside it.

use super::config::S3Connection;
use crate::error::{Error, Result};
use object_store::chunked::ChunkedStore;
use object_store::local::LocalFileSystem;

/// Bytes per read when streaming a local file.
const LOCAL_READ_CHUNK: usize = 1 << 20;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// A file connector's root: a local path, or a bucket and key prefix.
#[derive(Debug, Clone)]
pub enum Location {
    Local(String),
    S3 {
        connection: S3Connection,
        prefix: String,
    },
}

/// An object store plus what only its backend can do.
#[derive(Clone)]
pub struct FileStore {
    pub store: Arc<dyn ObjectStore>,
    /// Set for local disk, where folders exist apart from the files in them.
    local_root: Option<std::path::PathBuf>,
}

impl FileStore {
    /// Removes a folder and the folders inside it that are (or become) empty; folders holding
    /// files stay. Local disk only: object stores have no folders.
    pub fn remove_empty_folders(&self, folder: &Path) {
        if let Some(root) = &self.local_root {
            prune(&root.join(folder.as_ref()));
        }
    }

    /// Like [`Self::remove_empty_folders`], but keeps `folder` itself.
    pub fn remove_empty_folders_below(&self, folder: &Path) {
        if let Some(root) = &self.local_root {
            if let Ok(entries) = std::fs::read_dir(root.join(folder.as_ref())) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        prune(&e.path());
                    }
                }
            }
        }
    }
}

/// Depth-first removal of empty folders; `remove_dir` refuses any folder that holds a file.
fn prune(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                prune(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Location {
    /// `out/parquet` or `s3://bucket/prefix`, for messages and summaries.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.trim_end_matches('/').to_string(),
            Location::S3 { connection, prefix } => {
                format!("s3://{}/{}", connection.bucket, prefix.trim_matches('/'))
                    .trim_end_matches('/')
                    .to_string()
            }
        }
    }

    /// A file found in this location, as a person writes it: local paths keep their leading
    /// `/` (object_store drops it), S3 keys get their `s3://bucket/` prefix.
    pub fn show(&self, file: &Path) -> String {
        match self {
            Location::Local(_) => format!("/{file}"),
            Location::S3 { connection, .. } => format!("s3://{}/{file}", connection.bucket),
        }
    }

    /// The last segment of the location, used to name a file source's only stream.
    pub fn stem(&self) -> Option<String> {
        let raw = match self {
            Location::Local(p) => p.as_str(),
            Location::S3 { prefix, .. } => prefix.as_str(),
        };
        let last = raw.trim_end_matches('/').rsplit('/').next()?;
        last.split('.')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A store rooted at this location, for a destination. Local folders are created only when
    /// `create` is set; without it a missing folder gives `None`.
    pub fn destination_store(&self, create: bool) -> Result<Option<FileStore>> {
        match self {
            Location::Local(folder) => {
                if !create && !std::path::Path::new(folder).exists() {
                    return Ok(None);
                }
                if create {
                    std::fs::create_dir_all(folder)
                        .map_err(|e| Error::run(format!("cannot create folder {folder}: {e}")))?;
                }
                let root = std::fs::canonicalize(folder)
                    .map_err(|e| Error::run(format!("cannot open folder {folder}: {e}")))?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| Error::run(format!("cannot open folder {folder}: {e}")))?
                    .with_automatic_cleanup(true);
                Ok(Some(FileStore {
                    store: Arc::new(store),
                    local_root: Some(root),
                }))
            }
            Location::S3 { connection, prefix } => {
                let s3 = s3_store(connection)?;
                let prefix = prefix.trim_matches('/');
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
                };
                Ok(Some(FileStore {
                    store,
                    local_root: None,
                }))
            }
        }
    }

    /// For a source: the store, the path to read in it (`sub` overrides the configured path or
    /// prefix) and whether that path is a folder.
    pub async fn source_root(
        &self,
        sub: Option<&str>,
    ) -> Result<(Arc<dyn ObjectStore>, Path, bool)> {
        match self {
            Location::Local(path) => {
                let path = sub.unwrap_or(path);
                let canonical = std::fs::canonicalize(path)
                    .map_err(|e| Error::run(format!("file_path `{path}` cannot be read: {e}")))?;
                let is_dir = canonical.is_dir();
                let location = Path::from_absolute_path(&canonical)
                    .map_err(|e| Error::run(format!("file_path `{path}`: {e}")))?;
                // object_store reads local files in 8 KiB chunks, each on the blocking pool:
                // thousands of thread hand-offs per file. 1 MiB chunks keep the same streaming
                // (memory bounded by the chunk) without the hand-offs.
                let store = ChunkedStore::new(Arc::new(LocalFileSystem::new()), LOCAL_READ_CHUNK);
                Ok((Arc::new(store), location, is_dir))
            }
            Location::S3 { connection, prefix } => {
                let store = s3_store(connection)?;
                let key = sub.unwrap_or(prefix).trim_start_matches('/');
                let path = Path::from(key.trim_end_matches('/'));
                if key.is_empty() || key.ends_with('/') {
                    return Ok((store, path, true));
                }
                let is_dir = match store.head(&path).await {
                    Ok(_) => false,
                    Err(object_store::Error::NotFound { .. }) => true,
                    Err(e) => return Err(s3_error(connection, e)),
                };
                Ok((store, path, is_dir))
            }
        }
    }

    /// A quick reachability check: lists at most one object (S3) or stats the path (local).
    pub async fn check(&self, is_source: bool) -> Result<()> {
        match self {
            Location::Local(_) if is_source => self.source_root(None).await.map(|_| ()),
            Location::Local(folder) => {
                let base = std::path::Path::new(folder);
                let existing = base
                    .ancestors()
                    .find(|p| p.exists())
                    .unwrap_or(std::path::Path::new("."));
                let meta = std::fs::metadata(existing)
                    .map_err(|e| Error::Connection(format!("base_path {folder}: {e}")))?;
                if meta.permissions().readonly() {
                    return Err(Error::Connection(format!(
                        "base_path {folder}: {} is read-only",
                        existing.display()
                    )));
                }
                Ok(())
            }
            Location::S3 { connection, prefix } => {
                use futures::StreamExt;
                let store = s3_store(connection)?;
                let p = Path::from(prefix.trim_matches('/'));
                let first = store.list(Some(&p)).next().await;
                match first {
                    None | Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(s3_error(connection, e)),
                }
            }
        }
    }
}

/// Turns an object_store error into one that names the bucket and says what to check.
pub fn s3_error(connection: &S3Connection, e: object_store::Error) -> Error {
    let text = crate::error::full_message(&e);
    Error::Connection(format!(
        "s3 bucket `{}`{}: {text}",
        connection.bucket,
        s3_hint(&text)
    ))
}

/// What an S3 error most likely means, for the people reading it at 3 a.m.
pub fn s3_hint(text: &str) -> &'static str {
    if text.contains("NoSuchBucket") {
        " (the bucket does not exist)"
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("403 Forbidden")
    {
        " (the server refused the credentials: check aws_access_key_id / aws_secret_access_key)"
    } else {
        ""
    }
}

#[cfg(feature = "s3")]
pub fn s3_store(c: &S3Connection) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ClientOptions, RetryConfig};
    use std::time::Duration;
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(300));
    // Client options first: `with_allow_http` below is stored inside them.
    let mut b = AmazonS3Builder::from_env()
        .with_client_options(client)
        .with_bucket_name(&c.bucket);
    if let Some(r) = &c.region {
        b = b.with_region(r);
    } else if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        b = b.with_region("us-east-1");
    }
    if let Some(k) = &c.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(s) = &c.secret_access_key {
        b = b.with_secret_access_key(s.expose());
    }
    if let Some(t) = &c.session_token {
        b = b.with_token(t.expose());
    }
    if let Some(e) = &c.endpoint {
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    let retry = RetryConfig {
        max_retries: 5,
        retry_timeout: Duration::from_secs(120),
        ..Default::default()
    };
    let store = b
        .with_retry(retry)
        .build()
        .map_err(|e| Error::spec(format!("s3 bucket `{}`: {e}", c.bucket)))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
pub fn s3_store(c: &S3Connection) -> Result<Arc<dyn ObjectStore>> {
    Err(Error::spec(format!(
        "s3 bucket `{}`: this etl was built without the `s3` cargo feature",
        c.bucket
    )))
}
