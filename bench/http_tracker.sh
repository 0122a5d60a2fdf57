#!/usr/bin/env bash
# HTTP announce throughput: magnetar's HTTP tracker vs Debian's opentracker,
# same request mix, same run. Each tracker is pinned to core 0 (taskset);
# wrk (Debian package) on core 1 sends GET /announce with a random 20-byte
# info_hash (from a pool of POOL) and peer_id per request (REQUESTS of them
# made before the run, then sent round-robin, so wrk spends its core on
# connections, not on Lua), 16 connections, DURATION seconds per tracker
# and mode. Two modes:
#   keepalive: HTTP/1.1 requests as wrk sends them; a tracker that keeps
#     the connection (magnetar) serves the next request on it, one that
#     closes after each reply (opentracker) makes wrk reconnect;
#   close: every request says `Connection: close`, so both trackers pay a
#     new TCP connection per announce (what clients that close see).
# For each it prints announces/s, how busy core 0 (the tracker's) was from
# /proc/stat (user+system+irq+softirq), and announces per busy second of
# that core: when wrk's core saturates first (it does when every request
# is a new connection), the tracker's core is not full and announces/s
# measure wrk; announces per core-second is then what one core serves. The
# ratios of both are printed (target >= 1.2 announces per core-second).
# magnetar runs one HTTP worker thread with its per-source limits raised:
# wrk is a single source (127.0.0.1) and would otherwise be told to slow
# down, which is not what is measured here.
# Usage: bench/http_tracker.sh   (DURATION=15 POOL=100000 REQUESTS=20000). Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-15}
POOL=${POOL:-100000}
REQUESTS=${REQUESTS:-20000}
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
for mode in keepalive close; do
headers='{}'
[ "$mode" = close ] && headers='{["Connection"] = "close"}'
cat > "$work/announce-$mode.lua" <<LUA
math.randomseed(os.time())
local function esc20(seed)
  local t = {}
  for i = 1, 20 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    t[i] = string.format("%%%02X", seed % 256)
  end
  return table.concat(t)
end
local requests, n = {}, 0
init = function()
  for i = 1, $REQUESTS do
    local path = "/announce?info_hash=" .. esc20(math.random(1, $POOL)) ..
      "&peer_id=" .. esc20(math.random(1, 2147483647)) ..
      "&port=" .. math.random(1024, 65535) .. "&uploaded=0&downloaded=0&left=" ..
      (math.random(0, 1) * 1000) .. "&compact=1&numwant=50"
    requests[i] = wrk.format("GET", path, $headers)
  end
end
request = function()
  n = n % $REQUESTS + 1
  return requests[n]
end
LUA
done

# busy0: busy and total jiffies of core 0 so far.
busy0() { awk '$1 == "cpu0" {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

# load MODE: prints "requests/s busy-fraction" (non-2xx replies count as
# errors and are printed).
load() {
  sleep 1
  local b0 t0 b1 t1
  read -r b0 t0 < <(busy0)
  taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -s "$work/announce-$1.lua" "http://127.0.0.1:$port" > "$work/wrk.out" 2>&1 || true
  read -r b1 t1 < <(busy0)
  echo "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out") $(python3 -c "print(($b1-$b0)/max(1,$t1-$t0))")"
  grep -E "Non-2xx|Socket errors" "$work/wrk.out" >&2 || true
}

taskset -c 0 opentracker -i 127.0.0.1 -p "$port" -P "$port" > "$work/opentracker.log" 2>&1 &
pid=$!
ot_keepalive=$(load keepalive)
ot_close=$(load close)
kill $pid; wait $pid 2>/dev/null || true; pid=

MAGNETAR_TRACKER__WORKERS=1 MAGNETAR_TRACKER__HTTP_WORKERS=1 \
MAGNETAR_TRACKER__SOURCE_ANNOUNCE_RATE=0 MAGNETAR_TRACKER__SOURCE_NEW_TORRENTS_PER_MINUTE=1000000000 \
MAGNETAR_TRACKER__MAX_PEERS_PER_SOURCE=2000000 RUST_LOG=warn \
  taskset -c 0 "$MAGNETAR" --data-dir "$work/data" tracker --bind "127.0.0.1:$port" > "$work/magnetar.log" 2>&1 &
pid=$!
mg_keepalive=$(load keepalive)
mg_close=$(load close)
kill $pid; wait $pid 2>/dev/null || true; pid=

for mode in keepalive close; do
  ot=ot_$mode mg=mg_$mode
  python3 - "$mode" ${!ot} ${!mg} <<'PY'
import sys
mode, ot_rps, ot_busy, mg_rps, mg_busy = sys.argv[1], *map(float, sys.argv[2:])
for name, rps, busy in (("opentracker (Debian)", ot_rps, ot_busy), ("magnetar HTTP tracker", mg_rps, mg_busy)):
    print(f"[{mode}] {name:22} {rps:8.0f} announces/s, core 0 busy {busy*100:3.0f} %, {rps/busy:8.0f} announces per core-second")
print(f"[{mode}] ratio magnetar/opentracker: {mg_rps/ot_rps:.2f} in announces/s, "
      f"{(mg_rps/mg_busy)/(ot_rps/ot_busy):.2f} in announces per core-second (target >= 1.20)")
PY
done
