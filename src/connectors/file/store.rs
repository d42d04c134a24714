//! Where files live. This is the only module that knows local disk from S3, GCS and Azure Blob:
//! everything else sees an `ObjectStore` and paths inside it.

use super::config::{AzureConnection, GcsConnection, S3Connection};
use crate::error::{Error, Result};
use object_store::chunked::ChunkedStore;
use object_store::local::LocalFileSystem;

/// Bytes per read when streaming a local file.
const LOCAL_READ_CHUNK: usize = 1 << 20;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// A file connector's root: a local path, or a bucket / container and key prefix.
#[derive(Debug, Clone)]
pub enum Location {
    Local(String),
    Cloud { store: CloudStore, prefix: String },
}

/// An object store service and how to connect to it.
#[derive(Debug, Clone)]
pub enum CloudStore {
    S3(S3Connection),
    Gcs(GcsConnection),
    Azure(AzureConnection),
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
            Location::Cloud { store, prefix } => {
                format!("{}/{}", store.root(), prefix.trim_matches('/'))
                    .trim_end_matches('/')
                    .to_string()
            }
        }
    }

    /// An error with every object store failure inside it turned into one that names this
    /// location's bucket or container and says what to check ([`CloudStore::error`]).
    pub fn explain(&self, e: Error) -> Error {
        let Location::Cloud { store, .. } = self else {
            return e;
        };
        match e {
            Error::ObjectStore(e) => store.error(e),
            Error::Context { context, source } => Error::Context {
                context,
                source: Box::new(self.explain(*source)),
            },
            other => other,
        }
    }

    /// A file found in this location, as a person writes it: local paths keep their leading
    /// `/` (object_store drops it), object keys get their store's root (`s3://bucket/`,
    /// `gs://bucket/`, `az://container/`).
    pub fn show(&self, file: &Path) -> String {
        match self {
            Location::Local(_) => format!("/{file}"),
            Location::Cloud { store, .. } => format!("{}/{file}", store.root()),
        }
    }

    /// The last segment of the location, used to name a file source's only stream.
    pub fn stem(&self) -> Option<String> {
        let raw = match self {
            Location::Local(p) => p.as_str(),
            Location::Cloud { prefix, .. } => prefix.as_str(),
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
            Location::Cloud { store, prefix } => {
                let cloud = store.open()?;
                let prefix = prefix.trim_matches('/');
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    cloud
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(cloud, prefix))
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
            Location::Cloud {
                store: cloud,
                prefix,
            } => {
                let store = cloud.open()?;
                let key = sub.unwrap_or(prefix).trim_start_matches('/');
                let path = Path::from(key.trim_end_matches('/'));
                if key.is_empty() || key.ends_with('/') {
                    return Ok((store, path, true));
                }
                let is_dir = match store.head(&path).await {
                    Ok(_) => false,
                    Err(object_store::Error::NotFound { .. }) => true,
                    Err(e) => return Err(cloud.error(e)),
                };
                Ok((store, path, is_dir))
            }
        }
    }

    /// The sub-folders directly under this (source) location that `table:` patterns match,
    /// each as its name and the `file_path` that reads it; hidden ones (`.`, `_`) left out.
    pub async fn sub_folders(&self) -> Result<Vec<(String, String)>> {
        let (store, root, is_dir) = self.source_root(None).await?;
        if !is_dir {
            return Err(Error::spec(format!(
                "{} is a file: a `table:` pattern matches the sub-folders of a folder",
                self.display()
            )));
        }
        let listed = store
            .list_with_delimiter(Some(&root))
            .await
            .map_err(|e| self.explain(Error::from(e)))?;
        let mut out: Vec<(String, String)> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|name| !name.starts_with(['.', '_']))
            .map(|name| {
                let path = match self {
                    Location::Local(p) => format!("{}/{name}", p.trim_end_matches('/')),
                    Location::Cloud { prefix, .. } => match prefix.trim_matches('/') {
                        "" => format!("{name}/"),
                        prefix => format!("{prefix}/{name}/"),
                    },
                };
                (name, path)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// A quick reachability check: lists at most one object (object stores) or stats the path
    /// (local).
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
            Location::Cloud {
                store: cloud,
                prefix,
            } => {
                use futures::StreamExt;
                let store = cloud.open()?;
                let p = Path::from(prefix.trim_matches('/'));
                let first = store.list(Some(&p)).next().await;
                if let Some(Err(e)) = first {
                    return Err(cloud.error(e));
                }
                if is_source {
                    return Ok(());
                }
                // A destination must take objects: put and delete a probe under the hidden
                // `_etl/` folder (readers skip it), as `etl check` promises.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|t| t.subsec_nanos())
                    .unwrap_or(0);
                let probe = p
                    .clone()
                    .join("_etl")
                    .join(format!("check-{}-{nanos}", std::process::id()));
                let what = |e| {
                    cloud.error(e).context(format!(
                        "writing the probe object {}/{probe} (etl check puts and deletes it)",
                        cloud.root()
                    ))
                };
                store
                    .put(&probe, bytes::Bytes::new().into())
                    .await
                    .map_err(what)?;
                store.delete(&probe).await.map_err(what)
            }
        }
    }
}

