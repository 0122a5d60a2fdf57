//! What Sonarr's and Radarr's request generators need from Torznab (the
//! advertised parameters, episode, season and season-pack searches, movie
//! searches by year, categories by parent and subcategory, every
//! attribute), parsed as XML; and the same parsed fields in the JSON API,
//! the search page's facets and the detail page's other releases.

mod common;

use std::time::{Duration, SystemTime};

use common::{add, client, config, get, wait_for_count};
use magnetar_shared::InfoHash;

const TORZNAB: &str = "http://torznab.com/schemas/2015/feed";

/// Name, file, day of indexing: the days are not the order of the list,
/// so "newest first" is not the order they were written in.
const FIXTURE: &[(&str, &str, u64)] = &[
    ("Show.Name.S01E01.1080p.WEB-DL.x264-GRP", "e01.mkv", 3),
    ("Show.Name.S01E02.720p.HDTV.x264-GRP", "e02.mkv", 9),
    ("Show.Name.S01.2160p.WEB-DL.x265-GRP", "pack.mkv", 1),
    ("Show.Name.S02E02.1080p.WEB-DL.x264-GRP", "s2e02.mkv", 6),
    ("Other.Show.S01E02.1080p.WEB-DL.x264-GRP", "other.mkv", 11),
    ("Movie.Title.1999.1080p.BluRay.x264-GRP", "m1080.mkv", 2),
    ("Movie.Title.2019.2160p.WEB-DL.x265-GRP", "m2019.mkv", 8),
    ("Movie.Title.1999.480p.DVDRip.XviD-GRP", "m480.avi", 5),
    ("[SubGroup] Anime Name - 05 [1080p]", "a05.mkv", 4),
    ("Jazz Album (2019) [FLAC]", "01.flac", 7),
];

struct Fixture {
    _dir: tempfile::TempDir,
    c: rocket::local::asynchronous::Client,
    _stop: magnetar_shared::Shutdown,
    hashes: Vec<InfoHash>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    for (i, (name, file, day)) in FIXTURE.iter().enumerate() {
        let files: &[(&[&str], u64)] = &[(&[file], 1_000_000 + i as u64)];
        let hash = add(dir.path(), name, files, None);
        let path = dir.path().join("preload").join(format!("{hash}.torrent"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + day * 86_400),
            )
            .unwrap();
        hashes.push(hash);
    }
    let (c, stop) = client(&config(dir.path())).await;
    wait_for_count(&c, "", FIXTURE.len()).await;
    Fixture {
        _dir: dir,
        c,
        _stop: stop,
        hashes,
    }
}

/// The items of a Torznab answer: title and attributes (a name may repeat:
/// `category`).
struct Item {
    title: String,
    link: String,
    comments: String,
    attrs: Vec<(String, String)>,
}

