# Sourced by bench/catalog.sh and bench/search_cpu.sh: the synthetic corpus
# of N torrents, generated once per N (the generator is seeded) and kept
# in target/bench-corpus/ for later runs, the waits for a catalog
# indexing it, and the queries both measure.

# The query mix: English and release syntax; CJK substrings; Cyrillic
# inflections and accents folded; a prefix (the last word) and one typo;
# nothing.
MIX_QUERIES=(
  "jazz" "night sky" "ubuntu studio" '"live concert"' "album -jazz" "name:aurora" "file:flac"
  "season episode" "collection 42"
  "巨人" "進撃" "ファイナル" "东京" "爱情故事" "기생충"
  "маргариты" "предки" "забуті" "amelie" "beyonce strasse"
  "ubunt" "documen" "documantary" "soundtrak"
  "zzzz"
)
# The benchmark of issue #15: 20 two-word queries (two required words
# each, from the corpus' vocabulary).
PAIR_QUERIES=(
  "aurora borealis" "jazz standards" "rust book" "night sky" "ubuntu studio" "live concert"
  "documentary series" "season episode" "remastered collection" "lecture notes" "album soundtrack"
  "archive photos" "trip mountains" "ocean city" "history science" "jazz album" "night concert"
  "studio live" "book series" "photos ocean"
)

# Prints the corpus directory for N (its preload/ holds the torrents),
# generating it first when absent; fails when bench/gen_torrents.py
# changed since it was generated.
bench_corpus() {
  local root=$1 n=$2
  local corpus="$root/target/bench-corpus/catalog-$n"
  if [ ! -f "$corpus/complete" ]; then
    echo "generating $n torrents into $corpus (kept for later runs)..." >&2
    rm -rf "$corpus"; mkdir -p "$corpus"
    python3 "$root/bench/gen_torrents.py" "$corpus/preload" "$n" >&2
    sha1sum "$root/bench/gen_torrents.py" > "$corpus/complete"
  elif ! sha1sum -c --status "$corpus/complete"; then
    echo "bench/gen_torrents.py changed since $corpus was generated: remove it to regenerate" >&2
    return 1
  fi
  echo "$corpus"
}

# Waits until the catalog at URL (process PID, log LOG) has N documents;
# fails with its log when it exits first.
wait_documents() {
  local url=$1 n=$2 pid=$3 log=$4
  until [ "$(curl -sf "$url/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])' 2>/dev/null)" = "$n" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "the catalog exited" >&2; cat "$log" >&2; return 1; }
    sleep 0.5
  done
}

# Tantivy may still be merging the segments just written: waits until
# process PID is idle (under 5 % of a core over two seconds; at most
# 120 s) and prints the seconds waited.
wait_idle() {
  local pid=$1 ticks waited=0 before after
  ticks=$(getconf CLK_TCK)
  while [ $waited -lt 60 ]; do
    before=$(awk '{print $14+$15}' "/proc/$pid/stat")
    sleep 2
    after=$(awk '{print $14+$15}' "/proc/$pid/stat")
    waited=$((waited + 1))
    [ $(( (after - before) * 100 )) -lt $(( 5 * 2 * ticks )) ] && break
  done
  echo $((waited * 2))
}