impl CloudStore {
    /// `s3://bucket`, `gs://bucket` or `az://account/container`, for messages and summaries.
    pub fn root(&self) -> String {
        match self {
            CloudStore::S3(c) => format!("s3://{}", c.bucket),
            CloudStore::Gcs(c) => format!("gs://{}", c.bucket),
            CloudStore::Azure(c) => format!("az://{}", c.container),
        }
    }

    /// `s3 bucket `b``, for the start of error messages.
    fn what(&self) -> String {
        match self {
            CloudStore::S3(c) => format!("s3 bucket `{}`", c.bucket),
            CloudStore::Gcs(c) => format!("gcs bucket `{}`", c.bucket),
            CloudStore::Azure(c) => format!("azure_blob container `{}`", c.container),
        }
    }

    /// A client for this store (no request is made).
    pub fn open(&self) -> Result<Arc<dyn ObjectStore>> {
        match self {
            CloudStore::S3(c) => s3_store(c),
            CloudStore::Gcs(c) => gcs_store(c),
            CloudStore::Azure(c) => azure_store(c),
        }
    }

    /// Turns an object_store error into one that names the bucket or container and says what
    /// to check; its kind (not found, refused credentials, transient) is object_store's.
    pub fn error(&self, e: object_store::Error) -> Error {
        let kind = crate::error::object_store_kind(&e);
        let text = crate::error::full_message(&e);
        let hint = match classify(kind, &text) {
            Some(Refusal::Missing) => match self {
                CloudStore::Azure(_) => " (the container does not exist)",
                _ => " (the bucket does not exist)",
            },
            Some(Refusal::Credentials) => match self {
                CloudStore::S3(_) => " (the server refused the credentials: check aws_access_key_id / aws_secret_access_key)",
                CloudStore::Gcs(_) => " (the server refused the credentials: check service_account_path / service_account_key / GOOGLE_APPLICATION_CREDENTIALS)",
                CloudStore::Azure(_) => " (the server refused the credentials: check account / account_key / sas_token / connection_string)",
            },
            None => "",
        };
        Error::driver(kind, format!("{}{hint}", self.what()), text)
    }
}

/// What a storage service's refusal means.
enum Refusal {
    Missing,
    Credentials,
}

fn classify(kind: crate::error::ErrorKind, text: &str) -> Option<Refusal> {
    const MISSING: [&str; 3] = ["NoSuchBucket", "ContainerNotFound", "bucket not found"];
    const CREDENTIALS: [&str; 8] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "InvalidAuthenticationInfo",
        "403 Forbidden",
        "401 Unauthorized",
        "invalid_grant",
    ];
    if MISSING.iter().any(|m| text.contains(m)) {
        Some(Refusal::Missing)
    } else if kind == crate::error::ErrorKind::Auth || CREDENTIALS.iter().any(|m| text.contains(m))
    {
        Some(Refusal::Credentials)
    } else {
        None
    }
}

