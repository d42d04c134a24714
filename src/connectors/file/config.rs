//! `config:` of the file connectors. Local disk, S3, GCS and Azure Blob differ only in where
//! the files live (`file_path` / `base_path` versus bucket or container + `prefix` +
//! credentials); the format options are the same, so one macro writes them into each struct
//! and the option structs below are shared.

use super::store::{CloudStore, Location};
use crate::formats::{Compression, CsvOptions, Format};
use crate::spec::env::{self, Secret};
use crate::spec::StreamSpec;
use serde::Deserialize;

/// A `config:` struct of the file connectors: its own keys, then the CSV options every file
/// source and destination takes (read by `csv()`).
macro_rules! file_config {
    ($(#[$m:meta])* $name:ident { $($fields:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($fields)*
            /// CSV: field delimiter (one character, default `,`).
            #[serde(default, deserialize_with = "env::opt")]
            pub delimiter: Option<char>,
            /// CSV: whether the first line holds the column names (read) or is written with
            /// them (default true).
            #[serde(default, deserialize_with = "env::opt")]
            pub header: Option<bool>,
            /// CSV: quote character (default `"`).
            #[serde(default, deserialize_with = "env::opt")]
            pub quote: Option<char>,
            /// CSV: the text of a NULL (default: an empty unquoted field).
            #[serde(default, deserialize_with = "env::opt")]
            pub null_value: Option<String>,
        }

        impl $name {
            fn csv(&self) -> CsvConfig {
                CsvConfig {
                    delimiter: self.delimiter,
                    header: self.header,
                    quote: self.quote,
                    null_value: self.null_value.clone(),
                }
            }
        }
    };
}

