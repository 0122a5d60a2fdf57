//! The crawler resolves hashes from infohash.bin using a real seeder and tracker on loopback.

mod common;

use std::sync::atomic::Ordering::Relaxed;

use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::{InfoHash, TorrentMeta};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_a_seeded_multi_file_torrent() {
    common::init_logs();
    let t = common::tracker();
    let seed_dir = tempfile::tempdir().unwrap();
    let (_seeder, hash, original) = common::seed(
        seed_dir.path(),
        "album",
        &[
            ("cd1/01.flac", common::random_bytes(40_000, 1)),
            ("cover.jpg", common::random_bytes(20_000, 2)),
        ],
        t.addr,
    )
    .await;

    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), vec![hash]).unwrap();
    let config = common::crawler_config(data.path(), t.addr);
    common::crawl_once(config, 60).await;

    let path = data.path().join("preload").join(format!("{hash}.torrent"));
    let bytes = std::fs::read(&path).expect("torrent written");
    let meta = TorrentMeta::from_torrent_bytes(&bytes).unwrap();
    assert_eq!(meta.info_hash, hash);
    assert_eq!(meta.name, "album");
    assert_eq!(meta.files.len(), 2);
    assert_eq!(meta.trackers(), vec![format!("udp://{}/announce", t.addr)]);
    // Exact info dict bytes: same as the seeder's.
    let info = magnetar_shared::metainfo::info_bytes_of(&bytes).unwrap();
    assert_eq!(
        info,
        magnetar_shared::metainfo::info_bytes_of(&original).unwrap()
    );
    // Nothing but the .torrent (preload is off) and status was written.
    let names: Vec<String> = std::fs::read_dir(data.path().join("preload"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![format!("{hash}.torrent")]);
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("crawler/status.json")).unwrap())
            .unwrap();
    assert_eq!(status["resolved"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preload_keeps_only_the_wanted_small_files() {
    common::init_logs();
    let t = common::tracker();
    let seed_dir = tempfile::tempdir().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(common::random_bytes(30_000, 3));
    let (_seeder, hash, _) = common::seed(
        seed_dir.path(),
        "show",
        &[
            ("video.mkv", common::random_bytes(200_000, 4)),
            ("poster.png", png.clone()),
            ("big.jpg", common::random_bytes(100_000, 5)),
        ],
        t.addr,
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), vec![hash]).unwrap();
    let mut config = common::crawler_config(data.path(), t.addr);
    config.crawler.preload.enabled = true;
    config.crawler.preload.max_file_size = 50_000;
    config.crawler.preload.timeout = 30;
    common::crawl_once(config, 90).await;
    let preload = data.path().join("preload");
    assert!(preload.join(format!("{hash}.torrent")).exists());
    let dir = preload.join(hash.to_hex());
    let mut kept: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, vec!["poster.png".to_string()], "only the small image");
    assert_eq!(std::fs::read(dir.join("poster.png")).unwrap(), png);
    assert!(
        !preload.join(format!(".{hash}")).exists(),
        "temp dir removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hash_times_out_into_a_persisted_backoff() {
    common::init_logs();
    let t = common::tracker();
    let data = tempfile::tempdir().unwrap();
    let unknown = InfoHash([0x42; 20]);
    write_infohash_file(&data.path().join("infohash.bin"), vec![unknown]).unwrap();
    let mut config = common::crawler_config(data.path(), t.addr);
    config.crawler.timeout = 2;
    common::crawl_once(config.clone(), 30).await;
    assert!(!data
        .path()
        .join("preload")
        .join(format!("{unknown}.torrent"))
        .exists());
    let status = |data: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(data.join("crawler/status.json")).unwrap()).unwrap()
    };
    assert_eq!(
        status(data.path())["backoff"],
        1,
        "the hash waits for a retry"
    );
    assert!(data.path().join("crawler/backoff.bin").exists(), "saved");

    // A restart remembers the backoff: the hash is known but not tried again yet.
    let counters = common::crawl_once(config, 30).await;
    assert_eq!(counters.known.load(Relaxed), 1, "the hash was read again");
    assert_eq!(counters.failed.load(Relaxed), 0, "not retried");
    assert_eq!(counters.timeouts.load(Relaxed), 0, "no new timeout waited");
    assert_eq!(
        status(data.path())["backoff"],
        1,
        "still waiting after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_recycled_under_a_backlog() {
    common::init_logs();
    let t = common::tracker();
    let seed_dir = tempfile::tempdir().unwrap();
    let seeder = magnetar_crawler::seeder::Seeder::start(
        &seed_dir.path().join("session"),
        [127, 0, 0, 1].into(),
    )
    .await
    .unwrap();
    let mut hashes = Vec::new();
    for i in 0..3u8 {
        let content = seed_dir.path().join(format!("t{i}"));
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("f.bin"), common::random_bytes(10_000, i)).unwrap();
        let (hash, _) = seeder
            .seed(&content, vec![format!("udp://{}/announce", t.addr)])
            .await
            .unwrap();
        common::wait_for_seeders(t.addr, hash, 1).await;
        hashes.push(hash);
    }
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let mut config = common::crawler_config(data.path(), t.addr);
    // Room for all three at once, but a session may serve only one resolve:
    // the crawler must stop starting, drain, and recycle twice.
    config.crawler.concurrency = 4;
    config.crawler.session_recycle_after = 1;
    let counters = common::crawl_once(config, 90).await;
    assert_eq!(counters.resolved.load(Relaxed), 3);
    assert_eq!(counters.session_recycles.load(Relaxed), 2);
    for h in hashes {
        assert!(data
            .path()
            .join("preload")
            .join(format!("{h}.torrent"))
            .exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preloads_stop_at_the_disk_budget() {
    common::init_logs();
    let t = common::tracker();
    let seed_dir = tempfile::tempdir().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(common::random_bytes(30_000, 7));
    let (_seeder, hash, _) = common::seed(
        seed_dir.path(),
        "budget",
        &[
            ("video.mkv", common::random_bytes(50_000, 8)),
            ("poster.png", png),
        ],
        t.addr,
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), vec![hash]).unwrap();
    // 20 000 bytes already used by an earlier preload; the budget is 40 000.
    let earlier = data.path().join("preload").join("ee".repeat(20));
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join("old.jpg"), vec![0u8; 20_000]).unwrap();
    let mut config = common::crawler_config(data.path(), t.addr);
    config.crawler.preload.enabled = true;
    config.crawler.preload.max_file_size = 50_000;
    config.crawler.preload.max_total_bytes = 40_000;
    config.crawler.preload.timeout = 30;
    let counters = common::crawl_once(config, 90).await;
    let preload = data.path().join("preload");
    assert!(
        preload.join(format!("{hash}.torrent")).exists(),
        "resolved anyway"
    );
    assert!(
        !preload.join(hash.to_hex()).exists(),
        "30 000 bytes do not fit in 20 000 left"
    );
    assert_eq!(counters.preloaded_files.load(Relaxed), 0);
}

