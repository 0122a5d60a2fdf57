# Shared helpers for the end-to-end scripts (sourced, not run).
# Everything listens on loopback; every wait has a deadline.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAGNETAR=${MAGNETAR:-$E2E_ROOT/target/debug/magnetar}
PIDS=()

# Every HTTP request of the scripts is bounded in time.
curl() { command curl --max-time 10 "$@"; }

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
}

# finish_ok DIR: stops everything started, then removes DIR (kept on failure).
finish_ok() {
  cleanup
  PIDS=()
  rm -rf "$1" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out after ${secs}s waiting for: $what"
      return 1
    fi
    sleep 0.5
  done
}

# write_config FILE DATA_DIR TRACKER_BIND CATALOG_BIND BASE_URL PUBLIC_TRACKER:
# a magnetar config for end-to-end runs (fast dumps and polls, no DHT).
write_config() {
  mkdir -p "$(dirname "$1")"
  cat > "$1" <<TOML
data_dir = "$2"
[tracker]
bind = ["$3"]
workers = 1
dump_interval = 1
[crawler]
dht = false
timeout = 20
poll_interval = 1
status_interval = 2
# Clients announce "started" before they verify their data; retry soon.
backoff_initial = 3
[catalog]
bind = "$4"
base_url = "$5"
public_trackers = ["$6"]
swarm_ttl = 2
# The scripts poll searches faster than one client may.
client_requests_per_sec = 0
TOML
}

# start_magnetar DIR: runs `magnetar up` on loopback; sets TRACKER_PORT, CATALOG.
start_magnetar() {
  local dir=$1
  TRACKER_PORT=$(free_port)
  local cport; cport=$(free_port)
  CATALOG="http://127.0.0.1:$cport"
  write_config "$dir/magnetar.toml" "$dir/data" "127.0.0.1:$TRACKER_PORT" "127.0.0.1:$cport" "$CATALOG/" "udp://127.0.0.1:$TRACKER_PORT/announce"
  RUST_LOG=${RUST_LOG:-info} "$MAGNETAR" --config "$dir/magnetar.toml" up > "$dir/magnetar.log" 2>&1 &
  PIDS+=($!)
  wait_for 60 "catalog at $CATALOG" curl -sf "$CATALOG/healthz"
}

# scrape HASH: prints "seeders completed leechers" from the tracker (BEP 15).
scrape() {
  python3 - "$TRACKER_PORT" "$1" <<'PY'
import socket, struct, sys, random
port, h = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
tid = random.getrandbits(32)
s.sendto(struct.pack(">QII", 0x41727101980, 0, tid), ("127.0.0.1", port))
_, _, cid = struct.unpack(">IIQ", s.recv(64))
s.sendto(struct.pack(">QII", cid, 2, tid) + h, ("127.0.0.1", port))
r = s.recv(64)
print(*struct.unpack(">III", r[8:20]))
PY
}

# search_total QUERY: number of catalog results.
search_total() {
  curl -sf "$CATALOG/api/v1/search?q=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# qb_profile DIR PEER_PORT WEBUI_ADDR: a qbittorrent-nox profile that accepts
# the legal notice and turns off DHT, LSD, PeX, UPnP/NAT-PMP and forced
# encryption (librqbit speaks plain BitTorrent only).
qb_profile() {
  mkdir -p "$1/qBittorrent/config"
  cat > "$1/qBittorrent/config/qBittorrent.conf" <<CONF
[LegalNotice]
Accepted=true
[BitTorrent]
Session\DHTEnabled=false
Session\LSDEnabled=false
Session\PeXEnabled=false
Session\Encryption=0
Session\Port=$2
[Preferences]
Connection\UPnP=false
WebUI\Port=$(free_port)
WebUI\Address=$3
[Network]
PortForwardingEnabled=false
CONF
}
