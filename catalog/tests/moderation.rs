//! `data/denylist` in the catalog: denied hashes and torrents matching a
//! name rule are never indexed, their pages, downloads and API views answer
//! 410 (with the reason), and changes to the list apply while the catalog
//! runs: removed from the index within seconds, back when unblocked.

mod common;

use common::{add, client, config, get, wait_for_count, within};
use magnetar_shared::denylist::{edit, Entry, FILE_NAME};

fn indexed(stats: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(stats).unwrap();
    v["torrents"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_torrents_are_gone_and_list_changes_apply_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let fine = add(data, "Fine Thing", &[(&["a.txt"], 10)], None);
    let by_name = add(data, "Bad Words Here", &[(&["b.txt"], 10)], None);
    let blocked = add(data, "Blocked One", &[(&["c.txt"], 10)], None);
    let later = add(data, "Later Thing", &[(&["d.txt"], 10)], None);
    let by_path = add(
        data,
        "Innocent Name",
        &[(&["extras", "Forbidden.Sample.mkv"], 10)],
        None,
    );
    std::fs::write(
        data.join(FILE_NAME),
        format!("# takedowns\n{blocked} DMCA notice 42\nname: bad words\n"),
    )
    .unwrap();
    let (c, _s) = client(&config(data)).await;
    wait_for_count(&c, "thing", 2).await;
    assert_eq!(indexed(&get(&c, "/api/v1/stats").await.1), 3);
    wait_for_count(&c, "blocked", 0).await;
    wait_for_count(&c, "bad", 0).await;

    // 410 on every view, with the reason when one was given.
    let (status, page) = get(&c, &format!("/{blocked}")).await;
    assert_eq!(status, 410);
    assert!(page.contains("DMCA notice 42"), "{page}");
    let (status, json) = get(&c, &format!("/api/v1/torrent/{blocked}")).await;
    assert_eq!(status, 410);
    assert!(json.contains("DMCA notice 42"), "{json}");
    assert_eq!(get(&c, &format!("/{blocked}.torrent")).await.0, 410);
    let (status, page) = get(&c, &format!("/{by_name}")).await;
    assert_eq!(status, 410, "a name rule removes the page too");
    assert!(page.contains("bad words"), "{page}");
    assert_eq!(get(&c, &format!("/{fine}")).await.0, 200);

    // Blocked while running: 410 and out of the index within 5 s.
    let list = data.join(FILE_NAME);
    edit(&list, &Entry::Hash(later, Some("spam".into())), false).unwrap();
    within(
        5,
        "the page of a hash blocked while running turns 410",
        || async { get(&c, &format!("/{later}")).await.0 == 410 },
    )
    .await;
    within(5, "the blocked hash leaves the index", || async {
        indexed(&get(&c, "/api/v1/stats").await.1) == 2
    })
    .await;
    wait_for_count(&c, "thing", 1).await;

    // A new name rule matching a file path: found in the index and removed.
    edit(&list, &Entry::Name("forbidden sample".into()), false).unwrap();
    within(5, "a new name rule removes what it matches", || async {
        indexed(&get(&c, "/api/v1/stats").await.1) == 1
    })
    .await;
    assert_eq!(get(&c, &format!("/{by_path}")).await.0, 410);

    // Unblocked: back within 5 s, page and search.
    edit(&list, &Entry::Hash(later, None), true).unwrap();
    edit(&list, &Entry::Name("bad words".into()), true).unwrap();
    within(5, "unblocked torrents come back", || async {
        indexed(&get(&c, "/api/v1/stats").await.1) == 3
    })
    .await;
    assert_eq!(get(&c, &format!("/{later}")).await.0, 200);
    assert_eq!(get(&c, &format!("/{by_name}")).await.0, 200);
    wait_for_count(&c, "thing", 2).await;
    let (_, metrics) = get(&c, "/metrics").await;
    assert!(
        !metrics.contains("magnetar_catalog_moderated_total 0"),
        "{metrics}"
    );
}