/// HTTP settings shared by every object store client: bounded connects and retries, so a dead
/// endpoint fails a run instead of hanging it.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn http_settings(
    endpoint: Option<&str>,
) -> (object_store::ClientOptions, object_store::RetryConfig) {
    use std::time::Duration;
    let client = object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(300))
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")));
    let retry = object_store::RetryConfig {
        max_retries: 5,
        retry_timeout: Duration::from_secs(120),
        ..Default::default()
    };
    (client, retry)
}

/// A client builder's refusal: credentials that cannot be used are a failed run (exit 1),
/// anything else a configuration error (exit 2).
#[cfg(any(feature = "gcs", feature = "azure"))]
fn build_error(what: String, e: object_store::Error) -> Error {
    let text = crate::error::full_message(&e);
    let lower = text.to_ascii_lowercase();
    if [
        "credential",
        "key",
        "sas",
        "token",
        "account",
        "pem",
        "decode",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        Error::Connection(format!("{what}: the credentials cannot be used: {text}"))
    } else {
        Error::spec(format!("{what}: {text}"))
    }
}

#[cfg(feature = "s3")]
pub fn s3_store(c: &S3Connection) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    let (client, retry) = http_settings(c.endpoint.as_deref());
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
        // `with_allow_http` is kept inside the client options set above.
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    let store = b
        .with_retry(retry)
        .build()
        .map_err(|e| Error::spec(format!("s3 bucket `{}`: {e}", c.bucket)))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
pub fn s3_store(c: &S3Connection) -> Result<Arc<dyn ObjectStore>> {
    Err(not_built(&format!("s3 bucket `{}`", c.bucket), "s3"))
}

#[cfg(feature = "gcs")]
fn gcs_store(c: &GcsConnection) -> Result<Arc<dyn ObjectStore>> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    for var in ["GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_SERVICE_ACCOUNT"] {
        if let Ok(v) = std::env::var(var) {
            crate::spec::env::remember_secret(&v);
        }
    }
    let (client, retry) = http_settings(c.endpoint.as_deref());
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_client_options(client)
        .with_retry(retry)
        .with_bucket_name(&c.bucket);
    if let Some(p) = &c.service_account_path {
        b = b.with_service_account_path(p);
    }
    if let Some(k) = &c.service_account_key {
        b = b.with_service_account_key(k.expose());
    }
    if let Some(e) = &c.endpoint {
        b = b.with_base_url(e.trim_end_matches('/'));
    }
    if c.anonymous {
        // An empty bearer token: no credential lookup (which would otherwise end at the
        // instance metadata server) and no Authorization header worth the name.
        use object_store::gcp::GcpCredential;
        b = b.with_skip_signature(true).with_credentials(Arc::new(
            object_store::StaticCredentialProvider::new(GcpCredential {
                bearer: String::new(),
            }),
        ));
    }
    let store = b
        .build()
        .map_err(|e| build_error(format!("gcs bucket `{}`", c.bucket), e))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "gcs"))]
fn gcs_store(c: &GcsConnection) -> Result<Arc<dyn ObjectStore>> {
    Err(not_built(&format!("gcs bucket `{}`", c.bucket), "gcs"))
}

/// Azure credentials and endpoint after the spec, the connection string and the environment
/// have been consulted, in that order.
#[derive(Debug, Default, PartialEq)]
struct AzureResolved {
    account: Option<String>,
    account_key: Option<String>,
    sas_token: Option<String>,
    endpoint: Option<String>,
    /// Whether the credentials came from the spec or a connection string (then the other
    /// `AZURE_*` variables are not consulted).
    explicit: bool,
}

