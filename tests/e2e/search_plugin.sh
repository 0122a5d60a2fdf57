#!/usr/bin/env bash
# The qBittorrent search plugin (contrib/qbittorrent/magnetar.py) in a real
# qbittorrent-nox: two magnetar instances on loopback, each with its own
# torrents (and one torrent both list), plus a third address where nothing
# listens. The plugin, with those three in its INSTANCES list, is installed
# through qBittorrent's Web API (/api/v2/search/installPlugin); a search
# started through the Web API (/api/v2/search/start, /status, /results) must
# return every matching torrent of both instances once, with its name, size,
# seeders, leechers, magnet and detail URL; a category search must leave out
# the other categories. Every wait is bounded; everything started is stopped.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

for cmd in qbittorrent-nox mktorrent python3 curl; do
  command -v "$cmd" >/dev/null || { log "FAIL: $cmd is not installed"; exit 1; }
done

work=$(mktemp -d /tmp/magnetar-e2e-plugin.XXXXXX)
fail() { log "FAIL: $*"; for f in "$work"/*/magnetar.log "$work/qb.log"; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; exit 1; }

# make_torrent DIR NAME BYTES EXT: a one-file torrent; prints its info-hash.
make_torrent() {
  local dir=$1 name=$2 bytes=$3 ext=$4
  mkdir -p "$dir/files"
  head -c "$bytes" /dev/urandom > "$dir/files/$name.$ext"
  mktorrent -l 15 -a "udp://127.0.0.1:1/announce" -o "$dir/$name.torrent" "$dir/files/$name.$ext" >/dev/null
  python3 - "$dir/$name.torrent" <<'PY'
import hashlib, sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"4:info") + 6
print(hashlib.sha1(b[i:-1]).hexdigest())
PY
}

# publish DATA_DIR TORRENT HASH: hands a .torrent to a running catalog the way
# the crawler does (a complete file renamed into preload/).
publish() {
  mkdir -p "$1/preload"
  cp "$2" "$1/preload/.$3.tmp" && mv "$1/preload/.$3.tmp" "$1/preload/$3.torrent"
}

# announce PORT HASH LEFT PEER_PORT: one BEP 15 announce (left=0: a seeder).
announce() {
  python3 - "$@" <<'PY'
import os, socket, struct, sys, random
port, h, left, pport = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
tid = random.getrandbits(32)
s.sendto(struct.pack(">QII", 0x41727101980, 0, tid), ("127.0.0.1", port))
_, _, cid = struct.unpack(">IIQ", s.recv(64))
s.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, tid, h, os.urandom(20), 0, left, 0, 2, 0, 0, 10, pport), ("127.0.0.1", port))
assert struct.unpack(">I", s.recv(2048)[:4])[0] == 1
PY
}

# Instance A: a video torrent with one seeder and one leecher, an audio one.
start_magnetar "$work/a" || fail "instance A did not start"
A=$CATALOG; A_TRACKER=$TRACKER_PORT
a_video=$(make_torrent "$work/t" pluginprobe_alpha_video 200000 mkv)
a_audio=$(make_torrent "$work/t" pluginprobe_alpha_audio 120000 flac)
shared=$(make_torrent "$work/t" pluginprobe_both_video 90000 mp4)
# Instance B: a video torrent of its own, and the one both list.
start_magnetar "$work/b" || fail "instance B did not start"
B=$CATALOG
b_video=$(make_torrent "$work/t" pluginprobe_beta_video 150000 mkv)
for h in "$a_video:pluginprobe_alpha_video" "$a_audio:pluginprobe_alpha_audio" "$shared:pluginprobe_both_video"; do
  publish "$work/a/data" "$work/t/${h#*:}.torrent" "${h%%:*}"
done
for h in "$b_video:pluginprobe_beta_video" "$shared:pluginprobe_both_video"; do
  publish "$work/b/data" "$work/t/${h#*:}.torrent" "${h%%:*}"
done
announce "$A_TRACKER" "$a_video" 0 40001 || fail "announce of a seeder to A"
announce "$A_TRACKER" "$a_video" 1000 40002 || fail "announce of a leecher to A"

swarm_of() { # BASE HASH: "seeders leechers" as the API lists them
  curl -sf "$1/api/v1/search?q=pluginprobe" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    if r["info_hash"] == sys.argv[1]: print(r["seeders"], r["leechers"])' "$2"
}
listed_all() { [ "$(search_total pluginprobe)" = "$1" ]; }
CATALOG=$A wait_for 60 "A lists its 3 torrents" listed_all 3 || fail "A does not list its torrents"
CATALOG=$B wait_for 60 "B lists its 2 torrents" listed_all 2 || fail "B does not list its torrents"
swarm_is() { [ "$(swarm_of "$A" "$a_video")" = "1 1" ]; }
wait_for 60 "A shows 1 seeder and 1 leecher" swarm_is || fail "A's swarm counts: $(swarm_of "$A" "$a_video")"
log "instances up: A $A (3 torrents), B $B (2 torrents)"

# The plugin, with its INSTANCES list naming A, B and an address where
# nothing listens.
dead="http://127.0.0.1:$(free_port)/"
mkdir -p "$work/plugin"
python3 - "$E2E_ROOT/contrib/qbittorrent/magnetar.py" "$work/plugin/magnetar.py" "$A/" "$B/" "$dead" <<'PY' || fail "cannot edit the plugin's INSTANCES list"
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
new, n = re.subn(r"INSTANCES = \[\n.*?\n\]", "INSTANCES = [\n" + "".join('    "%s",\n' % u for u in sys.argv[3:]) + "]", src, flags=re.S)
assert n == 1, "INSTANCES list not found"
open(sys.argv[2], "w", encoding="utf-8").write(new)
PY

# qbittorrent-nox with its Web UI on loopback, no login from localhost.
profile="$work/qb"
qb_profile "$profile" "$(free_port)" 127.0.0.1
conf="$profile/qBittorrent/config/qBittorrent.conf"
webui_port=$(sed -n 's/^WebUI\\Port=//p' "$conf")
sed -i '/^\[Preferences\]/a WebUI\\LocalHostAuth=false' "$conf"
qbittorrent-nox --profile="$profile" > "$work/qb.log" 2>&1 &
PIDS+=($!)
QB="http://127.0.0.1:$webui_port"
# Search jobs belong to a Web API session: keep its cookie.
qb() { curl -sf -b "$work/qb.cookies" -c "$work/qb.cookies" "$@"; }
wait_for 60 "qBittorrent Web API" qb "$QB/api/v2/app/version" || fail "qBittorrent's Web API did not come up"
log "qbittorrent-nox $(qb "$QB/api/v2/app/version") on $QB"

qb -X POST "$QB/api/v2/search/installPlugin" --data-urlencode "sources=$work/plugin/magnetar.py" \
  || fail "installPlugin was refused"
plugin_enabled() {
  qb "$QB/api/v2/search/plugins" | python3 -c '
import json, sys
assert any(p["name"] == "magnetar" and p["enabled"] for p in json.load(sys.stdin))'
}
wait_for 60 "the plugin installed and enabled" plugin_enabled \
  || fail "plugin not installed: $(qb "$QB/api/v2/search/plugins")"
log "plugin installed: $(qb "$QB/api/v2/search/plugins" | python3 -c 'import json,sys; print([(p["name"], p["version"], p["url"]) for p in json.load(sys.stdin)])')"

# search PATTERN CATEGORY: runs a search through the Web API, prints its results (JSON).
search() {
  local id
  id=$(qb -X POST "$QB/api/v2/search/start" --data-urlencode "pattern=$1" \
         --data-urlencode "plugins=magnetar" --data-urlencode "category=$2" \
       | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || return 1
  stopped() { qb "$QB/api/v2/search/status?id=$id" | python3 -c '
import json, sys
assert json.load(sys.stdin)[0]["status"] == "Stopped"'; }
  wait_for 90 "search '$1' to finish" stopped || return 1
  qb "$QB/api/v2/search/results?id=$id&limit=500"
}

all=$(search pluginprobe all) || fail "search 'pluginprobe' did not finish"
python3 - "$all" "$A/" "$B/" "$a_video" "$a_audio" "$shared" "$b_video" <<'PY' || fail "the search's results are wrong"
import json, sys
res, A, B, a_video, a_audio, shared, b_video = json.loads(sys.argv[1]), *sys.argv[2:]
rows = res["results"]
by_name = {r["fileName"]: r for r in rows}
want = {
    "pluginprobe_alpha_video.mkv": (a_video, 200000, 1, 1, A),
    "pluginprobe_alpha_audio.flac": (a_audio, 120000, 0, 0, A),
    "pluginprobe_beta_video.mkv": (b_video, 150000, 0, 0, B),
    "pluginprobe_both_video.mp4": (shared, 90000, 0, 0, None),
}
assert len(rows) == len(want), "%d results, want %d (the shared torrent once): %s" % (len(rows), len(want), [r["fileName"] for r in rows])
for name, (h, size, seeds, leech, base) in want.items():
    r = by_name.get(name)
    assert r is not None, "missing %s in %s" % (name, sorted(by_name))
    assert r["fileSize"] == size, "%s: size %s, want %s" % (name, r["fileSize"], size)
    assert r["nbSeeders"] == seeds and r["nbLeechers"] == leech, "%s: %s/%s seeders/leechers, want %s/%s" % (name, r["nbSeeders"], r["nbLeechers"], seeds, leech)
    assert r["fileUrl"].startswith("magnet:?xt=urn:btih:") and h in r["fileUrl"].lower(), "%s: link %s" % (name, r["fileUrl"])
    if base is not None:
        assert r["descrLink"] == base + h, "%s: detail link %s, want %s" % (name, r["descrLink"], base + h)
        assert r["siteUrl"] == base, "%s: site %s, want %s" % (name, r["siteUrl"], base)
    else:
        assert r["descrLink"] in (A + h, B + h), "%s: detail link %s" % (name, r["descrLink"])
print("ok: %d results from both instances, the dead one left out" % len(rows))
PY
log "search 'pluginprobe' (all): both instances' torrents with sizes, swarms, magnets, detail links"

music=$(search pluginprobe music) || fail "search 'pluginprobe' in music did not finish"
python3 - "$music" <<'PY' || fail "the music search's results are wrong"
import json, sys
names = sorted(r["fileName"] for r in json.loads(sys.argv[1])["results"])
assert names == ["pluginprobe_alpha_audio.flac"], "music search returned %s" % names
PY
log "search 'pluginprobe' (music): only the audio torrent"

none=$(search nosuchwordanywhere all) || fail "search with no hits did not finish"
[ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["results"]))' "$none")" = 0 ] \
  || fail "a search with no hits returned results: $none"
log "PASS: the qBittorrent plugin searches magnetar instances through qbittorrent-nox"
finish_ok "$work"
