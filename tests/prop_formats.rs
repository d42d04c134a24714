//! Property-based round trips through every file format: random Arrow schemas (every type the
//! file formats carry, nullable and not) and random batches full of edge values (empty strings,
//! NULLs, NaN, ±inf, -0.0, integer limits, decimals at full precision, timestamps at years 1
//! and 9999 in several time zones, unusual but valid UTF-8, binary with zero bytes, zero rows)
//! are written by etl's own encoders (`etl::formats`) and read back by etl's own file source
//! (`local_file`, with a `schema:` for CSV / JSON / JSON Lines, which carry no types). Each
//! value must come back equal, or the write must fail with the documented refusal for its type.
//!
//! The seed is fixed (reproducible runs); `PROPTEST_CASES=N` runs more cases (default 256 per
//! format). A failing case shrinks to a minimal one, which is kept below as a regular test.

#[path = "common/arrow_gen.rs"]
mod arrow_gen;

use arrow::array::*;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow_gen::*;
use etl::formats::{self, Compression, CsvOptions, Format, SharedBuf, WriteOptions};
use futures::StreamExt;
use proptest::test_runner::TestCaseError;

/// The spec `schema:` name of a type (see README, "local_file source").
fn spec_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 => "string".into(),
        DataType::Binary => "binary".into(),
        DataType::Date32 => "date".into(),
        DataType::Time64(_) => "time".into(),
        DataType::Timestamp(u, tz) => {
            let u = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(z) => format!("timestamp[{u}, {z}]"),
                None => format!("timestamp[{u}]"),
            }
        }
        other => panic!("no spec name for {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Write with etl's encoder, read back with etl's file source.

/// The CSV dialect of the round trip: with a `null_value`, `""` stays an empty string (the
/// default, an empty field, reads `""` back as NULL — a documented limit).
const CSV_NULL: &str = "\\N";

fn write(format: Format, batch: &RecordBatch) -> etl::Result<Vec<u8>> {
    let options = WriteOptions {
        format,
        compression: Compression::None,
        csv: CsvOptions {
            null_value: CSV_NULL.into(),
            ..CsvOptions::default()
        },
        row_group_size: 3,
    };
    let buf = SharedBuf::default();
    let mut enc = formats::encoder(batch.schema(), &options, buf.clone())?;
    // Two writes: the file holds two batches (row groups, Avro blocks, ...).
    let half = batch.num_rows() / 2;
    enc.write(&batch.slice(0, half))?;
    enc.write(&batch.slice(half, batch.num_rows() - half))?;
    enc.finish()?;
    Ok(buf.take())
}

fn read(
    rt: &tokio::runtime::Runtime,
    format: Format,
    bytes: &[u8],
    schema: &SchemaRef,
) -> etl::Result<(SchemaRef, Vec<RecordBatch>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("data.{}", format.extension()));
    std::fs::write(&file, bytes).expect("write file");
    // Text formats carry no types: declare them, as a user would with `schema:`.
    let declared = match format {
        Format::Csv | Format::Json | Format::Jsonl => {
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("{}: \"{}\"", f.name(), spec_type(f.data_type())))
                .collect();
            format!("    schema: {{{}}}\n", cols.join(", "))
        }
        _ => String::new(),
    };
    let text = format!(
        "version: 1\nname: prop\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\n    format: {format}\n    null_value: '{CSV_NULL}'\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: data\n{declared}",
        file.display(),
        dir.path().join("out").display()
    );
    let spec = etl::spec::parse(&text, "prop.yaml")?;
    rt.block_on(async {
        let source = spec.source.build(&spec.defaults)?;
        let reader = source
            .read(etl::connectors::ReadRequest::new(
                spec.streams[0].clone(),
                4,
            ))
            .await?;
        let mut batches = Vec::new();
        let mut stream = reader.batches;
        while let Some(b) = stream.next().await {
            batches.push(b?);
        }
        Ok((reader.schema, batches))
    })
}

