use crate::formats::{Compression, CsvOptions, Format};
use crate::spec::env;
use crate::spec::StreamSpec;
use serde::Deserialize;

/// `config:` of a `local_file` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A file, or a folder whose files are read (recursively, hidden files skipped).
    #[serde(deserialize_with = "env::value")]
    pub file_path: String,
    /// The files' format; by default each file's extension decides.
    #[serde(default, deserialize_with = "env::opt")]
    pub format: Option<Format>,
    /// Which files under a folder `file_path` to read, e.g. `*.csv` or `2024-*/*.parquet`.
    #[serde(default, deserialize_with = "env::opt")]
    pub glob_pattern: Option<String>,
    /// CSV: field delimiter (one character, default `,`).
    #[serde(default, deserialize_with = "env::opt")]
    pub delimiter: Option<char>,
    /// CSV: whether the first line holds column names (default true).
    #[serde(default, deserialize_with = "env::opt")]
    pub header: Option<bool>,
}

/// `config:` of a `local_file` destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDestinationConfig {
    /// Folder that receives one sub-folder per stream.
    #[serde(deserialize_with = "env::value")]
    pub base_path: String,
    #[serde(default = "default_format", deserialize_with = "env::value")]
    pub format: Format,
    /// Parquet: snappy (default), zstd, gzip, lz4, none. CSV/JSON/JSONL: none (default),
    /// gzip, zstd. Avro: none (default), deflate, snappy, zstd.
    #[serde(default, deserialize_with = "env::opt")]
    pub compression: Option<Compression>,
    /// Whether a full refresh may replace files already in a stream's folder.
    #[serde(default, deserialize_with = "env::value")]
    pub overwrite: bool,
    /// Start a new part file after this many rows (default: one file per stream and run).
    #[serde(default, deserialize_with = "env::opt")]
    pub max_rows_per_file: Option<u64>,
    /// Parquet: rows per row group (default 122880).
    #[serde(default, deserialize_with = "env::opt")]
    pub row_group_size: Option<usize>,
    /// CSV: field delimiter (one character, default `,`).
    #[serde(default, deserialize_with = "env::opt")]
    pub delimiter: Option<char>,
    /// CSV: whether to write a header line (default true).
    #[serde(default, deserialize_with = "env::opt")]
    pub header: Option<bool>,
}

fn default_format() -> Format {
    Format::Parquet
}

pub(crate) fn csv_options(
    delimiter: Option<char>,
    header: Option<bool>,
) -> Result<CsvOptions, String> {
    let mut o = CsvOptions::default();
    if let Some(d) = delimiter {
        if !d.is_ascii() {
            return Err(format!("delimiter `{d}` must be a single ASCII character"));
        }
        o.delimiter = d as u8;
    }
    if let Some(h) = header {
        o.header = h;
    }
    Ok(o)
}

impl FileSourceConfig {
    pub fn validate(&self, streams: &[StreamSpec]) -> Result<(), String> {
        csv_options(self.delimiter, self.header).map_err(|e| format!("source.config.{e}"))?;
        for s in streams {
            if s.table.is_some() || s.query.is_some() {
                return Err(format!(
                    "stream `{}`: `table` and `query` apply to SQL sources; a file source reads `file_path`",
                    s.name
                ));
            }
        }
        for g in streams
            .iter()
            .filter_map(|s| s.glob_pattern.as_ref())
            .chain(&self.glob_pattern)
        {
            globset::Glob::new(g).map_err(|e| format!("glob_pattern `{g}`: {e}"))?;
        }
        Ok(())
    }
}

impl FileDestinationConfig {
    pub fn validate(&self) -> Result<(), String> {
        csv_options(self.delimiter, self.header).map_err(|e| format!("destination.config.{e}"))?;
        if let Some(c) = self.compression {
            if !self.format.compressions().contains(&c) {
                return Err(format!(
                    "destination.config.compression: `{c}` is not available for {} (choose one of {})",
                    self.format,
                    self.format.compressions().iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if self.max_rows_per_file == Some(0) {
            return Err("destination.config.max_rows_per_file: must be at least 1".into());
        }
        if self.row_group_size == Some(0) {
            return Err("destination.config.row_group_size: must be at least 1".into());
        }
        Ok(())
    }
}
