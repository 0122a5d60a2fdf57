#!/usr/bin/env bash
# Catalog performance at scale: cold index build of N synthetic torrents
# (default 1 000 000; names in English, Ukrainian, Russian, Japanese,
# Chinese, Korean and accented Latin), search latency p50/p99 over a query
# mix with CJK, Cyrillic, accent-folded, prefix and one-typo queries, search
# page throughput with wrk (one word; the mix; 20 two-word queries, the
# benchmark of issue #15, with 32 connections and with the issue's 16), the
# search page's latency with its facets, index size per torrent and the
# catalog's RSS.
# The reference measured in the same run is the static stylesheet route
# (the server's floor). Every figure is of searches computed (the result
# cache off), except one last search-page throughput with the cache on,
# which says so. With BASE=/path/to/older/magnetar the same corpus
# and queries are also run through that binary, so the cost of a change
# (e.g. the multilingual analysis) is printed next to it.
# Targets: >= 5 000 torrents/s indexing, p99 < 20 ms, >= 1 000 req/s,
# < 2 KB index per torrent. Then the cost of one full swarm refresh pass
# over the catalog (wall and CPU seconds, torrents/s).
# Not a test. Needs python3, curl, wrk (Debian package). Usage:
#   bench/catalog.sh [N]        MAGNETAR=prebuilt-binary BASE=older-binary
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
work=$(mktemp -d)
pid=
tpid=
trap 'kill $pid $tpid 2>/dev/null || true; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi
# The corpus is generated once per N and kept for the next run.
. "$root/bench/common.sh"
corpus=$(bench_corpus "$root" "$N")
ln -s "$corpus/preload" "$work/preload"
# Both runs read the corpus from the page cache, as the first did when it
# had just been generated.
echo "reading the corpus into the page cache..." >&2
find "$corpus/preload/" -name '*.torrent' -print0 | xargs -0 cat > /dev/null
echo "corpus: $N torrents, $(du -sh "$corpus/preload" | cut -f1) of .torrent files"

