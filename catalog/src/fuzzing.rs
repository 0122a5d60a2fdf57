//! The bodies of the catalog's fuzz targets (`fuzz/`): public so that the
//! fuzz crate can reach what they exercise, which is private otherwise. Each
//! body takes any bytes, never panics on its own, and asserts what must hold
//! of every input; a panic is a finding. `cargo test` runs each one over its
//! committed seed corpus (`fuzz/tests/corpus.rs`). Not an API.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use magnetar_shared::InfoHash;

use crate::category::Category;
use crate::feeds::{self, Channel};
use crate::index::search::{parse_size, RawSearch, SearchResults, Sort};
use crate::index::{sample, Generation, IndexedTorrent};
use crate::links::Links;

/// The byte that separates the fields of one input: it never occurs in
/// UTF-8, so every field can be any text.
const SEP: u8 = 0xFF;

/// `data` cut at [`SEP`] into exactly `n` text fields (missing ones empty,
/// the last one takes the rest).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == SEP)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// Names of the fuzzed index: the scripts, separators and markup the
/// analyzer and the highlighter must cope with.
const NAMES: &[&str] = &[
    "Ubuntu 24.04 Desktop amd64",
    "進撃の巨人 第1話 1080p",
    "ファイナルファンタジーVII サウンドトラック",
    "东京爱情故事",
    "Amélie Poulain (2001)",
    "Beyoncé - Lemonade [FLAC]",
    "Мастер и Маргарита",
    "Тіні забутих предків",
    "x <script>alert(1)</script> y",
    "a/b\\c\u{0}d\u{202e}e\u{ffff}f",
    "Show.Name.S01E02.720p.x264-GRP",
    "ＡＢＣ１２３ full width",
    "한국어 노래 모음",
    "",
];

/// One torrent per name, each with its own size (about 2^i KB) and indexed
/// day (one every 3 years from 1971, the last in 2200, near the end of
/// Tantivy's date range) so that filters and sorts can be told apart.
fn sample_docs() -> Vec<(IndexedTorrent, Vec<&'static str>)> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let files = vec!["disc/track 01.flac", "readme.txt", *name];
            let mut meta = sample(i, name, &files);
            for (j, f) in meta.files.iter_mut().enumerate() {
                f.length = (1000u64 << i) + j as u64;
            }
            meta.total_size = meta.files.iter().map(|f| f.length).sum();
            let year = if i + 1 == NAMES.len() {
                2200
            } else {
                1971 + 3 * i as i32
            };
            let indexed = Utc
                .with_ymd_and_hms(year, 6, 15, 12, 0, 0)
                .single()
                .unwrap_or_default();
            let torrent = IndexedTorrent {
                info_hash: meta.info_hash,
                name: meta.name.clone(),
                size: meta.total_size,
                file_count: meta.files.len() as u64,
                pieces: 1,
                created: None,
                indexed,
                category: Category::Other.as_str().to_owned(),
                newznab: 8000,
                ..Default::default()
            };
            (torrent, files)
        })
        .collect()
}

/// The fuzzed index, built once per process, and its documents.
fn index() -> &'static (Generation, Vec<IndexedTorrent>) {
    static INDEX: OnceLock<(Generation, Vec<IndexedTorrent>)> = OnceLock::new();
    INDEX.get_or_init(|| {
        let g = Generation::in_ram().expect("an index in memory");
        let mut writer: tantivy::IndexWriter = g.index.writer(15_000_000).expect("an index writer");
        let docs = sample_docs();
        for (i, (t, files)) in docs.iter().enumerate() {
            let mut meta = sample(i, &t.name, files);
            meta.total_size = t.size;
            writer
                .add_document(g.document(&meta, t.indexed, &[]))
                .expect("a document");
        }
        writer.commit().expect("a commit");
        g.reader.reload().expect("a reload");
        (g, docs.into_iter().map(|(t, _)| t).collect())
    })
}

