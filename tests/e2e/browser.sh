#!/usr/bin/env bash
# Renders the catalog in headless Chromium (Debian's `chromium`): the home,
# search and detail pages must contain the demo torrents, screenshots are
# kept under target/e2e/, and no request may leave loopback.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { log "chromium is not installed"; exit 1; }
out="$E2E_ROOT/target/e2e"; mkdir -p "$out"
work=$(mktemp -d /tmp/magnetar-e2e-browser.XXXXXX)

# A catalog with the demo torrents (seeded on loopback).
TRACKER_PORT=$(free_port); cport=$(free_port); CATALOG="http://127.0.0.1:$cport"
write_config "$work/magnetar.toml" "$work/data" "127.0.0.1:$TRACKER_PORT" "127.0.0.1:$cport" "$CATALOG/" "udp://127.0.0.1:$TRACKER_PORT/announce"
RUST_LOG=info "$MAGNETAR" --config "$work/magnetar.toml" up --demo > "$work/magnetar.log" 2>&1 &
PIDS+=($!)
wait_for 60 "catalog" curl -sf "$CATALOG/healthz" || { tail -30 "$work/magnetar.log"; exit 1; }
listed() { [ "$(curl -sf "$CATALOG/api/v1/search?q=gallery" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')" = 1 ]; }
wait_for 90 "demo torrents in the catalog" listed || { tail -30 "$work/magnetar.log"; exit 1; }
hash=$(curl -sf "$CATALOG/api/v1/search?q=gallery" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["info_hash"])')
[[ "$hash" =~ ^[0-9a-f]{40}$ ]] || { log "FAIL: no info-hash for the demo gallery (got '$hash')"; exit 1; }
# The demo preloads the gallery's cover: wait until the page shows it.
has_preview() { curl -sf "$CATALOG/$hash" | grep -q "<img src=\"/$hash/files/"; }
wait_for 90 "the gallery's preview preloaded" has_preview || { tail -30 "$work/magnetar.log"; exit 1; }

chrome() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile-$RANDOM" --enable-logging=stderr --v=0 \
    --window-size="${SIZE:-1280,900}" "$@" 2>>"$work/chromium.log"
}

fail=0
check_page() {
  local name=$1 path=$2 expect=$3
  chrome --dump-dom "$CATALOG$path" > "$out/$name.html"
  if grep -q -- "$expect" "$out/$name.html"; then
    log "$name: DOM contains '$expect'"
  else
    log "FAIL $name: '$expect' not in the rendered DOM"; fail=1
  fi
  rm -f "$out/$name.png"
  chrome --screenshot="$out/$name.png" "$CATALOG$path" >/dev/null
  # A real PNG of the window's size, not an empty or error file.
  local dims; dims=$(python3 - "$out/$name.png" <<'PY'
import struct, sys
try:
    b = open(sys.argv[1], "rb").read(24)
except OSError:
    sys.exit(0)
if b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR":
    print("%d,%d" % struct.unpack(">II", b[16:24]))
PY
)
  if [ "$dims" = "${SIZE:-1280,900}" ]; then
    log "$name: screenshot $out/$name.png ($dims)"
  else
    log "FAIL $name: screenshot is not a ${SIZE:-1280,900} PNG (got '$dims')"; fail=1
  fi
}
check_page home "/" "magnetar demo gallery"
check_page search "/search?q=notes" "notes</b>"
check_page detail "/$hash" "$hash"
SIZE=390,844 check_page mobile "/$hash" "<img src=\"/$hash/files/"

# The interface in each language: the language link (?lang=) sets <html lang>
# and one translated string per page must be rendered.
check_lang() {
  local name=$1 path=$2 lang=$3 expect=$4
  check_page "$name" "$path" "$expect"
  if grep -q "<html lang=\"$lang\"" "$out/$name.html"; then
    log "$name: <html lang=\"$lang\">"
  else
    log "FAIL $name: <html lang> is not '$lang'"; fail=1
  fi
}
for spec in "en|torrents indexed|result|Download .torrent" \
            "uk|каталозі|результат|Завантажити .torrent" \
            "ja|件のトレントを索引済み|件の結果|.torrent をダウンロード"; do
  IFS='|' read -r lang home_text search_text detail_text <<<"$spec"
  check_lang "home-$lang" "/?lang=$lang" "$lang" "$home_text"
  check_lang "search-$lang" "/search?q=notes&lang=$lang" "$lang" "$search_text"
  check_lang "detail-$lang" "/$hash?lang=$lang" "$lang" "$detail_text"
done

# The preview image the detail page shows must really load, as an image.
img=$(grep -oE "<img src=\"/$hash/files/[^\"]+\"" "$out/detail.html" | head -1 | sed -e 's/^<img src="//' -e 's/"$//')
if [ -z "$img" ]; then
  log "FAIL detail: no preview image in the rendered DOM"; fail=1
else
  ctype=$(curl -s -o "$out/preview.bin" -w '%{http_code} %{content_type}' "$CATALOG$img")
  if [ "$ctype" = "200 image/png" ] && head -c 8 "$out/preview.bin" | cmp -s - <(printf '\x89PNG\r\n\x1a\n'); then
    log "detail: preview $img loads as a PNG"
  else
    log "FAIL detail: preview $img answered '$ctype'"; fail=1
  fi
fi

# Console errors (CSP violations, failed loads) and non-loopback requests.
if grep -E "Refused to|ERR_|Uncaught" "$work/chromium.log" | grep -v -E "chrome-extension|dbus|gcm|GPU|Fontconfig" > "$out/console-errors.txt"; then
  if [ -s "$out/console-errors.txt" ]; then log "FAIL console errors:"; cat "$out/console-errors.txt" >&2; fail=1; fi
fi
for f in "$out"/*.html; do
  if grep -oE '(src|href)="https?://[^"]+' "$f" | grep -v -E '"https?://(127\.0\.0\.1|\[::1\]|localhost)' | grep -q .; then
    log "FAIL $(basename "$f") references a non-loopback host"; fail=1
  fi
done
if [ $fail -eq 0 ]; then
  log "browser checks passed"
  finish_ok "$work"
else
  tail -20 "$work/magnetar.log"
fi
exit $fail
