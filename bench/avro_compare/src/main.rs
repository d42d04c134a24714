//! Arrow <-> Avro, both ways, with arrow-avro (what etl uses) and apache-avro (the crate the
//! product card names), on N lineitem-like rows (bigint, int, decimal(12,2), double, two
//! strings, date, local timestamp-micros, UTC timestamp-micros, boolean; every column nullable,
//! every 10th value NULL), snappy blocks. Prints rows/s for each direction and library.
//!
//! apache-avro works row by row on `Value`s, so etl would have to build one `Value::Record` per
//! row on write and push each field into Arrow builders on read; that per-row work is exactly
//! what this measures. Usage: avro_compare [ROWS] (default 1,000,000).

use apache_avro::types::Value;
use arrow::array::*;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use std::time::Instant;

const BATCH: usize = 65_536;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("l_orderkey", DataType::Int64, true),
        Field::new("l_linenumber", DataType::Int32, true),
        Field::new("l_extendedprice", DataType::Decimal128(12, 2), true),
        Field::new("l_discount", DataType::Float64, true),
        Field::new("l_shipmode", DataType::Utf8, true),
        Field::new("l_comment", DataType::Utf8, true),
        Field::new("l_shipdate", DataType::Date32, true),
        Field::new("l_commit_ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "l_receipt_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("l_returned", DataType::Boolean, true),
    ]))
}

fn batches(rows: usize) -> Vec<RecordBatch> {
    let modes = ["AIR", "MAIL", "SHIP", "TRUCK", "RAIL", "FOB", "REG AIR"];
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = BATCH.min(rows - start);
        let idx: Vec<i64> = (start as i64..(start + n) as i64).collect();
        let null = |i: i64| i % 10 == 9;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter(idx.iter().map(|&i| (!null(i)).then_some(i * 4 + 7)))),
            Arc::new(Int32Array::from_iter(idx.iter().map(|&i| (!null(i)).then_some((i % 7) as i32 + 1)))),
            Arc::new(
                Decimal128Array::from_iter(idx.iter().map(|&i| (!null(i)).then_some(((i * 7919) % 10_000_000) as i128)))
                    .with_precision_and_scale(12, 2)
                    .expect("decimal"),
            ),
            Arc::new(Float64Array::from_iter(idx.iter().map(|&i| (!null(i)).then_some(((i * 31) % 11) as f64 / 100.0)))),
            Arc::new(StringArray::from_iter(idx.iter().map(|&i| (!null(i)).then(|| modes[(i % 7) as usize].to_string())))),
            Arc::new(StringArray::from_iter(idx.iter().map(|&i| {
                (!null(i)).then(|| {
                    let s = format!("carefully final deposits detect slyly agai{i}");
                    s[..(10 + (i % 34) as usize).min(s.len())].to_string()
                })
            }))),
            Arc::new(Date32Array::from_iter(idx.iter().map(|&i| (!null(i)).then_some(8035 + (i % 2500) as i32)))),
            Arc::new(TimestampMicrosecondArray::from_iter(
                idx.iter().map(|&i| (!null(i)).then_some(694_224_000_000_000 + (i % 86_400_000) * 1_000_000)),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    idx.iter().map(|&i| (!null(i)).then_some(725_846_400_000_000 + ((i * 13) % 86_400_000) * 1_000_000)),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from_iter(idx.iter().map(|&i| (!null(i)).then_some(i % 3 == 0)))),
        ];
        out.push(RecordBatch::try_new(schema(), cols).expect("batch"));
        start += n;
    }
    out
}

const APACHE_SCHEMA: &str = r#"{"type": "record", "name": "lineitem", "fields": [
 {"name": "l_orderkey", "type": ["null", "long"]},
 {"name": "l_linenumber", "type": ["null", "int"]},
 {"name": "l_extendedprice", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}]},
 {"name": "l_discount", "type": ["null", "double"]},
 {"name": "l_shipmode", "type": ["null", "string"]},
 {"name": "l_comment", "type": ["null", "string"]},
 {"name": "l_shipdate", "type": ["null", {"type": "int", "logicalType": "date"}]},
 {"name": "l_commit_ts", "type": ["null", {"type": "long", "logicalType": "local-timestamp-micros"}]},
 {"name": "l_receipt_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
 {"name": "l_returned", "type": ["null", "boolean"]}]}"#;