/// Appends the format options every file *source* takes to a struct with its location keys.
macro_rules! source_config {
    ($(#[$m:meta])* $name:ident { $($location:tt)* }) => {
        file_config! {
            $(#[$m])*
            $name {
                $($location)*
                /// The files' format; by default each file's extension decides.
                #[serde(default, deserialize_with = "env::opt")]
                pub format: Option<Format>,
                /// Which files to read under the folder / prefix, e.g. `*.csv` or
                /// `2024-*/*.parquet`.
                #[serde(default, deserialize_with = "env::opt")]
                pub glob_pattern: Option<String>,
                /// Files of a stream read at the same time (default 4; 1 reads them one by one
                /// in path order).
                #[serde(default, deserialize_with = "env::opt")]
                pub parallel_files: Option<usize>,
            }
        }

        impl $name {
            pub fn read_options(&self) -> ReadOptions {
                ReadOptions {
                    format: self.format,
                    glob_pattern: self.glob_pattern.clone(),
                    parallel_files: self.parallel_files.unwrap_or(DEFAULT_PARALLEL_FILES),
                    csv: self.csv(),
                }
            }
        }
    };
}

/// Appends the options every file *destination* takes to a struct with its location keys.
macro_rules! destination_config {
    ($(#[$m:meta])* $name:ident { $($location:tt)* }) => {
        file_config! {
            $(#[$m])*
            $name {
                $($location)*
                #[serde(default = "default_format", deserialize_with = "env::value")]
                pub format: Format,
                /// Parquet: snappy (default), zstd, gzip, lz4, none. CSV/JSON/JSONL: none
                /// (default), gzip, zstd. Avro: none (default), deflate, snappy, zstd.
                #[serde(default, deserialize_with = "env::opt")]
                pub compression: Option<Compression>,
                /// Whether a full refresh may replace files already in a stream's folder.
                #[serde(default, deserialize_with = "env::value")]
                pub overwrite: bool,
                /// Start a new part file after this many rows (default: one file per stream
                /// and run).
                #[serde(default, deserialize_with = "env::opt")]
                pub max_rows_per_file: Option<u64>,
                /// Start a new part file once this many bytes are written (approximate:
                /// checked after each batch).
                #[serde(default, deserialize_with = "env::opt")]
                pub max_bytes_per_file: Option<u64>,
                /// Where each file goes below the base path / prefix, e.g.
                /// `{stream}/{YYYY}/{MM}/{DD}/part-{run_id}-{part}` (default
                /// `{stream}/part-{run_id}-{part}`).
                #[serde(default, deserialize_with = "env::opt")]
                pub path_template: Option<PathTemplate>,
                /// Parquet: rows per row group (default 122880).
                #[serde(default, deserialize_with = "env::opt")]
                pub row_group_size: Option<usize>,
            }
        }

        impl $name {
            pub fn write_options(&self) -> WriteConfig {
                WriteConfig {
                    format: self.format,
                    compression: self.compression,
                    overwrite: self.overwrite,
                    max_rows_per_file: self.max_rows_per_file,
                    max_bytes_per_file: self.max_bytes_per_file,
                    path_template: self.path_template.clone(),
                    row_group_size: self.row_group_size,
                    csv: self.csv(),
                }
            }
        }
    };
}

source_config! {
    /// `config:` of a `local_file` source.
    FileSourceConfig {
        /// A file, or a folder whose files are read (recursively, hidden files skipped).
        #[serde(deserialize_with = "env::non_empty")]
        pub file_path: String,
    }
}

destination_config! {
    /// `config:` of a `local_file` destination.
    FileDestinationConfig {
        /// Folder that receives one sub-folder per stream.
        #[serde(deserialize_with = "env::non_empty")]
        pub base_path: String,
    }
}

/// Writes an S3 config struct: the bucket and connection keys, then (through `$role`, one of
/// the two macros above) the options of that role. One list of S3 keys serves both roles.
macro_rules! s3_config {
    ($role:ident, $(#[$m:meta])* $name:ident, $prefix_doc:literal) => {
        $role! {
            $(#[$m])*
            $name {
                #[serde(deserialize_with = "env::non_empty")]
                pub bucket: String,
                #[doc = $prefix_doc]
                #[serde(default, deserialize_with = "env::non_empty_if_given")]
                pub prefix: String,
                #[serde(default, deserialize_with = "env::opt")]
                pub region: Option<String>,
                #[serde(default, deserialize_with = "env::opt")]
                pub aws_access_key_id: Option<String>,
                #[serde(default)]
                pub aws_secret_access_key: Option<Secret>,
                #[serde(default)]
                pub aws_session_token: Option<Secret>,
                /// Any S3-compatible store, e.g. `http://127.0.0.1:9000`.
                #[serde(default, deserialize_with = "env::opt")]
                pub endpoint: Option<String>,
            }
        }
    };
}

s3_config!(
    source_config,
    /// `config:` of an `s3` source.
    S3SourceConfig,
    "Key prefix of the files to read (a \"folder\" or one object's key)."
);

s3_config!(
    destination_config,
    /// `config:` of an `s3` destination.
    S3DestinationConfig,
    "Key prefix under which each stream gets its folder."
);

/// S3 connection settings; keys left out come from the standard AWS environment variables.
#[derive(Debug, Clone)]
pub struct S3Connection {
    pub bucket: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub endpoint: Option<String>,
}

/// Writes a GCS config struct: the bucket and credential keys, then the options of `$role`.
macro_rules! gcs_config {
    ($role:ident, $(#[$m:meta])* $name:ident, $prefix_doc:literal) => {
        $role! {
            $(#[$m])*
            $name {
                #[serde(deserialize_with = "env::value")]
                pub bucket: String,
                #[doc = $prefix_doc]
                #[serde(default, deserialize_with = "env::value")]
                pub prefix: String,
                /// A service-account JSON key file (default: `GOOGLE_APPLICATION_CREDENTIALS`,
                /// then gcloud's application default credentials).
                #[serde(default, deserialize_with = "env::opt")]
                pub service_account_path: Option<String>,
                /// The service-account JSON key itself, e.g. `${GCS_KEY_JSON}`.
                #[serde(default)]
                pub service_account_key: Option<Secret>,
                /// An emulator or another GCS-compatible server, e.g. `http://127.0.0.1:4443`.
                #[serde(default, deserialize_with = "env::opt")]
                pub endpoint: Option<String>,
                /// Send requests without credentials (public buckets, emulators).
                #[serde(default, deserialize_with = "env::value")]
                pub anonymous: bool,
            }
        }
    };
}

gcs_config!(
    source_config,
    /// `config:` of a `gcs` source.
    GcsSourceConfig,
    "Object name prefix of the files to read (a \"folder\" or one object's name)."
);

gcs_config!(
    destination_config,
    /// `config:` of a `gcs` destination.
    GcsDestinationConfig,
    "Object name prefix under which each stream gets its folder."
);

/// Google Cloud Storage connection settings.
#[derive(Debug, Clone)]
pub struct GcsConnection {
    pub bucket: String,
    pub service_account_path: Option<String>,
    pub service_account_key: Option<Secret>,
    pub endpoint: Option<String>,
    pub anonymous: bool,
}

/// Writes an Azure Blob config struct: the container and credential keys, then the options of
/// `$role`.
macro_rules! azure_config {
    ($role:ident, $(#[$m:meta])* $name:ident, $prefix_doc:literal) => {
        $role! {
            $(#[$m])*
            $name {
                #[serde(deserialize_with = "env::value")]
                pub container: String,
                #[doc = $prefix_doc]
                #[serde(default, deserialize_with = "env::value")]
                pub prefix: String,
                /// The storage account (default: `AZURE_STORAGE_ACCOUNT_NAME` /
                /// `AZURE_STORAGE_ACCOUNT`, or the connection string's `AccountName`).
                #[serde(default, deserialize_with = "env::opt")]
                pub account: Option<String>,
                /// The account's shared key (default: `AZURE_STORAGE_ACCOUNT_KEY` /
                /// `AZURE_STORAGE_KEY`).
                #[serde(default)]
                pub account_key: Option<Secret>,
                /// A SAS token (default: `AZURE_STORAGE_SAS_TOKEN`).
                #[serde(default)]
                pub sas_token: Option<Secret>,
                /// A connection string (default: `AZURE_STORAGE_CONNECTION_STRING`).
                #[serde(default)]
                pub connection_string: Option<Secret>,
                /// The blob service URL, e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`.
                #[serde(default, deserialize_with = "env::opt")]
                pub endpoint: Option<String>,
            }
        }
    };
}

azure_config!(
    source_config,
    /// `config:` of an `azure_blob` source.
    AzureSourceConfig,
    "Blob name prefix of the files to read (a \"folder\" or one blob's name)."
);

azure_config!(
    destination_config,
    /// `config:` of an `azure_blob` destination.
    AzureDestinationConfig,
    "Blob name prefix under which each stream gets its folder."
);

/// Azure Blob Storage connection settings as written in the spec; [`super::store`] resolves
/// the connection string and the environment.
#[derive(Debug, Clone)]
pub struct AzureConnection {
    pub container: String,
    pub account: Option<String>,
    pub account_key: Option<Secret>,
    pub sas_token: Option<Secret>,
    pub connection_string: Option<Secret>,
    pub endpoint: Option<String>,
}

macro_rules! location {
    ($t:ty, $variant:ident, $connection:ident { $($field:ident: $from:ident),* }) => {
        impl $t {
            pub fn location(&self) -> Location {
                Location::Cloud {
                    store: CloudStore::$variant($connection {
                        $($field: self.$from.clone(),)*
                    }),
                    prefix: self.prefix.clone(),
                }
            }
        }
    };
}
macro_rules! s3_location {
    ($t:ty) => {
        location!(
            $t,
            S3,
            S3Connection {
                bucket: bucket,
                region: region,
                access_key_id: aws_access_key_id,
                secret_access_key: aws_secret_access_key,
                session_token: aws_session_token,
                endpoint: endpoint
            }
        );
    };
}
macro_rules! gcs_location {
    ($t:ty) => {
        location!(
            $t,
            Gcs,
            GcsConnection {
                bucket: bucket,
                service_account_path: service_account_path,
                service_account_key: service_account_key,
                endpoint: endpoint,
                anonymous: anonymous
            }
        );
    };
}
macro_rules! azure_location {
    ($t:ty) => {
        location!(
            $t,
            Azure,
            AzureConnection {
                container: container,
                account: account,
                account_key: account_key,
                sas_token: sas_token,
                connection_string: connection_string,
                endpoint: endpoint
            }
        );
    };
}
s3_location!(S3SourceConfig);
s3_location!(S3DestinationConfig);
gcs_location!(GcsSourceConfig);
gcs_location!(GcsDestinationConfig);
azure_location!(AzureSourceConfig);
azure_location!(AzureDestinationConfig);

impl FileSourceConfig {
    pub fn location(&self) -> Location {
        Location::Local(self.file_path.clone())
    }
}

impl FileDestinationConfig {
    pub fn location(&self) -> Location {
        Location::Local(self.base_path.clone())
    }
}

fn default_format() -> Format {
    Format::Parquet
}

/// Files of a stream read at the same time unless `parallel_files` says otherwise: enough to
/// overlap S3 round trips and use both cores of a small machine, few enough that memory (one
/// batch or row group per open file) stays small.
pub const DEFAULT_PARALLEL_FILES: usize = 4;

/// Reading options shared by every file source.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Option<Format>,
    pub glob_pattern: Option<String>,
    pub parallel_files: usize,
    pub csv: CsvConfig,
}

impl ReadOptions {
    pub fn csv(&self) -> Result<CsvOptions, String> {
        self.csv.options()
    }

    fn validate(&self, streams: &[StreamSpec]) -> Result<(), String> {
        self.csv().map_err(|e| format!("source.config.{e}"))?;
        if !(1..=64).contains(&self.parallel_files) {
            return Err(format!(
                "source.config.parallel_files must be from 1 to 64, not {}",
                self.parallel_files
            ));
        }
        for s in streams {
            if s.cursor_field.is_some() {
                return Err(format!(
                    "stream `{}`: a file source's incremental mode reads only files it has not read before; it has no `cursor_field`",
                    s.name
                ));
            }
            if !s.schema.is_empty() {
                let format = s.format.or(self.format);
                if matches!(format, Some(Format::Parquet | Format::Avro)) {
                    return Err(format!(
                        "stream `{}`: `schema` applies to CSV, JSON and JSON Lines files; {} files carry their own types",
                        s.name,
                        format.map_or("", |f| f.extension())
                    ));
                }
            }
            if (s.table.is_some() && s.pattern().is_none()) || s.query.is_some() {
                return Err(format!(
                    "stream `{}`: `table` and `query` apply to SQL sources; a file source reads files",
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

/// Writing options shared by every file destination.
#[derive(Debug, Clone)]
pub struct WriteConfig {
    pub format: Format,
    pub compression: Option<Compression>,
    pub overwrite: bool,
    pub max_rows_per_file: Option<u64>,
    pub max_bytes_per_file: Option<u64>,
    pub path_template: Option<PathTemplate>,
    pub row_group_size: Option<usize>,
    pub csv: CsvConfig,
}

impl WriteConfig {
    fn validate(&self) -> Result<(), String> {
        self.csv
            .options()
            .map_err(|e| format!("destination.config.{e}"))?;
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
        if self.max_bytes_per_file == Some(0) {
            return Err("destination.config.max_bytes_per_file: must be at least 1".into());
        }
        if self.row_group_size == Some(0) {
            return Err("destination.config.row_group_size: must be at least 1".into());
        }
        Ok(())
    }
}

impl WriteConfig {
    /// Whether a stream's run may write more than one part file into one folder.
    fn several_parts(&self, stream: &StreamSpec) -> bool {
        self.max_rows_per_file.is_some()
            || self.max_bytes_per_file.is_some()
            || !stream.partition_by.is_empty()
    }

    /// `path_template` against the streams: file names that cannot collide. A run that may
    /// write several parts needs `{part}`; an incremental stream, whose runs add files beside
    /// the earlier ones, needs `{run_id}`.
    fn validate_template(&self, streams: &[StreamSpec]) -> Result<(), String> {
        let Some(t) = &self.path_template else {
            return Ok(());
        };
        let key = "destination.config.path_template";
        if !t.uses("part") {
            if let Some(s) = streams.iter().find(|s| self.several_parts(s)) {
                return Err(format!(
                    "{key}: `{t}` has no `{{part}}`, but stream `{}` may write several files per run ({}): add `{{part}}` to the file name",
                    s.name,
                    if s.partition_by.is_empty() {
                        "max_rows_per_file / max_bytes_per_file"
                    } else {
                        "partition_by"
                    }
                ));
            }
        }
        if !t.uses("run_id") {
            if let Some(s) = streams
                .iter()
                .find(|s| s.mode == crate::spec::Mode::Incremental)
            {
                return Err(format!(
                    "{key}: `{t}` has no `{{run_id}}`, but stream `{}` is incremental: each run adds files beside the earlier ones, so their names must hold `{{run_id}}`",
                    s.name
                ));
            }
        }
        Ok(())
    }
}

/// The variables of a `path_template`.
pub const TEMPLATE_VARIABLES: [&str; 8] = [
    "stream",
    "run_id",
    "run_timestamp",
    "YYYY",
    "MM",
    "DD",
    "HH",
    "part",
];

/// `path_template:` of a file destination: the path of each file below the base path /
/// prefix, `/`-separated. The segments up to the one holding `{stream}` are the stream's
/// folder (its commit log, its staging area and what a full refresh replaces) and hold no
/// other variable; the segments after it are folders below it, then the file name, to which
/// the format's extension is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<String>,
    /// Index of the segment holding `{stream}`.
    stream_at: usize,
}

/// What a template's variables stand for in one file's path.
pub struct TemplateValues<'a> {
    pub stream: &'a str,
    pub run_id: &'a str,
    /// Run start (UTC).
    pub started: chrono::DateTime<chrono::Utc>,
    pub part: usize,
}

impl PathTemplate {
    /// Whether the template uses `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        self.text.contains(&format!("{{{name}}}"))
    }

    fn render(segment: &str, v: &TemplateValues<'_>) -> String {
        let mut out = String::with_capacity(segment.len() + 16);
        let mut rest = segment;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let value = match name {
                "stream" => v.stream.to_string(),
                "run_id" => v.run_id.to_string(),
                "run_timestamp" => v.started.format("%Y%m%dT%H%M%SZ").to_string(),
                "YYYY" => v.started.format("%Y").to_string(),
                "MM" => v.started.format("%m").to_string(),
                "DD" => v.started.format("%d").to_string(),
                "HH" => v.started.format("%H").to_string(),
                "part" => format!("{:05}", v.part),
                other => format!("{{{other}}}"),
            };
            out.push_str(&value);
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The stream's folder: the segments up to `{stream}`.
    pub fn stream_folder(&self, v: &TemplateValues<'_>) -> Vec<String> {
        self.segments[..=self.stream_at]
            .iter()
            .map(|s| Self::render(s, v))
            .collect()
    }

    /// Below the stream's folder: the folders, then the file name (without extension).
    pub fn below(&self, v: &TemplateValues<'_>) -> (Vec<String>, String) {
        let mut rest: Vec<String> = self.segments[self.stream_at + 1..]
            .iter()
            .map(|s| Self::render(s, v))
            .collect();
        let name = rest.pop().unwrap_or_default();
        (rest, name)
    }
}

impl std::fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for PathTemplate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            if rest[i..].starts_with('}') {
                return Err(format!("`{text}`: a `}}` without its `{{`"));
            }
            let close = rest[i..]
                .find('}')
                .ok_or_else(|| format!("`{text}`: a `{{` without its `}}`"))?;
            let name = &rest[i + 1..i + close];
            if !TEMPLATE_VARIABLES.contains(&name) {
                return Err(format!(
                    "`{text}`: unknown variable `{{{name}}}` (the variables are {})",
                    TEMPLATE_VARIABLES
                        .iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            rest = &rest[i + close + 1..];
        }
        let segments: Vec<String> = text.split('/').map(str::to_string).collect();
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || s.starts_with(['.', '_']))
        {
            return Err(format!(
                "`{text}`: {} (no leading, trailing or double `/`; no segment starting with `.` or `_`, which readers skip as hidden)",
                if bad.is_empty() {
                    "an empty path segment".to_string()
                } else {
                    format!("segment `{bad}` would be hidden")
                }
            ));
        }
        let stream_at = segments
            .iter()
            .position(|s| s.contains("{stream}"))
            .ok_or_else(|| format!("`{text}`: it must hold `{{stream}}` in a folder: each stream's files go under a folder of their own (e.g. `{{stream}}/{{YYYY}}/{{MM}}/{{DD}}/part-{{run_id}}-{{part}}`)"))?;
        if stream_at + 1 == segments.len() {
            return Err(format!(
                "`{text}`: `{{stream}}` must name a folder, not the file: the stream's folder keeps its commit log and is what a full refresh replaces (e.g. `{{stream}}/part-{{run_id}}-{{part}}`)"
            ));
        }
        if let Some(s) = segments[..=stream_at]
            .iter()
            .find(|s| s.replace("{stream}", "").contains('{'))
        {
            return Err(format!(
                "`{text}`: the folders up to `{{stream}}` name the stream's folder and may hold no other variable (`{s}`); put dates and run ids below it"
            ));
        }
        Ok(PathTemplate {
            text: text.to_string(),
            segments,
            stream_at,
        })
    }
}

impl env::Kind for PathTemplate {
    const KIND: &'static str =
        "a path template such as {stream}/{YYYY}/{MM}/{DD}/part-{run_id}-{part}";
}

/// The CSV keys of a file connector's config, as written in the spec.
#[derive(Debug, Clone, Default)]
pub struct CsvConfig {
    pub delimiter: Option<char>,
    pub header: Option<bool>,
    pub quote: Option<char>,
    pub null_value: Option<String>,
}

impl CsvConfig {
    /// The options, or which key is wrong.
    pub fn options(&self) -> Result<CsvOptions, String> {
        let mut o = CsvOptions::default();
        let ascii = |key: &str, c: char| {
            if c.is_ascii() && c != '\n' && c != '\r' {
                Ok(c as u8)
            } else {
                Err(format!(
                    "{key} `{c}` must be a single ASCII character other than a line break"
                ))
            }
        };
        if let Some(d) = self.delimiter {
            o.delimiter = ascii("delimiter", d)?;
        }
        if let Some(q) = self.quote {
            o.quote = ascii("quote", q)?;
        }
        if o.quote == o.delimiter {
            return Err("quote: must differ from the delimiter".into());
        }
        if let Some(h) = self.header {
            o.header = h;
        }
        if let Some(n) = &self.null_value {
            o.null_value = n.clone();
        }
        Ok(o)
    }
}

/// Registers a file connector's configs (`local_file`, `s3`, `gcs`, `azure_blob`): one file connector, only the location
/// differs.
macro_rules! register_file_connector {
    ($source:ty, $destination:ty) => {
        impl crate::connectors::registry::SourceConnector for $source {
            fn validate(&self, streams: &[StreamSpec]) -> Result<(), String> {
                self.read_options().validate(streams)
            }

            fn build(
                &self,
                _: &crate::spec::Defaults,
            ) -> crate::error::Result<Box<dyn crate::connectors::Source>> {
                Ok(Box::new(super::FileSource::new(
                    self.location(),
                    self.read_options(),
                )?))
            }
        }

        impl crate::connectors::registry::DestinationConnector for $destination {
            const STREAM_KEYS: &'static [crate::connectors::registry::StreamKey] =
                &[crate::connectors::registry::StreamKey::PartitionBy];

            fn validate(&self, streams: &[StreamSpec]) -> Result<(), String> {
                let options = self.write_options();
                options.validate()?;
                options.validate_template(streams)?;
                super::destination::validate_modes(&options, streams)?;
                super::partition::validate(streams)
            }

            fn build(&self) -> crate::error::Result<Box<dyn crate::connectors::Destination>> {
                Ok(Box::new(super::FileDestination::new(
                    self.location(),
                    self.write_options(),
                )?))
            }
        }
    };
}

register_file_connector!(FileSourceConfig, FileDestinationConfig);
register_file_connector!(S3SourceConfig, S3DestinationConfig);
register_file_connector!(GcsSourceConfig, GcsDestinationConfig);
register_file_connector!(AzureSourceConfig, AzureDestinationConfig);
