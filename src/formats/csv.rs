//! CSV: a streaming writer (below) and arrow-csv's push decoder with schema inference.

use super::{CsvOptions, Encoder, PushDecoder, SharedBuf, Sink, WriteOptions};
use crate::error::{Error, Result};
use arrow::array::{Array, AsArray};
use arrow::csv::reader::{Decoder, Format as CsvFormat};
use arrow::csv::ReaderBuilder;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

/// CSV writer following PostgreSQL's `COPY ... CSV` convention, which arrow-csv's writer
/// cannot express: a NULL is an unquoted empty field (or `null_value`), an empty string is `""`
/// (as is a string equal to `null_value`). Fields holding
/// the delimiter, a quote or a line break are quoted; values are formatted by Arrow's display
/// (ISO-8601 dates and timestamps, exact decimals, binary as lowercase hex).
struct CsvEncoder {
    sink: Sink,
    schema: SchemaRef,
    delimiter: u8,
    header: bool,
    quote: u8,
    null_value: String,
    line: Vec<u8>,
    field: String,
}

impl CsvEncoder {
    fn push_field(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            let q = self.quote;
            // Quoted: the empty string and a value equal to `null_value` (so they read back as
            // text, not NULL), and anything holding the delimiter, the quote or a line break.
            let needs_quotes = v.is_empty()
                || v == self.null_value
                || v.bytes()
                    .any(|b| b == self.delimiter || b == q || b == b'\n' || b == b'\r');
            if needs_quotes {
                self.line.push(q);
                for b in v.bytes() {
                    if b == q {
                        self.line.push(q);
                    }
                    self.line.push(b);
                }
                self.line.push(q);
            } else {
                self.line.extend_from_slice(v.as_bytes());
            }
        }
    }

    fn end_record(&mut self) -> Result<()> {
        self.line.push(b'\n');
        if self.line.len() >= 1 << 16 {
            self.sink.write_all(&self.line)?;
            self.line.clear();
        }
        Ok(())
    }

    fn write_header(&mut self) -> Result<()> {
        if std::mem::take(&mut self.header) {
            let names: Vec<String> = self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    self.line.push(self.delimiter);
                }
                self.push_field(Some(n));
            }
            self.end_record()?;
        }
        Ok(())
    }
}

impl Encoder for CsvEncoder {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_header()?;
        let batch = &*super::zoned_text_exact(batch)?;
        // Errors stay errors: a value that cannot be formatted must fail the run, not be written.
        let options = FormatOptions::default().with_display_error(false);
        let formatters = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(a, f)| {
                if a.data_type().is_nested() {
                    return Err(Error::run(format!(
                        "column `{}`: nested type {} cannot be written to CSV",
                        f.name(),
                        a.data_type()
                    )));
                }
                Ok(ArrayFormatter::try_new(a.as_ref(), &options)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut field = std::mem::take(&mut self.field);
        for row in 0..batch.num_rows() {
            for (c, fmt) in formatters.iter().enumerate() {
                if c > 0 {
                    self.line.push(self.delimiter);
                }
                if batch.column(c).is_null(row) {
                    self.line.extend_from_slice(self.null_value.as_bytes());
                    continue;
                }
                field.clear();
                write!(field, "{}", fmt.value(row)).map_err(|_| {
                    Error::run(format!(
                        "column `{}`, row {}: cannot format value",
                        self.schema.field(c).name(),
                        row + 1
                    ))
                })?;
                self.push_field(Some(&field));
            }
            self.end_record()?;
        }
        self.field = field;
        self.sink.write_all(&self.line)?;
        self.line.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.write_header()?; // an empty stream still gets its header line
        self.sink.write_all(&self.line)?;
        self.sink.finish()
    }
}

pub(super) fn encoder(
    schema: SchemaRef,
    options: &WriteOptions,
    buf: SharedBuf,
) -> Result<Box<dyn Encoder>> {
    Ok(Box::new(CsvEncoder {
        sink: Sink::new(buf, options.compression)?,
        schema,
        delimiter: options.csv.delimiter,
        header: options.csv.header,
        quote: options.csv.quote,
        null_value: options.csv.null_value.clone(),
        line: Vec::with_capacity(1 << 17),
        field: String::new(),
    }))
}

/// Infers a schema from the first bytes of a file (whole lines only).
pub fn infer_schema(sample: &[u8], options: &CsvOptions, max_records: usize) -> Result<Schema> {
    let (schema, _) = CsvFormat::default()
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .with_quote(options.quote)
        .with_null_regex(null_regex(options)?)
        .infer_schema(sample, Some(max_records))?;
    Ok(schema)
}

struct CsvDecoder {
    decoder: Decoder,
    /// The schema asked for; binary columns are read as text (the writer's lowercase hex) and
    /// decoded here, as arrow-csv cannot parse binary.
    schema: SchemaRef,
    hex_columns: Vec<usize>,
}

impl PushDecoder for CsvDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize> {
        Ok(self.decoder.decode(buf)?)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self.decoder.flush()? else {
            return Ok(None);
        };
        if self.hex_columns.is_empty() {
            return Ok(Some(batch));
        }
        let mut columns = batch.columns().to_vec();
        for &i in &self.hex_columns {
            let name = self.schema.field(i).name();
            let text = columns[i].as_string::<i32>();
            let mut out = arrow::array::BinaryBuilder::with_capacity(text.len(), text.len() * 4);
            let mut bytes = Vec::new();
            for value in text.iter() {
                match value {
                    None => out.append_null(),
                    Some(v) => {
                        bytes.clear();
                        hex_decode(v, &mut bytes).map_err(|()| {
                            Error::run(format!(
                                "column `{name}`: `{}` is not binary written as hex digits",
                                v.chars().take(40).collect::<String>()
                            ))
                        })?;
                        out.append_value(&bytes);
                    }
                }
            }
            columns[i] = Arc::new(out.finish());
        }
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

/// `00ff` -> [0, 255]: the form the CSV writer gives binary values (Arrow's display).
fn hex_decode(text: &str, out: &mut Vec<u8>) -> std::result::Result<(), ()> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or(());
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return Err(());
    }
    for pair in text.chunks(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Ok(())
}

pub fn decoder(
    schema: SchemaRef,
    options: &CsvOptions,
    batch_size: usize,
) -> Result<Box<dyn PushDecoder>> {
    let hex_columns: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.data_type() == &DataType::Binary)
        .map(|(i, _)| i)
        .collect();
    let as_read = Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Binary => f.as_ref().clone().with_data_type(DataType::Utf8),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    );
    Ok(Box::new(CsvDecoder {
        schema,
        hex_columns,
        decoder: ReaderBuilder::new(Arc::new(as_read))
            .with_header(options.header)
            .with_delimiter(options.delimiter)
            .with_quote(options.quote)
            .with_null_regex(null_regex(options)?)
            .with_batch_size(batch_size)
            .build_decoder(),
    }))
}

/// NULL on read: exactly `null_value` (default: the empty field).
fn null_regex(options: &CsvOptions) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^{}$", regex::escape(&options.null_value)))
        .map_err(|e| Error::spec(format!("null_value `{}`: {e}", options.null_value)))
}