/// librqbit announces each resolve to the trackers as a seeder (left = 0,
/// at a port nobody listens on) and never says `stopped`: without the
/// crawler's departure the tracker would count two seeders here for its
/// whole peer timeout, and hand leechers the crawler's dead address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crawler_leaves_the_swarms_it_asked() {
    use magnetar_tracker::client::TrackerClient;
    common::init_logs();
    let t = common::tracker();
    let seed_dir = tempfile::tempdir().unwrap();
    let (_seeder, hash, _) = common::seed(
        seed_dir.path(),
        "departure",
        &[("a.bin", common::random_bytes(30_000, 9))],
        t.addr,
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), vec![hash]).unwrap();
    let config = common::crawler_config(data.path(), t.addr);
    let counters = common::crawl_once(config, 60).await;
    assert_eq!(counters.resolved.load(Relaxed), 1);

    let addr = t.addr;
    let (counts, peers) = tokio::task::spawn_blocking(move || {
        let mut c = TrackerClient::new(addr, std::time::Duration::from_secs(2)).unwrap();
        let counts = c.scrape(&[hash]).unwrap()[0];
        let peer = magnetar_tracker::protocol::PeerId(*b"-XX0001-testleecher0");
        let reply = c
            .announce(
                hash,
                peer,
                40000,
                1,
                magnetar_tracker::protocol::Event::Started,
                50,
            )
            .unwrap();
        (counts, reply.peers)
    })
    .await
    .unwrap();
    assert_eq!(
        (counts.seeders, counts.leechers),
        (1, 0),
        "only the real seeder is counted after the crawler resolved"
    );
    assert_eq!(
        peers.len(),
        1,
        "a leecher is sent the seeder only: {peers:?}"
    );
    assert_ne!(peers[0].port(), 4240, "not librqbit's unlistened port");
}
