//! Files: one connector family over `object_store`, so local disk and object storage (S3, GCS,
//! Azure Blob) share
//! every line of listing, reading, staging and publishing. Only [`store`] knows which backend
//! a path lives on.

mod config;
mod destination;
pub mod partition;
mod source;
pub mod store;

pub use config::{
    AzureDestinationConfig, AzureSourceConfig, FileDestinationConfig, FileSourceConfig,
    GcsDestinationConfig, GcsSourceConfig, S3Connection, S3DestinationConfig, S3SourceConfig,
};
pub use destination::FileDestination;
pub use source::FileSource;

use object_store::path::Path;

/// True for paths that readers and `overwrite` must ignore: anything under a segment starting
/// with `.` or `_` (our staging folders, Spark/Hive markers, editor files).
pub(crate) fn is_hidden(relative: &Path) -> bool {
    relative
        .parts()
        .any(|p| p.as_ref().starts_with('.') || p.as_ref().starts_with('_'))
}
