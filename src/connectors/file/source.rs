use super::config::ReadOptions;
use super::is_hidden;
use super::store::Location;
use crate::connectors::{BatchStream, ReadRequest, Reader, Source, StreamInfo};
use crate::drift::{self, Column};
use crate::error::{Error, Result, ResultExt};
use crate::formats::{self, Compression, CsvOptions, Decompressor, Format, PushDecoder};
use crate::spec::{SchemaChanges, SpecType, StreamSpec};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Bytes read from the start of a CSV / JSON Lines file to infer its schema.
const INFER_SAMPLE_BYTES: usize = 1 << 20;
const INFER_MAX_RECORDS: usize = 10_000;

pub struct FileSource {
    location: Location,
    options: ReadOptions,
    csv: CsvOptions,
}

impl FileSource {
    pub fn new(location: Location, options: ReadOptions) -> Result<Self> {
        let csv = options.csv().map_err(Error::spec)?;
        Ok(FileSource {
            location,
            options,
            csv,
        })
    }

    /// Lists the files of one stream, in path order, with the format of each.
    async fn files(
        &self,
        stream: &StreamSpec,
    ) -> Result<(Arc<dyn ObjectStore>, Vec<(ObjectMeta, Format, Compression)>)> {
        let glob = stream
            .glob_pattern
            .as_ref()
            .or(self.options.glob_pattern.as_ref());
        let format = stream.format.or(self.options.format);
        let (store, root, is_dir) = self
            .location
            .source_root(stream.file_path.as_deref())
            .await?;
        let path = stream
            .file_path
            .clone()
            .unwrap_or_else(|| self.location.display());
        let metas = if is_dir {
            let matcher = match glob {
                Some(g) => Some(
                    globset::Glob::new(g)
                        .map_err(|e| Error::spec(format!("glob_pattern `{g}`: {e}")))?
                        .compile_matcher(),
                ),
                None => None,
            };
            let mut all: Vec<ObjectMeta> = store
                .list(Some(&root))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<std::result::Result<_, _>>()
                .with_context(|| format!("listing {path}"))?;
            all.retain(|m| {
                let rel = Path::from_iter(m.location.prefix_match(&root).into_iter().flatten());
                !is_hidden(&rel) && matcher.as_ref().is_none_or(|g| g.is_match(rel.as_ref()))
            });
            all.sort_by(|a, b| a.location.cmp(&b.location));
            all
        } else {
            vec![store
                .head(&root)
                .await
                .with_context(|| format!("reading {path}"))?]
        };
        let mut files = Vec::new();
        for m in metas {
            let implied = Format::from_file_name(m.location.as_ref());
            let (f, c) = match (format, implied) {
                (Some(f), Some((g, c))) if f == g => (f, c),
                (Some(_), Some(_)) if glob.is_none() && is_dir => continue, // other formats in the folder
                (Some(f), _) => (f, implied.map(|x| x.1).unwrap_or(Compression::None)),
                (None, Some((g, c))) => (g, c),
                (None, None) if is_dir && glob.is_none() => continue,
                (None, None) => {
                    return Err(Error::spec(format!(
                    "cannot tell the format of {}: set `format:` (parquet, csv, json, jsonl, avro)",
                    self.location.show(&m.location)
                )))
                }
            };
            files.push((m, f, c));
        }
        if files.is_empty() {
            return Err(Error::run(format!(
                "no files found for stream `{}` in {path}{}",
                stream.name,
                glob.map(|g| format!(" matching `{g}`")).unwrap_or_default()
            )));
        }
        Ok((store, files))
    }
}

/// Decodes one CSV / JSON Lines object chunk by chunk as it downloads.
struct TextReader {
    bytes: BoxStream<'static, object_store::Result<Bytes>>,
    decompressor: Decompressor,
    pending: Bytes,
    eof: bool,
    decoder: Box<dyn PushDecoder>,
}

impl TextReader {
    async fn fill(&mut self) -> Result<()> {
        match self.bytes.next().await {
            Some(chunk) => self.pending = self.decompressor.push(chunk?)?,
            None => {
                self.pending = self.decompressor.finish()?;
                self.eof = true;
            }
        }
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.pending.is_empty() {
                if !self.eof {
                    self.fill().await?;
                    continue;
                }
                self.decoder.decode(&[])?; // end of input: completes a last line without newline
                return self.decoder.flush();
            }
            let n = self.decoder.decode(&self.pending)?;
            self.pending.advance(n);
            if !self.pending.is_empty() {
                // The batch is full.
                match self.decoder.flush()? {
                    Some(b) => return Ok(Some(b)),
                    None if n == 0 => return Err(Error::run("decoder made no progress")),
                    None => {}
                }
            }
        }
    }
}

