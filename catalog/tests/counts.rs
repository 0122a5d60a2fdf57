//! A word found in more torrents than pages can reach: the search page and
//! the JSON API say the total is an estimate, and the facet counts too;
//! a search that reads every match (sorted by size) says the exact total.

mod common;

use common::{client, config, get};

/// Matches past the count cap (10 000 offset + 100 per page).
const N: usize = 10_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_count_cap_totals_and_facets_are_marked_as_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let preload = dir.path().join("preload");
    std::fs::create_dir_all(&preload).unwrap();
    // Written before the catalog starts: its first scan indexes them.
    for i in 0..N {
        let name = format!("jazz standards {i} 1080p");
        let (hash, bytes) = common::torrent(&name, &[(&["a.mkv"], 1_000 + i as u64)], None);
        std::fs::write(preload.join(format!("{hash}.torrent")), bytes).unwrap();
    }
    let (client, shutdown) = client(&config(dir.path())).await;
    common::within(120, "every torrent indexed", || async {
        let (_, body) = get(&client, "/healthz").await;
        body.contains(&format!("\"documents\":{N}"))
    })
    .await;

    let (status, body) = get(&client, "/api/v1/search?q=jazz").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total_exact"], false, "{body}");
    let total = v["total"].as_u64().unwrap() as f64;
    assert!(
        (total - N as f64).abs() / (N as f64) < 0.05,
        "estimate {total} of {N}"
    );

    let (_, page) = get(&client, "/search?q=jazz").await;
    assert!(
        page.contains("about 10"),
        "the count says it is an estimate"
    );
    assert!(page.contains("(~"), "so do the facet counts");
    let (_, page) = get(&client, "/search?q=jazz&lang=uk").await;
    assert!(page.contains("близько"), "in Ukrainian too");

    // Sorted by size every match is read: exact.
    let (_, body) = get(&client, "/api/v1/search?q=jazz&sort=size").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total_exact"], true);
    assert_eq!(v["total"].as_u64(), Some(N as u64));
    let (_, page) = get(&client, "/search?q=jazz&sort=size").await;
    assert!(
        !page.contains("about 10") && !page.contains("(~"),
        "exact, said plainly"
    );
    shutdown.cancel();
}
