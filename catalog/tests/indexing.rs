//! The watcher and indexer: additions, removals, garbage, rebuilds.

mod common;

use common::{add, client, config, eventually, get, wait_for_count};

#[tokio::test]
async fn added_files_appear_and_removed_files_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "", 0).await;
    let hash = add(dir.path(), "Late Arrival", &[(&["late.mkv"], 1_000)], None);
    wait_for_count(&c, "arrival", 1).await;
    // Garbage and temp names are skipped without harm.
    let preload = dir.path().join("preload");
    std::fs::write(
        preload.join(format!("{}.torrent", "ab".repeat(20))),
        b"garbage",
    )
    .unwrap();
    std::fs::write(preload.join(".tmp-something.torrent"), b"x").unwrap();
    std::fs::create_dir_all(preload.join(format!(".{}", "cd".repeat(20)))).unwrap();
    add(dir.path(), "Second One", &[(&["b.mkv"], 10)], None);
    wait_for_count(&c, "second", 1).await;
    wait_for_count(&c, "", 2).await;

    std::fs::remove_file(preload.join(format!("{hash}.torrent"))).unwrap();
    wait_for_count(&c, "arrival", 0).await;
    let (status, _) = get(&c, &format!("/{hash}")).await;
    assert_eq!(status, 404);
    let (_, metrics) = get(&c, "/metrics").await;
    assert!(metrics.contains("magnetar_catalog_rejected_total "));
    // Settled: reading files (our own access events) must not re-trigger indexing.
    let commits = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("magnetar_catalog_commits_total "))
            .map(str::to_owned)
    };
    let before = commits(&metrics);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, later) = get(&c, "/metrics").await;
    assert_eq!(commits(&later), before, "no commits without changes");
    assert!(
        !metrics.contains("magnetar_catalog_rejected_total 0"),
        "garbage counted as rejected"
    );
}

#[tokio::test]
async fn restart_reconciles_and_rebuilds_a_corrupt_or_missing_index() {
    let dir = tempfile::tempdir().unwrap();
    let a = add(dir.path(), "Alpha", &[(&["a.txt"], 1)], None);
    {
        let (c, s) = client(&config(dir.path())).await;
        wait_for_count(&c, "alpha", 1).await;
        s.cancel();
        c.terminate().await;
    }
    // While stopped: one torrent removed, one added.
    std::fs::remove_file(dir.path().join("preload").join(format!("{a}.torrent"))).unwrap();
    add(dir.path(), "Beta", &[(&["b.txt"], 1)], None);
    {
        let (c, s) = client(&config(dir.path())).await;
        wait_for_count(&c, "beta", 1).await;
        wait_for_count(&c, "alpha", 0).await;
        s.cancel();
        c.terminate().await;
    }
    // Corrupt the index: it is rebuilt from preload/.
    let index = dir.path().join("index");
    for entry in std::fs::read_dir(&index).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            std::fs::write(&p, b"{ not json").unwrap();
        }
    }
    {
        let (c, s) = client(&config(dir.path())).await;
        wait_for_count(&c, "beta", 1).await;
        s.cancel();
        c.terminate().await;
    }
    std::fs::remove_dir_all(&index).unwrap();
    let (c, _s) = client(&config(dir.path())).await;
    eventually("healthz ready", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    wait_for_count(&c, "beta", 1).await;
    let (_, body) = get(&c, "/healthz").await;
    assert!(body.contains("\"documents\":1"), "{body}");
}

#[tokio::test]
async fn a_transient_read_error_never_drops_a_valid_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let hash = add(dir.path(), "Keeper", &[(&["k.mkv"], 1_000)], None);
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "keeper", 1).await;
    // The file turns unreadable at once (a symlink to itself renamed over
    // it: every read fails with ELOOP; for root, permissions would not stop
    // a read).
    let path = dir.path().join("preload").join(format!("{hash}.torrent"));
    let bytes = std::fs::read(&path).unwrap();
    let tmp = dir.path().join("preload").join(".loop.tmp");
    std::os::unix::fs::symlink(format!("{hash}.torrent"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    eventually("a read retry", || async {
        let (_, m) = get(&c, "/metrics").await;
        m.lines()
            .find_map(|l| l.strip_prefix("magnetar_catalog_read_retries_total "))
            .is_some_and(|v| v.trim() != "0")
    })
    .await;
    wait_for_count(&c, "keeper", 1).await;
    // Readable again: still there, and the retry re-reads it.
    magnetar_shared::write_atomic(&path, &bytes).unwrap();
    wait_for_count(&c, "keeper", 1).await;
    let (status, _) = get(&c, &format!("/{hash}")).await;
    assert_eq!(status, 200);
}

/// A FIFO named like a torrent holds the first build at its read until the
/// test writes into it: the "still indexing" window, made certain.
fn fifo_holding_the_first_build(data: &std::path::Path) -> std::path::PathBuf {
    let fifo = data
        .join("preload")
        .join(format!("{}.torrent", "ef".repeat(20)));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    fifo
}

#[tokio::test]
async fn healthz_is_503_until_the_first_build_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Ready Later", &[(&["r.mkv"], 1_000)], None);
    let fifo = fifo_holding_the_first_build(dir.path());
    let (c, _s) = client(&config(dir.path())).await;
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"status\":\"indexing\""), "{body}");
    // Release the read (garbage: the entry is rejected), the build ends.
    let writer = std::thread::spawn(move || std::fs::write(&fifo, b"not a torrent"));
    eventually("healthz 200", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    writer.join().unwrap().unwrap();
    let (_, body) = get(&c, "/healthz").await;
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    wait_for_count(&c, "ready", 1).await;
}

#[tokio::test]
async fn an_index_of_an_older_schema_is_rebuilt_and_healthz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Rebuilt Later", &[(&["r.mkv"], 1_000)], None);
    // An index left by a version that wrote schema 1.
    let index = dir.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    std::fs::write(index.join("magnetar-schema-version"), "1").unwrap();
    let fifo = fifo_holding_the_first_build(dir.path());
    let (c, _s) = client(&config(dir.path())).await;
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"status\":\"rebuilding\""), "{body}");
    assert!(body.contains("schema version 1"), "{body}");
    let writer = std::thread::spawn(move || std::fs::write(&fifo, b"not a torrent"));
    eventually("healthz 200", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    writer.join().unwrap().unwrap();
    let (_, body) = get(&c, "/healthz").await;
    assert!(
        body.contains("\"status\":\"ok\"") && !body.contains("reason"),
        "{body}"
    );
    let (_, found) = get(&c, "/api/v1/search?q=rebuilt").await;
    assert!(found.contains("Rebuilt Later"), "{found}");
}
