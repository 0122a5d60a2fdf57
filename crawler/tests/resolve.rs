//! The crawler resolves hashes from infohash.bin using a real seeder and tracker on loopback.

mod common;

use std::time::Duration;

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
    let backoff: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("crawler/backoff.json")).unwrap())
            .unwrap();
    assert_eq!(backoff[unknown.to_hex()]["failures"], 1);

    // A restart remembers the backoff: the hash is not tried again yet.
    let started = std::time::Instant::now();
    let counters = common::crawl_once(config, 30).await;
    assert_eq!(
        counters.failed.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "not retried"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no new timeout waited"
    );
}
