//! Graceful shutdown of the binary, as an operator stops it: SIGINT (Ctrl-C)
//! or SIGTERM (systemd) makes every role exit 0 in time, with the final
//! `infohash.bin` written, the index committed (it opens again without a
//! rebuild) and the crawler's state saved.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use magnetar_shared::infohash_file::read_infohash_file;
use magnetar_shared::InfoHash;
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::protocol::{Event, PeerId};

/// A config on loopback where nothing is written on a timer before the
/// test ends (dumps every hour), so what is on disk after the signal was
/// written by the shutdown itself.
fn write_config(dir: &Path, tracker: u16, catalog: u16) -> std::path::PathBuf {
    let file = dir.join("magnetar.toml");
    std::fs::write(
        &file,
        format!(
            r#"data_dir = "{data}"
[tracker]
bind = ["127.0.0.1:{tracker}"]
workers = 1
dump_interval = 3600
[crawler]
dht = false
trackers = ["udp://127.0.0.1:{tracker}/announce"]
poll_interval = 1
status_interval = 3600
timeout = 600
[catalog]
bind = "127.0.0.1:{catalog}"
scrape_trackers = ["udp://127.0.0.1:{tracker}"]
public_trackers = []
"#,
            data = dir.join("data").display()
        ),
    )
    .unwrap();
    file
}

fn start(config: &Path, role: &str, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["--config", config.to_str().unwrap(), role])
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap()
}

/// True when `/healthz` answers 200: the first reconcile is committed.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200")
}

fn log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains(text))
}

/// Sends `signal` and asserts a clean exit within 30 s.
fn stop(mut child: Child, signal: &str, log: &Path) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "exit {status} after SIG{signal}:\n{}",
                common::logs(log)
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "still running 30 s after SIG{signal}:\n{}",
                common::logs(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Announces `hash` until the tracker answers (it may still be starting).
fn announce(port: u16, hash: InfoHash, log: &Path) {
    let mut client = TrackerClient::new(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(200),
    )
    .unwrap();
    common::within(30, "the tracker to answer", log, || {
        client
            .announce(hash, PeerId([7; 20]), 6881, 100, Event::Started, -1)
            .is_ok()
    });
}

#[test]
fn up_stops_cleanly_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let (tracker, catalog) = common::free_tracker_and_catalog_ports();
        let config = write_config(dir.path(), tracker, catalog);
        let data = dir.path().join("data");
        common::seed_preload(&data, "demo.bin");
        let log = dir.path().join("up.log");
        let child = start(&config, "up", &log);
        let hash = InfoHash([0x5a; 20]);
        announce(tracker, hash, &log);
        common::within(30, "the crawler to queue the hash", &log, || {
            log_has(&log, "crawler started")
        });
        common::within(60, "the first index commit", &log, || healthy(catalog));
        stop(child, signal, &log);

        // The final dump holds the hash announced after the last timed dump.
        let dumped = read_infohash_file(&data.join("infohash.bin")).unwrap();
        assert_eq!(dumped, vec![hash], "final dump written on SIG{signal}");
        // The crawler saved its status on the way out.
        let status: serde_json::Value = serde_json::from_slice(
            &std::fs::read(data.join("crawler/status.json")).expect("status.json saved"),
        )
        .unwrap();
        assert_eq!(status["in_flight"], 0);
        assert!(status["known"].as_u64().is_some());
        // The index opens again as it is: no rebuild, the torrent still there.
        let log2 = dir.path().join("catalog.log");
        let again = start(&config, "catalog", &log2);
        common::within(60, "the catalog to start again", &log2, || {
            log_has(&log2, "catalog listening")
        });
        stop(again, "TERM", &log2);
        let text = std::fs::read_to_string(&log2).unwrap();
        assert!(
            !text.contains("rebuilding") && !text.contains("new index"),
            "the index was rebuilt after SIG{signal}:\n{text}"
        );
        assert!(
            !text.contains("indexing torrents from preload/"),
            "the committed index already held the torrent:\n{text}"
        );
    }
}

#[test]
fn each_role_alone_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (tracker, catalog) = common::free_tracker_and_catalog_ports();
    let config = write_config(dir.path(), tracker, catalog);
    let data = dir.path().join("data");

    let log = dir.path().join("tracker.log");
    let child = start(&config, "tracker", &log);
    let hash = InfoHash([0x6b; 20]);
    announce(tracker, hash, &log);
    stop(child, "TERM", &log);
    assert_eq!(
        read_infohash_file(&data.join("infohash.bin")).unwrap(),
        vec![hash]
    );

    let log = dir.path().join("crawler.log");
    let child = start(&config, "crawler", &log);
    common::within(60, "the crawler to start", &log, || {
        log_has(&log, "crawler started")
    });
    stop(child, "INT", &log);
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("crawler/status.json")).unwrap()).unwrap();
    assert_eq!(status["known"], 1, "the crawler read the dump: {status}");
    assert!(log_has(&log, "crawler stopped"));

    common::seed_preload(&data, "demo.bin");
    let log = dir.path().join("catalog.log");
    let child = start(&config, "catalog", &log);
    common::within(60, "the catalog to start", &log, || {
        log_has(&log, "catalog listening")
    });
    stop(child, "INT", &log);
    assert!(
        data.join("index").join("meta.json").exists(),
        "index committed"
    );
}