/// The documented refusal a table meets in a format, if any: the columns the error may name
/// (any one of them) and the text of the error.
fn refusal(format: Format, batch: &RecordBatch) -> Option<(Vec<String>, &'static str)> {
    // An empty JSON / JSON Lines file has no keys, so its `schema:` names columns that are
    // "not in the file" (a known limit: README, "local_file source").
    if matches!(format, Format::Json | Format::Jsonl) && batch.num_rows() == 0 {
        let names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        return Some((names, "is not in the file"));
    }
    // Avro has no unsigned 64-bit integer: a value past i64::MAX is refused.
    if format == Format::Avro {
        let too_big: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(_, a)| {
                a.as_any()
                    .downcast_ref::<UInt64Array>()
                    .is_some_and(|a| a.iter().flatten().any(|v| v > i64::MAX as u64))
            })
            .map(|(f, _)| f.name().clone())
            .collect();
        if !too_big.is_empty() {
            return Some((too_big, "does not fit Avro's long"));
        }
    }
    None
}

/// The value a format reads back where it documents a change: CSV reads a string equal to
/// `null_value` as NULL even though the writer quotes it (arrow-csv cannot tell a quoted field
/// from an unquoted one; README, "local_file source").
fn documented(format: Format, t: &DataType, v: Option<String>) -> Option<String> {
    match v {
        Some(s) if format == Format::Csv && t == &DataType::Utf8 && s == CSV_NULL => None,
        v => v,
    }
}

/// The type a format reads back for a written type: the same, except Avro's (README, "Avro
/// types"): no 8/16-bit or unsigned integers (int8/int16/uint8/uint16 -> int32, uint32 ->
/// int64, uint64 -> int64, so values past i64::MAX are refused), no seconds (-> milliseconds), and a zoned timestamp is stored as UTC instants
/// (`timestamp-*`), read back in `+00:00`. The values must still be equal.
fn read_type(format: Format, t: &DataType) -> DataType {
    if format != Format::Avro {
        return t.clone();
    }
    match t {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Timestamp(u, tz) => DataType::Timestamp(
            match u {
                TimeUnit::Second => TimeUnit::Millisecond,
                u => *u,
            },
            tz.as_ref().map(|_| "+00:00".into()),
        ),
        t => t.clone(),
    }
}

