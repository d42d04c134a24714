//! Parquet through etl's file source.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    common::read("parquet", common::Wrap::Plain, "", data);
});
