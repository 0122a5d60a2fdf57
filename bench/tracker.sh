#!/usr/bin/env bash
# Tracker throughput: magnetar vs aquatic_udp 0.9.0 under aquatic_udp_load_test.
#
# Both trackers run with one worker pinned to core 0 (taskset), the load
# tester (default request mix, 1M torrents) on core 1, for DURATION seconds
# each, in the same invocation; the script prints responses/s of both and
# the ratio magnetar/aquatic. Target: >= 1.1. The single-threaded load
# tester may saturate before either tracker does, so the script also prints
# responses per CPU-second used by the tracker (its efficiency), and
# magnetar once more with a 1M-hash data/denylist.
#
# Usage: bench/tracker.sh            (DURATION=20 CACHE=~/.cache/magnetar-references)
# Not a test: numbers depend on the machine; the ratio is what to compare.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-20}
CACHE=${CACHE:-$HOME/.cache/magnetar-references}
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

# The reference programs. aquatic_udp 0.9.0's own lockfile no longer builds
# with current Rust (its pinned `metrics` crate), so it is installed unlocked.
for b in aquatic_udp aquatic_udp_load_test; do
  if [ ! -x "$CACHE/bin/$b" ]; then
    echo "installing $b 0.9.0 into $CACHE" >&2
    cargo install "$b" --version 0.9.0 --root "$CACHE" >&2
  fi
done
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }
# MAGNETAR=path runs an already built binary (e.g. of a given commit).
if [ -z "${MAGNETAR:-}" ]; then
  cargo build --release -p magnetar --manifest-path "$root/Cargo.toml" >&2
  MAGNETAR="$root/target/release/magnetar"
fi

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CACHE/bin/aquatic_udp_load_test" -p \
  | sed -e "s/^server_address = .*/server_address = \"127.0.0.1:$port\"/" -e "s/^duration = .*/duration = $DURATION/" \
  > "$work/load.toml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load PID: runs the load test against the tracker PID; prints
# "responses/s responses-per-tracker-CPU-second".
load() {
  sleep 1
  local before after rps
  before=$(cpu_ticks "$1")
  rps=$(taskset -c 1 "$CACHE/bin/aquatic_udp_load_test" -c "$work/load.toml" 2>&1 \
    | awk '/Average responses per second/ {print $NF}')
  after=$(cpu_ticks "$1")
  python3 -c "t=($after-$before)/$(getconf CLK_TCK); print($rps, $rps*$DURATION/t if t else 0)"
}

"$CACHE/bin/aquatic_udp" -p \
  | sed -e "s/^address = .*/address = \"127.0.0.1:$port\"/" -e "s/^socket_workers = .*/socket_workers = 1/" \
  > "$work/aquatic.toml"
taskset -c 0 "$CACHE/bin/aquatic_udp" -c "$work/aquatic.toml" > "$work/aquatic.log" 2>&1 &
pid=$!
read -r aquatic aquatic_eff < <(load $pid)
kill $pid; wait $pid 2>/dev/null || true

raised=(env MAGNETAR_TRACKER__SOURCE_ANNOUNCE_RATE=1000000000 MAGNETAR_TRACKER__SOURCE_ANNOUNCE_BURST=1000000000
  MAGNETAR_TRACKER__SOURCE_NEW_TORRENTS_PER_MINUTE=1000000000 MAGNETAR_TRACKER__MAX_PEERS_PER_SOURCE=2000000)
# The load tester is one source (127.0.0.1) sending ~200k announces/s for
# 1M torrents: magnetar's per-source limits would refuse almost all of it.
# This run raises them so every check still runs but none binds: it
# measures what the budgets cost, not what they refuse.
"${raised[@]}" MAGNETAR_TRACKER__WORKERS=1 RUST_LOG=warn taskset -c 0 "$MAGNETAR" --data-dir "$work/data" tracker \
  --bind "127.0.0.1:$port" > "$work/magnetar.log" 2>&1 &
pid=$!
read -r magnetar magnetar_eff < <(load $pid)
kill $pid; wait $pid 2>/dev/null || true

# The same, with a denylist of 1M hashes (none of them announced): what
# the lookup on every announce costs.
mkdir -p "$work/data-denied"
python3 -c "
import os, sys
out = sys.stdout.buffer
for _ in range(1_000_000):
    out.write(os.urandom(20).hex().encode() + b'\n')
" > "$work/data-denied/denylist"
"${raised[@]}" MAGNETAR_TRACKER__WORKERS=1 RUST_LOG=warn taskset -c 0 "$MAGNETAR" --data-dir "$work/data-denied" tracker \
  --bind "127.0.0.1:$port" > "$work/magnetar-denied.log" 2>&1 &
pid=$!
read -r denied denied_eff < <(load $pid)
kill $pid; wait $pid 2>/dev/null || true

# Default limits: the same flood from one source, mostly answered with
# short BEP 15 errors; printed for what a flooding host gets.
rm -rf "$work/data"
MAGNETAR_TRACKER__WORKERS=1 RUST_LOG=warn taskset -c 0 "$MAGNETAR" --data-dir "$work/data" tracker \
  --bind "127.0.0.1:$port" > "$work/magnetar-defaults.log" 2>&1 &
pid=$!
read -r flooded flooded_eff < <(load $pid)
kill $pid; wait $pid 2>/dev/null || true

printf 'aquatic_udp 0.9.0   %12.0f responses/s %12.0f responses per CPU-second\n' "$aquatic" "$aquatic_eff"
printf 'magnetar tracker    %12.0f responses/s %12.0f responses per CPU-second\n' "$magnetar" "$magnetar_eff"
python3 -c "print(f'ratio magnetar/aquatic: {$magnetar/$aquatic:.2f} responses/s (target >= 1.10), {$magnetar_eff/$aquatic_eff:.2f} per CPU-second (per-source limits raised, see above)')"
printf 'magnetar, limits raised, 1M-hash denylist: %.0f responses/s, %.0f per CPU-second (ratio to aquatic %.2f)\n' "$denied" "$denied_eff" "$(python3 -c "print($denied/$aquatic)")"
printf 'magnetar, default per-source limits (one flooding source): %.0f responses/s, %.0f per CPU-second\n' "$flooded" "$flooded_eff"