fn round_trip(rt: &tokio::runtime::Runtime, format: Format, cols: &[Column]) -> Result<(), String> {
    let batch = batch(cols);
    let outcome = write(format, &batch).and_then(|bytes| read(rt, format, &bytes, &batch.schema()));
    if let Some((cols, why)) = refusal(format, &batch) {
        let e = match outcome {
            Ok(_) => {
                return Err(format!(
                    "{format}: expected a refusal of {cols:?} ({why}), got success"
                ))
            }
            Err(e) => e.to_string(),
        };
        let named = cols.iter().any(|c| e.contains(&format!("`{c}`")));
        return if named && e.contains(why) {
            Ok(())
        } else {
            Err(format!(
                "{format}: expected a refusal of {cols:?} ({why}), got: {e}"
            ))
        };
    }
    let (schema, batches) = outcome.map_err(|e| format!("{format}: {e}"))?;
    let back = arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
    // A documented type change (Avro) must keep the values: compare in the written type.
    same_columns(
        &batch,
        &back,
        &|t| read_type(format, t),
        &|a, t| arrow::compute::cast(a, t).map_err(|e| e.to_string()),
        &|t, v| documented(format, t, v),
    )
    .map_err(|e| format!("{format}: {e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs the property for one format with a fixed seed; `PROPTEST_CASES` overrides the count.
fn property(format: Format) {
    let mut runner = runner(b"etl property round trips, seed 1", 256, u32::MAX);
    let rt = runtime();
    let result = runner.run(&table(), |cols| {
        round_trip(&rt, format, &cols).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{format}: {e}");
    }
}

#[test]
fn parquet_round_trips() {
    property(Format::Parquet);
}

#[test]
fn csv_round_trips() {
    property(Format::Csv);
}

#[test]
fn json_round_trips() {
    property(Format::Json);
}

#[test]
fn jsonl_round_trips() {
    property(Format::Jsonl);
}

#[test]
fn avro_round_trips() {
    property(Format::Avro);
}

// ---------------------------------------------------------------------------------------------
// The shrunk cases of the bugs the properties found, kept as regular tests (fixed in
// src/formats/).

fn check(format: Format, cols: Vec<Column>) {
    if let Err(e) = round_trip(&runtime(), format, &cols) {
        panic!("{e}");
    }
}

fn f64_col(v: Vec<Option<f64>>) -> Column {
    Column {
        nullable: true,
        values: Values::F64(v),
    }
}

/// arrow-json wrote NaN and ±inf as `null`; now `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[test]
fn json_keeps_nan_and_infinities() {
    for format in [Format::Json, Format::Jsonl] {
        let values = vec![
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(-0.0),
            None,
        ];
        check(format, vec![f64_col(values.clone())]);
        let f32s = values.iter().map(|v| v.map(|v| v as f32)).collect();
        check(
            format,
            vec![Column {
                nullable: true,
                values: Values::F32(f32s),
            }],
        );
    }
}

/// CSV wrote binary as hex but could not read a `binary` column back (arrow-csv: "Unsupported
/// data type Binary").
#[test]
fn csv_reads_binary_back_from_hex() {
    let values = vec![Some(vec![0u8, 255]), Some(vec![]), None, Some(vec![0])];
    check(
        Format::Csv,
        vec![Column {
            nullable: true,
            values: Values::Binary(values),
        }],
    );
}

/// One zoned timestamp column through each text format.
fn text_formats_keep(unit: TimeUnit, zone: &str, values: Vec<Option<i64>>) {
    for format in [Format::Csv, Format::Json, Format::Jsonl] {
        let values = Values::Ts(unit, Some(zone.into()), values.clone());
        check(
            format,
            vec![Column {
                nullable: false,
                values,
            }],
        );
    }
}

/// Berlin's local mean time (+00:53:28) was written as `+00:53`: the instant moved 28 s.
#[test]
fn text_formats_keep_instants_with_second_offsets() {
    text_formats_keep(TimeUnit::Second, "Europe/Berlin", vec![Some(SEC_1)]);
}

/// 9999-12-31T23:59:59Z is year 10000 in Kiritimati (+14:00): written as `+10000-…`, which
/// no reader parses, so the file could not be read back.
#[test]
fn text_formats_keep_instants_past_local_year_9999() {
    let values = vec![Some(SEC_9999 * 1_000_000), Some(0)];
    text_formats_keep(TimeUnit::Microsecond, "Pacific/Kiritimati", values);
}

/// arrow-avro refused a uint64 past i64::MAX without naming the column.
#[test]
fn avro_refuses_large_uint64_naming_the_column() {
    let cols = vec![Column {
        nullable: false,
        values: Values::U64(vec![Some(1), Some(u64::MAX)]),
    }];
    check(Format::Avro, cols);
    let e = write(
        Format::Avro,
        &batch(&[Column {
            nullable: false,
            values: Values::U64(vec![Some(u64::MAX)]),
        }]),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("column `c0`, row 1"), "{e}");
}

/// The read_csv fuzz target found `delimiter: "\t"` refused by `etl validate` ("cannot parse
/// char from empty string"): the value was trimmed before being read as a character.
#[test]
fn csv_tab_and_space_delimiters_are_accepted() {
    for (delimiter, text) in [("\\t", "a\tb\n1\tx y\n"), (" ", "a b\n1 x\n")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("data.csv");
        std::fs::write(&file, text).expect("write file");
        let spec = format!(
            "version: 1\nname: tsv\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\n    format: csv\n    delimiter: \"{delimiter}\"\ndestination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: data\n",
            file.display(),
            dir.path().join("out").display()
        );
        let spec = etl::spec::parse(&spec, "tsv.yaml").unwrap_or_else(|e| panic!("{e}"));
        let batches = runtime().block_on(async {
            let source = spec.source.build(&spec.defaults).expect("source");
            let request = etl::connectors::ReadRequest::new(spec.streams[0].clone(), 4);
            let reader = source.read(request).await.expect("read");
            reader.batches.collect::<Vec<_>>().await
        });
        let batch = batches
            .into_iter()
            .next()
            .expect("a batch")
            .expect("no error");
        assert_eq!(batch.num_columns(), 2, "{delimiter:?}");
        assert_eq!(batch.schema().field(1).name(), "b", "{delimiter:?}");
    }
}