fn opt(v: Option<Value>) -> Value {
    match v {
        Some(v) => Value::Union(1, Box::new(v)),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn apache_write(batches: &[RecordBatch]) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(APACHE_SCHEMA).expect("schema");
    let mut w = apache_avro::Writer::with_codec(&schema, Vec::new(), apache_avro::Codec::Snappy)
        .expect("writer");
    let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    for b in batches {
        let c0 = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let c1 = b.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        let c2 = b.column(2).as_primitive::<arrow::datatypes::Decimal128Type>();
        let c3 = b.column(3).as_primitive::<arrow::datatypes::Float64Type>();
        let c4 = b.column(4).as_string::<i32>();
        let c5 = b.column(5).as_string::<i32>();
        let c6 = b.column(6).as_primitive::<arrow::datatypes::Date32Type>();
        let c7 = b.column(7).as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let c8 = b.column(8).as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let c9 = b.column(9).as_boolean();
        for r in 0..b.num_rows() {
            let get = |a: &dyn Array| a.is_valid(r);
            let fields = vec![
                opt(get(c0).then(|| Value::Long(c0.value(r)))),
                opt(get(c1).then(|| Value::Int(c1.value(r)))),
                opt(get(c2).then(|| {
                    // Big-endian two's complement, minimal length, as Avro decimals are stored.
                    let bytes = c2.value(r).to_be_bytes();
                    let skip = bytes.iter().take_while(|&&x| x == 0).count().min(15);
                    Value::Decimal(apache_avro::Decimal::from(bytes[skip..].to_vec()))
                })),
                opt(get(c3).then(|| Value::Double(c3.value(r)))),
                opt(get(c4).then(|| Value::String(c4.value(r).to_string()))),
                opt(get(c5).then(|| Value::String(c5.value(r).to_string()))),
                opt(get(c6).then(|| Value::Date(c6.value(r)))),
                opt(get(c7).then(|| Value::LocalTimestampMicros(c7.value(r)))),
                opt(get(c8).then(|| Value::TimestampMicros(c8.value(r)))),
                opt(get(c9).then(|| Value::Boolean(c9.value(r)))),
            ];
            let record = Value::Record(names.iter().cloned().zip(fields).collect());
            w.append(record).expect("append");
        }
    }
    w.into_inner().expect("finish")
}

fn apache_read(bytes: &[u8]) -> usize {
    let reader = apache_avro::Reader::new(bytes).expect("reader");
    let mut rows = 0;
    let mut b0 = Int64Builder::new();
    let mut b1 = Int32Builder::new();
    let mut b2 = Decimal128Builder::new();
    let mut b3 = Float64Builder::new();
    let mut b4 = StringBuilder::new();
    let mut b5 = StringBuilder::new();
    let mut b6 = Date32Builder::new();
    let mut b7 = TimestampMicrosecondBuilder::new();
    let mut b8 = TimestampMicrosecondBuilder::new();
    let mut b9 = BooleanBuilder::new();
    let flush = |b0: &mut Int64Builder, b1: &mut Int32Builder, b2: &mut Decimal128Builder, b3: &mut Float64Builder,
                 b4: &mut StringBuilder, b5: &mut StringBuilder, b6: &mut Date32Builder,
                 b7: &mut TimestampMicrosecondBuilder, b8: &mut TimestampMicrosecondBuilder, b9: &mut BooleanBuilder| {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(b0.finish()),
            Arc::new(b1.finish()),
            Arc::new(b2.finish().with_precision_and_scale(12, 2).expect("decimal")),
            Arc::new(b3.finish()),
            Arc::new(b4.finish()),
            Arc::new(b5.finish()),
            Arc::new(b6.finish()),
            Arc::new(b7.finish()),
            Arc::new(b8.finish().with_timezone("UTC")),
            Arc::new(b9.finish()),
        ];
        RecordBatch::try_new(schema(), cols).expect("batch")
    };
    let inner = |v: &Value| match v {
        Value::Union(_, b) => match b.as_ref() {
            Value::Null => None,
            other => Some(other.clone()),
        },
        other => Some(other.clone()),
    };
    for value in reader {
        let Value::Record(fields) = value.expect("value") else { panic!("not a record") };
        let f: Vec<Option<Value>> = fields.iter().map(|(_, v)| inner(v)).collect();
        b0.append_option(f[0].as_ref().map(|v| match v { Value::Long(x) => *x, _ => panic!("long") }));
        b1.append_option(f[1].as_ref().map(|v| match v { Value::Int(x) => *x, _ => panic!("int") }));
        b2.append_option(f[2].as_ref().map(|v| match v {
            Value::Decimal(d) => {
                let bytes: Vec<u8> = d.try_into().expect("decimal bytes");
                let mut buf = [if bytes.first().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 }; 16];
                buf[16 - bytes.len()..].copy_from_slice(&bytes);
                i128::from_be_bytes(buf)
            }
            _ => panic!("decimal"),
        }));
        b3.append_option(f[3].as_ref().map(|v| match v { Value::Double(x) => *x, _ => panic!("double") }));
        b4.append_option(f[4].as_ref().map(|v| match v { Value::String(x) => x.clone(), _ => panic!("string") }));
        b5.append_option(f[5].as_ref().map(|v| match v { Value::String(x) => x.clone(), _ => panic!("string") }));
        b6.append_option(f[6].as_ref().map(|v| match v { Value::Date(x) => *x, _ => panic!("date") }));
        b7.append_option(f[7].as_ref().map(|v| match v { Value::LocalTimestampMicros(x) => *x, _ => panic!("ts") }));
        b8.append_option(f[8].as_ref().map(|v| match v { Value::TimestampMicros(x) => *x, _ => panic!("tstz") }));
        b9.append_option(f[9].as_ref().map(|v| match v { Value::Boolean(x) => *x, _ => panic!("bool") }));
        rows += 1;
        if rows % BATCH == 0 {
            std::hint::black_box(flush(&mut b0, &mut b1, &mut b2, &mut b3, &mut b4, &mut b5, &mut b6, &mut b7, &mut b8, &mut b9));
        }
    }
    std::hint::black_box(flush(&mut b0, &mut b1, &mut b2, &mut b3, &mut b4, &mut b5, &mut b6, &mut b7, &mut b8, &mut b9));
    rows
}

