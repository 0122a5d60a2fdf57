#!/usr/bin/env bash
# One host floods the tracker: STARTED announces (default 2 000 000) with a
# fresh info-hash and peer id each, then STOPPED (default 10 000 000)
# stopped-announces of random hashes, all from 127.0.0.1, as fast as one
# thread can send; a well-behaved client on 127.0.0.2 announces every 10 ms
# meanwhile. Prints the tracker's peak RSS (target: under the default
# budget, 1 GiB), the good client's success rate, and how many flood hashes
# reached infohash.bin (target: 0 from stopped-announces; started ones are
# bounded by source_new_torrents_per_minute). Default configuration.
# Usage: bench/flood.sh [STARTED] [STOPPED]. Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
STARTED=${1:-2000000}
STOPPED=${2:-10000000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi
cargo build --release -p magnetar-tracker --example flood --manifest-path "$root/Cargo.toml" >&2
FLOOD="$root/target/release/examples/flood"
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$MAGNETAR" --data-dir "$work/data" tracker --bind "127.0.0.1:$port" > "$work/log" 2>&1 &
pid=$!
sleep 1
"$FLOOD" "127.0.0.1:$port" "$STARTED" "$STOPPED"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM $pid; wait $pid || true; pid=
python3 - "$work/data/infohash.bin" "$STARTED" "$peak" <<'PY'
import struct, sys
path, started, peak_kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
flood_started = flood_stopped = good = 0
for i in range(0, len(data), 20):
    h = data[i:i + 20]
    if h == bytes([0x60]) * 20:
        good += 1
        continue
    n = struct.unpack(">Q", h[:8])[0]
    if n < started:
        flood_started += 1
    else:
        flood_stopped += 1
print(f"tracker peak RSS: {peak_kib / 1024:.0f} MiB (target < 1024 MiB)")
print(f"infohash.bin: {flood_started} flood hashes from started-announces, "
      f"{flood_stopped} from stopped-announces (target 0), good client's hash kept: {good == 1}")
PY
