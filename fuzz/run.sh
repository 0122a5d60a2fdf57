#!/usr/bin/env bash
# Builds magnetar's libFuzzer targets on the stable toolchain and runs them.
#
#   fuzz/run.sh --build-only          build every target, run none
#   fuzz/run.sh [SECONDS] [TARGET...] run each target SECONDS (default 60;
#                                     all targets when none is named)
#   fuzz/run.sh --merge TARGET...     fold what the runs found into the
#                                     committed seed corpus, minimised
#
# Why this works without nightly: coverage-guided fuzzing needs two things,
# libFuzzer's driver and coverage counters in the code. libfuzzer-sys
# compiles the driver from its C++ sources with the system's C++ compiler,
# and rustc's stable `-C passes=sancov-module` with `-C llvm-args` inserts
# the same counters `cargo fuzz` asks for. What needs nightly is only
# `-Z sanitizer=address`; safe Rust does not need ASan to find panics,
# overflows (checked here, `-C overflow-checks`) and failed assertions.
#
# Each run starts from fuzz/corpus/<target> (committed), keeps its working
# corpus in target/fuzz/corpus/<target> (so later runs go on from it), and
# writes crashing inputs to target/fuzz/artifacts/<target>/. It prints, per
# target, the executions, their rate, the coverage (edges) and features
# libFuzzer reached, the corpus size and the crashes; the exit code is 1
# when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(udp_request metainfo infohash_bin path_sanitizer query params feed http_request)
out=target/fuzz
# Naming the target explicitly keeps RUSTFLAGS off build scripts and
# procedural macros (they run on the host, without libFuzzer's runtime).
triple=$(rustc -vV | sed -n 's/^host: //p')
bin=$out/$triple/release

build() {
  echo "fuzz: building ${all[*]} (stable, coverage-instrumented)" >&2
  RUSTFLAGS="--cfg fuzzing -C passes=sancov-module \
    -C llvm-args=-sanitizer-coverage-level=4 \
    -C llvm-args=-sanitizer-coverage-inline-8bit-counters \
    -C llvm-args=-sanitizer-coverage-pc-table \
    -C llvm-args=-sanitizer-coverage-trace-compares \
    -C debug-assertions -C overflow-checks" \
    cargo build --release -j "${CARGO_BUILD_JOBS:-2}" -p magnetar-fuzz \
      --features libfuzzer --bins --target "$triple" --target-dir "$out"
}

max_len() {
  case "$1" in
    metainfo) echo 65536 ;;
    infohash_bin) echo 4096 ;;
    *) echo 2048 ;;
  esac
}

case "${1:-}" in
  --build-only)
    build
    exit 0
    ;;
  --merge)
    shift
    for t in "$@"; do
      [ -d "$out/corpus/$t" ] || { echo "fuzz: no runs of $t to merge" >&2; exit 1; }
      tmp=$(mktemp -d)
      # Minimise the seeds plus the run's corpus into one set that keeps
      # every feature, then replace the committed seeds with it.
      "$bin/$t" -merge=1 -max_len="$(max_len "$t")" "$tmp" "fuzz/corpus/$t" "$out/corpus/$t" \
        2>"$out/logs/$t.merge.log"
      rm -rf "fuzz/corpus/$t" && mv "$tmp" "fuzz/corpus/$t"
      echo "fuzz: $t seed corpus: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sh "fuzz/corpus/$t" | cut -f1)"
    done
    exit 0
    ;;
esac

seconds=60
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (have: ${all[*]})" >&2; exit 2; }
done

build
mkdir -p "$out/logs"
crashed=0
printf '%-15s %8s %14s %10s %8s %9s %7s %8s\n' target seconds executions "exec/s" edges features corpus crashes
for t in "${targets[@]}"; do
  rm -rf "$out/artifacts/$t"   # this run's crashes only
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  log=$out/logs/$t.log
  status=0
  "$bin/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  edges=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(ls "$out/corpus/$t" | wc -l)
  crashes=$(find "$out/artifacts/$t" -type f | wc -l)
  printf '%-15s %8s %14s %10s %8s %9s %7s %8s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" \
    "${edges:-?}" "${features:-?}" "$corpus" "$crashes"
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    crashed=1
    echo "fuzz: $t failed (exit $status); see $log and $out/artifacts/$t/" >&2
    grep -m5 -E 'panicked|ERROR|SUMMARY' "$log" >&2 || true
  fi
done
exit "$crashed"
