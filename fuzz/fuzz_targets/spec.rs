//! The spec loader: arbitrary text through YAML parsing, `${VAR}` expansion and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = etl::spec::parse(text, "fuzz.yaml");
    }
});
