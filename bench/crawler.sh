#!/usr/bin/env bash
# Crawler speed-up: N torrents (default 400) seeded on loopback are resolved
# with concurrency 1 and then 32 in the same invocation; prints both wall
# times and the ratio (target >= 8x; the mean time per torrent at concurrency 1
# is the resolve latency, target < 500 ms). Not a test: compare the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p magnetar-crawler --example bench_resolve -- "${1:-400}"
