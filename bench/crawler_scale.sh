#!/usr/bin/env bash
# Crawler at scale: N hashes (default 1 000 000) in infohash.bin, no peers
# anywhere (DHT off, no trackers), every hash already in backoff — the
# steady state of a crawler that has tried everything it knows. Prints:
# - start-up time until the crawler reports the N hashes,
# - CPU used by the crawler over STEADY seconds of steady state (target < 5 %
#   of one core), its RSS (target < 300 MiB),
# - the cost of one source change (infohash.bin rewritten with one more
#   hash): CPU-seconds until it is queued,
# - the size of the saved backoff state and the time to save it at shutdown.
# Usage: bench/crawler_scale.sh [N]   (STEADY=30). Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
STEADY=${STEADY:-30}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
# MAGNETAR=path runs an already built binary (e.g. of a given commit).
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi
mkdir -p "$work/data/crawler"
python3 - "$work/data" "$N" <<'PY'
import hashlib, struct, sys, time
data, n = sys.argv[1], int(sys.argv[2])
hashes = sorted(hashlib.sha1(struct.pack(">Q", i)).digest() for i in range(n))
with open(f"{data}/infohash.bin", "wb") as f:
    f.write(b"".join(hashes))
# Every hash failed once and is not due for a day.
later = int(time.time()) + 86400
rec = struct.pack("<Iq", 1, later)
with open(f"{data}/crawler/backoff.bin", "wb") as f:
    f.write(b"".join(h + rec for h in hashes))
PY
cat > "$work/magnetar.toml" <<TOML
data_dir = "$work/data"
[crawler]
dht = false
trackers = []
poll_interval = 5
status_interval = 5
TOML
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
known() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["known"])' "$work/data/crawler/status.json" 2>/dev/null || echo 0; }

t0=$(date +%s.%N)
RUST_LOG=warn "$MAGNETAR" --config "$work/magnetar.toml" crawler > "$work/log" 2>&1 &
pid=$!
until [ "$(known)" = "$N" ]; do sleep 0.2; kill -0 $pid; done
t1=$(date +%s.%N)
python3 -c "print(f'start-up: {$N} hashes known after {$t1-$t0:.1f} s')"

sleep 5
before=$(ticks $pid); sleep "$STEADY"; after=$(ticks $pid)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
python3 -c "c=($after-$before)/$hz; print(f'steady state: {c:.2f} CPU-s in $STEADY s = {100*c/$STEADY:.2f} % of one core (target < 5 %)')"
python3 -c "print(f'RSS: {$rss/1024:.0f} MiB (target < 300 MiB)')"

before=$(ticks $pid)
python3 - "$work/data" <<'PY'
import hashlib, os, sys
data = sys.argv[1]
b = open(f"{data}/infohash.bin", "rb").read()
extra = hashlib.sha1(b"one more").digest()
hs = sorted([b[i:i+20] for i in range(0, len(b), 20)] + [extra])
open(f"{data}/infohash.tmp", "wb").write(b"".join(hs))
os.replace(f"{data}/infohash.tmp", f"{data}/infohash.bin")
PY
until [ "$(known)" = "$((N + 1))" ]; do sleep 0.2; done
after=$(ticks $pid)
python3 -c "print(f'one source change at {$N} hashes: {($after-$before)/$hz:.2f} CPU-s until re-read')"

t0=$(date +%s.%N); kill -TERM $pid; wait $pid || true; t1=$(date +%s.%N); pid=
size=$(stat -c %s "$work/data/crawler/backoff.bin")
python3 -c "print(f'shutdown (final status and backoff save): {$t1-$t0:.2f} s; backoff.bin {$size/1e6:.1f} MB for {$N} hashes ({$size/$N:.0f} bytes each)')"