/// How text files (CSV, JSON, JSON Lines) are parsed.
#[derive(Debug, Clone)]
struct TextOptions {
    csv: CsvOptions,
    /// The stream's `schema:`: types that replace the inferred ones.
    types: std::collections::BTreeMap<String, SpecType>,
}

/// The inferred schema with the stream's `schema:` types put in; every named column must exist.
fn with_declared_types(
    inferred: Schema,
    types: &std::collections::BTreeMap<String, SpecType>,
) -> Result<Schema> {
    for name in types.keys() {
        if inferred.index_of(name).is_err() {
            let names: Vec<&str> = inferred
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(Error::spec(format!(
                "schema: column `{name}` is not in the file (columns: {})",
                names.join(", ")
            )));
        }
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match types.get(f.name()) {
            Some(t) => t.apply(f),
            None => f.as_ref().clone(),
        })
        .collect();
    Ok(Schema::new_with_metadata(
        fields,
        inferred.metadata().clone(),
    ))
}

/// Opens one file; `expected` is the schema every file of the stream must have.
async fn open_file(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    format: Format,
    compression: Compression,
    text: &TextOptions,
    batch_size: usize,
    expected: Option<&SchemaRef>,
) -> Result<(SchemaRef, BatchStream)> {
    if format == Format::Parquet {
        let (schema, stream) = formats::parquet::read(store, meta, batch_size).await?;
        check_schema(expected, &schema)?;
        return Ok((schema, stream));
    }
    if format == Format::Avro {
        let bytes = store.get(&meta.location).await?.into_stream();
        let (schema, stream) = formats::avro::read(bytes, compression, batch_size).await?;
        check_schema(expected, &schema)?;
        return Ok((schema, stream));
    }
    let mut reader = TextReader {
        bytes: store.get(&meta.location).await?.into_stream(),
        decompressor: Decompressor::new(compression)?,
        pending: Bytes::new(),
        eof: false,
        decoder: formats::csv::decoder(Arc::new(arrow::datatypes::Schema::empty()), &text.csv, 1)?,
    };
    // Read a sample for schema inference (whole lines only).
    let mut sample = Vec::new();
    while sample.len() < INFER_SAMPLE_BYTES && !reader.eof {
        reader.fill().await?;
        sample.extend_from_slice(&reader.pending);
    }
    let whole = if reader.eof {
        &sample[..]
    } else {
        &sample[..sample
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)]
    };
    let csv = &text.csv;
    let declared: Vec<&str> = text.types.keys().map(String::as_str).collect();
    let inferred: SchemaRef = Arc::new(with_declared_types(
        match format {
            Format::Csv => formats::csv::infer_schema(whole, csv, INFER_MAX_RECORDS)?,
            Format::Json => {
                formats::json::infer_array_schema(&sample, INFER_MAX_RECORDS, &declared)?
            }
            _ => formats::json::infer_schema(whole, INFER_MAX_RECORDS, &declared)?,
        },
        &text.types,
    )?);
    let schema = match expected {
        // CSV inference may see other types in a later file's sample; the header must agree.
        Some(e) => {
            let names = |s: &SchemaRef| {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            };
            if names(e) != names(&inferred) {
                check_schema(expected, &inferred)?;
            }
            e.clone()
        }
        None => inferred,
    };
    reader.pending = Bytes::from(sample);
    reader.decoder = match format {
        Format::Csv => formats::csv::decoder(schema.clone(), csv, batch_size)?,
        _ => formats::json::decoder(schema.clone(), batch_size)?,
    };
    let stream = futures::stream::unfold(reader, |mut r| async move {
        match r.next_batch().await {
            Ok(Some(b)) => Some((Ok(b), r)),
            Ok(None) => None,
            Err(e) => {
                r.eof = true;
                r.pending = Bytes::new();
                Some((Err(e), r))
            }
        }
    })
    .boxed();
    Ok((schema, stream))
}

fn check_schema(expected: Option<&SchemaRef>, found: &SchemaRef) -> Result<()> {
    if let Some(e) = expected {
        let strip = |s: &SchemaRef| {
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>()
        };
        if strip(e) != strip(found) {
            return Err(Error::run(format!(
                "its schema differs from the stream's first file: expected {:?}, found {:?}",
                strip(e),
                strip(found)
            )));
        }
    }
    Ok(())
}

