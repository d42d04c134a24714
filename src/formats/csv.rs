//! CSV: a streaming writer (below) and arrow-csv's push decoder with schema inference, both
//! following PostgreSQL's `COPY ... CSV` rule for NULL: an unquoted `null_value` (by default the
//! empty field) is NULL, a quoted one (`""`) is text.

use super::{CsvOptions, Encoder, PushDecoder, SharedBuf, Sink, WriteOptions};
use crate::error::{Error, Result};
use arrow::array::{Array, AsArray, StringArray};
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
        // Lists, structs and maps are written as their JSON text.
        let batch =
            &*super::nested::with_json_text(batch, |f| super::nested::is_nested(f.data_type()))?;
        // Errors stay errors: a value that cannot be formatted must fail the run, not be written.
        let options = FormatOptions::default().with_display_error(false);
        let formatters = batch
            .columns()
            .iter()
            .map(|a| Ok(ArrayFormatter::try_new(a.as_ref(), &options)?))
            .collect::<Result<Vec<_>>>()?;
        // Logical nulls: a Null-typed column has no validity buffer, yet every value is NULL.
        let nulls: Vec<_> = batch.columns().iter().map(|a| a.logical_nulls()).collect();
        let mut field = std::mem::take(&mut self.field);
        for row in 0..batch.num_rows() {
            for (c, fmt) in formatters.iter().enumerate() {
                if c > 0 {
                    self.line.push(self.delimiter);
                }
                if nulls[c].as_ref().is_some_and(|n| n.is_null(row)) {
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
    // A column with no value in the sample but NULLs and quoted `""` holds text, as far as
    // anyone can tell (DuckDB reads such a column as VARCHAR too).
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// arrow-csv's decoder plus a [`QuoteScan`] that finds the quoted fields arrow-csv would
/// otherwise read as NULL.
struct CsvDecoder {
    inner: Decoder,
    batch_size: usize,
    scan: Option<QuoteScan>,
    /// The schema asked for; binary columns are read as text (the writer's lowercase hex) and
    /// decoded here, as arrow-csv cannot parse binary.
    schema: SchemaRef,
    hex_columns: Vec<usize>,
    /// Lists, structs and maps: read as text (the writer's JSON) and decoded here.
    json_columns: Vec<usize>,
}

impl PushDecoder for CsvDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize> {
        let buffered = self.batch_size - self.inner.capacity();
        let n = self.inner.decode(buf)?;
        if let Some(scan) = &mut self.scan {
            scan.scan(&buf[..n], buf.is_empty(), buffered);
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self.inner.flush()? else {
            return Ok(None);
        };
        let batch = match &mut self.scan {
            Some(scan) if !scan.flags.is_empty() => {
                let flags = std::mem::take(&mut scan.flags);
                scan.restore(batch, flags)?
            }
            _ => batch,
        };
        self.decode_writer_text(batch).map(Some)
    }
}

/// PostgreSQL's CSV rule on top of arrow-csv, which strips quotes before it compares a field
/// with `null_value`: a *quoted* field is never NULL. This scan follows the same bytes as
/// arrow-csv's reader (csv-core's grammar: blank lines skipped, `\r`, `\n` and `\r\n` end a
/// record, `""` inside quotes is a quote) and notes the text-column fields that are exactly
/// `null_value` in quotes (by default `""`); [`QuoteScan::restore`] gives them back their text.
///
/// Chunks without a quote character are skipped with two memchr calls (the last line end, the
/// delimiters after it), so files without quotes pay almost nothing.
struct QuoteScan {
    delimiter: u8,
    quote: u8,
    null_value: Vec<u8>,
    /// Per column: holds text (only there a quoted `null_value` differs from NULL).
    text: Vec<bool>,
    state: ScanState,
    /// The field of the current record the scan is in (0-based).
    field: usize,
    /// In a quoted field: how many bytes of `null_value` its content has matched so far
    /// (`None` once it differs).
    matched: Option<usize>,
    /// The next record ends the header line.
    header: bool,
    /// Complete records of the batch being decoded (arrow-csv's count, then the scan's own).
    rows: usize,
    /// `(row in batch, column)` of quoted `null_value` fields in text columns.
    flags: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    StartRecord,
    StartField,
    InField,
    InQuoted,
    /// A quote inside a quoted field: the field's end, or the first half of `""`.
    QuoteInQuoted,
}

fn is_line_end(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

impl QuoteScan {
    fn new(schema: &Schema, options: &CsvOptions) -> Option<Self> {
        let text: Vec<bool> = schema
            .fields()
            .iter()
            .map(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            })
            .collect();
        text.iter().any(|t| *t).then(|| QuoteScan {
            delimiter: options.delimiter,
            quote: options.quote,
            null_value: options.null_value.as_bytes().to_vec(),
            text,
            state: ScanState::StartRecord,
            field: 0,
            matched: None,
            header: options.header,
            rows: 0,
            flags: Vec::new(),
        })
    }

    /// Follows `chunk`, the bytes arrow-csv just consumed; `buffered` is the number of complete
    /// records arrow-csv held before them, `eof` whether this is the end of the input.
    fn scan(&mut self, chunk: &[u8], eof: bool, buffered: usize) {
        use ScanState::*;
        if eof {
            if self.state == QuoteInQuoted {
                self.end_quoted();
            }
            if self.state != StartRecord {
                self.end_record();
            }
            return;
        }
        let plain = matches!(self.state, StartRecord | StartField | InField);
        if plain && !self.header && memchr::memchr(self.quote, chunk).is_none() {
            // No quoted field starts or ends here: only where the chunk leaves off matters.
            let tail = match memchr::memrchr2(b'\n', b'\r', chunk) {
                Some(end) => {
                    self.state = StartRecord;
                    self.field = 0;
                    &chunk[end + 1..]
                }
                None => chunk,
            };
            if let Some(&last) = tail.last() {
                self.field += memchr::memchr_iter(self.delimiter, tail).count();
                self.state = if last == self.delimiter {
                    StartField
                } else {
                    InField
                };
            }
            return;
        }
        self.rows = buffered;
        let (d, q) = (self.delimiter, self.quote);
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                StartRecord => {
                    if is_line_end(chunk[i]) {
                        i += 1;
                    } else {
                        self.state = StartField;
                    }
                }
                StartField => {
                    let b = chunk[i];
                    i += 1;
                    if b == q {
                        self.state = InQuoted;
                        self.matched = Some(0);
                    } else if b == d {
                        self.field += 1;
                    } else if is_line_end(b) {
                        self.end_record();
                    } else {
                        self.state = InField;
                    }
                }
                InField => match memchr::memchr3(d, b'\n', b'\r', &chunk[i..]) {
                    None => i = chunk.len(),
                    Some(k) => {
                        let b = chunk[i + k];
                        i += k + 1;
                        if b == d {
                            self.field += 1;
                            self.state = StartField;
                        } else {
                            self.end_record();
                        }
                    }
                },
                InQuoted => match memchr::memchr(q, &chunk[i..]) {
                    None => {
                        self.content(&chunk[i..]);
                        i = chunk.len();
                    }
                    Some(k) => {
                        self.content(&chunk[i..i + k]);
                        i += k + 1;
                        self.state = QuoteInQuoted;
                    }
                },
                QuoteInQuoted => {
                    let b = chunk[i];
                    i += 1;
                    if b == q {
                        self.content(&[q]);
                        self.state = InQuoted;
                    } else if b == d {
                        self.end_quoted();
                        self.field += 1;
                        self.state = StartField;
                    } else if is_line_end(b) {
                        self.end_quoted();
                        self.end_record();
                    } else {
                        // `"a"b`: the field goes on unquoted; it is not a quoted `null_value`.
                        self.matched = None;
                        self.state = InField;
                    }
                }
            }
        }
    }

    fn content(&mut self, bytes: &[u8]) {
        if let Some(m) = self.matched {
            self.matched =
                (self.null_value.get(m..m + bytes.len()) == Some(bytes)).then_some(m + bytes.len());
        }
    }

    fn end_quoted(&mut self) {
        if self.matched == Some(self.null_value.len())
            && !self.header
            && self.text.get(self.field) == Some(&true)
        {
            self.flags.push((self.rows, self.field));
        }
        self.matched = None;
    }

    fn end_record(&mut self) {
        if self.header {
            self.header = false;
        } else {
            self.rows += 1;
        }
        self.field = 0;
        self.state = ScanState::StartRecord;
    }

    /// Gives the flagged fields of `batch` their text back (arrow-csv read them as NULL).
    fn restore(&self, batch: RecordBatch, flags: Vec<(usize, usize)>) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        if let Some((row, _)) = flags.iter().find(|(r, _)| *r >= rows) {
            return Err(Error::run(format!(
                "CSV reader out of step: a quoted field in record {} of a batch of {rows}",
                row + 1
            )));
        }
        let mut columns = batch.columns().to_vec();
        let text = String::from_utf8_lossy(&self.null_value);
        for (c, column) in columns.iter_mut().enumerate() {
            let mut quoted: Vec<usize> = flags
                .iter()
                .filter(|(_, col)| *col == c)
                .map(|(r, _)| *r)
                .collect();
            if quoted.is_empty() {
                continue;
            }
            quoted.sort_unstable();
            let as_text = arrow::compute::cast(column, &DataType::Utf8)?;
            let strings = as_text.as_string::<i32>();
            let restored: StringArray = (0..rows)
                .map(
                    |r| match strings.is_null(r) && quoted.binary_search(&r).is_ok() {
                        true => Some(text.as_ref()),
                        false => strings.is_valid(r).then(|| strings.value(r)),
                    },
                )
                .collect();
            *column = arrow::compute::cast(&restored, column.data_type())?;
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

impl CsvDecoder {
    /// Binary columns, read as text, decoded from the writer's hex digits; nested columns
    /// from its JSON text.
    fn decode_writer_text(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.hex_columns.is_empty() && self.json_columns.is_empty() {
            return Ok(batch);
        }
        let mut columns = batch.columns().to_vec();
        for &i in &self.json_columns {
            columns[i] =
                super::nested::from_json_text(self.schema.field(i), columns[i].as_string::<i32>())?;
        }
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
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
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
    let json_columns: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| super::nested::is_nested(f.data_type()))
        .map(|(i, _)| i)
        .collect();
    let as_read = Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Binary => f.as_ref().clone().with_data_type(DataType::Utf8),
                d if super::nested::is_nested(d) => {
                    f.as_ref().clone().with_data_type(DataType::Utf8)
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    );
    Ok(Box::new(CsvDecoder {
        scan: QuoteScan::new(&schema, options),
        schema,
        hex_columns,
        json_columns,
        inner: ReaderBuilder::new(Arc::new(as_read))
            .with_header(options.header)
            .with_delimiter(options.delimiter)
            .with_quote(options.quote)
            .with_null_regex(null_regex(options)?)
            .with_batch_size(batch_size)
            .build_decoder(),
        batch_size,
    }))
}

/// NULL on read: exactly `null_value` (default: the empty field).
fn null_regex(options: &CsvOptions) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^{}$", regex::escape(&options.null_value)))
        .map_err(|e| Error::spec(format!("null_value `{}`: {e}", options.null_value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use std::sync::Arc;

    /// Decodes `text` fed in chunks of `chunk` bytes, batches of `batch` rows; every value of
    /// every column as `Some(text)` / `None` (NULL).
    fn read(
        text: &str,
        options: &CsvOptions,
        chunk: usize,
        batch: usize,
    ) -> Vec<Vec<Option<String>>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8View, true),
        ]));
        let mut d = decoder(schema, options, batch).unwrap();
        let mut batches = Vec::new();
        let mut pending = text.as_bytes();
        loop {
            if pending.is_empty() {
                d.decode(&[]).unwrap();
                batches.extend(d.flush().unwrap());
                break;
            }
            let piece = &pending[..chunk.min(pending.len())];
            let n = d.decode(piece).unwrap();
            pending = &pending[n..];
            if n < piece.len() {
                batches.extend(d.flush().unwrap());
            }
        }
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            let s = arrow::compute::cast(c, &DataType::Utf8).unwrap();
                            let s = s.as_string::<i32>();
                            s.is_valid(r).then(|| s.value(r).to_string())
                        })
                        .collect(),
                );
            }
        }
        rows
    }

    fn v(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn a_quoted_empty_field_is_text_an_unquoted_one_null() {
        let text = "id,a,b\r\n1,\"\",\r\n\r\n2,,\"\"\n3,\"x,\"\"y\"\"\",\"\"\"\"\n4,\"\",\"\"\n5,plain,\"q\"\n6,\"\",";
        let want = vec![
            vec![v("1"), v(""), None],
            vec![v("2"), None, v("")],
            vec![v("3"), v("x,\"y\""), v("\"")],
            vec![v("4"), v(""), v("")],
            vec![v("5"), v("plain"), v("q")],
            vec![v("6"), v(""), None],
        ];
        let o = CsvOptions::default();
        for chunk in [1, 2, 3, 7, 1000] {
            for batch in [1, 2, 4, 100] {
                assert_eq!(
                    read(text, &o, chunk, batch),
                    want,
                    "chunk {chunk} batch {batch}"
                );
            }
        }
    }

    #[test]
    fn null_value_keeps_working_and_its_quoted_text_stays_text() {
        let text = "id;a;b\n1;NULL;\"NULL\"\n2;;\"\"\n3;\"NU\"\"LL\";'x'\n";
        let o = CsvOptions {
            delimiter: b';',
            null_value: "NULL".into(),
            ..Default::default()
        };
        let want = vec![
            vec![v("1"), None, v("NULL")],
            vec![v("2"), v(""), v("")],
            vec![v("3"), v("NU\"LL"), v("'x'")],
        ];
        for chunk in [1, 5, 1000] {
            assert_eq!(read(text, &o, chunk, 2), want, "chunk {chunk}");
        }
        // Without a header line, the first record is data.
        let o = CsvOptions {
            header: false,
            ..Default::default()
        };
        assert_eq!(
            read("7,\"\",\n", &o, 1, 10),
            vec![vec![v("7"), v(""), None]]
        );
    }

    #[test]
    fn the_writer_writes_what_the_reader_reads_back() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8View, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some(""), None, Some("a\"b,\n")])),
                Arc::new(arrow::array::StringViewArray::from(vec![
                    None,
                    Some(""),
                    Some("x"),
                ])),
            ],
        )
        .unwrap();
        let buf = SharedBuf::default();
        let options = WriteOptions {
            format: super::super::Format::Csv,
            compression: super::super::Compression::None,
            csv: CsvOptions::default(),
            row_group_size: 10,
        };
        let mut e = encoder(schema, &options, buf.clone()).unwrap();
        e.write(&batch).unwrap();
        e.finish().unwrap();
        let text = String::from_utf8(buf.take()).unwrap();
        assert_eq!(text, "id,a,b\n1,\"\",\n,,\"\"\n3,\"a\"\"b,\n\",x\n");
        assert_eq!(
            read(&text, &CsvOptions::default(), 3, 2),
            vec![
                vec![v("1"), v(""), None],
                vec![None, None, v("")],
                vec![v("3"), v("a\"b,\n"), v("x")],
            ]
        );
    }
}
