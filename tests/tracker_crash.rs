//! kill -9 of a tracker while it dumps: infohash.bin is the old or the new
//! file, never a torn one.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use magnetar_shared::infohash_file::{read_infohash_file, write_sorted_unique};
use magnetar_shared::InfoHash;
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::protocol::{Event, PeerId};

/// Names of leftover temp files of dumps by the process `pid`.
fn temp_files_of(dir: &std::path::Path, pid: Option<u32>) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| magnetar_shared::atomic::is_temp_name(n))
        .filter(|n| pid.is_none_or(|p| n.contains(&format!(".tmp.{p}."))))
        .collect()
}

#[test]
fn kill_9_during_dumps_never_leaves_a_torn_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infohash.bin");
    let original: Vec<InfoHash> = (0u32..100_000)
        .map(|i| {
            let mut b = [0u8; 20];
            b[..4].copy_from_slice(&(i * 7).to_be_bytes());
            InfoHash(b)
        })
        .collect();
    write_sorted_unique(&path, &original).unwrap();
    let mut announced = Vec::new();
    let mut killed_pid: Option<u32> = None;

    for round in 0..20u8 {
        let port = common::free_udp_port();
        let mut child = common::tracker_command(dir.path(), port)
            .env("MAGNETAR_TRACKER__DUMP_INTERVAL", "1")
            .env("MAGNETAR_TRACKER__WORKERS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait (bounded) until it answers, then announce a new hash, so
        // every periodic dump has something new to write.
        let mut client = TrackerClient::new(
            format!("127.0.0.1:{port}").parse().unwrap(),
            Duration::from_millis(200),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let hash = InfoHash([0xf0 ^ round; 20]);
        loop {
            if client
                .announce(hash, PeerId([1; 20]), 1, 0, Event::Started, -1)
                .is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline, "tracker did not start");
        }
        // The previous round's process died mid-dump: its temp files are
        // gone now that a tracker has started on the same directory.
        assert_eq!(
            temp_files_of(dir.path(), killed_pid),
            Vec::<String>::new(),
            "stale temp files swept at start"
        );
        announced.push(hash);
        // Kill while a dump is being written, for certain: as soon as one
        // of its temp files exists.
        let deadline = Instant::now() + Duration::from_secs(30);
        while temp_files_of(dir.path(), Some(child.id())).is_empty() {
            assert!(
                Instant::now() < deadline,
                "no dump started in round {round}"
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed_pid = Some(child.id());

        let bytes = std::fs::metadata(&path).unwrap().len();
        assert_eq!(bytes % 20, 0, "torn file of {bytes} bytes");
        let got = read_infohash_file(&path).unwrap();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        let (old, new): (Vec<_>, Vec<_>) =
            got.iter().partition(|h| original.binary_search(h).is_ok());
        assert_eq!(old.len(), original.len(), "every original hash kept");
        assert!(new.iter().all(|h| announced.contains(h)));
    }
}