/// The account name and key of the Azurite storage emulator, published in its documentation
/// (`UseDevelopmentStorage=true`).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Parses an Azure Storage connection string (`Key=Value;...`, keys case-insensitive).
fn parse_connection_string(text: &str) -> Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(Error::spec(
                "azure_blob connection_string: every part must be `Key=Value` (separated by `;`)",
            ));
        };
        out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    Ok(out)
}

fn resolve_azure(
    c: &AzureConnection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AzureResolved> {
    let mut r = AzureResolved {
        account: c.account.clone(),
        account_key: c.account_key.as_ref().map(|s| s.expose().to_string()),
        sas_token: c.sas_token.as_ref().map(|s| s.expose().to_string()),
        endpoint: c.endpoint.clone(),
        explicit: c.account_key.is_some() || c.sas_token.is_some(),
    };
    let cs = match &c.connection_string {
        Some(s) => Some(s.expose().to_string()),
        None if !r.explicit => env("AZURE_STORAGE_CONNECTION_STRING"),
        None => None,
    };
    if let Some(cs) = cs {
        crate::spec::env::remember_secret(&cs);
        let mut parts = parse_connection_string(&cs)?;
        if parts
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            parts
                .entry("accountname".into())
                .or_insert_with(|| AZURITE_ACCOUNT.into());
            parts
                .entry("accountkey".into())
                .or_insert_with(|| AZURITE_KEY.into());
            parts
                .entry("blobendpoint".into())
                .or_insert_with(|| format!("http://127.0.0.1:10000/{AZURITE_ACCOUNT}"));
        }
        let account = r
            .account
            .clone()
            .or_else(|| parts.get("accountname").cloned());
        if !r.explicit {
            r.account_key = parts.get("accountkey").cloned();
            r.sas_token = parts.get("sharedaccesssignature").cloned();
            r.explicit = r.account_key.is_some() || r.sas_token.is_some();
        }
        if r.endpoint.is_none() {
            r.endpoint = parts.get("blobendpoint").cloned().or_else(|| {
                let account = account.as_deref()?;
                let protocol = parts
                    .get("defaultendpointsprotocol")
                    .map_or("https", String::as_str);
                let suffix = parts
                    .get("endpointsuffix")
                    .map_or("core.windows.net", String::as_str);
                Some(format!("{protocol}://{account}.blob.{suffix}"))
            });
        }
        r.account = account;
    }
    if !r.explicit {
        r.account_key = env("AZURE_STORAGE_ACCOUNT_KEY").or_else(|| env("AZURE_STORAGE_KEY"));
        r.sas_token = env("AZURE_STORAGE_SAS_TOKEN");
    }
    r.account = r
        .account
        .or_else(|| env("AZURE_STORAGE_ACCOUNT_NAME"))
        .or_else(|| env("AZURE_STORAGE_ACCOUNT"));
    for s in [&r.account_key, &r.sas_token].into_iter().flatten() {
        crate::spec::env::remember_secret(s);
    }
    Ok(r)
}

#[cfg(feature = "azure")]
fn azure_store(c: &AzureConnection) -> Result<Arc<dyn ObjectStore>> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let what = format!("azure_blob container `{}`", c.container);
    if let Ok(v) = std::env::var("AZURE_CLIENT_SECRET") {
        crate::spec::env::remember_secret(&v);
    }
    let r = resolve_azure(c, &|k| std::env::var(k).ok())?;
    let Some(account) = &r.account else {
        return Err(Error::spec(format!(
            "{what}: no storage account: set `account` (or AZURE_STORAGE_ACCOUNT_NAME, or a connection string)"
        )));
    };
    let endpoint = r.endpoint.as_deref().map(|e| e.trim_end_matches('/'));
    let (client, retry) = http_settings(endpoint);
    // Other credentials (service principal, managed identity, Azure CLI) come from the
    // AZURE_* variables, unless the spec or a connection string named credentials.
    let mut b = if r.explicit {
        MicrosoftAzureBuilder::new()
    } else {
        MicrosoftAzureBuilder::from_env()
    }
    .with_client_options(client)
    .with_retry(retry)
    .with_container_name(&c.container)
    .with_account(account);
    if let Some(k) = &r.account_key {
        b = b.with_access_key(k);
    } else if let Some(s) = &r.sas_token {
        b = b.with_config(AzureConfigKey::SasKey, s);
    }
    if let Some(e) = endpoint {
        b = b.with_endpoint(e.to_string());
    }
    let store = b.build().map_err(|e| build_error(what, e))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "azure"))]
