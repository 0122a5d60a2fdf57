//! Swarm stats come from UDP scrapes of a real magnetar tracker.

mod common;

use common::{add, client, config, eventually, get, wait_for_count};
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::protocol::{Event, PeerId};

#[tokio::test]
async fn detail_page_shows_scraped_swarm_stats_and_sorts_by_seeders() {
    let tdir = tempfile::tempdir().unwrap();
    let mut tconfig = magnetar_shared::Config::with_data_dir(tdir.path());
    tconfig.tracker.bind = vec!["[::1]:0".parse().unwrap()];
    tconfig.tracker.workers = 1;
    let tracker = magnetar_tracker::RunningTracker::start(&tconfig).unwrap();
    let addr = tracker.local_addrs()[0];

    let dir = tempfile::tempdir().unwrap();
    let popular = add(dir.path(), "Popular", &[(&["p.txt"], 1)], None);
    let crowded = add(dir.path(), "Crowded", &[(&["l.txt"], 1)], None);
    let mut c = TrackerClient::new(addr, std::time::Duration::from_secs(1)).unwrap();
    // Popular: 1 seeder, 2 leechers. Crowded: no seeder, 3 leechers, so
    // the seeders and leechers orders differ.
    for n in 0..3u8 {
        c.announce(
            popular,
            PeerId([n; 20]),
            5000 + u16::from(n),
            u64::from(n),
            Event::Started,
            0,
        )
        .unwrap();
        c.announce(
            crowded,
            PeerId([n + 10; 20]),
            5100 + u16::from(n),
            1,
            Event::Started,
            0,
        )
        .unwrap();
    }
    let shared = tracker.shared().clone();
    let (metrics, _metrics_task) = magnetar_shared::telemetry::spawn_metrics(
        "tracker-metrics",
        "127.0.0.1:0".parse().unwrap(),
        move || shared.stats.snapshot().prometheus(),
        &magnetar_shared::Shutdown::new(),
    )
    .await
    .unwrap();
    let mut cfg = config(dir.path());
    cfg.catalog.tracker_metrics_url = Some(format!("http://{metrics}/metrics"));
    cfg.catalog.scrape_trackers = vec![format!("udp://{addr}")];
    cfg.catalog.swarm_ttl = 5;
    cfg.catalog.swarm_wait_ms = 2_000;
    let (client, _s) = client(&cfg).await;
    wait_for_count(&client, "popular", 1).await;

    let (_, body) = get(&client, &format!("/{popular}")).await;
    assert!(
        body.contains("<span class=\"seed\">1 seeders</span>, 2 leechers, 0 completed"),
        "{body}"
    );
    let (_, json) = get(&client, &format!("/api/v1/torrent/{popular}")).await;
    assert!(
        json.contains("\"swarm\":{\"seeders\":1,\"leechers\":2,\"completed\":0}"),
        "{json}"
    );

    // Sorts read the scraped counts at query time. Without counts both
    // sorts fall back to the same index order, so only the counts make
    // both orders hold.
    let first = |sort: &'static str| {
        let client = &client;
        async move {
            let (_, body) = get(client, &format!("/api/v1/search?sort={sort}")).await;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["results"][0]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    eventually("seeders and leechers order the lists", || async {
        first("seeders").await == "Popular" && first("leechers").await == "Crowded"
    })
    .await;
    // Two of Crowded's leechers finish: it now has more seeders. The next
    // refresh changes the order, and no document is written again.
    for n in 0..2u8 {
        c.announce(
            crowded,
            PeerId([n + 10; 20]),
            5100 + u16::from(n),
            0,
            Event::Completed,
            0,
        )
        .unwrap();
    }
    eventually("the new counts reorder the list", || async {
        first("seeders").await == "Crowded" && first("leechers").await == "Popular"
    })
    .await;
    let (_, metrics) = get(&client, "/metrics").await;
    assert!(
        metrics.contains("\nmagnetar_catalog_indexed_total 2\n"),
        "the two torrents were indexed once each: {metrics}"
    );
    assert!(!metrics.contains("magnetar_catalog_scrape_requests_total 0"));
    // /stats shows the tracker's own counters, fetched from its metrics URL.
    let (_, stats) = get(&client, "/stats").await;
    assert!(
        stats.contains("<dt>torrents</dt><dd>") || stats.contains("<dt>requests total</dt>"),
        "{stats}"
    );
    let (_, json) = get(&client, "/api/v1/stats").await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["tracker"]["requests_total"].as_f64().unwrap() >= 3.0,
        "{json}"
    );
    tracker.stop().unwrap();
}
