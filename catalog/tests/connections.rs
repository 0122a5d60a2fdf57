//! The HTTP front over real sockets: connections that never finish their
//! headers are cut off, thousands of them do not keep a normal request
//! from being answered, and at the connection budget idle ones make room.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use magnetar_shared::{Config, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serve(config: Config) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
    let shutdown = Shutdown::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s = shutdown.clone();
    let task = tokio::spawn(async move {
        magnetar_catalog::run_with(
            config,
            s,
            magnetar_catalog::Options {
                bound: Some(tx),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    });
    (rx.await.unwrap(), shutdown, task)
}

fn config(data: &std::path::Path, header_timeout: u64, max_connections: usize) -> Config {
    let mut c = common::config(data);
    c.catalog.bind = "127.0.0.1:0".parse().unwrap();
    c.catalog.header_timeout_secs = header_timeout;
    c.catalog.max_connections = max_connections;
    c
}

/// A whole request on a new connection: (status line, body).
async fn request(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Opens `n` connections that send half a request's headers.
async fn half_requests(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    idle
}

/// Reads until the server closes the connection (bounded).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_neither_block_a_request_nor_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    common::add(dir.path(), "Normal Torrent", &[(&["n.mkv"], 1)], None);
    let (addr, shutdown, task) = serve(config(dir.path(), 5, 4096)).await;
    let mut idle = half_requests(addr, 2000).await;
    // A normal request is answered while all of them are open.
    let started = Instant::now();
    let (status, body) = request(addr, "/healthz").await;
    let took = started.elapsed();
    println!("a request with 2000 idle connections open: {took:?}");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let (_, metrics) = request(addr, "/metrics").await;
    assert!(
        metric(&metrics, "magnetar_catalog_connections") >= 2000,
        "the idle connections were open while it was answered"
    );
    // After the header timeout every one of them is closed by the server.
    for s in &mut idle {
        assert!(closed_by_server(s).await, "an idle connection stays open");
    }
    let (_, metrics) = request(addr, "/metrics").await;
    assert!(
        metric(&metrics, "magnetar_catalog_connections") <= 1,
        "{metrics}"
    );
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn at_the_connection_budget_idle_connections_make_room() {
    let dir = tempfile::tempdir().unwrap();
    // The smallest budget; a header timeout far beyond the test.
    let (addr, shutdown, task) = serve(config(dir.path(), 600, 16)).await;
    let mut idle = half_requests(addr, 16).await;
    let (status, _) = request(addr, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    // The oldest idle connection was closed for it.
    assert!(closed_by_server(&mut idle[0]).await);
    let (_, metrics) = request(addr, "/metrics").await;
    assert!(metric(&metrics, "magnetar_catalog_connections_evicted_total") >= 1);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn pages_cookies_and_downloads_pass_through_the_front() {
    let dir = tempfile::tempdir().unwrap();
    let hash = common::add(dir.path(), "Front Torrent", &[(&["f.mkv"], 1)], None);
    let (addr, shutdown, task) = serve(config(dir.path(), 30, 4096)).await;
    let uri = "/api/v1/search?q=front";
    let mut found = String::new();
    for _ in 0..200 {
        found = request(addr, uri).await.1;
        if found.contains("Front Torrent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found.contains("Front Torrent"), "{found}");
    // The language cookie reaches the app.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nCookie: a=b; lang=uk\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).await.unwrap();
    assert!(page.contains("<html lang=\"uk\""), "{page}");
    // A download keeps its length and bytes.
    let torrent =
        std::fs::read(dir.path().join("preload").join(format!("{hash}.torrent"))).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /{hash}.torrent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("server: magnetar"), "{head}");
    // (The download adds the instance's trackers to the file.)
    let body = &out[split + 4..];
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    assert!(body.len() >= torrent.len() && body.starts_with(b"d") && body.ends_with(b"e"));
    shutdown.cancel();
    task.await.unwrap();
}

/// A request with extra header lines: (status line, whole head).
async fn request_from(addr: SocketAddr, path: &str, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let head = text.split_once("\r\n\r\n").map_or(&text[..], |(h, _)| h);
    (
        head.lines().next().unwrap_or("").to_owned(),
        head.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_over_a_clients_limit_get_429_and_forwarded_addresses_need_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    // A burst of 3, then (practically) nothing: no timing in the test.
    let mut c = config(dir.path(), 30, 64);
    c.catalog.client_requests_per_sec = 0.001;
    c.catalog.client_burst = 3;
    let (addr, shutdown, task) = serve(c.clone()).await;
    for path in ["/api/v1/search?q=a", "/search?q=b", "/rss"] {
        assert!(request(addr, path).await.0.contains(" 200"), "{path}");
    }
    let (status, head) = request_from(addr, "/api?t=caps", "").await;
    assert!(status.contains(" 429"), "{status}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: "),
        "{head}"
    );
    // Pages that run no search are not limited.
    assert!(request(addr, "/static/style.css").await.0.contains(" 200"));
    // From an untrusted peer, X-Forwarded-For changes nothing.
    let xff = "X-Forwarded-For: 203.0.113.9\r\n";
    assert!(request_from(addr, "/rss", xff).await.0.contains(" 429"));
    let (_, metrics) = request(addr, "/metrics").await;
    assert_eq!(metric(&metrics, "magnetar_catalog_rate_limited_total"), 2);
    shutdown.cancel();
    task.await.unwrap();

    // Behind a trusted proxy each forwarded client has its own budget.
    c.catalog.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let (addr, shutdown, task) = serve(c).await;
    for _ in 0..3 {
        assert!(request_from(addr, "/rss", xff).await.0.contains(" 200"));
    }
    assert!(request_from(addr, "/rss", xff).await.0.contains(" 429"));
    let other = "X-Forwarded-For: 198.51.100.1, 203.0.113.10\r\n";
    assert!(request_from(addr, "/rss", other).await.0.contains(" 200"));
    shutdown.cancel();
    task.await.unwrap();
}

/// Sends a download request on a connection whose receive buffer is tiny
/// and reads only the status line: the server cannot finish sending.
async fn unread_download(addr: SocketAddr, hash: &str) -> (TcpStream, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let req = format!("GET /{hash}.torrent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_that_are_not_read_hold_their_memory_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    // About 9 MB of metadata: 50 000 files with long names.
    let names: Vec<[String; 2]> = (0..50_000)
        .map(|i| {
            [
                format!("dir{}", i % 97),
                format!("{i:08}-{}.bin", "x".repeat(160)),
            ]
        })
        .collect();
    let paths: Vec<[&str; 2]> = names
        .iter()
        .map(|[a, b]| [a.as_str(), b.as_str()])
        .collect();
    let files: Vec<(&[&str], u64)> = paths.iter().map(|p| (&p[..], 1)).collect();
    let hash = common::add(dir.path(), "Big Collection", &files, None).to_string();
    let size = std::fs::metadata(dir.path().join("preload").join(format!("{hash}.torrent")))
        .unwrap()
        .len();
    assert!(size > 8 << 20, "{size} bytes");
    let mut c = config(dir.path(), 30, 4096);
    c.catalog.download_memory_mib = 12;
    let (addr, shutdown, task) = serve(c).await;
    // The first download is not read: it holds ~9 of the 12 MiB.
    let (held, status) = unread_download(addr, &hash).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // No room for a second one: 503 with Retry-After, counted.
    let (status, _) = request(addr, &format!("/{hash}.torrent")).await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    let (_, metrics) = request(addr, "/metrics").await;
    assert_eq!(metric(&metrics, "magnetar_catalog_downloads_shed_total"), 1);
    // Small downloads still fit beside it.
    let small = common::add(dir.path(), "Small", &[(&["s.bin"], 1)], None);
    let (status, _) = request(addr, &format!("/{small}.torrent")).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // The client goes away: its memory is free again, and the big one downloads whole.
    drop(held);
    common::within(
        10,
        "the big download once the unread one is gone",
        || async {
            let (status, body) = request(addr, &format!("/{hash}.torrent")).await;
            status.starts_with("HTTP/1.1 200") && body.len() as u64 >= size
        },
    )
    .await;
    shutdown.cancel();
    task.await.unwrap();
}
