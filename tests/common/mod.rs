//! Helpers shared by the binary's end-to-end tests.

#![allow(dead_code)]

/// A port free on 127.0.0.1 right now for both UDP and TCP (for a tracker
/// process, which serves its HTTP tracker on the TCP port of the same
/// number as its UDP one).
pub fn free_udp_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Ports for a tracker (UDP and TCP of one number) and a catalog (TCP),
/// free on 127.0.0.1 right now and different from each other (two probes
/// in a row may be handed the same number once the first is let go).
pub fn free_tracker_and_catalog_ports() -> (u16, u16) {
    let tracker = free_udp_port();
    loop {
        let catalog = free_tcp_port();
        if catalog != tracker {
            return (tracker, catalog);
        }
    }
}

/// What a process wrote to `log` and to its `.err` beside it (where the
/// binary prints the error that stopped it), for a failed test's message.
pub fn logs(log: &std::path::Path) -> String {
    let out = std::fs::read_to_string(log).unwrap_or_default();
    let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    format!("{out}\n--- stderr ---\n{err}")
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `magnetar --data-dir DIR tracker --bind 127.0.0.1:PORT`, to spawn.
pub fn tracker_command(dir: &std::path::Path, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"));
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["tracker", "--bind"])
        .arg(format!("127.0.0.1:{port}"));
    command
}

/// The head and body of a GET of `path` from `addr`, with extra header
/// lines (`headers`: each ending in `\r\n`; empty for none).
pub fn http_get_with(addr: std::net::SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).unwrap();
    s.set_read_timeout(Some(2 * timeout)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    let body = out.split_off(split);
    (String::from_utf8_lossy(&out).into_owned(), body)
}

/// The whole answer to a GET of `path` (head and body) as text.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let (head, body) = http_get_with(addr, path, "");
    head + &String::from_utf8_lossy(&body)
}

/// Waits (polling every 200 ms, at most `secs`) until `check` holds;
/// fails the test naming `what` otherwise.
pub async fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `magnetar up` running in this process, with what stops it.
pub type Running = (
    magnetar::Ready,
    magnetar_shared::Shutdown,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

/// Starts `up` in this process and waits (bounded) until it is serving.
pub async fn start_up(config: magnetar_shared::Config) -> Running {
    let shutdown = magnetar_shared::Shutdown::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<magnetar::Ready>();
    let running = tokio::spawn(magnetar::up(
        config,
        shutdown.clone(),
        magnetar::UpOptions {
            demo: false,
            ready: Some(tx),
        },
    ));
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    (ready, shutdown, running)
}

/// Stops `up` and waits (bounded) for it to finish cleanly.
pub async fn stop_up(
    shutdown: magnetar_shared::Shutdown,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Writes a `.torrent` of one 1 000-byte file called `name` into
/// `data/preload/` and returns its info-hash.
pub fn seed_preload(data: &std::path::Path, name: &str) -> magnetar_shared::InfoHash {
    let info = format!(
        "d6:lengthi1000e4:name{}:{name}12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae",
        name.len()
    );
    let torrent =
        magnetar_shared::metainfo::build_torrent_file(info.as_bytes(), &[], None, None, None);
    let meta = magnetar_shared::TorrentMeta::from_torrent_bytes(&torrent).unwrap();
    let preload = data.join("preload");
    std::fs::create_dir_all(&preload).unwrap();
    std::fs::write(preload.join(format!("{}.torrent", meta.info_hash)), torrent).unwrap();
    meta.info_hash
}

/// Waits (polling every 50 ms, at most `secs`) until `ok` holds; fails
/// the test naming `what`, with the process's `log`, otherwise.
pub fn within(secs: u64, what: &str, log: &std::path::Path, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {secs} s: {what}; log:\n{}",
            logs(log)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