/// The union of the schemas of `files` (Parquet and Avro files, whose schema their footer or
/// header holds), as `pyarrow.dataset` unifies them: every column any file has, in the order
/// first seen, nullable where a file lacks it, at the type that holds every file's values. A
/// column whose types no widening reconciles fails, naming the file.
async fn union_schema(
    store: &Arc<dyn ObjectStore>,
    files: &[(ObjectMeta, Format, Compression)],
    text: &TextOptions,
    location: &Location,
    parallel: usize,
) -> Result<SchemaRef> {
    let mut columns: Vec<Column> = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut metadata = None;
    // Footers and headers are fetched `parallel` at a time, and folded in path order.
    let opened = files.iter().cloned().map(|(meta, f, c)| {
        let (store, text) = (store.clone(), text.clone());
        async move {
            let schema = open_file(store, &meta, f, c, &text, 1, None)
                .await
                .map(|(schema, _)| schema);
            (meta, schema)
        }
    });
    let mut schemas = futures::stream::iter(opened).buffered(parallel.max(1));
    while let Some((meta, schema)) = schemas.next().await {
        let name = || format!("file {}", location.show(&meta.location));
        let schema = schema.with_context(name)?;
        let these: Vec<Column> = schema
            .fields()
            .iter()
            .map(|f| Column::from_field(f))
            .collect();
        columns = drift::union(&columns, &these).map_err(|e| {
            Error::run(format!(
                "{}: {e}. The files of a stream are read as the union of their columns under \
                 `schema_changes: evolve`; give the column one type in every file, or read \
                 the files as separate streams",
                name()
            ))
        })?;
        fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        metadata.get_or_insert_with(|| schema.metadata().clone());
    }
    // Each column takes the field (and its metadata) of a file that has the chosen type.
    let unified: Vec<Field> = columns
        .iter()
        .filter_map(|c| {
            fields
                .iter()
                .find(|f| f.name() == &c.name && Some(f.data_type()) == c.data_type.as_ref())
                .map(|f| f.clone().with_nullable(c.nullable))
        })
        .collect();
    Ok(Arc::new(Schema::new_with_metadata(
        unified,
        metadata.unwrap_or_default(),
    )))
}

/// `batch` as a batch of `to`: columns it lacks NULL, widened columns cast, in `to`'s order.
fn conform(batch: RecordBatch, to: &SchemaRef) -> Result<RecordBatch> {
    let from = batch.schema();
    let columns = to
        .fields()
        .iter()
        .map(|f| match from.index_of(f.name()) {
            Ok(i) if batch.column(i).data_type() == f.data_type() => Ok(batch.column(i).clone()),
            Ok(i) => arrow::compute::cast(batch.column(i), f.data_type()),
            Err(_) => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        to.clone(),
        columns,
        &options,
    )?)
}

/// A file's batches as batches of the stream's unified schema (`None`: as they are).
fn conformed(stream: BatchStream, to: Option<SchemaRef>) -> BatchStream {
    match to {
        None => stream,
        Some(to) => stream.map(move |b| b.and_then(|b| conform(b, &to))).boxed(),
    }
}

#[async_trait]
impl Source for FileSource {
    async fn check(&self) -> Result<()> {
        self.location.check(true).await
    }

    fn explain(&self, e: Error) -> Error {
        self.location.explain(e)
    }

    async fn discover(&self) -> Result<Vec<StreamInfo>> {
        let mut out = Vec::new();
        for s in self.default_streams().await? {
            let reader = self.read(ReadRequest::new(s.clone(), 1024)).await?;
            out.push(StreamInfo {
                name: s.name,
                schema: reader.schema,
                rows_estimate: None,
            });
        }
        Ok(out)
    }

    async fn default_streams(&self) -> Result<Vec<StreamSpec>> {
        // `orders.csv.gz` -> `orders`; a bucket root -> `stream`.
        Ok(vec![StreamSpec::named(
            self.location.stem().unwrap_or_else(|| "stream".into()),
        )])
    }

