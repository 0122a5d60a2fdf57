#!/usr/bin/env bash
# Cost of a denylist of N entries (default 1 000 000): load time, memory
# held, and lookup time through the handle every role uses, next to the
# cost of an empty list and of making the looked-up hash alone.
# Usage: bench/denylist.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo run -q --release -j2 --manifest-path "$root/Cargo.toml" -p magnetar-shared --example denylist_bench -- "${1:-1000000}"
