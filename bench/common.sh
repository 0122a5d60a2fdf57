# Sourced by bench/catalog.sh and bench/search_cpu.sh: the synthetic corpus
# of N torrents, generated once per N (the generator is seeded) and kept
# in target/bench-corpus/ for later runs.

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