    /// `table: sales_*` matches the sub-folders of the source's path: one stream per folder.
    async fn pattern_candidates(&self, schema: Option<&str>) -> Result<Vec<StreamSpec>> {
        if let Some(s) = schema {
            return Err(Error::spec(format!(
                "a file source's `table:` pattern matches folder names and holds no `.`: `{s}.` cannot be used"
            )));
        }
        Ok(self
            .location
            .sub_folders()
            .await?
            .into_iter()
            .map(|(name, path)| StreamSpec {
                file_path: Some(path),
                ..StreamSpec::named(name)
            })
            .collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<Reader> {
        let (store, mut files) = self.files(&request.stream).await?;
        let stamp = |m: &ObjectMeta| m.last_modified.to_rfc3339();
        if let Some(seen) = &request.seen_files {
            files.retain(|(m, _, _)| seen.get(m.location.as_ref()) != Some(&stamp(m)));
        }
        let listed: Vec<(String, String)> = files
            .iter()
            .map(|(m, _, _)| (m.location.to_string(), stamp(m)))
            .collect();
        if files.is_empty() {
            // Incremental and nothing new: an empty stream of the previous files' schema is
            // not knowable, so report no batches with an empty schema.
            return Ok(Reader::new(
                Arc::new(arrow::datatypes::Schema::empty()),
                Box::pin(futures::stream::empty()),
            ));
        }
        let batch_size = request.batch_size;
        let csv = TextOptions {
            csv: self.csv.clone(),
            types: request.stream.schema.clone(),
        };
        let bytes: u64 = files.iter().map(|(m, _, _)| m.size).sum();
        // Under `evolve` (and `discard_new_columns`, which the destination applies), Parquet
        // and Avro files whose schemas differ are read as one table.
        let self_describing = files
            .iter()
            .all(|(_, f, _)| matches!(f, Format::Parquet | Format::Avro));
        let unified = match request.stream.schema_changes.unwrap_or_default() {
            SchemaChanges::Evolve | SchemaChanges::DiscardNewColumns
                if files.len() > 1 && self_describing =>
            {
                let parallel = self.options.parallel_files;
                Some(union_schema(&store, &files, &csv, &self.location, parallel).await?)
            }
            _ => None,
        };
        let (first, f, c) = &files[0];
        let (schema, first_stream) =
            open_file(store.clone(), first, *f, *c, &csv, batch_size, None)
                .await
                .with_context(|| format!("file {}", self.location.show(&first.location)))?;
        let schema = unified.clone().unwrap_or(schema);
        let first_stream = conformed(first_stream, unified.clone());
        let location = self.location.clone();
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(crate::contract::CHANNEL_CAPACITY);
        let expected = schema.clone();
        let parallel = self.options.parallel_files.max(1);
        // Up to `parallel` files are read at once, each by its own task: decoding uses every
        // core and S3 downloads overlap. Rows of different files interleave; with
        // `parallel_files: 1` they come file by file in path order.
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(parallel));
            let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut tasks = tokio::task::JoinSet::new();
            let mut first_stream = Some(first_stream);
            for (meta, f, c) in files {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                if failed.load(std::sync::atomic::Ordering::SeqCst) || tx.is_closed() {
                    break;
                }
                let (tx, failed, store, csv, expected, unified) = (
                    tx.clone(),
                    failed.clone(),
                    store.clone(),
                    csv.clone(),
                    expected.clone(),
                    unified.clone(),
                );
                let name = format!("file {}", location.show(&meta.location));
                let opened = first_stream.take();
                tasks.spawn(async move {
                    let _slot = slot;
                    let mut stream = match opened {
                        Some(s) => s,
                        None => {
                            let expected = unified.is_none().then_some(&expected);
                            match open_file(store, &meta, f, c, &csv, batch_size, expected).await {
                                Ok((_, s)) => conformed(s, unified),
                                Err(e) => {
                                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                                    let _ = tx.send(Err(e.context(name))).await;
                                    return;
                                }
                            }
                        }
                    };
                    while let Some(item) = stream.next().await {
                        let item = item.with_context(|| name.clone());
                        let bad = item.is_err();
                        if bad {
                            failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        if tx.send(item).await.is_err() || bad {
                            return;
                        }
                    }
                });
            }
            // The channel ends when this task drops `tx`: only after every reader is done, and
            // a reader that panicked is reported rather than ending the stream early.
            while let Some(done) = tasks.join_next().await {
                if let Err(e) = done {
                    let _ = tx
                        .send(Err(Error::run(format!("a file reader task failed: {e}"))))
                        .await;
                }
            }
        });
        Ok(Reader {
            schema,
            batches: Box::pin(ReceiverStream::new(rx)),
            files: listed,
            bytes: Some(bytes),
        })
    }
}