/// What every page of results must be: no more hits than asked, no more
/// than the total, every hit a document of the index, every snippet plain
/// escaped text with matches in `<b>`, taken from the hit's name.
fn check_results(r: &SearchResults, limit: usize, docs: &[IndexedTorrent]) {
    assert!(
        r.hits.len() <= limit,
        "{} hits for limit {limit}",
        r.hits.len()
    );
    assert!(r.total >= r.hits.len(), "total {} < hits", r.total);
    assert!(r.page >= 1 && r.pages >= 1);
    for hit in &r.hits {
        assert!(
            docs.iter().any(|d| d.info_hash == hit.torrent.info_hash),
            "a hit that is not in the index"
        );
        for html in [&hit.name_html, &hit.file_html].into_iter().flatten() {
            let plain = html.replace("<b>", "").replace("</b>", "");
            assert!(
                !plain.contains(['<', '>', '"']),
                "unescaped markup in {html:?}"
            );
        }
        if let Some(html) = &hit.name_html {
            let text = html
                .replace("<b>", "")
                .replace("</b>", "")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            for piece in text.split('…').filter(|p| !p.is_empty()) {
                assert!(
                    hit.torrent.name.contains(piece),
                    "snippet {html:?} is not from {:?}",
                    hit.torrent.name
                );
            }
        }
    }
}

/// Target `query`: any search text. Validation refuses it with a message,
/// or it parses, compiles and runs on the small index within the page's
/// bounds, with snippets that are escaped pieces of the names.
pub fn query(data: &[u8]) {
    let q = String::from_utf8_lossy(data);
    let raw = RawSearch {
        q: Some(q.into_owned()),
        ..Default::default()
    };
    let params = match raw.validate(5) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.0.is_empty(), "a refusal without a reason");
            return;
        }
    };
    let (g, docs) = index();
    let r = g.search(&params).expect("a search of an index in memory");
    check_results(&r, 5, docs);
    if params.q.is_empty() {
        assert_eq!(r.total, docs.len(), "an empty query lists everything");
    }
}

/// Target `params`: any size, date, sort, page, limit, category and
/// release-filter values (`cat`, `year`, `season`, `ep`, `resolution`).
/// Accepted sizes are the number they spell; an accepted search returns
/// exactly the documents inside its filters, in the order its sort names.
pub fn params(data: &[u8]) {
    let f = fields(data, 13);
    let opt = |s: &String| Some(s.clone());
    let raw = RawSearch {
        q: None,
        min_size: opt(&f[0]),
        max_size: opt(&f[1]),
        from: opt(&f[2]),
        to: opt(&f[3]),
        sort: opt(&f[4]),
        page: opt(&f[5]),
        limit: opt(&f[6]),
        category: opt(&f[7]),
        cat: opt(&f[8]),
        year: opt(&f[9]),
        season: opt(&f[10]),
        ep: opt(&f[11]),
        resolution: opt(&f[12]),
        ..Default::default()
    };
    for s in &f[..2] {
        if let Some(v) = parse_size(s) {
            // Exact for every number a double holds exactly.
            if v < 1 << 53 {
                assert_eq!(parse_size(&v.to_string()), Some(v), "{s:?}");
            }
        }
    }
    let Ok(p) = raw.validate(5) else {
        return;
    };
    assert!(p.limit >= 1 && p.page >= 1);
    let (g, docs) = index();
    let r = g.search(&p).expect("a search of an index in memory");
    check_results(&r, p.limit, docs);
    let day_start =
        |d: NaiveDate| -> DateTime<Utc> { d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() };
    // What the index stores of a name: each of up to 100 seasons and
    // episodes of a range.
    let holds = |range: Option<(u16, u16)>, v: u16| {
        range.is_some_and(|(a, b)| (a..=b).take(100).any(|x| x == v))
    };
    let inside = |t: &IndexedTorrent| {
        let r = t.release();
        let cat_ok = p.cats.is_empty()
            || p.cats.iter().any(|&c| {
                if c % 1000 == 0 {
                    (c..c + 1000).contains(&t.newznab)
                } else {
                    c == t.newznab
                }
            });
        cat_ok
            && p.year.is_none_or(|y| r.year == Some(y))
            && p.season.is_none_or(|s| holds(r.seasons, s))
            && p.episode.is_none_or(|e| holds(r.episodes, e))
            && p.resolution.is_none_or(|x| r.resolution == Some(x))
            && p.min_size.is_none_or(|m| t.size >= m)
            && p.max_size.is_none_or(|m| t.size <= m)
            && p.category.is_none_or(|c| c.as_str() == t.category)
            && p.from.is_none_or(|d| t.indexed >= day_start(d))
            && p.to
                .is_none_or(|d| d.succ_opt().is_none_or(|next| t.indexed < day_start(next)))
    };
    let expected = docs.iter().filter(|t| inside(t)).count();
    assert_eq!(r.total, expected, "filters of {p:?}");
    for hit in &r.hits {
        assert!(inside(&hit.torrent), "{:?} outside {p:?}", hit.torrent.name);
    }
    let pairs = r.hits.windows(2).map(|w| (&w[0].torrent, &w[1].torrent));
    for (a, b) in pairs {
        match p.sort {
            Sort::Size => assert!(a.size >= b.size, "size order"),
            Sort::Newest => assert!(a.indexed >= b.indexed, "newest order"),
            Sort::Oldest => assert!(a.indexed <= b.indexed, "oldest order"),
            _ => {}
        }
    }
}

