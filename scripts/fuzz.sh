#!/usr/bin/env bash
# `make fuzz`: runs every fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS each (default 120)
# with libFuzzer through cargo-fuzz, starting from the corpora kept in fuzz/corpus/. Not part of
# `make test`. Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz needs
# unstable compiler flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
#
#   FUZZ_SECONDS=600 make fuzz           # longer
#   FUZZ_TARGETS="read_csv spec" make fuzz
#
# The build goes to fuzz/target, or to $CARGO_TARGET_DIR when set (passed on as --target-dir:
# cargo-fuzz looks for the built targets there). The run is niced (FUZZ_NICE, default 19) so
# that builds sharing the machine keep their CPU.
#
# A crash (panic, abort, hang past 10 s, more than 2 GiB of memory) stops that target, leaves
# the input under fuzz/artifacts/<target>/ and makes the run fail; new inputs that add
# coverage are written to the temporary corpus only, so the repository's stays small
# (`cargo fuzz cmin` to fold them in by hand).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${FUZZ_SECONDS:-120}
targets=${FUZZ_TARGETS:-spec read_csv read_json read_jsonl read_parquet read_avro}
cargo=${CARGO:-cargo}
export RUSTC_BOOTSTRAP=1
if ! $cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (crates.io)" >&2
    $cargo install cargo-fuzz --locked
fi
# The address sanitizer is left out: etl and its readers are safe Rust over a few C
# libraries (zstd), and without it the build is several times cheaper on 2 cores.
flags=(--fuzz-dir fuzz --sanitizer none)
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    flags+=(--target-dir "$CARGO_TARGET_DIR")
fi
nice=(nice -n "${FUZZ_NICE:-19}")
# Same dependency versions as etl itself: start from its lock file.
[ -e fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
"${nice[@]}" $cargo fuzz build "${flags[@]}"
failed=()
for t in $targets; do
    work=$(mktemp -d)
    cp -r "fuzz/corpus/$t/." "$work/" 2>/dev/null || true
    echo "fuzz.sh: $t for ${seconds}s"
    if ! "${nice[@]}" $cargo fuzz run "${flags[@]}" "$t" "$work" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$t")
    fi
    rm -rf "$work"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz.sh: every target ran ${seconds}s without a crash: $targets"
