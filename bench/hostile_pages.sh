#!/usr/bin/env bash
# Crafted torrents against the catalog: the detail page of a 20 000-file
# torrent whose files sit 30 folders deep (target: under 200 ms), and 10
# parallel downloads of a crafted 16 MiB torrent (time and peak RSS).
# The reference measured in the same run is the detail page of a one-file
# torrent. Not a test. Needs python3 and curl. Usage:
#   bench/hostile_pages.sh        MAGNETAR=prebuilt-binary
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi
mkdir -p "$work/data/preload"
python3 - "$work/data/preload" "$root/bench" > "$work/hashes" <<'PY'
import hashlib, os, sys
sys.path.insert(0, sys.argv[2])
from gen_torrents import b  # the bencoder of the corpus generator
def write(name, files):
    plen = 1 << 24
    total = sum(f["length"] for f in files)
    info = b({"name": name, "piece length": plen, "pieces": b"\0" * 20 * -(-total // plen), "files": files})
    h = hashlib.sha1(info).hexdigest()
    body = b"d" + b(b"info") + info + b"e"
    open(os.path.join(sys.argv[1], h + ".torrent"), "wb").write(body)
    print(h, len(body))
deep = [f"level{d}" for d in range(30)]
write("deep", [{"length": 1000 + i, "path": deep[: 1 + i % 30] + [f"file-{i}.bin"]} for i in range(20000)])
# Just under the 16 MiB cap: 78 000 files with long names.
write("big", [{"length": 1 + i, "path": [f"dir{i % 97}", f"{i:08d}-" + "x" * 160 + ".bin"]} for i in range(78000)])
write("one", [{"length": 1, "path": ["one.bin"]}])
PY
read -r deep deep_bytes < <(sed -n 1p "$work/hashes")
read -r big big_bytes < <(sed -n 2p "$work/hashes")
read -r one _ < <(sed -n 3p "$work/hashes")
echo "crafted: 20 000 files 30 folders deep ($deep_bytes bytes), 78 000 files ($big_bytes bytes)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
RUST_LOG=warn "$MAGNETAR" --data-dir "$work/data" catalog --bind "127.0.0.1:$port" > "$work/log" 2>&1 &
pid=$!
until [ "$(curl -sf "$url/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])' 2>/dev/null)" = 3 ]; do
  kill -0 $pid 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.2
done
awk '/VmRSS/ {printf "catalog RSS before: %.0f MiB\n", $2/1024}' /proc/$pid/status
python3 - "$url" "$deep" "$big" "$one" <<'PY'
import sys, time, threading, urllib.request
url, deep, big, one = sys.argv[1:5]
def timed(path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); body = urllib.request.urlopen(url + path).read(); out.append((time.perf_counter() - t) * 1000)
    return out, len(body)
for label, h in (("20 000-file deep torrent", deep), ("reference: one-file torrent", one)):
    v, size = timed("/" + h, 11)
    first, rest = v[0], sorted(v[1:])
    print(f"detail page, {label}: first {first:.1f} ms, then median {rest[5]:.1f} ms, max {rest[-1]:.1f} ms "
          f"({size} bytes of HTML; target < 200 ms)")
done = []
def fetch():
    done.append(len(urllib.request.urlopen(url + "/" + big + ".torrent").read()))
t = time.perf_counter()
threads = [threading.Thread(target=fetch) for _ in range(10)]
for th in threads: th.start()
for th in threads: th.join()
print(f"10 parallel downloads of the 78 000-file torrent: {(time.perf_counter() - t) * 1000:.0f} ms, "
      f"{len(done)} complete, {done[0]} bytes each")
PY
awk '/VmRSS|VmHWM/ {printf "catalog %s after: %.0f MiB\n", $1, $2/1024}' /proc/$pid/status
