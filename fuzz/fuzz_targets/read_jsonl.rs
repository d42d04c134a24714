//! JSON Lines through etl's file source; the first byte picks the gzip / zstd wrapper.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let [b, rest @ ..] = data else { return };
    common::read("jsonl", common::Wrap::from_byte(*b), "", rest);
});
