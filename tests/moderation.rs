//! `magnetar block` and `unblock` while `magnetar up` runs, as an operator
//! uses them: the torrent's page turns 410 and its search hit disappears
//! within 5 s, the tracker refuses the hash, `block --name` says how many
//! indexed torrents a rule hides, and `unblock` brings the torrent back.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use magnetar_tracker::client::{ClientError, TrackerClient};
use magnetar_tracker::protocol::{Event, PeerId};

fn write_config(dir: &Path, tracker: u16, catalog: u16) -> std::path::PathBuf {
    let file = dir.join("magnetar.toml");
    std::fs::write(
        &file,
        format!(
            r#"data_dir = "{data}"
[tracker]
bind = ["127.0.0.1:{tracker}"]
workers = 1
http = false
[crawler]
dht = false
trackers = []
[catalog]
bind = "127.0.0.1:{catalog}"
scrape_trackers = []
public_trackers = []
# The test polls searches faster than one client may.
client_requests_per_sec = 0
"#,
            data = dir.join("data").display()
        ),
    )
    .unwrap();
    file
}

fn magnetar(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// (status, body) of a GET on the catalog; (0, "") while it is not up.
fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").is_err() {
        return (0, String::new());
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let status = reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

fn total(port: u16, q: &str) -> Option<u64> {
    let (_, body) = get(port, &format!("/api/v1/search?q={q}"));
    serde_json::from_str::<serde_json::Value>(&body).ok()?["total"].as_u64()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

#[test]
fn block_and_unblock_apply_to_a_running_instance_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (tracker, catalog) = common::free_tracker_and_catalog_ports();
    let config = write_config(dir.path(), tracker, catalog);
    let data = dir.path().join("data");
    let target = common::seed_preload(&data, "Takedown.Target.iso");
    let other = common::seed_preload(&data, "Other.Target.Words.iso");
    let log = dir.path().join("up.log");
    let _up = Running(
        Command::new(env!("CARGO_BIN_EXE_magnetar"))
            .args(["--config", config.to_str().unwrap(), "up"])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap(),
    );
    common::within(60, "both torrents indexed", &log, || {
        total(catalog, "target") == Some(2)
    });
    let mut c = TrackerClient::new(
        format!("127.0.0.1:{tracker}").parse().unwrap(),
        Duration::from_millis(300),
    )
    .unwrap();
    common::within(30, "the tracker answers", &log, || {
        c.announce(target, PeerId([1; 20]), 6881, 0, Event::Started, -1)
            .is_ok()
    });

    // Bad input is a clear error, and changes nothing.
    let bad = magnetar(&config, &["block", "not-a-hash"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an info-hash"));

    let magnet = format!("magnet:?xt=urn:btih:{}&dn=x", target.to_base32());
    let out = magnetar(&config, &["block", &magnet, "--reason", "court order 7"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("blocked info-hash {target}")));
    common::within(5, "the page turns 410", &log, || {
        let (status, body) = get(catalog, &format!("/{target}"));
        status == 410 && body.contains("court order 7")
    });
    common::within(5, "the search hit disappears", &log, || {
        total(catalog, "takedown") == Some(0)
    });
    common::within(5, "the tracker refuses the hash", &log, || {
        matches!(
            c.announce(target, PeerId([2; 20]), 6882, 0, Event::Started, -1),
            Err(ClientError::Tracker(m)) if m.contains("blocked")
        )
    });
    common::within(5, "the blocked torrent leaves the index", &log, || {
        let (_, stats) = get(catalog, "/api/v1/stats");
        serde_json::from_str::<serde_json::Value>(&stats)
            .is_ok_and(|v| v["torrents"].as_u64() == Some(1))
    });
    let again = magnetar(&config, &["block", &target.to_string()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already"));

    // A name rule: the count of indexed torrents it hides, then hidden.
    let out = magnetar(&config, &["block", "--name", "target words"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("it hides 1 of the 1 indexed torrents"),
        "{stdout}"
    );
    common::within(5, "the name rule hides the other torrent", &log, || {
        get(catalog, &format!("/{other}")).0 == 410 && total(catalog, "target") == Some(0)
    });

    // Unblocked: back, page and search.
    for args in [
        vec!["unblock", &magnet[..]],
        vec!["unblock", "--name", "target words"],
    ] {
        let out = magnetar(&config, &args);
        assert!(out.status.success(), "{out:?}");
    }
    common::within(5, "both torrents come back", &log, || {
        get(catalog, &format!("/{target}")).0 == 200 && total(catalog, "target") == Some(2)
    });
    let missing = magnetar(&config, &["unblock", &target.to_string()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not in"));
    let list = std::fs::read_to_string(data.join("denylist")).unwrap();
    assert!(list.trim().is_empty(), "{list}");
}
