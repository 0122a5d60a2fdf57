#!/usr/bin/env bash
# magnetar over a real Yggdrasil overlay, IPv6 only, on two "hosts": network
# namespaces A and B joined by a veth pair, each running a yggdrasil node
# (no public peers, no multicast; B peers with A over the veth). A runs
# `magnetar up` on its 200::/7 address; B seeds a torrent with qbittorrent-nox
# announcing to A's overlay tracker, and transmission-cli and aria2c each
# seed another through A's HTTP announce URL, then each downloads the
# other's through it (A's tracker completed counter must read 1). From B,
# over the overlay, the catalog must list each torrent with 1 seeder, its magnet must carry A's overlay
# tracker, RSS links must use A's address, and no page may reference an IPv4
# address or an external host. Then a second instance in B federates A over
# the overlay and lists A's torrents, learned from A, with no IPv4 address
# or route in B. Needs root; cleans up even on failure.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

for cmd in ip yggdrasil qbittorrent-nox transmission-cli aria2c mktorrent curl; do
  command -v "$cmd" >/dev/null || { log "$cmd is required"; exit 1; }
done
[ "$(id -u)" = 0 ] || { log "must run as root (network namespaces)"; exit 1; }

tag=$$
A=mgA$tag; B=mgB$tag; VA=mva$tag; VB=mvb$tag
work=$(mktemp -d /tmp/magnetar-e2e-overlay.XXXXXX)

overlay_cleanup() {
  for ns in "$A" "$B"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
  done
  sleep 0.5
  for ns in "$A" "$B"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  ip link del "$VA" 2>/dev/null || true
}
trap overlay_cleanup EXIT

ip netns add "$A" && ip netns add "$B" || exit 1
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$A"; ip link set "$VB" netns "$B"
ip -n "$A" addr add fd99:$tag::1/64 dev "$VA" nodad 2>/dev/null || ip -n "$A" addr add fd99::1/64 dev "$VA" nodad
ip -n "$B" addr add fd99:$tag::2/64 dev "$VB" nodad 2>/dev/null || ip -n "$B" addr add fd99::2/64 dev "$VB" nodad
A_LINK=$(ip -n "$A" -6 addr show dev "$VA" | awk '/inet6 fd99/ {sub("/64","",$2); print $2}')
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up; ip -n "$B" link set "$VB" up

# yggdrasil configs: A listens on the veth, B peers with it; nothing else.
gen() {
  yggdrasil -genconf -json | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["Peers"] = sys.argv[1:2] if sys.argv[1] else []
c["Listen"] = sys.argv[2:3] if sys.argv[2] else []
c["MulticastInterfaces"] = []
c["AdminListen"] = "none"
c["IfName"] = "ygg0"
c["NodeInfoPrivacy"] = True
json.dump(c, sys.stdout)
' "$1" "$2"
}
gen "" "tcp://[$A_LINK]:7443" > "$work/A.json"
gen "tcp://[$A_LINK]:7443" "" > "$work/B.json"
ADDR_A=$(yggdrasil -useconffile "$work/A.json" -address)
ADDR_B=$(yggdrasil -useconffile "$work/B.json" -address)
log "overlay: A=$ADDR_A B=$ADDR_B (veth $A_LINK)"
ip netns exec "$A" yggdrasil -useconffile "$work/A.json" > "$work/yggA.log" 2>&1 &
ip netns exec "$B" yggdrasil -useconffile "$work/B.json" > "$work/yggB.log" 2>&1 &

has_addr() { ip -n "$1" -6 addr show dev ygg0 2>/dev/null | grep -q "$2"; }
wait_for 30 "A's overlay address" has_addr "$A" "$ADDR_A" || exit 1
wait_for 30 "B's overlay address" has_addr "$B" "$ADDR_B" || exit 1

# A: magnetar bound to [::], URLs on A's overlay address.
write_config "$work/a/magnetar.toml" "$work/a/data" "[::]:6969" "[::]:8000" "http://[$ADDR_A]:8000/" "udp://[$ADDR_A]:6969/announce"
ip netns exec "$A" env RUST_LOG=info "$MAGNETAR" --config "$work/a/magnetar.toml" up > "$work/a/magnetar.log" 2>&1 &
CAT="http://[$ADDR_A]:8000"
from_b() { ip netns exec "$B" curl -sfg --max-time 5 "$@"; }
wait_for 150 "catalog reachable from B over the overlay" from_b "$CAT/healthz" || { tail -20 "$work/a/magnetar.log"; exit 1; }
log "catalog on A reachable from B at $CAT"

# B: a torrent announcing to A's overlay tracker, seeded by qbittorrent-nox.
mkdir -p "$work/b/data"
qb_profile "$work/b/qb" 51413 ::1
name=overlaysample$tag
head -c 200000 /dev/urandom > "$work/b/data/$name.bin"
mktorrent -l 15 -a "udp://[$ADDR_A]:6969/announce" -o "$work/b/$name.torrent" "$work/b/data/$name.bin" >/dev/null
ip netns exec "$B" qbittorrent-nox --profile="$work/b/qb" --save-path="$work/b/data" --skip-hash-check "$work/b/$name.torrent" \
  > "$work/b/qb.log" 2>&1 &

