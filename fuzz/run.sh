#!/usr/bin/env bash
# Runs the fuzz targets one after another, each for SECONDS (default 120),
# starting from the committed seeds in fuzz/seeds/TARGET and growing a
# working corpus in fuzz/corpus/TARGET (not committed). Crashes land in
# fuzz/artifacts/TARGET/. Logs go to fuzz/logs/TARGET.log, and a summary
# line per target is printed at the end.
#
#   ./fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the nightly-only flags it needs;
# set SANITIZER=none to build without AddressSanitizer.
set -uo pipefail

cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csr request_bundle manifest transcript checkpoint script bundle_open share_file)
fi
export RUSTC_BOOTSTRAP=1
sanitizer=${SANITIZER:-address}

cargo fuzz build --sanitizer "$sanitizer" || exit 1
mkdir -p fuzz/logs
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    echo "== $t: ${seconds}s"
    start=$(date +%s)
    cargo fuzz run --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 >"fuzz/logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    [ $rc -eq 0 ] || status=1
    # libFuzzer writes its final stats and the result of a crash to the log.
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$t.log" | tail -n 1 | grep -o '[0-9]*$')
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "fuzz/logs/$t.log" | tail -n 1 | grep -o '[0-9]*$')
    found=$(grep -E -o '(ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|==[0-9]+==ERROR: AddressSanitizer: [a-z-]+)' "fuzz/logs/$t.log" | head -n 1)
    echo "$t: $((end - start))s, ${runs:-?} runs, ${speed:-?} exec/s, corpus $(find "fuzz/corpus/$t" -type f | wc -l) files, exit $rc${found:+, $found}" | tee -a fuzz/logs/summary
done
exit $status
