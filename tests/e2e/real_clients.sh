#!/usr/bin/env bash
# End-to-end with real BitTorrent clients (Debian's aria2, transmission-cli,
# qbittorrent-nox): every client seeds once through the UDP and once through
# the HTTP announce, and every client downloads once through each (the
# leecher of a seeder is the next client of the list). The whole matrix
# runs twice: under `magnetar up` (the crawler takes peers from the
# tracker's state) and with the tracker, crawler and catalog as three
# processes (the crawler announces to the tracker like any peer).
#
# For each case: the client seeds a torrent of random data; magnetar must
# resolve its metadata from that client (BEP 9), list it with exactly one
# seeder (the crawler must leave the swarm it asked), then the other client
# downloads it through the tracker and the completed counter must read 1.
#
# Everything runs in a network namespace of its own, on 198.18.0.1 (a
# benchmarking address, on that namespace's loopback): transmission 3.00
# drops peers in 127.0.0.0/8 as "martian" (libtransmission/net.c), so on
# 127.0.0.1 it can never leech. Every client must be installed (a missing
# one is a failure); every process started is stopped on every path; each
# outcome is reported by mode, client and protocol. Needs root.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

clients=(aria2 transmission qbittorrent)
for pair in aria2:aria2c transmission:transmission-cli qbittorrent:qbittorrent-nox mktorrent:mktorrent ip:ip; do
  command -v "${pair#*:}" >/dev/null || { log "FAIL: ${pair#*:} is not installed"; exit 1; }
done
[ "$(id -u)" = 0 ] || { log "FAIL: must run as root (a network namespace)"; exit 1; }

use_netns mgclients$$
E2E_HOST=198.18.0.1
work=$(mktemp -d /tmp/magnetar-e2e-clients.XXXXXX)
clients_cleanup() {
  cleanup
  ip netns pids "$E2E_NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$E2E_NS" 2>/dev/null || true
}
trap clients_cleanup EXIT
ip netns add "$E2E_NS" || exit 1
ip -n "$E2E_NS" link set lo up
ip -n "$E2E_NS" addr add "$E2E_HOST/32" dev lo

# start_client ROLE CLIENT DIR TORRENT: starts CLIENT seeding the data in
# DIR (ROLE seed) or downloading into DIR (ROLE leech); sets CLIENT_PID.
start_client() {
  local role=$1 client=$2 dir=$3 torrent=$4 port; port=$(free_port)
  local log="$dir/../$client-$role.log"
  mkdir -p "$dir"
  case $client in
    aria2)
      local check=()
      [ "$role" = seed ] && check=(--check-integrity=true --bt-seed-unverified=false)
      # aria2c announces to UDP trackers only with its DHT on; it has no
      # entry point here, so it talks to nobody but the tracker and peers.
      "${NSX[@]}" aria2c --dir="$dir" --enable-dht=true --dht-file-path="$dir/../aria2-$role-dht.dat" \
        --dht-listen-port="$(free_port)" --bt-enable-lpd=false --enable-peer-exchange=false \
        --listen-port="$port" --seed-ratio=0.0 "${check[@]}" --summary-interval=0 \
        --console-log-level=warn "$torrent" > "$log" 2>&1 & ;;
    transmission)
      tr_config "$dir/../tr-$role"
      "${NSX[@]}" env HOME="$dir/.." transmission-cli -D -M -ep -p "$port" -g "$dir/../tr-$role" -w "$dir" "$torrent" \
        > "$log" 2>&1 & ;;
    qbittorrent)
      local profile="$dir/../qb-$role" skip=()
      [ "$role" = seed ] && skip=(--skip-hash-check)
      qb_profile "$profile" "$port" 127.0.0.1
      "${NSX[@]}" qbittorrent-nox --profile="$profile" --save-path="$dir" "${skip[@]}" "$torrent" > "$log" 2>&1 & ;;
  esac
  CLIENT_PID=$!
  PIDS+=("$CLIENT_PID")
}

# show_log FILE: the last lines of a client's log, without progress lines.
show_log() { [ -f "$1" ] && tr "\r" "\n" < "$1" | grep -v -E "Progress|Seeding|SEED\(" | tail -8; }

info_hash() {
  python3 - "$1" <<'PY'
import hashlib, sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"4:info") + 6
# the info dict runs to the final 'e' of the top-level dict
print(hashlib.sha1(b[i:-1]).hexdigest())
PY
}