impl Item {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.attrs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

async fn torznab(c: &rocket::local::asynchronous::Client, query: &str) -> Vec<Item> {
    let (status, xml) = get(c, &format!("/api?{query}")).await;
    assert_eq!(status, 200, "{query}: {xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("item"))
        .map(|item| {
            let text = |tag: &str| {
                item.children()
                    .find(|n| n.has_tag_name(tag))
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_owned()
            };
            Item {
                title: text("title"),
                link: text("link"),
                comments: text("comments"),
                attrs: item
                    .children()
                    .filter(|n| n.has_tag_name((TORZNAB, "attr")))
                    .map(|n| {
                        (
                            n.attribute("name").unwrap_or_default().to_owned(),
                            n.attribute("value").unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn titles(items: &[Item]) -> Vec<&str> {
    let mut t: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    t.sort_unstable();
    t
}

#[tokio::test]
async fn caps_advertise_what_sonarr_and_radarr_ask_for() {
    let f = fixture().await;
    let (_, caps) = get(&f.c, "/api?t=caps").await;
    let doc = roxmltree::Document::parse(&caps).unwrap();
    let params = |mode: &str| -> Vec<String> {
        let n = doc
            .descendants()
            .find(|n| n.has_tag_name(mode))
            .unwrap_or_else(|| panic!("{mode} in caps"));
        assert_eq!(n.attribute("available"), Some("yes"), "{mode}");
        n.attribute("supportedParams")
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    // Sonarr builds episode and season searches only with q, season and ep.
    let tv = params("tv-search");
    for p in ["q", "season", "ep"] {
        assert!(tv.contains(&p.to_owned()), "tv-search {p}: {tv:?}");
    }
    let movie = params("movie-search");
    for p in ["q", "year"] {
        assert!(movie.contains(&p.to_owned()), "movie-search {p}: {movie:?}");
    }
    // Parents with their subcategories.
    let sub = |parent: &str| -> Vec<String> {
        doc.descendants()
            .find(|n| n.has_tag_name("category") && n.attribute("id") == Some(parent))
            .unwrap_or_else(|| panic!("category {parent}"))
            .children()
            .filter(|n| n.has_tag_name("subcat"))
            .filter_map(|n| n.attribute("id").map(str::to_owned))
            .collect()
    };
    for id in ["5030", "5040", "5045", "5070"] {
        assert!(sub("5000").contains(&id.to_owned()), "TV/{id}");
    }
    for id in ["2030", "2040", "2045"] {
        assert!(sub("2000").contains(&id.to_owned()), "Movies/{id}");
    }
    assert!(sub("3000").contains(&"3040".to_owned()));
}

#[tokio::test]
async fn tvsearch_finds_one_episode_a_season_and_season_packs() {
    let f = fixture().await;
    // One episode: the title, the season and the episode all count.
    let items = torznab(&f.c, "t=tvsearch&q=Show%20Name&season=1&ep=2").await;
    assert_eq!(titles(&items), ["Show.Name.S01E02.720p.HDTV.x264-GRP"]);
    let i = &items[0];
    assert_eq!(i.attr("season"), Some("1"));
    assert_eq!(i.attr("episode"), Some("2"));
    assert_eq!(i.attr("resolution"), Some("720p"));
    assert_eq!(
        i.all("category"),
        ["5000", "5040"],
        "parent and subcategory"
    );
    // Sonarr's other spelling: S01 / E02.
    let items = torznab(&f.c, "t=tvsearch&q=Show%20Name&season=S01&ep=E02").await;
    assert_eq!(titles(&items), ["Show.Name.S01E02.720p.HDTV.x264-GRP"]);
    // A whole season: its episodes and its season pack, not season 2 nor
    // another show's season 1.
    let items = torznab(&f.c, "t=tvsearch&q=Show%20Name&season=1").await;
    assert_eq!(
        titles(&items),
        [
            "Show.Name.S01.2160p.WEB-DL.x265-GRP",
            "Show.Name.S01E01.1080p.WEB-DL.x264-GRP",
            "Show.Name.S01E02.720p.HDTV.x264-GRP",
        ]
    );
    let pack = items
        .iter()
        .find(|i| i.title.contains("S01.2160p"))
        .unwrap();
    assert_eq!(pack.attr("season"), Some("1"));
    assert_eq!(pack.attr("episode"), None, "a season pack has no episode");
    assert_eq!(pack.all("category"), ["5000", "5045"]);
    // Season packs alone: the UHD subcategory holds only the pack.
    let items = torznab(&f.c, "t=tvsearch&q=Show%20Name&season=1&cat=5045").await;
    assert_eq!(titles(&items), ["Show.Name.S01.2160p.WEB-DL.x265-GRP"]);
    // Episode 2 of season 2 is another release than episode 2 of season 1.
    let items = torznab(&f.c, "t=tvsearch&season=2&ep=2").await;
    assert_eq!(titles(&items), ["Show.Name.S02E02.1080p.WEB-DL.x264-GRP"]);
}

#[tokio::test]
async fn movie_search_by_year_and_categories_by_parent_and_subcategory() {
    let f = fixture().await;
    let items = torznab(&f.c, "t=movie&q=Movie%20Title&year=1999").await;
    assert_eq!(
        titles(&items),
        [
            "Movie.Title.1999.1080p.BluRay.x264-GRP",
            "Movie.Title.1999.480p.DVDRip.XviD-GRP",
        ]
    );
    assert!(items.iter().all(|i| i.attr("year") == Some("1999")));
    let sd = items.iter().find(|i| i.title.contains("480p")).unwrap();
    assert_eq!(sd.all("category"), ["2000", "2030"]);
    // A subcategory: only the HD movie; its parent: every movie.
    let items = torznab(&f.c, "t=movie&cat=2040").await;
    assert_eq!(titles(&items), ["Movie.Title.1999.1080p.BluRay.x264-GRP"]);
    let items = torznab(&f.c, "t=search&cat=2000").await;
    assert_eq!(items.len(), 3, "{:?}", titles(&items));
    // TV as a parent holds the anime (5070); movies and TV together.
    let items = torznab(&f.c, "t=search&cat=5000").await;
    assert_eq!(items.len(), 6, "{:?}", titles(&items));
    assert!(items.iter().any(|i| i.all("category") == ["5000", "5070"]));
    let items = torznab(&f.c, "t=search&cat=2045,5045").await;
    assert_eq!(
        titles(&items),
        [
            "Movie.Title.2019.2160p.WEB-DL.x265-GRP",
            "Show.Name.S01.2160p.WEB-DL.x265-GRP"
        ]
    );
    let items = torznab(&f.c, "t=music&cat=3040").await;
    assert_eq!(titles(&items), ["Jazz Album (2019) [FLAC]"]);
}

#[tokio::test]
async fn every_attribute_and_newest_first_without_a_query() {
    let f = fixture().await;
    let items = torznab(&f.c, "t=search&limit=100").await;
    // RSS sync: newest first, by the day each was indexed.
    let mut by_day: Vec<(u64, &str)> = FIXTURE.iter().map(|(n, _, d)| (*d, *n)).collect();
    by_day.sort_by_key(|d| std::cmp::Reverse(d.0));
    let newest: Vec<&str> = by_day.into_iter().map(|(_, n)| n).collect();
    let got: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(got, newest);
    let e01 = items
        .iter()
        .find(|i| i.title.starts_with("Show.Name.S01E01"))
        .unwrap();
    let hash = f.hashes[0].to_hex();
    for name in [
        "seeders",
        "peers",
        "leechers",
        "infohash",
        "magneturl",
        "size",
        "files",
        "grabs",
        "season",
        "episode",
        "resolution",
    ] {
        assert!(e01.attr(name).is_some(), "attribute {name}");
    }
    assert_eq!(e01.attr("infohash"), Some(hash.as_str()));
    assert_eq!(e01.attr("files"), Some("1"));
    assert_eq!(e01.attr("size"), Some("1000000"));
    assert_eq!(e01.attr("grabs"), Some("0"));
    assert!(e01.attr("magneturl").unwrap().contains(&hash));
    assert!(
        e01.link.ends_with(&format!("/{hash}.torrent")),
        "{}",
        e01.link
    );
    assert!(
        e01.comments.ends_with(&format!("/{hash}")),
        "{}",
        e01.comments
    );
    let movie = items
        .iter()
        .find(|i| i.title.starts_with("Movie.Title.2019"))
        .unwrap();
    assert_eq!(movie.attr("year"), Some("2019"));
    assert_eq!(movie.attr("season"), None);
}

#[tokio::test]
async fn bad_requests_answer_newznab_error_codes() {
    let f = fixture().await;
    for (query, code) in [
        ("", "200"),
        ("t=nope", "202"),
        ("t=tvsearch&ep=2", "201"),
        ("t=tvsearch&season=x", "201"),
        ("t=search&season=1", "201"),
        ("t=tvsearch&year=1999", "201"),
        ("t=movie&year=19999", "201"),
        ("t=movie&cat=abc", "201"),
    ] {
        let (status, body) = get(&f.c, &format!("/api?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let doc = roxmltree::Document::parse(&body).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "error", "{query}");
        assert_eq!(root.attribute("code"), Some(code), "{query}: {body}");
        assert!(!root.attribute("description").unwrap_or_default().is_empty());
    }
}

#[tokio::test]
async fn json_api_and_pages_show_what_names_say() {
    let f = fixture().await;
    let (_, body) = get(&f.c, "/api/v1/search?q=show&season=1&ep=2").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "both shows' S01E02: {names:?}");
    let r = &v["results"][0];
    assert_eq!(r["release"]["seasons"], serde_json::json!([1, 1]));
    assert_eq!(r["release"]["episodes"], serde_json::json!([2, 2]));
    assert!(r["newznab"] == 5040 && r["newznab_name"] == "TV/HD", "{r}");
    let (status, _) = get(&f.c, "/api/v1/search?cat=9x").await;
    assert_eq!(status, 400);
    // RSS items name their category.
    let (_, rss) = get(&f.c, "/rss?q=show&season=1&ep=2").await;
    let doc = roxmltree::Document::parse(&rss).unwrap();
    let cats: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("category"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(cats, ["TV/HD", "TV/HD"], "{rss}");

    // Facets: counts of the current search by category, resolution, year,
    // as links that narrow it.
    let (_, page) = get(&f.c, "/search?q=movie").await;
    assert!(page.contains(r#"<nav class="facets">"#), "{page}");
    assert!(page.contains(r#"<a href="/search?q=movie&amp;cat=2040">Movies/HD</a> (1)"#));
    assert!(page.contains(r#"<a href="/search?q=movie&amp;resolution=2160">2160p</a> (1)"#));
    assert!(page.contains(r#"<a href="/search?q=movie&amp;year=1999">1999</a> (2)"#));
    let (_, page) = get(&f.c, "/search?q=movie&year=1999").await;
    assert!(
        page.contains("<strong>1999 (2)</strong>"),
        "the chosen year"
    );
    assert!(!page.contains("Movie.Title.2019"), "filtered by year");
    assert!(page.contains(r#"<input type="hidden" name="year" value="1999">"#));
    assert!(
        page.contains(r#"<a href="/search?q=movie">"#),
        "a link without the year"
    );

    // Other releases: the same title and year, not another year's.
    let movie = f.hashes[5];
    let (_, page) = get(&f.c, &format!("/{movie}")).await;
    assert!(
        page.contains("Movies/HD · 1999 · 1080p · BluRay · H.264"),
        "{page}"
    );
    let similar = page
        .split(r#"<ul class="similar">"#)
        .nth(1)
        .unwrap_or_default();
    assert!(
        similar.contains("Movie.Title.1999.480p.DVDRip.XviD-GRP"),
        "{page}"
    );
    assert!(!similar.contains("Movie.Title.2019"));
    assert!(!similar.contains("Movie.Title.1999.1080p"), "not itself");
    // An episode's other releases are its season's.
    let (_, page) = get(&f.c, &format!("/{}", f.hashes[0])).await;
    let similar = page
        .split(r#"<ul class="similar">"#)
        .nth(1)
        .unwrap_or_default();
    assert!(similar.contains("Show.Name.S01E02") && similar.contains("Show.Name.S01.2160p"));
    assert!(!similar.contains("S02E02") && !similar.contains("Other.Show"));
}