/// Target `feed`: any instance title, query, names and categories. Both
/// the RSS and the Torznab document parse as XML 1.0 (with a strict
/// parser), and give back the title, the query and every name with only
/// the characters XML forbids left out.
pub fn feed(data: &[u8]) {
    let f = fields(data, 6);
    let links = Links::new(&magnetar_shared::config::CatalogConfig {
        base_url: "http://[200::1]:8000/x?&<>".to_owned(),
        ..Default::default()
    });
    let torrents: Vec<IndexedTorrent> = f[2..]
        .iter()
        .enumerate()
        .map(|(i, name)| IndexedTorrent {
            info_hash: InfoHash([i as u8; 20]),
            name: name.clone(),
            size: u64::MAX - i as u64,
            file_count: i as u64,
            pieces: 1,
            created: None,
            indexed: DateTime::<Utc>::MAX_UTC,
            category: name.chars().rev().collect(),
            private: false,
            preloaded: Vec::new(),
            seeders: u64::MAX,
            leechers: 1,
            completed: 0,
            origin: None,
            newznab: 5040,
        })
        .collect();
    let hits: Vec<&IndexedTorrent> = torrents.iter().collect();
    let channel = Channel {
        site_title: &f[0],
        q: &f[1],
        self_path: &f[1],
        offset: usize::MAX,
        total: usize::MAX,
    };
    // Line ends compared as XML defines them (a CR, or CR LF, is a line
    // feed), since parsers differ in whether they fold a CR after an entity.
    let lines = |s: &str| s.replace("\r\n", "\n").replace('\r', "\n");
    let read_back = |s: &str| lines(&feeds::xml_safe(s));
    for torznab in [false, true] {
        let xml = feeds::render(&links, &channel, &hits, torznab);
        let doc = match roxmltree::Document::parse(&xml) {
            Ok(doc) => doc,
            Err(e) => panic!("not well-formed XML ({e}):\n{xml}"),
        };
        let titles: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .map(|n| lines(n.text().unwrap_or("")))
            .collect();
        let channel_title = if f[1].is_empty() {
            format!("{}: newest torrents", f[0])
        } else {
            format!("{}: {}", f[0], f[1])
        };
        let mut expected = vec![read_back(&channel_title)];
        expected.extend(torrents.iter().map(|t| read_back(&t.name)));
        assert_eq!(titles, expected, "titles of\n{xml}");
        let items = doc.descendants().filter(|n| n.has_tag_name("item")).count();
        assert_eq!(items, torrents.len());
    }
}
