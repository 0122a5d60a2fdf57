//! RSS, JSON API, Torznab, OpenSearch, metrics and health: content, not just status.

mod common;

use common::{add, client, config, get, wait_for_count};

const TORZNAB: &str = "http://torznab.com/schemas/2015/feed";
const EZRSS: &str = "http://xmlns.ezrss.it/0.1/";

async fn fixture() -> (
    tempfile::TempDir,
    rocket::local::asynchronous::Client,
    magnetar_shared::Shutdown,
    magnetar_shared::InfoHash,
) {
    let dir = tempfile::tempdir().unwrap();
    let hash = add(
        dir.path(),
        "Night Sky & Stars",
        &[(&["sky.mkv"], 5_000_000)],
        None,
    );
    add(
        dir.path(),
        "Jazz Standards",
        &[(&["01.flac"], 3_000_000), (&["02.flac"], 3_000_000)],
        None,
    );
    add(
        dir.path(),
        "Rust Book",
        &[(&["rust.epub"], 2_000_000)],
        None,
    );
    let mut cfg = config(dir.path());
    cfg.catalog.torznab_apikey = Some("s3cret".into());
    let (c, s) = client(&cfg).await;
    wait_for_count(&c, "", 3).await;
    (dir, c, s, hash)
}

#[tokio::test]
async fn rss_feeds_newest_and_saved_searches() {
    let (_d, c, _s, hash) = fixture().await;
    let r = c.get("/rss?q=night").dispatch().await;
    assert_eq!(r.status().code, 200);
    assert!(r
        .content_type()
        .unwrap()
        .to_string()
        .starts_with("application/rss+xml"));
    let xml = r.into_string().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let items: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .collect();
    assert_eq!(items.len(), 1);
    let child = |name: &str| {
        items[0]
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap()
            .to_owned()
    };
    assert_eq!(child("title"), "Night Sky & Stars");
    assert_eq!(child("link"), format!("http://[200:1::2]:8000/{hash}"));
    assert_eq!(child("guid"), hash.to_hex());
    assert!(chrono::DateTime::parse_from_rfc2822(&child("pubDate")).is_ok());
    let enclosure = items[0]
        .children()
        .find(|n| n.has_tag_name("enclosure"))
        .unwrap();
    assert_eq!(
        enclosure.attribute("url"),
        Some(format!("http://[200:1::2]:8000/{hash}.torrent").as_str())
    );
    assert_eq!(
        enclosure.attribute("type"),
        Some("application/x-bittorrent")
    );
    assert_eq!(enclosure.attribute("length"), Some("5000000"));
    let magnet = items[0]
        .children()
        .find(|n| n.has_tag_name((EZRSS, "magnetURI")))
        .unwrap()
        .text()
        .unwrap();
    assert!(magnet.starts_with(&format!("magnet:?xt=urn:btih:{hash}")));

    let (_, all) = get(&c, "/rss").await;
    let doc = roxmltree::Document::parse(&all).unwrap();
    assert_eq!(
        doc.descendants().filter(|n| n.has_tag_name("item")).count(),
        3
    );
    let (_, audio) = get(&c, "/rss?category=audio").await;
    assert!(audio.contains("Jazz Standards") && !audio.contains("Rust Book"));
    // One file, two files.
    assert!(
        xml.contains("<description>4.8 MiB · 1 file · video</description>"),
        "{xml}"
    );
    assert!(
        audio.contains(" · 2 files · audio</description>"),
        "{audio}"
    );
    let (status, err) = get(&c, "/rss?page=0").await;
    assert_eq!(status, 400);
    assert!(roxmltree::Document::parse(&err)
        .unwrap()
        .root_element()
        .has_tag_name("error"));
}

