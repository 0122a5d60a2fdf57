//! Hostile metadata from peers and broken sources never crash the crawler
//! and never write outside the preload dir.

mod common;

use std::time::Duration;

use magnetar_crawler::{run_with, Options};
use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::{Config, Shutdown, TorrentMeta};

fn single(name: &str, piece_length: i64) -> Vec<u8> {
    let mut v = format!(
        "d6:lengthi100e4:name{}:{name}12:piece lengthi{piece_length}e6:pieces20:",
        name.len()
    )
    .into_bytes();
    v.extend_from_slice(&[1u8; 20]);
    v.push(b'e');
    v
}

fn multi(paths: &[&[&str]]) -> Vec<u8> {
    let mut v = b"d5:filesl".to_vec();
    for p in paths {
        v.extend_from_slice(b"d6:lengthi1e4:pathl");
        for c in *p {
            v.extend_from_slice(format!("{}:{c}", c.len()).as_bytes());
        }
        v.extend_from_slice(b"ee");
    }
    let pieces = (paths.len() as u64).div_ceil(16384) as usize;
    v.extend_from_slice(
        format!(
            "e4:name4:evil12:piece lengthi16384e6:pieces{}:",
            pieces * 20
        )
        .as_bytes(),
    );
    v.extend(std::iter::repeat_n(2u8, pieces * 20));
    v.push(b'e');
    v
}

fn offline_config(data: &std::path::Path, peer: std::net::SocketAddr) -> Config {
    let mut c = Config::with_data_dir(data);
    c.crawler.trackers = vec![];
    c.crawler.dht = false;
    c.crawler.initial_peers = vec![peer];
    c.crawler.timeout = 5;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_is_rejected_and_the_good_torrent_still_lands() {
    common::init_logs();
    let deep = format!(
        "d4:name1:x1:z{}{}e",
        "l".repeat(100_000),
        "e".repeat(100_000)
    )
    .into_bytes();
    let traversal = multi(&[&["..", "..", "etc", "passwd"]]);
    let names: Vec<[String; 1]> = (0..200_000).map(|i| [format!("f{i}")]).collect();
    let name_refs: Vec<[&str; 1]> = names.iter().map(|[n]| [n.as_str()]).collect();
    let many: Vec<&[&str]> = name_refs.iter().map(|a| &a[..]).collect();
    let too_many = multi(&many);
    let good = single("good.txt", 128);
    let (peer, hashes) =
        common::fake_peer::serve(vec![deep, single("zero", 0), traversal, too_many, good]).await;

    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let counters = common::crawl_once(offline_config(data.path(), peer), 60).await;

    let good_hash = hashes[4];
    let written = std::fs::read(
        data.path()
            .join("preload")
            .join(format!("{good_hash}.torrent")),
    )
    .expect("good torrent written");
    assert_eq!(
        TorrentMeta::from_torrent_bytes(&written).unwrap().name,
        "good.txt"
    );
    for bad in &hashes[..4] {
        assert!(
            !data
                .path()
                .join("preload")
                .join(format!("{bad}.torrent"))
                .exists(),
            "{bad} rejected"
        );
    }
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.resolved.load(Relaxed), 1);
    assert_eq!(counters.failed.load(Relaxed), 4);
    // Piece length 0 panics inside librqbit (contained); 200 000 unique files
    // pass librqbit and are stopped by magnetar's own validator.
    assert_eq!(counters.rejected.load(Relaxed), 2);
    // Nothing written anywhere but the expected places.
    let mut names: Vec<String> = walk(data.path());
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("preload/") || n.starts_with("crawler/") || n == "infohash.bin"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("passwd")));
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_are_survived_and_new_hashes_picked_up() {
    common::init_logs();
    let good = single("fresh.txt", 128);
    let later = single("later.txt", 128);
    let (peer, hashes) = common::fake_peer::serve(vec![good, later]).await;
    let data = tempfile::tempdir().unwrap();
    let bin = data.path().join("infohash.bin");
    // Garbage first (a 7-byte file: a partial record).
    std::fs::write(&bin, b"garbage").unwrap();
    let shutdown = Shutdown::new();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = offline_config(data.path(), peer);
    config.crawler.metrics_addr = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    let running = tokio::spawn(run_with(config, shutdown.clone(), Options::default()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!running.is_finished(), "crawler survives a garbage source");

    // Replaced with a real list: picked up by the watcher.
    write_infohash_file(&bin, vec![hashes[0]]).unwrap();
    let first = data
        .path()
        .join("preload")
        .join(format!("{}.torrent", hashes[0]));
    wait_until(|| first.exists(), "first hash resolved").await;
    // The metrics endpoint serves valid Prometheus text with the progress.
    let text = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        body.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
    };
    magnetar_shared::telemetry::check_exposition(&text).unwrap();
    assert!(text.contains("magnetar_crawler_resolved_total 1"), "{text}");

    // Truncated mid-record, then removed, then rewritten with a new hash.
    std::fs::write(&bin, &hashes[0].0[..13]).unwrap();
    std::fs::remove_file(&bin).unwrap();
    write_infohash_file(&bin, vec![hashes[0], hashes[1]]).unwrap();
    let second = data
        .path()
        .join("preload")
        .join(format!("{}.torrent", hashes[1]));
    wait_until(|| second.exists(), "new hash picked up").await;
    assert!(!running.is_finished());
    stop(shutdown, running).await;
}

