//! Builds the object store behind a file connector. This is the only place that knows whether
//! a path is on local disk or in a bucket.

use crate::error::{Error, Result};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use std::sync::Arc;

/// An object store plus what only its backend can do.
#[derive(Clone)]
pub struct FileStore {
    pub store: Arc<dyn ObjectStore>,
    /// Set for local disk, where folders exist apart from the files in them.
    local_root: Option<std::path::PathBuf>,
}

impl FileStore {
    /// Removes a folder left empty (local disk only; object stores have no folders).
    pub fn remove_empty_folder(&self, folder: &Path) {
        if let Some(root) = &self.local_root {
            let _ = std::fs::remove_dir(root.join(folder.as_ref()));
        }
    }
}

/// A local folder as an object store rooted at it (created when `create` is set).
pub fn local_root(folder: &str, create: bool) -> Result<FileStore> {
    if create {
        std::fs::create_dir_all(folder)
            .map_err(|e| Error::run(format!("cannot create folder {folder}: {e}")))?;
    }
    let store = LocalFileSystem::new_with_prefix(folder)
        .map_err(|e| Error::run(format!("cannot open folder {folder}: {e}")))?
        .with_automatic_cleanup(true);
    let root = std::fs::canonicalize(folder)
        .map_err(|e| Error::run(format!("cannot open folder {folder}: {e}")))?;
    Ok(FileStore {
        store: Arc::new(store),
        local_root: Some(root),
    })
}

/// A local file or folder as (store rooted at `/`, its path in that store).
pub fn local_path(path: &str) -> Result<(Arc<dyn ObjectStore>, Path, bool)> {
    let p = std::path::Path::new(path);
    let canonical = std::fs::canonicalize(p)
        .map_err(|e| Error::run(format!("file_path `{path}` cannot be read: {e}")))?;
    let is_dir = canonical.is_dir();
    let location = Path::from_absolute_path(&canonical)
        .map_err(|e| Error::run(format!("file_path `{path}`: {e}")))?;
    Ok((Arc::new(LocalFileSystem::new()), location, is_dir))
}
