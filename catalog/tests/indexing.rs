//! The watcher and indexer: additions, removals, garbage, rebuilds.

mod common;

use common::{add, client, client_held, config, eventually, get, wait_for_count};
use magnetar_shared::InfoHash;

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

#[tokio::test]
async fn healthz_is_503_until_the_first_build_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Ready Later", &[(&["r.mkv"], 1_000)], None);
    let (c, _s, release) = client_held(&config(dir.path())).await;
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"status\":\"indexing\""), "{body}");
    // Released, the build ends.
    release.send(()).unwrap();
    eventually("healthz 200", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    let (_, body) = get(&c, "/healthz").await;
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    wait_for_count(&c, "ready", 1).await;
}

/// A FIFO named like a torrent (opening it to read would wait for a
/// writer for ever) and a symlink to a device are skipped as not regular
/// files: the first build ends, the torrent beside them is indexed, both
/// are counted as rejected.
#[tokio::test]
async fn a_fifo_or_a_device_named_like_a_torrent_does_not_hold_the_build() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Beside The Fifo", &[(&["b.mkv"], 1_000)], None);
    let preload = dir.path().join("preload");
    let fifo = preload.join(format!("{}.torrent", "ef".repeat(20)));
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let device = preload.join(format!("{}.torrent", "ab".repeat(20)));
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    let (c, _s) = client(&config(dir.path())).await;
    eventually("healthz 200", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    wait_for_count(&c, "fifo", 1).await;
    let (_, m) = get(&c, "/metrics").await;
    let rejected = m
        .lines()
        .find_map(|l| l.strip_prefix("magnetar_catalog_rejected_total "))
        .unwrap_or_default();
    assert_eq!(rejected.trim(), "2", "{m}");
}

#[tokio::test]
async fn an_index_of_an_older_schema_is_rebuilt_and_healthz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Rebuilt Later", &[(&["r.mkv"], 1_000)], None);
    // An index left by a version that wrote schema 1.
    let index = dir.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    std::fs::write(index.join("magnetar-schema-version"), "1").unwrap();
    let (c, _s, release) = client_held(&config(dir.path())).await;
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"status\":\"rebuilding\""), "{body}");
    assert!(body.contains("schema version 1"), "{body}");
    release.send(()).unwrap();
    eventually("healthz 200", || async {
        get(&c, "/healthz").await.0 == 200
    })
    .await;
    let (_, body) = get(&c, "/healthz").await;
    assert!(
        body.contains("\"status\":\"ok\"") && !body.contains("reason"),
        "{body}"
    );
    let (_, found) = get(&c, "/api/v1/search?q=rebuilt").await;
    assert!(found.contains("Rebuilt Later"), "{found}");
}

/// An index as magnetar's schema 1 wrote it (Tantivy's default tokenizer,
/// no folded name), holding `docs` (hash, name).
fn schema_1_index(path: &std::path::Path, docs: &[(InfoHash, &str)]) {
    use tantivy::schema::{
        IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
    };
    std::fs::create_dir_all(path).unwrap();
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let info_hash = b.add_text_field("info_hash", STRING | STORED);
    let name = b.add_text_field("name", text.clone().set_stored());
    b.add_text_field("file", text.clone().set_stored());
    for f in ["comment", "created_by", "trackers"] {
        b.add_text_field(f, text.clone());
    }
    b.add_u64_field("size", INDEXED | STORED | FAST);
    b.add_u64_field("file_count", STORED | FAST);
    b.add_u64_field("pieces", STORED);
    b.add_date_field("created", INDEXED | STORED | FAST);
    b.add_date_field("indexed", INDEXED | STORED | FAST);
    b.add_text_field("category", STRING | STORED | FAST);
    b.add_bool_field("private", INDEXED | STORED);
    b.add_text_field("preloaded", STORED);
    b.add_u64_field("name_sort", FAST);
    for f in ["seeders", "leechers", "completed"] {
        b.add_u64_field(f, STORED | FAST);
    }
    let index = tantivy::Index::create_in_dir(path, b.build()).unwrap();
    let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
    for (hash, n) in docs {
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_text(info_hash, hash.to_hex());
        doc.add_text(name, n);
        writer.add_document(doc).unwrap();
    }
    writer.commit().unwrap();
    std::fs::write(path.join("magnetar-schema-version"), "1").unwrap();
}

#[tokio::test]
async fn an_older_index_keeps_serving_while_the_new_one_is_rebuilt_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let name = "Shingeki no Kyojin 進撃の巨人";
    let hash = add(dir.path(), name, &[(&["s01e01.mkv"], 1_000)], None);
    schema_1_index(&dir.path().join("index"), &[(hash, name)]);
    let (c, _s, release) = client_held(&config(dir.path())).await;
    // The old index serves (healthy), and /healthz says a rebuild runs and why.
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"rebuilding\""), "{body}");
    assert!(body.contains("schema version 1"), "{body}");
    let (_, found) = get(&c, "/api/v1/search?q=shingeki").await;
    assert!(found.contains(name), "the old index answers: {found}");
    let (status, _) = get(&c, &format!("/{hash}")).await;
    assert_eq!(status, 200, "and its torrents' pages work");
    // A CJK substring needs the new analysis: not found until the swap.
    let (_, found) = get(&c, "/api/v1/search?q=%E5%B7%A8%E4%BA%BA").await;
    assert!(!found.contains(name), "{found}");
    assert!(dir.path().join("index.new").is_dir());
    release.send(()).unwrap();
    eventually("the rebuilt index swapped in", || async {
        get(&c, "/healthz").await.1.contains("\"status\":\"ok\"")
    })
    .await;
    wait_for_count(&c, "巨人", 1).await;
    assert!(!dir.path().join("index.new").exists());
    assert!(!dir.path().join("index.old").exists());
    // New torrents are indexed into the swapped-in index.
    add(dir.path(), "Added After The Swap", &[(&["a.mkv"], 1)], None);
    wait_for_count(&c, "swap", 1).await;
}

#[tokio::test]
async fn a_replaced_preload_directory_is_watched_and_reconciled_again() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "Before Replacement", &[(&["b.mkv"], 1)], None);
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "replacement", 1).await;
    // preload/ swapped for another directory (as a restore or a sync tool
    // does): what it holds is indexed, what it lost is removed, and files
    // added to it later are seen.
    let preload = dir.path().join("preload");
    std::fs::rename(&preload, dir.path().join("preload.old")).unwrap();
    std::fs::create_dir(&preload).unwrap();
    add(dir.path(), "Restored Torrent", &[(&["r.mkv"], 1)], None);
    wait_for_count(&c, "restored", 1).await;
    wait_for_count(&c, "replacement", 0).await;
    add(dir.path(), "Added Later", &[(&["l.mkv"], 1)], None);
    wait_for_count(&c, "later", 1).await;
}
