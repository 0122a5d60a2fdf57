#!/usr/bin/env bash
# HTTP announce throughput: magnetar's HTTP tracker vs Debian's opentracker,
# same request mix, same run. Each tracker is pinned to core 0 (taskset);
# wrk (Debian package) on core 1 sends GET /announce with a random 20-byte
# info_hash (from a pool of POOL) and peer_id per request, 16 connections,
# DURATION seconds per tracker. Prints requests/s of both and the ratio
# (target >= 1.2). magnetar runs with one HTTP worker thread and its
# per-source limits raised: wrk is a single source (127.0.0.1) and would
# otherwise be told to slow down, which is not what is measured here.
# Usage: bench/http_tracker.sh   (DURATION=15 POOL=100000). Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-15}
POOL=${POOL:-100000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for c in wrk opentracker taskset; do
  command -v $c >/dev/null || { echo "$c is required (apt-get install wrk opentracker util-linux)" >&2; exit 1; }
done
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/announce.lua" <<LUA
math.randomseed(os.time())
local function esc20(seed)
  local t = {}
  for i = 1, 20 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    t[i] = string.format("%%%02X", seed % 256)
  end
  return table.concat(t)
end
request = function()
  local h = esc20(math.random(1, $POOL))
  local p = esc20(math.random(1, 2147483647))
  local path = "/announce?info_hash=" .. h .. "&peer_id=" .. p ..
    "&port=" .. math.random(1024, 65535) .. "&uploaded=0&downloaded=0&left=" ..
    (math.random(0, 1) * 1000) .. "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
LUA
# load: prints requests/s (non-2xx replies count as errors and are printed).
load() {
  sleep 1
  taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -s "$work/announce.lua" "http://127.0.0.1:$port" > "$work/wrk.out" 2>&1 || true
  awk '/Requests\/sec/ {print $2}' "$work/wrk.out"
  grep -E "Non-2xx|Socket errors" "$work/wrk.out" >&2 || true
}

taskset -c 0 opentracker -i 127.0.0.1 -p "$port" -P "$port" > "$work/opentracker.log" 2>&1 &
pid=$!
ot=$(load)
kill $pid; wait $pid 2>/dev/null || true; pid=

MAGNETAR_TRACKER__WORKERS=1 MAGNETAR_TRACKER__HTTP_WORKERS=1 \
MAGNETAR_TRACKER__SOURCE_ANNOUNCE_RATE=0 MAGNETAR_TRACKER__SOURCE_NEW_TORRENTS_PER_MINUTE=1000000000 \
MAGNETAR_TRACKER__MAX_PEERS_PER_SOURCE=2000000 RUST_LOG=warn \
  taskset -c 0 "$MAGNETAR" --data-dir "$work/data" tracker --bind "127.0.0.1:$port" > "$work/magnetar.log" 2>&1 &
pid=$!
mg=$(load)
kill $pid; wait $pid 2>/dev/null || true; pid=

printf 'opentracker (Debian)    %10.0f announces/s\n' "$ot"
printf 'magnetar HTTP tracker   %10.0f announces/s\n' "$mg"
python3 -c "print(f'ratio magnetar/opentracker: {$mg/$ot:.2f} (target >= 1.20)')"
