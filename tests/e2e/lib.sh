# Shared helpers for the end-to-end scripts (sourced, not run).
# Everything listens on loopback; every wait has a deadline.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAGNETAR=${MAGNETAR:-$E2E_ROOT/target/debug/magnetar}
PIDS=()
# E2E_NS: a network namespace the script made; when set, magnetar, the
# clients and every request of these helpers run inside it. E2E_HOST: the
# address everything binds and announces to there (127.0.0.1 otherwise).
E2E_NS=
E2E_HOST=${E2E_HOST:-127.0.0.1}
# The command prefix that enters $E2E_NS: a plain array, so that
# `"${NSX[@]}" cmd &` leaves the pid of cmd itself in $! (a backgrounded
# shell function would leave a subshell's, and kill would miss cmd).
NSX=()

# use_netns NAME: runs what follows inside network namespace NAME.
use_netns() { E2E_NS=$1; NSX=(ip netns exec "$1"); }

# in_ns COMMAND...: runs COMMAND inside $E2E_NS (or here, when unset).
in_ns() { "${NSX[@]}" "$@"; }

# Every HTTP request of the scripts is bounded in time.
curl() { "${NSX[@]}" env curl --max-time 10 "$@"; }

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

# start_magnetar DIR [up|split]: runs magnetar on $E2E_HOST; sets
# TRACKER_PORT, CATALOG and MAGNETAR_PIDS. `up` (the default) is one
# process; `split` runs the tracker, the crawler and the catalog as three
# processes on one data directory, the crawler announcing to the tracker
# and the catalog scraping it as separate hosts would.
start_magnetar() {
  local dir=$1 mode=${2:-up} h=$E2E_HOST
  TRACKER_PORT=$(free_port)
  local cport; cport=$(free_port)
  CATALOG="http://$h:$cport"
  write_config "$dir/magnetar.toml" "$dir/data" "$h:$TRACKER_PORT" "$h:$cport" "$CATALOG/" "udp://$h:$TRACKER_PORT/announce"
  MAGNETAR_PIDS=()
  case $mode in
    up)
      "${NSX[@]}" env RUST_LOG="${RUST_LOG:-info}" "$MAGNETAR" --config "$dir/magnetar.toml" up > "$dir/magnetar.log" 2>&1 &
      MAGNETAR_PIDS+=($!) ;;
    split)
      sed -i "/^\[crawler\]/a trackers = [\"udp://$h:$TRACKER_PORT/announce\"]" "$dir/magnetar.toml"
      sed -i "/^\[catalog\]/a scrape_trackers = [\"udp://$h:$TRACKER_PORT\"]" "$dir/magnetar.toml"
      local role
      for role in tracker crawler catalog; do
        "${NSX[@]}" env RUST_LOG="${RUST_LOG:-info}" "$MAGNETAR" --config "$dir/magnetar.toml" "$role" > "$dir/$role.log" 2>&1 &
        MAGNETAR_PIDS+=($!)
      done ;;
    *) log "start_magnetar: unknown mode $mode"; return 1 ;;
  esac
  PIDS+=("${MAGNETAR_PIDS[@]}")
  wait_for 60 "catalog at $CATALOG" curl -sf "$CATALOG/healthz"
}

# scrape HASH: prints "seeders completed leechers" from the tracker (BEP 15).
scrape() {
  in_ns python3 - "$E2E_HOST" "$TRACKER_PORT" "$1" <<'PY'
import socket, struct, sys, random
host, port, h = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
tid = random.getrandbits(32)
s.sendto(struct.pack(">QII", 0x41727101980, 0, tid), (host, port))
_, _, cid = struct.unpack(">IIQ", s.recv(64))
s.sendto(struct.pack(">QII", cid, 2, tid) + h, (host, port))
r = s.recv(64)
print(*struct.unpack(">III", r[8:20]))
PY
}

# search_total QUERY: number of catalog results.
search_total() {
  curl -sf "$CATALOG/api/v1/search?q=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# qb_profile DIR PEER_PORT WEBUI_ADDR [WEBUI_PORT]: a qbittorrent-nox profile that accepts
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
WebUI\Port=${4:-$(free_port)}
WebUI\Address=$3
[Network]
PortForwardingEnabled=false
CONF
}

# tr_config DIR: a transmission-cli config dir with µTP off. transmission
# 3.00 first tries µTP to a peer from a tracker; aria2c and librqbit do not
# speak it, and its fall-back to TCP took longer than a minute in our runs.
tr_config() {
  mkdir -p "$1"
  printf '{"utp-enabled": false}\n' > "$1/settings.json"
}
