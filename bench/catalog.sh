#!/usr/bin/env bash
# Catalog performance: cold index build of N synthetic torrents (default
# 100 000), search latency p50/p99 over a fixed query list, and search-page
# throughput with wrk — each next to a reference measured in the same run
# (the static stylesheet route: the server's floor), printed as ratios.
# Targets: >= 2 000 torrents/s indexing, p99 < 20 ms, >= 1 000 req/s.
# Not a test. Needs python3, curl, wrk (Debian package).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-100000}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
python3 "$root/bench/gen_torrents.py" "$work/data/preload" "$N"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

start=$(date +%s.%N)
RUST_LOG=warn "$root/target/release/magnetar" --data-dir "$work/data" catalog --bind "127.0.0.1:$port" > "$work/log" 2>&1 &
pid=$!
until [ "$(curl -sf "$url/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])' 2>/dev/null)" = "$N" ]; do sleep 0.2; done
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'index build: {$N} torrents in {s:.1f} s = {$N/s:.0f} torrents/s (target >= 2000, ratio {$N/s/2000:.2f})')"

python3 - "$url" <<'PY'
import statistics, sys, time, urllib.request
url = sys.argv[1]
queries = ["jazz", "night sky", "ubuntu studio", "rust book", "\"live concert\"", "album -jazz",
           "name:aurora", "file:flac", "season episode", "documentary", "collection 42", "zzzz"]
def lat(path, n):
    out = []
    for i in range(n):
        t = time.perf_counter(); urllib.request.urlopen(url + path(i)).read(); out.append(time.perf_counter() - t)
    return sorted(out)
search = lat(lambda i: "/api/v1/search?q=" + urllib.parse.quote(queries[i % len(queries)]), 600)
ref = lat(lambda i: "/static/style.css", 600)
p = lambda v, q: v[int(len(v) * q) - 1] * 1000
print(f"search latency: p50 {p(search, .5):.2f} ms, p99 {p(search, .99):.2f} ms (target p99 < 20 ms); "
      f"reference /static/style.css p50 {p(ref, .5):.2f} ms; ratio p50 search/reference {p(search,.5)/p(ref,.5):.1f}")
PY
rps() { wrk -t2 -c32 -d10s "$1" | awk '/Requests\/sec/ {print $2}'; }
search_rps=$(rps "$url/search?q=jazz")
ref_rps=$(rps "$url/static/style.css")
python3 -c "print(f'search page: {$search_rps:.0f} req/s (target >= 1000, ratio {$search_rps/1000:.2f}); reference static: {$ref_rps:.0f} req/s; search/static {$search_rps/$ref_rps:.2f}')"
du -sh "$work/data/index" | awk '{print "index on disk: " $1}'