listed() { [ "$(search_total "$1")" = 1 ]; }
# The catalog's JSON for HASH shows one seeder and the tracker counts one.
one_seeder() {
  local api tracker
  api=$(curl -sf "$CATALOG/api/v1/torrent/$1" | python3 -c 'import json,sys; print((json.load(sys.stdin)["swarm"] or {}).get("seeders"))')
  tracker=$(scrape "$1" | awk '{print $1}')
  [ "$api" = 1 ] && [ "$tracker" = 1 ]
}
completed_is() { [ "$(scrape "$1" | awk '{print $2}')" = "$2" ]; }

failed=()
passed=0
# run_case MODE PROTO SEEDER LEECHER: one seeder, one leecher, one torrent.
run_case() {
  local mode=$1 proto=$2 seeder=$3 leecher=$4
  local case_dir="$work/$mode/$proto-$seeder" name="e2e${mode}${proto}${seeder}sample"
  local what="$mode/$proto: $seeder seeds, $leecher leeches"
  log "---- $what"
  mkdir -p "$case_dir/seed"
  head -c 300000 /dev/urandom > "$case_dir/seed/$name.bin"
  mktorrent -l 15 -a "$proto://$E2E_HOST:$TRACKER_PORT/announce" -o "$case_dir/$name.torrent" "$case_dir/seed/$name.bin" >/dev/null
  local hash; hash=$(info_hash "$case_dir/$name.torrent")
  start_client seed "$seeder" "$case_dir/seed" "$case_dir/$name.torrent"; local spid=$CLIENT_PID
  if ! wait_for 90 "$seeder's torrent resolved and listed" listed "$name"; then
    log "FAIL $what: the catalog never listed $hash"; show_log "$case_dir/$seeder-seed.log"
    failed+=("$what"); kill "$spid" 2>/dev/null; return
  fi
  log "$what: metadata resolved from $seeder and listed ($hash)"
  if ! wait_for 30 "one seeder in the catalog and the tracker" one_seeder "$hash"; then
    log "FAIL $what: seeders: catalog $(curl -sf "$CATALOG/api/v1/torrent/$hash" | head -c 300), tracker $(scrape "$hash")"
    failed+=("$what"); kill "$spid" 2>/dev/null; return
  fi
  log "$what: listed with 1 seeder"
  start_client leech "$leecher" "$case_dir/leech" "$case_dir/$name.torrent"; local lpid=$CLIENT_PID
  if ! wait_for 120 "$leecher downloads from $seeder" cmp -s "$case_dir/seed/$name.bin" "$case_dir/leech/$name.bin"; then
    log "FAIL $what: $leecher did not download the data"; show_log "$case_dir/$leecher-leech.log"
    failed+=("$what"); kill "$spid" "$lpid" 2>/dev/null; return
  fi
  if ! wait_for 60 "completed counter 1" completed_is "$hash" 1; then
    log "FAIL $what: completed counter is $(scrape "$hash")"
    failed+=("$what"); kill "$spid" "$lpid" 2>/dev/null; return
  fi
  log "PASS $what (tracker completed=1)"
  passed=$((passed + 1))
  kill "$spid" "$lpid" 2>/dev/null || true
}

for mode in up split; do
  mkdir -p "$work/$mode"
  if ! start_magnetar "$work/$mode" "$mode"; then
    log "FAIL: magnetar ($mode) did not start"; tail -30 "$work/$mode"/*.log; exit 1
  fi
  log "magnetar $mode: catalog $CATALOG, tracker udp:// and http://$E2E_HOST:$TRACKER_PORT/announce"
  for proto in udp http; do
    for i in 0 1 2; do
      run_case "$mode" "$proto" "${clients[$i]}" "${clients[$(( (i + 1) % 3 ))]}"
    done
  done
  [ ${#failed[@]} -gt 0 ] && tail -40 "$work/$mode"/*.log
  kill "${MAGNETAR_PIDS[@]}" 2>/dev/null
  wait "${MAGNETAR_PIDS[@]}" 2>/dev/null
done

if [ ${#failed[@]} -gt 0 ]; then
  log "passed $passed, failed ${#failed[@]}:"
  for f in "${failed[@]}"; do log "  $f"; done
  exit 1
fi
log "all $passed cases passed: ${clients[*]}, each seeding and leeching over udp and http, under up and split"
finish_ok "$work"