fn arrow_write(batches: &[RecordBatch]) -> Vec<u8> {
    let mut w: arrow_avro::writer::AvroWriter<Vec<u8>> =
        arrow_avro::writer::WriterBuilder::new(schema().as_ref().clone())
        .with_compression(Some(arrow_avro::compression::CompressionCodec::Snappy))
        .build(Vec::new())
        .expect("writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
    w.into_inner()
}

fn arrow_read(bytes: &[u8]) -> usize {
    let reader = arrow_avro::reader::ReaderBuilder::new()
        .with_batch_size(BATCH)
        .build(std::io::BufReader::new(bytes))
        .expect("reader");
    reader.map(|b| b.expect("batch").num_rows()).sum()
}

fn time<T>(what: &str, rows: usize, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let s = t.elapsed().as_secs_f64();
    println!("{what:<28} {rows:>9} rows {s:>7.2} s {:>12.0} rows/s", rows as f64 / s);
    out
}

fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let data = batches(rows);
    let a = time("arrow-avro  write (snappy)", rows, || arrow_write(&data));
    let b = time("apache-avro write (snappy)", rows, || apache_write(&data));
    println!("file sizes: arrow-avro {:.1} MB, apache-avro {:.1} MB", a.len() as f64 / 1e6, b.len() as f64 / 1e6);
    // Each library reads the other's file too: the two agree on the encoding.
    let n = time("arrow-avro  read", rows, || arrow_read(&b));
    assert_eq!(n, rows);
    let n = time("apache-avro read", rows, || apache_read(&a));
    assert_eq!(n, rows);
}
