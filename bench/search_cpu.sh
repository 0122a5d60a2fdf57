#!/usr/bin/env bash
# CPU time per search at scale, measured in the process: the catalog's
# search of the search page (facets, 50 results and their snippets) on
# one thread, for the 20 two-word queries of issue #15 and the 25-query
# mix of bench/catalog.sh, without HTTP, page rendering or a load
# generator. The figure is the thread's CPU time (not wall time: time it
# waits for the cores is not counted): use it to compare two versions of
# the search code, run one after the other; use bench/catalog.sh for
# pages/s. A slower host still shows as more CPU time. The reference
# measured in the same run is a query that matches nothing (`zzzz`), the
# floor of a search.
# With BASE=path/to/an/older/search_cpu (the example binary built at
# another commit), each query set is also run through it, the two
# alternating RUNS times (default 5) on the same index, and each run's mean
# and the median of each binary's means are printed: the A/B comparison of
# two versions in one run, on a host whose speed drifts.
# With INSTRUCTIONS=1 (needs valgrind), each query set's instructions per
# search are counted too, under callgrind: a count that does not drift
# with the host (though it weighs a cache miss like any instruction). Two
# runs of each binary, of 1 and 6 rounds; their difference over 5 rounds
# of the set, so that what is built once (facet columns, dense terms) is
# left out. ~30 s per binary and set.
# Builds the index of the cached corpus of bench/catalog.sh (N torrents,
# default 1 000 000) with the catalog, or reuses INDEX=dir. Not a test.
# Usage: bench/search_cpu.sh [N]    INDEX=data/index ROUNDS=20 BASE= RUNS=5 INSTRUCTIONS=
set -euo pipefail
if [ -n "${INSTRUCTIONS:-}" ] && ! command -v valgrind > /dev/null; then
  echo "INSTRUCTIONS=1 needs valgrind (apt-get install valgrind)" >&2; exit 1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
ROUNDS=${ROUNDS:-20}
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
# Two builds: with --example, cargo builds only the example, not the
# magnetar binary that indexes the corpus below.
cargo build --release -p magnetar-catalog --example search_cpu --manifest-path "$root/Cargo.toml" >&2
[ -n "${INDEX:-}" ] || cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
bin="$root/target/release/magnetar"
probe="$root/target/release/examples/search_cpu"
. "$root/bench/common.sh"
if [ -z "${INDEX:-}" ]; then
  corpus=$(bench_corpus "$root" "$N")
  mkdir -p "$work/data"
  ln -s "$corpus/preload" "$work/data/preload"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "indexing $N torrents..." >&2
  RUST_LOG=warn "$bin" --data-dir "$work/data" catalog --bind "127.0.0.1:$port" > "$work/log" 2>&1 &
  pid=$!
  wait_documents "http://127.0.0.1:$port" "$N" $pid "$work/log"
  # Stopped once idle, as in bench/catalog.sh: the index measured is the
  # one searches there see.
  wait_idle $pid > /dev/null
  kill $pid; wait $pid 2>/dev/null || true; pid=
  INDEX="$work/data/index"
fi
echo "index: $INDEX ($(du -sh "$INDEX" | cut -f1)), $ROUNDS rounds, commit $(git -C "$root" rev-parse --short HEAD)"
# Instructions per search of binary $1 over the queries after it (see
# INSTRUCTIONS above).
instructions() {
  local bin=$1 one six; shift
  count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*search_on*' \
      "$bin" "$INDEX" "$1" "${@:2}" 2>&1 | awk '/Collected :/ {print $NF}'
  }
  one=$(count 1 "$@"); six=$(count 6 "$@")
  if [ -z "$one" ] || [ -z "$six" ] || [ "$six" -le "$one" ]; then
    echo "callgrind counted nothing for $bin (no function named *search_on*?)" >&2; return 1
  fi
  echo $(( (six - one) / (5 * $#) ))
}
# Each query set once through the new binary (each query's line), then,
# with BASE, RUNS alternating runs of both; with INSTRUCTIONS, the
# instructions per search of each.
measure() {
  "$probe" "$INDEX" "$ROUNDS" "$@"
  if [ -n "${INSTRUCTIONS:-}" ]; then
    local n b
    n=$(instructions "$probe" "$@")
    if [ -n "${BASE:-}" ]; then
      b=$(instructions "$BASE" "$@")
      python3 -c "print(f'instructions per search: new {$n:,}, base {$b:,}, new/base {$n / $b:.3f}')"
    else
      echo "instructions per search: $n"
    fi
  fi
  [ -n "${BASE:-}" ] || return 0
  local runs=${RUNS:-5} i new=() base=() m
  for i in $(seq "$runs"); do
    m=$("$probe" "$INDEX" "$ROUNDS" "$@" | awk '/^mean/ {print $2}'); new+=("$m")
    echo "run $i: new  mean $m us"
    m=$("$BASE" "$INDEX" "$ROUNDS" "$@" | awk '/^mean/ {print $2}'); base+=("$m")
    echo "run $i: base mean $m us"
  done
  python3 - "${new[*]}" "${base[*]}" <<'PY'
import statistics, sys
new, base = ([float(x) for x in a.split()] for a in sys.argv[1:3])
n, b = statistics.median(new), statistics.median(base)
print(f"median of {len(new)} runs: new {n:.0f} us, base {b:.0f} us, new/base {n / b:.3f}")
PY
}
[ -z "${BASE:-}" ] || echo "base: $BASE"
echo "== 20 two-word queries (issue #15)"
measure "${PAIR_QUERIES[@]}"
echo "== the 25-query mix of bench/catalog.sh"
measure "${MIX_QUERIES[@]}"
