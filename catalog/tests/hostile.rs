//! Hostile torrents and requests: every torrent that is indexed has a
//! working detail page, `.torrent` download and JSON view whatever its name
//! and paths hold, and feeds stay well-formed XML whatever the data or the
//! echoed query.

mod common;

use common::{add, client, config, get, wait_for_count};

/// Names and paths as strangers send them.
fn corpus(data: &std::path::Path) -> Vec<(magnetar_shared::InfoHash, &'static str)> {
    let long = "L".repeat(10_000);
    let long: &'static str = Box::leak(long.into_boxed_str());
    vec![
        (
            add(
                data,
                "x <script>alert(1)</script> y",
                &[(&["a</b>", "c"], 10)],
                None,
            ),
            "script",
        ),
        (
            add(data, "nul\0and\x07bell", &[(&["ctl\x01", "f"], 10)], None),
            "nul",
        ),
        (
            add(
                data,
                "nonchar \u{FFFF}\u{FFFE} end",
                &[(&["p\u{FFFF}"], 10)],
                None,
            ),
            "nonchar",
        ),
        (
            add(
                data,
                "bidi evil\u{202E}gpj.exe",
                &[(&["x\u{2066}y"], 10)],
                None,
            ),
            "bidi",
        ),
        (
            add(
                data,
                "back\\slash ..",
                &[(&["..", "..", "etc", "passwd"], 10), (&["C:", "win"], 5)],
                None,
            ),
            "slash",
        ),
        (add(data, long, &[(&[long, long], 10)], None), "LLLL"),
    ]
}

#[rocket::async_test]
async fn every_indexed_torrent_has_a_page_a_download_and_a_json_view() {
    let dir = tempfile::tempdir().unwrap();
    let torrents = corpus(dir.path());
    let (client, _s) = client(&config(dir.path())).await;
    let (_, health) = get(&client, "/healthz").await;
    assert!(health.contains("\"documents\":"), "{health}");
    common::eventually("all hostile torrents indexed", || async {
        let (_, body) = get(&client, "/healthz").await;
        body.contains(&format!("\"documents\":{}", torrents.len()))
    })
    .await;
    for (hash, what) in &torrents {
        let (status, page) = get(&client, &format!("/{hash}")).await;
        assert_eq!(status, 200, "{what}: {page}");
        assert!(!page.contains("<script>"), "{what}: escaped");
        assert!(
            !page.contains('\u{202E}') && !page.contains('\0'),
            "{what}: sanitised"
        );
        let (status, _) = get(&client, &format!("/{hash}.torrent")).await;
        assert_eq!(status, 200, "{what}: download");
        let (status, json) = get(&client, &format!("/api/v1/torrent/{hash}")).await;
        assert_eq!(status, 200, "{what}: json");
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    }
    // Nothing was written outside preload/ and index/.
    let mut top: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["index", "preload"]);
    let (_, page) = get(&client, &format!("/{}", torrents[0].0)).await;
    assert!(
        page.contains("x &lt;script&gt;alert(1)&lt;_script&gt; y"),
        "shown escaped"
    );
}

#[rocket::async_test]
async fn whole_index_scans_and_far_dates_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "anything", &[(&["f"], 10)], None);
    let (client, _s) = client(&config(dir.path())).await;
    wait_for_count(&client, "anything", 1).await;
    for q in [
        "file:%5B0%20TO%20z%5D",
        "name:%5B*%20TO%20*%5D",
        "name:%20IN%20%5Ba%20b%5D",
    ] {
        let (status, body) = get(&client, &format!("/search?q={q}")).await;
        assert_eq!(status, 400, "{q}");
        assert!(body.contains("not supported"), "{q}: the page says why");
        let (status, _) = get(&client, &format!("/api/v1/search?q={q}")).await;
        assert_eq!(status, 400, "{q}");
    }
    let (status, _) = get(&client, "/search?q=anything&from=99999-01-01").await;
    assert!(
        status == 200 || status == 400,
        "no overflow, no 500: {status}"
    );
}

#[rocket::async_test]
async fn feeds_stay_well_formed_whatever_the_names_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    add(
        dir.path(),
        "feed \u{FFFF} name\u{1}",
        &[(&["f\u{FFFE}"], 10)],
        None,
    );
    add(dir.path(), "second feed item", &[(&["g"], 10)], None);
    let (client, _s) = client(&config(dir.path())).await;
    wait_for_count(&client, "feed", 2).await;
    for uri in [
        "/rss",
        "/rss?q=feed",
        "/rss?q=%01%EF%BF%BF",
        "/api?t=search&q=feed",
        "/api?t=search&q=%01",
        "/api?t=caps",
        "/opensearch.xml",
    ] {
        let (status, xml) = get(&client, uri).await;
        assert!(status == 200, "{uri}: {status}");
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{uri}: {e}\n{xml}"));
    }
    let (_, xml) = get(&client, "/rss?q=feed").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .filter_map(|i| i.children().find(|c| c.has_tag_name("title"))?.text())
        .collect();
    assert!(titles.contains(&"feed _ name_"), "{titles:?}");
}