listed() { [ "$(from_b "$CAT/api/v1/search?q=$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')" = 1 ]; }
fail=0
if wait_for 120 "the torrent listed in A's catalog" listed; then
  hash=$(from_b "$CAT/api/v1/search?q=$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["info_hash"])')
  log "listed: $hash"
  one_seeder() { from_b "$CAT/$hash" | grep -q '<span class="seed">1 seeders</span>'; }
  wait_for 60 "detail page shows 1 seeder" one_seeder && log "detail page: 1 seeder" || fail=1
  page=$(from_b "$CAT/$hash")
  enc_tracker=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "udp://[$ADDR_A]:6969/announce")
  if grep -q "tr=$enc_tracker" <<<"$page"; then log "magnet carries A's overlay tracker"; else log "FAIL magnet lacks tr=$enc_tracker"; fail=1; fi
  rss=$(from_b "$CAT/rss")
  if grep -q "<link>http://\[$ADDR_A\]:8000/$hash</link>" <<<"$rss"; then log "RSS links use A's overlay address"; else log "FAIL RSS links"; fail=1; fi
  for path in "/" "/$hash" "/search?q=$name" "/stats"; do
    body=$(from_b "$CAT$path")
    if grep -qE '([0-9]{1,3}\.){3}[0-9]{1,3}' <<<"$body"; then log "FAIL $path mentions an IPv4 address"; fail=1; fi
    if grep -oE '(src|href|action)="(https?:)?//[^"]+' <<<"$body" | grep -v "\[$ADDR_A\]" | grep -q .; then
      log "FAIL $path references an external host"; fail=1
    fi
  done
  [ $fail -eq 0 ] && log "pages reference no IPv4 address and no external host"

  # transmission-cli and aria2c cannot announce over UDP on the overlay
  # (transmission refuses non-2000::/3 addresses for UDP trackers; aria2c's
  # UDP tracker client is IPv4-only): each seeds through A's HTTP announce
  # URL instead, and must be crawled and listed with its seeder.
  http_seed() {
    local client=$1 port=$2 nm=overlay$1$tag
    mkdir -p "$work/b/$client"
    head -c 150000 /dev/urandom > "$work/b/$client/$nm.bin"
    mktorrent -l 15 -a "http://[$ADDR_A]:6969/announce" -o "$work/b/$nm.torrent" "$work/b/$client/$nm.bin" >/dev/null
    case $client in
      transmission)
        tr_config "$work/b/tr-config"
        ip netns exec "$B" env HOME="$work/b" transmission-cli -D -M -ep -p "$port" -g "$work/b/tr-config" \
          -w "$work/b/$client" "$work/b/$nm.torrent" > "$work/b/$client.log" 2>&1 & ;;
      aria2)
        ip netns exec "$B" aria2c --dir="$work/b/$client" --enable-dht=false --enable-dht6=false \
          --bt-enable-lpd=false --enable-peer-exchange=false --listen-port="$port" --seed-ratio=0.0 \
          --check-integrity=true --bt-seed-unverified=false --summary-interval=0 --console-log-level=warn \
          "$work/b/$nm.torrent" > "$work/b/$client.log" 2>&1 & ;;
    esac
    local total
    total() { from_b "$CAT/api/v1/search?q=$nm" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
    one_listed() { [ "$(total)" = 1 ]; }
    if ! wait_for 120 "$client's torrent (HTTP announce) listed in A's catalog" one_listed; then
      log "FAIL $client over the HTTP announce was never listed"; fail=1
      tail -20 "$work/a/magnetar.log"; tr "\r" "\n" < "$work/b/$client.log" | tail -5
      return
    fi
    local h; h=$(from_b "$CAT/api/v1/search?q=$nm" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["info_hash"])')
    seeded() { from_b "$CAT/$h" | grep -q '<span class="seed">1 seeders</span>'; }
    if wait_for 60 "$client counted as a seeder" seeded; then
      log "$client over the HTTP announce: listed with 1 seeder ($h)"
      SEEDED[$client]=$h
    else
      log "FAIL $client's swarm not shown"; fail=1
    fi
  }
  # http_leech CLIENT SEEDER PORT: CLIENT in B downloads SEEDER's torrent
  # through A's HTTP announce (peers6: B's overlay address), and A's
  # catalog must then show the download in the completed counter.
  http_leech() {
    local client=$1 seeder=$2 port=$3 nm=overlay$2$tag
    local h=${SEEDED[$seeder]:-} dir="$work/b/leech-$client"
    [ -n "$h" ] || { log "FAIL $client cannot leech: $seeder's torrent was not listed"; fail=1; return; }
    mkdir -p "$dir"
    case $client in
      transmission)
        tr_config "$work/b/tr-leech"
        ip netns exec "$B" env HOME="$work/b" transmission-cli -D -M -ep -p "$port" -g "$work/b/tr-leech" \
          -w "$dir" "$work/b/$nm.torrent" > "$work/b/leech-$client.log" 2>&1 & ;;
      aria2)
        ip netns exec "$B" aria2c --dir="$dir" --enable-dht=false --enable-dht6=false \
          --bt-enable-lpd=false --enable-peer-exchange=false --listen-port="$port" --seed-ratio=0.0 \
          --summary-interval=0 --console-log-level=warn "$work/b/$nm.torrent" > "$work/b/leech-$client.log" 2>&1 & ;;
    esac
    got() { cmp -s "$work/b/$seeder/$nm.bin" "$dir/$nm.bin"; }
    if ! wait_for 120 "$client downloads $seeder's torrent through the HTTP announce" got; then
      log "FAIL $client did not download $seeder's torrent over the overlay"; fail=1
      tr "\r" "\n" < "$work/b/leech-$client.log" | grep -v -E "Progress|Seeding" | tail -5
      return
    fi
    completed() { [ "$(from_b "$CAT/api/v1/torrent/$h" | python3 -c 'import json,sys; print((json.load(sys.stdin)["swarm"] or {}).get("completed"))')" = 1 ]; }
    if wait_for 60 "A's tracker counts $client's download" completed; then
      log "$client downloaded $seeder's torrent through A's HTTP announce over the overlay; completed=1"
    else
      log "FAIL completed counter of $h after $client's download"; fail=1
    fi
  }
  declare -A SEEDED=()
  http_seed transmission 51414
  http_seed aria2 51415
  http_leech transmission aria2 51416
  http_leech aria2 transmission 51417

  # Federation over the overlay: a second instance in B federates A by its
  # 200::/7 address and lists every torrent A has metadata for, learned
  # from A. B's own tracker never sees these hashes, its crawler announces
  # only to it and has no DHT, so the metadata can only come from A.
  federate() {
    write_config "$work/bm/magnetar.toml" "$work/bm/data" "[::]:6969" "[::]:8001" "http://[$ADDR_B]:8001/" "udp://[$ADDR_B]:6969/announce"
    sed -i '/^\[crawler\]/a trackers = ["udp://[::1]:6969/announce"]' "$work/bm/magnetar.toml"
    printf '[federation]\npeers = ["http://[%s]:8000/"]\nsync_interval = 1\nswarm_timeout = 2\n' "$ADDR_A" >> "$work/bm/magnetar.toml"
    ip netns exec "$B" env RUST_LOG=info "$MAGNETAR" --config "$work/bm/magnetar.toml" up > "$work/bm/magnetar.log" 2>&1 &
    in_b() { ip netns exec "$B" curl -sfg --max-time 5 "$@"; }
    local hashes; hashes=$(from_b "$CAT/federation/v1/torrents?limit=100" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["hashes"]))')
    local n; n=$(wc -w <<<"$hashes")
    if [ "$n" -lt 3 ]; then log "FAIL A's federation list has $n torrents, want 3: $hashes"; fail=1; return; fi
    local origin="\"origin\":{\"kind\":\"peer\",\"url\":\"http://[$ADDR_A]:8000\"}"
    local h
    for h in $hashes; do
      from_a() { in_b "http://[::1]:8001/api/v1/torrent/$1" | grep -qF "$origin"; }
      if wait_for 120 "B lists $h, learned from A" from_a "$h"; then
        log "B lists $h with origin A"
      else
        log "FAIL B never listed $h from A"; fail=1
        in_b "http://[::1]:8001/api/v1/torrent/$h" | head -c 400; echo
        tail -20 "$work/bm/magnetar.log"
        return
      fi
    done
    local by_peer; by_peer=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote("peer " + sys.argv[1], safe=""))' "http://[$ADDR_A]:8000")
    # The detail API reads the stored .torrent; searches wait for the index.
    by_origin() { in_b "http://[::1]:8001/api/v1/search?origin=$by_peer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
    all_by_origin() { [ "$(by_origin)" = "$n" ]; }
    if wait_for 60 "B's origin filter finds A's $n torrents" all_by_origin; then
      log "B's origin filter finds A's $n torrents"
    else
      log "FAIL origin filter: $(by_origin) of $n"; fail=1
    fi
    # Nothing over IPv4: B has no IPv4 address but loopback's and no IPv4
    # route, so every byte between the two went over the overlay; B's pages
    # name no IPv4 address.
    if ip -n "$B" -4 -o addr show | grep -v ' lo ' | grep -q .; then log "FAIL B has an IPv4 address"; fail=1; fi
    if ip -n "$B" -4 route show | grep -q .; then log "FAIL B has an IPv4 route"; fail=1; fi
    local path
    for path in "/" "/search?q=overlay" "/$h"; do
      if in_b "http://[::1]:8001$path" | grep -qE '([0-9]{1,3}\.){3}[0-9]{1,3}'; then log "FAIL B's $path mentions an IPv4 address"; fail=1; fi
    done
    log "federation over the overlay: B lists A's $n torrents, nothing over IPv4"
  }
  federate
else
  fail=1
  tail -20 "$work/a/magnetar.log"; tail -5 "$work/b/qb.log"
fi
if [ $fail -eq 0 ]; then
  log "overlay test passed"
  overlay_cleanup
  rm -rf "$work" 2>/dev/null || true
fi
exit $fail
