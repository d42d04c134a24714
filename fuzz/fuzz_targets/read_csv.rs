//! CSV through etl's file source, with the dialect options (delimiter, quote, header,
//! null_value) and the gzip / zstd wrappers chosen by the first two bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else { return };
    let delimiter = [",", ";", "\\t", "|"][(a & 3) as usize];
    let quote = ["'\"'", "\"'\""][((a >> 2) & 1) as usize];
    let header = (a >> 3) & 1 == 0;
    let null_value = ["\"\"", "'\\N'", "NULL", "'-'"][((a >> 4) & 3) as usize];
    let config = format!(
        "    delimiter: \"{delimiter}\"\n    quote: {quote}\n    header: {header}\n    null_value: {null_value}\n"
    );
    common::read("csv", common::Wrap::from_byte(*b), &config, rest);
});
