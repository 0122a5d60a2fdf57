//! The whole pipeline in one process: a librqbit seeder announces to the
//! tracker, the crawler resolves the hash, the catalog serves it.

mod common;

use std::time::Duration;

use common::{eventually, http_get, start_up, stop_up};
use magnetar_crawler::seeder::Seeder;
use magnetar_shared::infohash_file::read_infohash_file;
use magnetar_shared::Config;

/// A loopback config for `up`: tracker on `tracker_binds`, catalog on
/// `catalog_bind`, DHT off, quick dumps and polls.
fn up_config(data: &std::path::Path, tracker_binds: &[&str], catalog_bind: &str) -> Config {
    let mut config = Config::with_data_dir(data);
    config.tracker.bind = tracker_binds.iter().map(|b| b.parse().unwrap()).collect();
    config.tracker.workers = 1;
    config.tracker.dump_interval = 1;
    config.crawler.dht = false;
    config.crawler.timeout = 10;
    config.crawler.poll_interval = 1;
    config.catalog.bind = catalog_bind.parse().unwrap();
    // The test polls searches faster than one client may.
    config.catalog.client_requests_per_sec = 0.0;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_torrent_flows_from_tracker_to_catalog() {
    let data = tempfile::tempdir().unwrap();
    let mut config = up_config(data.path(), &["127.0.0.1:0", "[::1]:0"], "127.0.0.1:0");
    // The default refresh period (5 minutes): counts in lists must come
    // from the scrape of a newly indexed torrent, not from a refresh pass.
    assert_eq!(config.catalog.swarm_ttl, 300);
    config.catalog.public_trackers = vec!["udp://[200:1::2]:6969/announce".into()];
    let (ready, shutdown, running) = start_up(config).await;
    let tracker = ready
        .trackers
        .iter()
        .find(|a| a.is_ipv4())
        .copied()
        .unwrap();

    // A seeder with a generated multi-file torrent.
    let seed_dir = tempfile::tempdir().unwrap();
    let content = seed_dir.path().join("Aurora Borealis Timelapse");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("aurora.mkv"), vec![7u8; 300_000]).unwrap();
    std::fs::write(content.join("notes.txt"), b"shot in Tromso").unwrap();
    let seeder = Seeder::start(&seed_dir.path().join("session"), [127, 0, 0, 1].into())
        .await
        .unwrap();
    let (hash, _) = seeder
        .seed(&content, vec![format!("udp://{tracker}/announce")])
        .await
        .unwrap();

    let bin = data.path().join("infohash.bin");
    eventually("infohash.bin holds the hash", 30, || {
        read_infohash_file(&bin)
            .map(|v| v.contains(&hash))
            .unwrap_or(false)
    })
    .await;
    let torrent = data.path().join("preload").join(format!("{hash}.torrent"));
    eventually("the crawler writes the .torrent", 60, || torrent.exists()).await;

    let catalog = ready.catalog;
    eventually("search finds it by a word of its name", 20, || {
        http_get(catalog, "/search?q=borealis").contains(&hash.to_hex())
    })
    .await;
    // Within 5 s of being indexed: 1 seeder in the JSON API, in search
    // results and in the home list.
    eventually("the API lists 1 seeder", 5, || {
        http_get(catalog, "/api/v1/search?q=borealis").contains("\"seeders\":1")
    })
    .await;
    let row = |page: &str| -> Option<String> {
        let at = page.find(&format!("/{hash}\""))?;
        let rest = &page[at..];
        Some(rest[..rest.find("</tr>")?].to_owned())
    };
    eventually("search results and the home list show 1 seeder", 5, || {
        [
            http_get(catalog, "/search?q=borealis"),
            http_get(catalog, "/"),
        ]
        .iter()
        .all(|p| row(p).is_some_and(|r| r.contains("<td class=\"num seed\">1</td>")))
    })
    .await;
    // A newer torrent with no swarm: newest-first lists it first, sorting
    // by seeders puts the seeded one first.
    let (quiet, quiet_bytes) = {
        let info = b"d6:lengthi10e4:name11:Quiet Thing12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let t = magnetar_shared::metainfo::build_torrent_file(info, &[], None, None, None);
        (magnetar_shared::InfoHash::of_info_bytes(info), t)
    };
    // Written to a temp name, dated a minute later (the index keeps dates
    // to the second), then renamed in.
    let staged = data.path().join("quiet.torrent");
    std::fs::write(&staged, &quiet_bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    std::fs::rename(
        &staged,
        data.path().join("preload").join(format!("{quiet}.torrent")),
    )
    .unwrap();
    let first = |json: &str| -> Option<String> {
        let at = json.find("\"info_hash\":\"")? + 13;
        Some(json.get(at..at + 40)?.to_owned())
    };
    eventually("the quiet torrent is newest", 20, || {
        first(&http_get(catalog, "/api/v1/search")) == Some(quiet.to_hex())
    })
    .await;
    eventually(
        "sorting by seeders puts the seeded torrent first",
        5,
        || first(&http_get(catalog, "/api/v1/search?sort=seeders")) == Some(hash.to_hex()),
    )
    .await;
    eventually("detail page shows a seeder", 30, || {
        let page = http_get(catalog, &format!("/{hash}"));
        page.contains("<span class=\"seed\">1 seeders</span>")
    })
    .await;
    let page = http_get(catalog, &format!("/{hash}"));
    assert!(
        page.contains(&format!("href=\"magnet:?xt=urn:btih:{hash}&amp;")),
        "magnet with the hash"
    );
    assert!(
        page.contains("udp%3A%2F%2F%5B200%3A1%3A%3A2%5D%3A6969%2Fannounce"),
        "instance tracker in magnet"
    );
    // /stats shows the counters of the tracker in the same process,
    // without a tracker_metrics_url: it has answered this test's seeder.
    let stats = http_get(catalog, "/stats");
    let requests = stats
        .split("<dt>requests total</dt><dd>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(requests.is_some_and(|n| n >= 1.0), "{stats}");

    stop_up(shutdown, running).await;
    seeder.stop().await;
    assert!(
        read_infohash_file(&bin).unwrap().contains(&hash),
        "final dump kept the hash"
    );
}

/// IPv6 only, as on Yggdrasil: tracker and seeder on [::1], nothing on
/// IPv4; `up` resolves the hash through the tracker's own peer list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_only_swarm_is_crawled_through_up() {
    let data = tempfile::tempdir().unwrap();
    let (ready, shutdown, running) =
        start_up(up_config(data.path(), &["[::1]:0"], "[::1]:0")).await;
    assert!(
        ready.trackers.iter().all(|a| a.is_ipv6()),
        "no IPv4 tracker"
    );
    let tracker = ready.trackers[0];

    let seed_dir = tempfile::tempdir().unwrap();
    let content = seed_dir.path().join("Only Over Six");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("six.bin"), vec![6u8; 100_000]).unwrap();
    let seeder = Seeder::start(
        &seed_dir.path().join("session"),
        std::net::Ipv6Addr::LOCALHOST.into(),
    )
    .await
    .unwrap();
    let (hash, _) = seeder
        .seed(&content, vec![format!("udp://{tracker}/announce")])
        .await
        .unwrap();
    let torrent = data.path().join("preload").join(format!("{hash}.torrent"));
    eventually("the crawler resolves it over IPv6", 60, || torrent.exists()).await;
    eventually("listed in the catalog", 20, || {
        http_get(ready.catalog, "/search?q=six").contains(&hash.to_hex())
    })
    .await;
    stop_up(shutdown, running).await;
    seeder.stop().await;
}