/// Stops a running crawler and waits (bounded) for it to finish cleanly.
async fn stop(
    shutdown: Shutdown,
    running: tokio::task::JoinHandle<Result<(), magnetar_crawler::Error>>,
) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

async fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves `body` to every HTTP request on loopback; returns the URL.
async fn serve_http(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/infohash.bin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sources_are_fetched_and_size_capped() {
    common::init_logs();
    let (peer, hashes) =
        common::fake_peer::serve(vec![single("remote.txt", 128), single("toolarge.txt", 128)])
            .await;
    let small = serve_http(hashes[0].0.to_vec()).await;
    let big = serve_http(hashes[1].0.repeat(100)).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = offline_config(data.path(), peer);
    config.crawler.sources = vec![small, big];
    config.crawler.max_source_bytes = 1000;
    common::crawl_once(config, 30).await;
    let preload = data.path().join("preload");
    assert!(
        preload.join(format!("{}.torrent", hashes[0])).exists(),
        "hash from the HTTP source resolved"
    );
    assert!(
        !preload.join(format!("{}.torrent", hashes[1])).exists(),
        "a source over max_source_bytes is skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_is_given_up_after_max_attempts() {
    common::init_logs();
    let data = tempfile::tempdir().unwrap();
    let nobody = magnetar_shared::InfoHash([0x31; 20]);
    write_infohash_file(&data.path().join("infohash.bin"), vec![nobody]).unwrap();
    // Nowhere to find peers: every resolve fails at once.
    let mut config = Config::with_data_dir(data.path());
    config.crawler.trackers = vec![];
    config.crawler.dht = false;
    config.crawler.backoff_initial = 1;
    config.crawler.max_attempts = 2;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        common::crawl_once(config.clone(), 30)
            .await
            .failed
            .load(Relaxed),
        1
    );
    // Poll (bounded) until the retry is due and has run: the second failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if common::crawl_once(config.clone(), 30)
            .await
            .failed
            .load(Relaxed)
            == 1
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the retry never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Given up: known, never tried again however long one waits.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        let c = common::crawl_once(config.clone(), 30).await;
        assert_eq!(c.known.load(Relaxed), 1);
        assert_eq!(c.failed.load(Relaxed), 0, "not retried after max_attempts");
        assert_eq!(c.backoff.load(Relaxed), 1, "still remembered");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_temp_dirs_go_at_start_and_unchanged_sources_are_not_read_again() {
    common::init_logs();
    let (peer, hashes) = common::fake_peer::serve(vec![single("fine.txt", 128)]).await;
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let stale = data
        .path()
        .join("preload")
        .join(format!(".{}", "ab".repeat(20)));
    std::fs::create_dir_all(stale.join("half")).unwrap();
    std::fs::write(stale.join("half/file.jpg"), b"partial").unwrap();
    let counters = std::sync::Arc::new(magnetar_crawler::status::Counters::default());
    let shutdown = Shutdown::new();
    let mut config = offline_config(data.path(), peer);
    config.crawler.poll_interval = 1;
    let running = tokio::spawn(run_with(
        config,
        shutdown.clone(),
        Options {
            counters: Some(counters.clone()),
            ..Default::default()
        },
    ));
    let done = data
        .path()
        .join("preload")
        .join(format!("{}.torrent", hashes[0]));
    wait_until(|| done.exists(), "resolved").await;
    assert!(!stale.exists(), "the crash leftover was removed at start");
    // Several poll intervals with the file unchanged, the crawler's own
    // reads raising access events: the file is read once.
    use std::sync::atomic::Ordering::Relaxed;
    let deadline = std::time::Instant::now() + Duration::from_millis(3_500);
    while std::time::Instant::now() < deadline {
        assert_eq!(
            counters.source_reads.load(Relaxed),
            1,
            "read again unchanged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A change is read.
    write_infohash_file(
        &data.path().join("infohash.bin"),
        vec![hashes[0], magnetar_shared::InfoHash([9; 20])],
    )
    .unwrap();
    wait_until(
        || counters.source_reads.load(Relaxed) == 2,
        "the change read",
    )
    .await;
    stop(shutdown, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preload_that_never_completes_times_out_and_the_torrent_still_lands() {
    common::init_logs();
    // The fake peer serves the metadata but never a piece of data.
    let with_image = multi(&[&["cover.jpg"], &["movie.mkv"]]);
    let (peer, hashes) = common::fake_peer::serve(vec![with_image]).await;
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let mut config = offline_config(data.path(), peer);
    config.crawler.preload.enabled = true;
    config.crawler.preload.timeout = 2;
    // Without the preload timeout the download would wait forever and
    // crawl_once's own bound would fail the test.
    let counters = common::crawl_once(config, 60).await;
    let preload = data.path().join("preload");
    assert!(
        preload.join(format!("{}.torrent", hashes[0])).exists(),
        "resolved"
    );
    assert!(
        !preload.join(hashes[0].to_hex()).exists(),
        "nothing preloaded"
    );
    assert!(
        !preload.join(format!(".{}", hashes[0])).exists(),
        "temp dir removed"
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.preloaded_files.load(Relaxed), 0);
    assert_eq!(counters.resolved.load(Relaxed), 1);
}
