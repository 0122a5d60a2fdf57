//! Federated peers are verified, never trusted: a `.torrent` whose info
//! dict is not the listed hash's is refused with a logged reason, and
//! hostile peers (endless redirects, a page that never ends, a download
//! that never answers) cost bounded time and never hold up a good peer.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use magnetar_crawler::status::Counters;
use magnetar_crawler::{run_with, Options};
use magnetar_shared::metainfo::build_torrent_file;
use magnetar_shared::{InfoHash, Origin, Shutdown, TorrentMeta};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a stub peer does with one request path.
#[derive(Clone)]
enum Reply {
    /// Status, extra headers, body.
    Plain(u16, Vec<(String, String)>, Vec<u8>),
    /// A body that never ends (a length header of 1 GiB, then junk).
    Endless,
    /// No answer at all.
    Silent,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers each request with
/// `route(path and query)`; it stops with the test's runtime.
async fn stub_peer(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let route = Arc::new(route);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let route = route.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
                match route(&target) {
                    Reply::Plain(status, headers, body) => {
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        let _ = sock.write_all(out.as_bytes()).await;
                        let _ = sock.write_all(&body).await;
                    }
                    Reply::Endless => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"hashes\":[\"")
                            .await;
                        let chunk = vec![b'a'; 64 * 1024];
                        while sock.write_all(&chunk).await.is_ok() {}
                    }
                    Reply::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    base
}

fn info(name: &str) -> Vec<u8> {
    format!(
        "d6:lengthi1000e4:name{}:{name}12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae",
        name.len()
    )
    .into_bytes()
}

fn json(body: String) -> Reply {
    Reply::Plain(
        200,
        vec![("Content-Type".into(), "application/json".into())],
        body.into_bytes(),
    )
}

/// The crawler's log lines, kept for the assertions.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_are_verified_and_hostile_ones_cost_bounded_time() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("magnetar_crawler=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // `good` is the hash whose metadata peer A serves truly; for `wrong`
    // A serves the metadata of another torrent (`other`).
    let (good_info, other_info, wrong) = (
        info("Honest Release"),
        info("Something Else"),
        InfoHash::of_info_bytes(&info("Never Served Truly")),
    );
    let good = InfoHash::of_info_bytes(&good_info);
    let good_file = build_torrent_file(&good_info, &["udp://a/x".into()], None, None, None);
    let other_file = build_torrent_file(&other_info, &[], None, None, None);
    let list = format!(r#"{{"hashes":["{wrong}","{good}"],"next":"5-{good}","more":false}}"#);
    let a = stub_peer(move |target| {
        if target.starts_with("/federation/v1/torrents") {
            if target.contains("after=") {
                json(format!(r#"{{"hashes":[],"next":"5-{good}","more":false}}"#))
            } else {
                json(list.clone())
            }
        } else if target == format!("/{good}.torrent") {
            Reply::Plain(200, vec![], good_file.clone())
        } else if target == format!("/{wrong}.torrent") {
            Reply::Plain(200, vec![], other_file.clone())
        } else {
            Reply::Plain(404, vec![], Vec::new())
        }
    })
    .await;
    // E: its infohash.bin redirects to itself forever; it lists `wrong`
    // too, and never answers for its `.torrent`.
    let e_list = format!(r#"{{"hashes":["{wrong}"],"next":"5-{wrong}","more":false}}"#);
    let e = stub_peer(move |target| {
        if target == "/infohash.bin" {
            Reply::Plain(
                302,
                vec![("Location".into(), "/infohash.bin".into())],
                Vec::new(),
            )
        } else if target.starts_with("/federation/v1/torrents") {
            json(e_list.clone())
        } else {
            Reply::Silent
        }
    })
    .await;
    // F: a list page that never ends.
    let f = stub_peer(|target| {
        if target.starts_with("/federation/v1/torrents") {
            Reply::Endless
        } else {
            Reply::Plain(404, vec![], Vec::new())
        }
    })
    .await;

    let data = tempfile::tempdir().unwrap();
    let mut config = magnetar_shared::Config::with_data_dir(data.path());
    // No tracker, no DHT: no swarm answers, only the peers can.
    config.crawler.trackers = Vec::new();
    config.crawler.dht = false;
    config.crawler.timeout = 30;
    config.crawler.poll_interval = 1;
    config.crawler.status_interval = 1;
    config.federation.peers = vec![a.clone(), e.clone(), f.clone(), "ftp://nope".into()];
    config.federation.sync_interval = 1;
    config.federation.swarm_timeout = 1;
    config.federation.request_timeout = 2;
    config.federation.page_size = 100;
    let counters = Arc::new(Counters::default());
    let shutdown = Shutdown::new();
    let crawler = tokio::spawn(run_with(
        config,
        shutdown.clone(),
        Options {
            counters: Some(counters.clone()),
            ..Default::default()
        },
    ));

    let preload = data.path().join("preload");
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = preload.join(format!("{good}.torrent")).exists()
            && counters.federation_rejected.load(relaxed) >= 1
            && counters.failed.load(relaxed) >= 1
            && counters.federation_errors.load(relaxed) >= 2;
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not done in time: {}",
            String::from_utf8_lossy(&log.0.lock().unwrap())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The good hash: A's file, its info dict byte for byte, learned from A.
    let stored = std::fs::read(preload.join(format!("{good}.torrent"))).unwrap();
    let meta = TorrentMeta::from_torrent_bytes(&stored).unwrap();
    assert_eq!(meta.info_hash, good);
    assert_eq!(meta.origin, Some(Origin::Peer(a.clone())));
    // The wrong one is never stored, and the log says why.
    assert!(!preload.join(format!("{wrong}.torrent")).exists());
    assert!(!preload
        .join(format!("{}.torrent", InfoHash::of_info_bytes(&other_info)))
        .exists());
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("rejected the peer's .torrent")
            && text.contains(&format!(
                "metadata hashes to {}",
                InfoHash::of_info_bytes(&other_info)
            )),
        "{text}"
    );
    // The hostile peers failed with their reasons, within their time.
    assert!(
        text.contains("redirect"),
        "the redirect loop is named: {text}"
    );
    assert!(
        text.contains("larger than"),
        "the endless page is cut at its cap: {text}"
    );
    assert!(
        text.contains("ignoring federation peer \"ftp://nope\""),
        "{text}"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), crawler)
        .await
        .expect("the crawler stops while peers hang")
        .unwrap()
        .unwrap();
}