run() {
  local label=$1 bin=$2 data="$work/data-$1"
  mkdir -p "$data"
  ln -s "$work/preload" "$data/preload"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local url="http://127.0.0.1:$port"
  local start end
  start=$(date +%s.%N)
  # One load generator is one client: the per-client limit is turned off
  # where the binary has it (older ones have none).
  local limit=()
  if "$bin" print-config | grep -q '^client_requests_per_sec'; then
    limit=(env MAGNETAR_CATALOG__CLIENT_REQUESTS_PER_SEC=0)
  fi
  # Every search is computed: the result cache (where the binary has one)
  # is off until the last measurement, which says so.
  local cache_off=() has_cache=
  if "$bin" print-config | grep -q '^search_cache_entries'; then
    cache_off=(env MAGNETAR_CATALOG__SEARCH_CACHE_ENTRIES=0); has_cache=1
  fi
  RUST_LOG=warn "${limit[@]}" "${cache_off[@]}" "$bin" --data-dir "$data" catalog --bind "127.0.0.1:$port" > "$work/log-$label" 2>&1 &
  pid=$!
  wait_documents "$url" "$N" $pid "$work/log-$label" || { echo "$label: no index" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "s=$end-$start; print(f'[$label] index build: {$N} torrents in {s:.1f} s = {$N/s:.0f} torrents/s (target >= 5000, ratio {$N/s/5000:.2f})')"
  # CPU-seconds of the build (start-up included): unlike the wall time, not
  # raised by a disk that cannot feed the parsers.
  awk -v t="$(getconf CLK_TCK)" -v n="$N" -v l="$label" '{c=($14+$15)/t; printf "[%s] index build CPU: %.1f CPU-seconds = %.0f torrents per CPU-second\n", l, c, n/c}' /proc/$pid/stat
  # The searches are measured once the catalog is idle, so merges do not
  # share the cores with them.
  echo "[$label] idle after the build (merges done) within $(wait_idle $pid) s"
  local index_bytes
  index_bytes=$(du -sb "$data/index" | cut -f1)
  python3 -c "print(f'[$label] index on disk: {$index_bytes/2**20:.0f} MiB = {$index_bytes/$N:.0f} bytes per torrent (target < 2048)')"
  awk -v l="$label" '/VmRSS|VmHWM/ {printf "[%s] after indexing %s %.0f MiB\n", l, $1, $2/1024}' /proc/$pid/status

  python3 - "$url" "$label" "${MIX_QUERIES[@]}" <<'PY'
import statistics, sys, time, urllib.parse, urllib.request
url, label, queries = sys.argv[1], sys.argv[2], sys.argv[3:]
def lat(path, n):
    out = []
    for i in range(n):
        t = time.perf_counter(); urllib.request.urlopen(url + path(i)).read(); out.append(time.perf_counter() - t)
    return sorted(out)
for q in queries:  # warm-up, one each
    urllib.request.urlopen(url + "/api/v1/search?q=" + urllib.parse.quote(q)).read()
rounds = 40
search = lat(lambda i: "/api/v1/search?q=" + urllib.parse.quote(queries[i % len(queries)]), rounds * len(queries))
ref = lat(lambda i: "/static/style.css", 600)
p = lambda v, q: v[int(len(v) * q) - 1] * 1000
print(f"[{label}] search latency ({len(search)} requests over {len(queries)} queries): p50 {p(search, .5):.2f} ms, "
      f"p99 {p(search, .99):.2f} ms (target p99 < 20 ms); reference /static/style.css p50 {p(ref, .5):.2f} ms")
# The search page computes facets (category, resolution, year) over every
# match; the JSON API above does not: the difference is their cost.
page = lat(lambda i: "/search?q=" + urllib.parse.quote(queries[i % len(queries)]), rounds * len(queries))
print(f"[{label}] search page (HTML; with facets where the binary has them) ({len(page)} requests): p50 {p(page, .5):.2f} ms, "
      f"p99 {p(page, .99):.2f} ms (target p99 < 20 ms); the same queries through the JSON API above: p99 {p(search, .99):.2f} ms")
slow = []
for q in queries:
    v = sorted(lat(lambda i: "/api/v1/search?q=" + urllib.parse.quote(q), 10))
    slow.append((v[-1] * 1000, q))
slow.sort(reverse=True)
print(f"[{label}] slowest queries (max of 10): " + ", ".join(f"{q!r} {ms:.1f} ms" for ms, q in slow[:5]))
PY
  # Requests/s of 10 s of wrk on URL: `rps URL [CONNECTIONS [wrk flags]]`
  # (32 connections unless given; a flag such as `-s script.lua`), after
  # 2 s of the same load not counted: a server that has run a while has
  # its queries' frequent terms decoded (the dense cache) and its caches
  # filled, and a fresh one spends its first seconds on that.
  rps() {
    local url=$1 conns=${2:-32}
    shift $(($# < 2 ? $# : 2))
    wrk -t2 -c"$conns" -d2s "$@" "$url" > /dev/null
    wrk -t2 -c"$conns" -d10s "$@" "$url" | awk '/Requests\/sec/ {print $2}'
  }
  local search_rps ref_rps
  search_rps=$(rps "$url/search?q=jazz")
  ref_rps=$(rps "$url/static/style.css")
  # `round_robin FILE QUERY...`: a wrk script in FILE asking the search
  # page for each QUERY in turn.
  round_robin() {
    python3 - "$@" <<'PY'
import sys, urllib.parse
paths = ", ".join('"/search?q=%s"' % urllib.parse.quote(q) for q in sys.argv[2:])
open(sys.argv[1], "w").write("local paths = {%s}\nlocal i = 0\nrequest = function()\n  i = i %% #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n" % paths)
PY
  }
  # The same 25 queries as the latency figures, round robin: common and
  # rare words, phrases, CJK, prefixes, typos.
  round_robin "$work/mix.lua" "${MIX_QUERIES[@]}"
  local mix_rps
  mix_rps=$(rps "$url" 32 -s "$work/mix.lua")
  # The benchmark of issue #15 itself, round robin.
  round_robin "$work/pairs.lua" "${PAIR_QUERIES[@]}"
  local pairs_rps
  pairs_rps=$(rps "$url" 32 -s "$work/pairs.lua")
  # Again with the 16 connections of the issue's own table.
  local pairs16_rps
  pairs16_rps=$(rps "$url" 16 -s "$work/pairs.lua")
  python3 -c "print(f'[$label] search page, every search computed: {$search_rps:.0f} req/s (target >= 1000, ratio {$search_rps/1000:.2f}); reference static: {$ref_rps:.0f} req/s; search/static {$search_rps/$ref_rps:.2f}')"
  python3 -c "print(f'[$label] search page over the 25 queries above, round robin, every search computed: {$mix_rps:.0f} req/s (target >= 1000, ratio {$mix_rps/1000:.2f})')"
  python3 -c "print(f'[$label] search page over 20 two-word queries (the benchmark of issue 15), round robin, every search computed: {$pairs_rps:.0f} req/s (target >= 1000, ratio {$pairs_rps/1000:.2f})')"
  python3 -c "print(f'[$label] the same 20 two-word queries with 16 connections (as the issue measured; the figures above use 32): {$pairs16_rps:.0f} req/s (target >= 1000, ratio {$pairs16_rps/1000:.2f})')"
  awk -v l="$label" '/VmRSS|VmHWM/ {printf "[%s] after searches %s %.0f MiB\n", l, $1, $2/1024}' /proc/$pid/status
  kill $pid; wait $pid 2>/dev/null || true; pid=
  if [ -n "$has_cache" ]; then
    # The same binary on the index it built, with its default result
    # cache: wrk asks the one query again and again, as users ask popular
    # ones, so after the first request the page comes from the cache.
    RUST_LOG=warn "${limit[@]}" "$bin" --data-dir "$data" catalog --bind "127.0.0.1:$port" > "$work/log-$label-cached" 2>&1 &
    pid=$!
    until curl -sf "$url/healthz" | grep -q '"ok"'; do
      kill -0 $pid 2>/dev/null || { echo "$label: catalog exited" >&2; cat "$work/log-$label-cached" >&2; exit 1; }
      sleep 0.5
    done
    local cached_rps
    cached_rps=$(rps "$url/search?q=jazz")
    python3 -c "print(f'[$label] search page, result cache on (default search_cache_entries; the same query again): {$cached_rps:.0f} req/s (target >= 1000, ratio {$cached_rps/1000:.2f})')"
    curl -s "$url/metrics" | grep -E '^magnetar_catalog_result_cache_(hits|misses)_total' | sed "s/^/[$label] /"
    kill $pid; wait $pid 2>/dev/null || true; pid=
  fi
  if [ "$label" = new ]; then refresh_pass "$bin" "$data" "$url"; fi
  rm -rf "$data"
}

# A full swarm refresh pass over the whole catalog: the catalog restarts on
# the index it built, with a local magnetar tracker to scrape (which knows
# none of the torrents: every answer is zeros, the catalog's work the same),
# and logs the pass it starts with (wall and CPU seconds of its thread).
refresh_pass() {
  local bin=$1 data=$2 url=$3 tport waited=0 ticks
  tport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", s.getsockname()[1])); print(s.getsockname()[1])')
  printf '[tracker]\nbind = ["127.0.0.1:%s"]\n[catalog]\nscrape_trackers = ["udp://127.0.0.1:%s"]\nswarm_ttl = 3600\nclient_requests_per_sec = 0\n' "$tport" "$tport" > "$work/refresh.toml"
  RUST_LOG=warn "$bin" --config "$work/refresh.toml" --data-dir "$data" tracker > "$work/log-tracker" 2>&1 &
  tpid=$!
  RUST_LOG=info "$bin" --config "$work/refresh.toml" --data-dir "$data" catalog --bind "${url#http://}" > "$work/log-refresh" 2>&1 &
  pid=$!
  until grep -q "swarm refresh pass" "$work/log-refresh"; do
    kill -0 $pid 2>/dev/null || { echo "catalog exited" >&2; tail "$work/log-refresh" >&2; exit 1; }
    [ $waited -lt 1200 ] || { echo "no refresh pass within 600 s" >&2; exit 1; }
    sleep 0.5; waited=$((waited + 1))
  done
  grep "swarm refresh pass" "$work/log-refresh" | head -1 | sed 's/\x1b\[[0-9;]*m//g; s/.*swarm refresh pass/[new] swarm refresh pass/'
  ticks=$(getconf CLK_TCK)
  awk -v t="$ticks" '{printf "[new] tracker CPU, start and answering the pass: %.2f s\n", ($14+$15)/t}' /proc/$tpid/stat
  awk '/VmRSS|VmHWM/ {printf "[new] after the refresh pass %s %.0f MiB\n", $1, $2/1024}' /proc/$pid/status
  kill $pid $tpid; wait $pid $tpid 2>/dev/null || true; pid= tpid=
}

run new "$MAGNETAR"
if [ -n "${BASE:-}" ]; then run base "$BASE"; fi