fn azure_store(c: &AzureConnection) -> Result<Arc<dyn ObjectStore>> {
    Err(not_built(
        &format!("azure_blob container `{}`", c.container),
        "azure",
    ))
}

#[cfg(any(not(feature = "s3"), not(feature = "gcs"), not(feature = "azure")))]
fn not_built(what: &str, feature: &str) -> Error {
    Error::spec(format!(
        "{what}: this etl was built without the `{feature}` cargo feature"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::env::Secret;

    fn azure(cs: Option<&str>) -> AzureConnection {
        AzureConnection {
            container: "c".into(),
            account: None,
            account_key: None,
            sas_token: None,
            connection_string: cs.map(Secret::new),
            endpoint: None,
        }
    }

    #[test]
    fn azure_connection_strings() {
        let none = |_: &str| None;
        let r = resolve_azure(
            &azure(Some("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn")),
            &none,
        )
        .unwrap();
        assert_eq!(r.account.as_deref(), Some("acct"));
        assert_eq!(r.account_key.as_deref(), Some("a2V5"));
        assert_eq!(
            r.endpoint.as_deref(),
            Some("https://acct.blob.core.chinacloudapi.cn")
        );
        let r = resolve_azure(&azure(Some("UseDevelopmentStorage=true")), &none).unwrap();
        assert_eq!(r.account.as_deref(), Some(AZURITE_ACCOUNT));
        assert_eq!(
            r.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        let r = resolve_azure(
            &azure(Some(
                "BlobEndpoint=http://h:1/acct;SharedAccessSignature=sv=2020&sig=x%2By",
            )),
            &none,
        )
        .unwrap();
        assert_eq!(r.sas_token.as_deref(), Some("sv=2020&sig=x%2By"));
        assert_eq!(r.endpoint.as_deref(), Some("http://h:1/acct"));
        assert!(resolve_azure(&azure(Some("AccountName")), &none).is_err());
    }

    #[test]
    fn azure_spec_keys_win_over_the_environment() {
        let env = |k: &str| match k {
            "AZURE_STORAGE_CONNECTION_STRING" => Some("AccountName=envacct;AccountKey=ZW52".into()),
            "AZURE_STORAGE_SAS_TOKEN" => Some("sig=env".into()),
            _ => None,
        };
        let mut c = azure(None);
        c.account = Some("mine".into());
        c.sas_token = Some(Secret::new("sig=mine"));
        let r = resolve_azure(&c, &env).unwrap();
        assert_eq!(
            (r.account.as_deref(), r.account_key, r.sas_token.as_deref()),
            (Some("mine"), None, Some("sig=mine"))
        );
        // Nothing in the spec: the connection string from the environment.
        let r = resolve_azure(&azure(None), &env).unwrap();
        assert_eq!(r.account.as_deref(), Some("envacct"));
        assert_eq!(r.account_key.as_deref(), Some("ZW52"));
    }

    #[test]
    fn refusals_are_named() {
        use crate::error::ErrorKind::{Auth, NotFound, Permanent, Unreachable};
        let is = |r: Option<Refusal>, m: bool| match r {
            Some(Refusal::Missing) => m,
            Some(Refusal::Credentials) => !m,
            None => false,
        };
        assert!(is(
            classify(Permanent, "403 Forbidden: AuthenticationFailed"),
            false
        ));
        assert!(is(classify(Auth, "the server said no"), false));
        assert!(is(classify(NotFound, "ContainerNotFound"), true));
        assert!(classify(Unreachable, "connection refused").is_none());
    }
}
