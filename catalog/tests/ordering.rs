//! Sorts, pages, filters and query syntax, on fixtures where every order
//! differs from the others and from the insertion order, so a sort that is
//! ignored (or applied to the wrong field) fails.

mod common;

use std::time::{Duration, SystemTime};

use common::{add, client, config, eventually, get};
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::protocol::{Event, PeerId};

/// name, size, day of January 2024 (indexing date), seeders, leechers, extra file.
const FIXTURE: [(&str, u64, u64, u8, u8, &str); 4] = [
    ("Bravo Eight", 2_000_000, 12, 2, 1, "bravo.txt"),
    ("Delta Nine", 4_000_000, 11, 3, 0, "charlie.txt"),
    ("Alpha Two", 1_000_000, 13, 0, 2, "alpha.txt"),
    ("Charlie Four", 9_000_000, 10, 1, 3, "four.txt"),
];

fn names(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_sort_page_filter_and_operator_does_what_it_names() {
    let tdir = tempfile::tempdir().unwrap();
    let mut tconfig = magnetar_shared::Config::with_data_dir(tdir.path());
    tconfig.tracker.bind = vec!["127.0.0.1:0".parse().unwrap()];
    tconfig.tracker.workers = 1;
    let tracker = magnetar_tracker::RunningTracker::start(&tconfig).unwrap();
    let taddr = tracker.local_addrs()[0];
    let mut announcer = TrackerClient::new(taddr, Duration::from_secs(1)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let jan = |day: u64| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + (day - 1) * 86_400 + 3_600)
    };
    for (i, (name, size, day, seeders, leechers, extra)) in FIXTURE.iter().enumerate() {
        let hash = add(
            dir.path(),
            name,
            &[(&["main.bin"], *size), (&[extra], 10)],
            None,
        );
        let path = dir.path().join("preload").join(format!("{hash}.torrent"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(jan(*day))
            .unwrap();
        for p in 0..(seeders + leechers) {
            let left = if p < *seeders { 0 } else { 100 };
            announcer
                .announce(
                    hash,
                    PeerId([i as u8 * 16 + p; 20]),
                    6000 + u16::from(p),
                    left,
                    Event::Started,
                    0,
                )
                .unwrap();
        }
    }
    let mut cfg = config(dir.path());
    cfg.catalog.scrape_trackers = vec![format!("udp://{taddr}")];
    let (c, _s) = client(&cfg).await;
    let order = |sort: &str| {
        let c = &c;
        let uri = format!("/api/v1/search?sort={sort}");
        async move { names(&get(c, &uri).await.1) }
    };
    // Counts arrive from the tracker within seconds of indexing. Until they
    // do, every count is 0 and both sorts fall back to the index's own
    // order (the preload directory's, which varies from run to run), so
    // one order alone could match by chance; the two differ, so both
    // matching at once means the counts are in.
    eventually("seeders and leechers orders", || async {
        order("seeders").await == ["Delta Nine", "Bravo Eight", "Charlie Four", "Alpha Two"]
            && order("leechers").await == ["Charlie Four", "Alpha Two", "Bravo Eight", "Delta Nine"]
    })
    .await;
    assert_eq!(
        order("newest").await,
        ["Alpha Two", "Bravo Eight", "Delta Nine", "Charlie Four"]
    );
    assert_eq!(
        order("oldest").await,
        ["Charlie Four", "Delta Nine", "Bravo Eight", "Alpha Two"]
    );
    assert_eq!(
        order("size").await,
        ["Charlie Four", "Delta Nine", "Bravo Eight", "Alpha Two"]
    );
    assert_eq!(
        order("name").await,
        ["Alpha Two", "Bravo Eight", "Charlie Four", "Delta Nine"]
    );
    // The HTML list follows the same order.
    let (_, page) = get(&c, "/search?sort=name").await;
    let at = |n: &str| page.find(n).unwrap();
    assert!(at("Alpha Two") < at("Bravo Eight") && at("Bravo Eight") < at("Charlie Four"));

    // Page 2 of the name order, two per page.
    let (_, p2) = get(&c, "/api/v1/search?sort=name&limit=2&page=2").await;
    assert_eq!(names(&p2), ["Charlie Four", "Delta Nine"]);
    // Relevance: a name match outranks a file match of a newer torrent.
    let (_, rel) = get(&c, "/api/v1/search?q=charlie").await;
    assert_eq!(names(&rel), ["Charlie Four", "Delta Nine"]);
    // +, - and phrases.
    let (_, q) = get(&c, "/api/v1/search?q=%2Bcharlie%20-delta").await;
    assert_eq!(names(&q), ["Charlie Four"]);
    let (_, q) = get(&c, "/api/v1/search?q=%22bravo%20eight%22").await;
    assert_eq!(names(&q), ["Bravo Eight"]);
    let (_, q) = get(&c, "/api/v1/search?q=%22eight%20bravo%22").await;
    assert!(names(&q).is_empty(), "a phrase keeps its word order");
    // Date and size ranges, bounds included.
    let (_, q) = get(
        &c,
        "/api/v1/search?from=2024-01-11&to=2024-01-12&sort=oldest",
    )
    .await;
    assert_eq!(names(&q), ["Delta Nine", "Bravo Eight"]);
    let (_, q) = get(
        &c,
        "/api/v1/search?min_size=2000010&max_size=4000010&sort=size",
    )
    .await;
    assert_eq!(names(&q), ["Delta Nine", "Bravo Eight"]);
    tracker.stop().unwrap();
}
