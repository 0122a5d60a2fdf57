#!/usr/bin/env python3
"""Writes N valid synthetic .torrent files as preload/<hex>.torrent (for benchmarks).

Names mix English release words with Ukrainian, Russian, Japanese, Chinese,
Korean and accented words, so search benchmarks exercise every analyzer path.
Piece length grows with the torrent so no torrent has more than 256 pieces
(a million torrents then take about 3 GB)."""
import hashlib, os, random, sys

WORDS = ("aurora borealis jazz standards rust book night sky ubuntu studio live concert "
         "documentary series season episode remastered collection lecture notes album "
         "soundtrack archive photos trip mountains ocean city history science "
         "Маргарита Мастер забутих предків Тіні пісні Москва "
         "進撃の巨人 ファイナルファンタジー 東京物語 东京爱情故事 三体 기생충 오징어 "
         "Amélie Beyoncé Müller Straße Años").split()
EXTS = ["mkv", "mp4", "flac", "mp3", "epub", "pdf", "iso", "zip", "jpg", "txt"]


def b(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(b(i) for i in x) + b"e"
    return b"d" + b"".join(b(k) + b(v) for k, v in sorted(x.items())) + b"e"


def main():
    preload, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = random.Random(42)
    os.makedirs(preload, exist_ok=True)
    for i in range(n):
        name = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) + f" {i}"
        files = [{"length": rng.randint(1, 1 << 30), "path": [f"{rng.choice(WORDS)}-{j}.{rng.choice(EXTS)}"]}
                 for j in range(rng.randint(1, 6))]
        plen = 1 << 20
        while sum(f["length"] for f in files) > plen * 256:
            plen *= 2
        pieces = sum(f["length"] for f in files) // plen + 1
        if sum(f["length"] for f in files) % plen == 0:
            pieces -= 1
        info = b({"name": name, "piece length": plen, "pieces": os.urandom(20) * pieces, "files": files})
        h = hashlib.sha1(info).hexdigest()
        body = b"d" + b(b"announce") + b("udp://127.0.0.1:6969/announce") + b(b"info") + info + b"e"
        with open(os.path.join(preload, h + ".torrent"), "wb") as f:
            f.write(body)
        if i and i % 20000 == 0:
            print(f"generated {i}", file=sys.stderr)


if __name__ == "__main__":
    main()
