#!/usr/bin/env bash
# End-to-end with real BitTorrent clients (Debian's aria2, transmission-cli,
# qbittorrent-nox), each through the UDP and through the HTTP announce: the
# client seeds a torrent of random data announcing to magnetar's tracker;
# magnetar must resolve the metadata from that client (BEP 9) and list it;
# then another client downloads it through the tracker and the tracker's
# completed counter must read 1. Every client must be installed (a missing
# one is a failure); every process started is stopped on every path.
# Everything is on 127.0.0.1; each outcome is reported by client and protocol.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d /tmp/magnetar-e2e-clients.XXXXXX)
start_magnetar "$work/magnetar" || { tail -50 "$work/magnetar/magnetar.log"; exit 1; }
log "magnetar up: catalog $CATALOG, tracker udp:// and http://127.0.0.1:$TRACKER_PORT/announce"

clients=(aria2 transmission qbittorrent)
for pair in aria2:aria2c transmission:transmission-cli qbittorrent:qbittorrent-nox; do
  command -v "${pair#*:}" >/dev/null || { log "FAIL: ${pair#*:} is not installed"; exit 1; }
done

# seed CLIENT DIR TORRENT: starts CLIENT seeding the data in DIR.
seed() {
  local client=$1 dir=$2 torrent=$3 port; port=$(free_port)
  case $client in
    aria2)
      aria2c --dir="$dir" --enable-dht=true --dht-file-path="$dir/../aria2-dht.dat" --dht-listen-port="$(free_port)" \
        --bt-enable-lpd=false --enable-peer-exchange=false --listen-port="$port" --seed-ratio=0.0 \
        --check-integrity=true --bt-seed-unverified=false --summary-interval=0 --console-log-level=warn \
        "$torrent" > "$dir/../$client-seed.log" 2>&1 & ;;
    transmission)
      HOME="$dir/.." transmission-cli -D -M -ep -p "$port" -g "$dir/../tr-config" -w "$dir" "$torrent" \
        > "$dir/../$client-seed.log" 2>&1 & ;;
    qbittorrent)
      local profile="$dir/../qb-profile"
      qb_profile "$profile" "$port" 127.0.0.1
      qbittorrent-nox --profile="$profile" --save-path="$dir" --skip-hash-check "$torrent" \
        > "$dir/../$client-seed.log" 2>&1 & ;;
  esac
  PIDS+=($!)
  echo $!
}

# leech CLIENT DIR TORRENT: starts CLIENT downloading into DIR.
leech() {
  local client=$1 dir=$2 torrent=$3
  mkdir -p "$dir"
  case $client in
    aria2)
      aria2c --dir="$dir" --enable-dht=true --dht-file-path="$dir/../aria2-leech-dht.dat" --dht-listen-port="$(free_port)" \
        --bt-enable-lpd=false --enable-peer-exchange=false --listen-port="$(free_port)" --seed-ratio=0.0 \
        --summary-interval=0 --console-log-level=warn "$torrent" > "$dir/../leech.log" 2>&1 & ;;
    transmission)
      HOME="$dir/.." transmission-cli -D -M -ep -p "$(free_port)" -g "$dir/../tr-leech-config" -w "$dir" "$torrent" \
        > "$dir/../leech.log" 2>&1 & ;;
    qbittorrent)
      local profile="$dir/../qb-leech"
      qb_profile "$profile" "$(free_port)" 127.0.0.1
      qbittorrent-nox --profile="$profile" --save-path="$dir" "$torrent" > "$dir/../leech.log" 2>&1 & ;;
  esac
  PIDS+=($!)
  echo $!
}

listed() { [ "$(search_total "$1")" = 1 ]; }
completed_is() { [ "$(scrape "$1" | awk '{print $2}')" = "$2" ]; }

failed=()
for proto in udp http; do
ANNOUNCE="$proto://127.0.0.1:$TRACKER_PORT/announce"
for client in "${clients[@]}"; do
  log "---- $client over $proto"
  case_dir="$work/$proto-$client"; data="$case_dir/seed"; mkdir -p "$data"
  name="e2e${proto}${client}sample"
  head -c 300000 /dev/urandom > "$data/$name.bin"
  mktorrent -l 15 -a "$ANNOUNCE" -o "$case_dir/$name.torrent" "$data/$name.bin" >/dev/null
  hash=$(python3 - "$case_dir/$name.torrent" <<'PY'
import hashlib, sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"4:info") + 6
# the info dict runs to the final 'e' of the top-level dict
print(hashlib.sha1(b[i:-1]).hexdigest())
PY
)
  # $(...) runs in a subshell: register the pid here so cleanup stops it.
  seeder=$(seed "$client" "$data" "$case_dir/$name.torrent"); PIDS+=("$seeder")
  if ! wait_for 90 "$client seeding over $proto and listed in the catalog" listed "$name"; then
    log "FAIL $client/$proto: catalog never listed $hash"; tr "\r" "\n" < "$case_dir/$client-seed.log" | grep -v -E "Progress|Seeding" | tail -8; failed+=("$client/$proto"); kill "$seeder" 2>/dev/null; continue
  fi
  log "$client/$proto: metadata resolved from it and listed ($hash)"
  # The leecher: another client (transmission-cli 3.00 found no peers as a
  # leecher on loopback in our runs, so it never leeches here).
  leecher_client=qbittorrent
  [ "$client" = qbittorrent ] && leecher_client=aria2
  leecher=$(leech "$leecher_client" "$case_dir/leech" "$case_dir/$name.torrent"); PIDS+=("$leecher")
  if ! wait_for 90 "$leecher_client downloads from $client over $proto" cmp -s "$data/$name.bin" "$case_dir/leech/$name.bin"; then
    log "FAIL $client/$proto: $leecher_client did not download the data"; tr "\r" "\n" < "$case_dir/leech.log" | grep -v -E "Progress|Seeding" | tail -8; failed+=("$client/$proto"); kill "$seeder" "$leecher" 2>/dev/null; continue
  fi
  if ! wait_for 60 "completed counter 1" completed_is "$hash" 1; then
    log "FAIL $client/$proto: completed counter is $(scrape "$hash")"; failed+=("$client/$proto"); kill "$seeder" "$leecher" 2>/dev/null; continue
  fi
  log "$client/$proto: $leecher_client downloaded it; tracker completed=1"
  log "PASS $client/$proto"
  kill "$seeder" "$leecher" 2>/dev/null || true
done
done

if [ ${#failed[@]} -gt 0 ]; then
  log "failed clients: ${failed[*]}"
  tail -40 "$work/magnetar/magnetar.log"
  exit 1
fi
log "all clients passed over udp and http: ${clients[*]}"
finish_ok "$work"
