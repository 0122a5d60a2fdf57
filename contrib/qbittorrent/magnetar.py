#VERSION: 1.0
#AUTHORS: magnetar contributors
"""qBittorrent search plugin (nova3 format) for magnetar catalogs.

Searches every instance in INSTANCES through its JSON API
(`/api/v1/search`) and reports name, size, seeders, leechers, the magnet
link and the detail page of each hit. A torrent found on several instances
is listed once, with the largest swarm seen. An instance that does not
answer within TIMEOUT seconds, or answers with something else than the
API's JSON, is left out (the others still answer).

Install: qBittorrent -> View -> Search engine -> Search plugins ->
Install a new one -> Local file -> this file. Edit INSTANCES below first,
or set MAGNETAR_INSTANCES (space-separated base URLs) in qBittorrent's
environment. Runs on its own too: `python3 magnetar.py ubuntu` prints the
lines qBittorrent would read.
"""

import json
import os
import threading
import urllib.parse
import urllib.request

try:
    from novaprinter import prettyPrinter
except ImportError:  # outside qBittorrent

    def prettyPrinter(d):
        print("|".join(str(d.get(k, "")) for k in (
            "link", "name", "size", "seeds", "leech", "engine_url", "desc_link")))


# The magnetar instances to search: base URLs, as their pages are reached
# (Yggdrasil addresses go in brackets).
INSTANCES = [
    "http://[::1]:8000/",
]

TIMEOUT = 10           # seconds per request
PAGES = 5              # pages of 100 results per instance, at most
MAX_BODY = 4 << 20     # bytes of one API answer, at most


def _instances():
    env = os.environ.get("MAGNETAR_INSTANCES", "").split()
    urls = env or INSTANCES
    return [u if u.endswith("/") else u + "/" for u in urls if u.strip()]


# qBittorrent's categories -> magnetar's (absent: search every category).
CATEGORIES = {
    "all": None,
    "movies": "video",
    "tv": "video",
    "anime": "video",
    "music": "audio",
    "books": "book",
    "software": "software",
    "games": "software",
    "pictures": "image",
}


def _get_json(url):
    req = urllib.request.Request(url, headers={
        "Accept": "application/json",
        "User-Agent": "magnetar-qbittorrent-plugin/1.0",
    })
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        body = r.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise ValueError("answer larger than %d bytes" % MAX_BODY)
    return json.loads(body.decode("utf-8"))


def _search_instance(base, query, category, found, lock):
    for page in range(1, PAGES + 1):
        params = {"q": query, "limit": "100", "page": str(page)}
        if category:
            params["category"] = category
        try:
            data = _get_json(base + "api/v1/search?" + urllib.parse.urlencode(params))
            results = data["results"]
            pages = int(data.get("pages", 1))
        except Exception:
            return
        with lock:
            for r in results:
                try:
                    hit = {
                        "link": r["magnet"],
                        "name": r["name"],
                        # bytes, written so every novaprinter version reads it
                        "size": "%d B" % int(r["size"]),
                        "seeds": int(r.get("seeders") or 0),
                        "leech": int(r.get("leechers") or 0),
                        "engine_url": base,
                        "desc_link": r.get("url") or base + r["info_hash"],
                    }
                    key = r["info_hash"]
                except (KeyError, TypeError, ValueError):
                    continue
                old = found.get(key)
                if old is None or hit["seeds"] > old["seeds"]:
                    found[key] = hit
        if page >= pages:
            return


class magnetar(object):
    url = (_instances() or ["http://[::1]:8000/"])[0]
    name = "magnetar"
    supported_categories = {c: c for c in CATEGORIES}

    def search(self, what, cat="all"):
        # qBittorrent passes the words percent-encoded.
        query = urllib.parse.unquote_plus(what).strip()
        if not query:
            return
        category = CATEGORIES.get(cat)
        found, lock = {}, threading.Lock()
        threads = [
            threading.Thread(target=_search_instance, args=(b, query, category, found, lock), daemon=True)
            for b in _instances()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * PAGES + 5)
        with lock:
            hits = sorted(found.values(), key=lambda h: -h["seeds"])
        for h in hits:
            prettyPrinter(h)


if __name__ == "__main__":
    import sys

    magnetar().search(urllib.parse.quote(" ".join(sys.argv[1:])), "all")