#[tokio::test]
async fn json_api_search_torrent_and_stats() {
    let (_d, c, _s, hash) = fixture().await;
    let (status, body) = get(&c, "/api/v1/search?q=jazz").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 1);
    let hit = &v["results"][0];
    assert_eq!(hit["name"], "Jazz Standards");
    assert_eq!(hit["files"], 2);
    assert_eq!(hit["size"], 6_000_000);
    assert_eq!(hit["category"], "audio");
    assert!(hit["magnet"]
        .as_str()
        .unwrap()
        .starts_with("magnet:?xt=urn:btih:"));
    assert!(hit["url"]
        .as_str()
        .unwrap()
        .starts_with("http://[200:1::2]:8000/"));

    let (_, body) = get(&c, "/api/v1/search?sort=size&limit=2").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["total"].as_u64(),
            v["pages"].as_u64(),
            v["limit"].as_u64()
        ),
        (Some(3), Some(2), Some(2))
    );
    assert_eq!(v["results"][0]["name"], "Jazz Standards");
    let (_, body) = get(&c, "/api/v1/search?max_size=2500000").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["results"][0]["name"], "Rust Book");

    let (status, body) = get(&c, &format!("/api/v1/torrent/{hash}")).await;
    assert_eq!(status, 200);
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["info_hash"], hash.to_hex());
    assert_eq!(t["files"][0]["path"], "sky.mkv");
    assert_eq!(t["category"], "video");
    assert_eq!(t["trackers"][0], "udp://tracker.example:6969/announce");
    assert!(t["swarm"].is_null(), "no tracker configured");

    let (_, body) = get(&c, "/api/v1/stats").await;
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["torrents"], 3);
    assert_eq!(s["total_size"], 13_000_000);
    assert_eq!(s["categories"]["audio"], 1);

    for (uri, status) in [
        ("/api/v1/search?limit=1000", 400),
        ("/api/v1/search?sort=x", 400),
        ("/api/v1/torrent/xyz", 400),
        (
            "/api/v1/torrent/0000000000000000000000000000000000000000",
            404,
        ),
    ] {
        let (code, body) = get(&c, uri).await;
        assert_eq!(code, status, "{uri}");
        let e: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
        assert_eq!(e["error"]["status"], status);
        assert!(e["error"]["message"].as_str().unwrap().len() > 3);
    }
}

#[tokio::test]
async fn torznab_caps_and_search() {
    let (_d, c, _s, hash) = fixture().await;
    let (status, _) = get(&c, "/api?t=caps").await;
    assert_eq!(status, 401, "API key required when configured");
    let (status, caps) = get(&c, "/api?t=caps&apikey=s3cret").await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&caps).unwrap();
    let ids: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("category"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    for id in ["2000", "5000", "3000", "7000", "4000", "8000"] {
        assert!(ids.contains(&id), "category {id}");
    }
    let search = doc
        .descendants()
        .find(|n| n.has_tag_name("search"))
        .unwrap();
    assert_eq!(search.attribute("available"), Some("yes"));

    let (status, xml) = get(&c, "/api?t=search&q=night&cat=2000,5000&apikey=s3cret").await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let items: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .collect();
    assert_eq!(items.len(), 1);
    let attr = |name: &str| {
        items[0]
            .children()
            .find(|n| n.has_tag_name((TORZNAB, "attr")) && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(attr("size"), "5000000");
    assert_eq!(attr("seeders"), "0");
    assert_eq!(attr("peers"), "0");
    assert_eq!(attr("infohash"), hash.to_hex());
    assert!(attr("magneturl").starts_with("magnet:?xt=urn:btih:"));
    assert_eq!(attr("category"), "2000");

    let (_, xml) = get(&c, "/api?t=search&cat=3000&apikey=s3cret").await;
    assert!(xml.contains("Jazz Standards") && !xml.contains("Night Sky"));
    let (_, xml) = get(&c, "/api?t=search&offset=1&limit=1&apikey=s3cret").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants().filter(|n| n.has_tag_name("item")).count(),
        1
    );
    for bad in [
        "/api?t=nope&apikey=s3cret",
        "/api?t=search&cat=x&apikey=s3cret",
        "/api?t=search&limit=-1&apikey=s3cret",
    ] {
        let (status, body) = get(&c, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(roxmltree::Document::parse(&body)
            .unwrap()
            .root_element()
            .attribute("code")
            .is_some());
    }
}

#[tokio::test]
async fn opensearch_metrics_and_health() {
    let (_d, c, _s, _) = fixture().await;
    let (_, xml) = get(&c, "/opensearch.xml").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let templates: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Url"))
        .filter_map(|n| n.attribute("template"))
        .collect();
    assert!(templates.contains(&"http://[200:1::2]:8000/search?q={searchTerms}"));
    assert!(templates.contains(&"http://[200:1::2]:8000/rss?q={searchTerms}"));
    let (_, home) = get(&c, "/").await;
    assert!(home.contains("rel=\"search\" type=\"application/opensearchdescription+xml\""));

    let count = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("magnetar_catalog_searches_total "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let (_, before) = get(&c, "/metrics").await;
    get(&c, "/search?q=jazz").await;
    let (_, after) = get(&c, "/metrics").await;
    assert_eq!(count(&after), count(&before) + 1);
    assert!(after.contains("magnetar_catalog_documents 3"));
    assert!(after.contains("magnetar_catalog_search_duration_seconds_bucket{le=\"+Inf\"}"));
    assert!(after.contains("magnetar_catalog_scrape_requests_total"));
    assert!(after.contains("process_resident_memory_bytes"));
    magnetar_shared::telemetry::check_exposition(&after).unwrap();

    let (status, health) = get(&c, "/healthz").await;
    assert_eq!(status, 200);
    assert!(health.contains("\"documents\":3"));
}
