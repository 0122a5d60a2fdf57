//! Every HTML route: found, not found, bad input, escaping, security headers.

mod common;

use common::{add, client, config, get, wait_for_count};

#[tokio::test]
async fn home_search_detail_and_download() {
    let dir = tempfile::tempdir().unwrap();
    let hash = add(
        dir.path(),
        "Ubuntu Studio 24.04",
        &[
            (&["ubuntu-studio.iso"], 3_000_000),
            (&["docs", "README.txt"], 1_000),
        ],
        Some("Official image, see https://ubuntustudio.org/ for details"),
    );
    add(
        dir.path(),
        "Some Album",
        &[(&["01 - Intro.flac"], 40_000_000)],
        None,
    );
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "ubuntu", 1).await;

    let r = c.get("/").dispatch().await;
    assert_eq!(r.status().code, 200);
    let csp = r
        .headers()
        .get_one("Content-Security-Policy")
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"));
    assert_eq!(
        r.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    assert!(r.headers().get_one("Referrer-Policy").is_some());
    let body = r.into_string().await.unwrap();
    assert!(body.contains("Ubuntu Studio 24.04") && body.contains("Some Album"));
    assert!(body.contains("2 torrents indexed"));
    assert!(body.contains("/opensearch.xml"));

    let (status, body) = get(&c, "/search?q=studio").await;
    assert_eq!(status, 200);
    assert!(body.contains("1 result ·"), "{body}");
    assert!(body.contains("<b>Studio</b>"), "highlighted snippet");
    assert!(!body.contains("Some Album"));
    assert!(body.contains("href=\"/rss?q=studio\"") && body.contains("/api/v1/search?q=studio"));

    // File names, categories and filters.
    let (_, body) = get(&c, "/search?q=file:README").await;
    assert!(body.contains("Ubuntu Studio"));
    let (_, body) = get(&c, "/search?category=audio").await;
    assert!(body.contains("Some Album") && !body.contains("Ubuntu Studio"));
    let (_, body) = get(&c, "/search?min_size=10MB").await;
    assert!(body.contains("Some Album") && !body.contains("Ubuntu Studio"));
    let (_, body) = get(&c, "/search?sort=size").await;
    assert!(body.find("Some Album").unwrap() < body.find("Ubuntu Studio").unwrap());
    let (_, body) = get(&c, "/search?sort=name").await;
    assert!(body.find("Some Album").unwrap() < body.find("Ubuntu Studio").unwrap());

    let (status, body) = get(&c, &format!("/{hash}")).await;
    assert_eq!(status, 200);
    assert!(body.contains(&hash.to_hex()));
    assert!(body.contains("<details open><summary>docs"));
    assert!(body.contains("README.txt"));
    assert!(body.contains("href=\"https://ubuntustudio.org/\""));
    assert!(body.contains(&format!(
        "magnet:?xt=urn:btih:{hash}&amp;dn=Ubuntu%20Studio%2024.04"
    )));
    assert!(body.contains("tr=udp%3A%2F%2F%5B200%3A1%3A%3A2%5D%3A6969%2Fannounce"));
    assert!(
        body.contains("unknown"),
        "no tracker configured: swarm unknown"
    );

    let r = c.get(format!("/{hash}.torrent")).dispatch().await;
    assert_eq!(r.status().code, 200);
    assert_eq!(
        r.content_type().unwrap().to_string(),
        "application/x-bittorrent"
    );
    let cd = r
        .headers()
        .get_one("Content-Disposition")
        .unwrap()
        .to_owned();
    assert!(
        cd.starts_with("attachment; filename=\"Ubuntu Studio 24.04.torrent\""),
        "{cd}"
    );
    let bytes = r.into_bytes().await.unwrap();
    let meta = magnetar_shared::TorrentMeta::from_torrent_bytes(&bytes).unwrap();
    assert_eq!(meta.info_hash, hash);
    assert_eq!(
        meta.trackers()[0],
        "udp://[200:1::2]:6969/announce",
        "instance tracker first"
    );

    // Base32 and uppercase hex redirect to the canonical page.
    let r = c.get(format!("/{}", hash.to_base32())).dispatch().await;
    assert_eq!(r.status().code, 308);
    assert_eq!(
        r.headers().get_one("Location"),
        Some(format!("/{hash}").as_str())
    );

    // The crawler's status, a nested object included, as the crawler
    // writes it (read anew on each request).
    let crawler = dir.path().join("crawler");
    std::fs::create_dir_all(&crawler).unwrap();
    std::fs::write(
        crawler.join("status.json"),
        r#"{"known":7,"rate_per_minute":1.5,"federation":{"syncs":12,"not_modified":3},"updated":"2026-12-06T18:00:00Z"}"#,
    )
    .unwrap();
    let (status, body) = get(&c, "/stats").await;
    assert_eq!(status, 200);
    assert!(body.contains("Torrents indexed</dt><dd>2"));
    for fact in [
        "<dt>known</dt><dd>7</dd>",
        "<dt>rate per minute</dt><dd>1.5</dd>",
        "<dt>federation syncs</dt><dd>12</dd>",
        "<dt>federation not modified</dt><dd>3</dd>",
        "<dt>updated</dt><dd>2026-12-06T18:00:00Z</dd>",
    ] {
        assert!(body.contains(fact), "{fact} in {body}");
    }
    assert!(!body.contains("[object]"), "{body}");
}

#[tokio::test]
async fn not_found_and_bad_input_never_500() {
    let dir = tempfile::tempdir().unwrap();
    add(dir.path(), "x", &[(&["a.txt"], 1)], None);
    let (c, _s) = client(&config(dir.path())).await;
    let long = "a".repeat(600);
    let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
    let cases: Vec<(String, u16)> = vec![
        ("/nope".into(), 404),
        ("/0000000000000000000000000000000000000000".into(), 404),
        (
            "/0000000000000000000000000000000000000000.torrent".into(),
            404,
        ),
        ("/zzzz".into(), 404),
        (format!("/search?q={long}"), 400),
        (
            format!("/search?q={}", deep.replace('(', "%28").replace(')', "%29")),
            400,
        ),
        ("/search?page=99999999999".into(), 400),
        ("/search?page=-1".into(), 400),
        ("/search?category=warez".into(), 400),
        ("/search?min_size=lots".into(), 400),
        ("/search?from=yesterday".into(), 400),
        ("/search?sort=random".into(), 400),
        ("/search?q=%22unclosed".into(), 200),
        ("/search?q=name:".into(), 200),
        ("/search?q=-".into(), 200),
        ("/search?q=AND OR NOT".replace(' ', "%20"), 200),
        (
            "/0000000000000000000000000000000000000000/files/..%2F..%2Fetc%2Fpasswd".into(),
            400,
        ),
        (
            "/0000000000000000000000000000000000000000/files/%2E%2E/%2E%2E/etc/passwd".into(),
            404,
        ),
        ("/not-a-hash/files/x.png".into(), 404),
    ];
    for (uri, expected) in cases {
        let (status, body) = get(&c, &uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
        if expected != 200 {
            assert!(
                body.contains("<!DOCTYPE html>"),
                "{uri}: error page in site layout"
            );
        }
    }
    let (_, body) = get(&c, "/search?page=99999999999").await;
    assert!(body.contains("page must be a number"), "explanation shown");
}

#[tokio::test]
async fn user_strings_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let hash = add(
        dir.path(),
        "<script>alert(1) \"onmouseover=x",
        &[(&["<img src=x onerror=alert(2)>.jpg"], 5)],
        Some("javascript:alert(3) <b>bold</b> \"onmouseover=y"),
    );
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "script", 1).await;
    for uri in [
        format!("/{hash}"),
        "/".into(),
        "/search?q=script".into(),
        "/search?q=onerror".into(),
    ] {
        let (_, body) = get(&c, &uri).await;
        assert!(!body.contains("<script>"), "{uri}");
        assert!(!body.contains("<img src=x"), "{uri}");
        assert!(!body.contains("\"onmouseover"), "{uri}");
        assert!(!body.contains("href=\"javascript:"), "{uri}");
    }
    let (_, body) = get(&c, &format!("/{hash}")).await;
    assert!(body.contains("&lt;script&gt;"));
    assert!(
        body.contains("&lt;b&gt;bold&lt;&#x2F;b&gt;") || body.contains("&lt;b&gt;bold&lt;/b&gt;")
    );
}

#[tokio::test]
async fn preloaded_images_are_served_only_when_safe() {
    let dir = tempfile::tempdir().unwrap();
    let hash = add(
        dir.path(),
        "pics",
        &[(&["cover.png"], 16), (&["evil.png"], 20)],
        None,
    );
    let data = dir.path().join("preload").join(hash.to_hex());
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("cover.png"), b"\x89PNG\r\n\x1a\n0000000000").unwrap();
    std::fs::write(data.join("evil.png"), b"<html><script>alert(1)</script>").unwrap();
    std::fs::write(dir.path().join("secret.png"), b"\x89PNG\r\n\x1a\nsecret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.png"), data.join("link.png")).unwrap();
    // Touch the torrent so the indexer lists the preloaded files.
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "pics", 1).await;

    let r = c.get(format!("/{hash}/files/cover.png")).dispatch().await;
    assert_eq!(r.status().code, 200);
    assert_eq!(r.content_type().unwrap().to_string(), "image/png");
    assert_eq!(
        r.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    for bad in ["evil.png", "link.png", "missing.png"] {
        let (status, _) = get(&c, &format!("/{hash}/files/{bad}")).await;
        assert_eq!(status, 404, "{bad}");
    }
    let (_, body) = get(&c, &format!("/{hash}")).await;
    assert!(
        body.contains(&format!("<img src=\"/{hash}/files/cover.png\"")),
        "preview shown"
    );
}

#[tokio::test]
async fn pages_speak_the_language_chosen_by_link_cookie_or_browser() {
    use rocket::http::{Cookie, Header};
    let dir = tempfile::tempdir().unwrap();
    let hash = add(
        dir.path(),
        "Тіні забутих предків",
        &[(&["film.mkv"], 3_000_000)],
        None,
    );
    let (c, _s) = client(&config(dir.path())).await;
    wait_for_count(&c, "предки", 1).await;
    let page = |uri: String, accept: Option<&'static str>, cookie: Option<&'static str>| {
        let c = &c;
        async move {
            let mut req = c.get(uri);
            if let Some(a) = accept {
                req = req.header(Header::new("Accept-Language", a));
            }
            if let Some(v) = cookie {
                req = req.cookie(Cookie::new("lang", v));
            }
            let r = req.dispatch().await;
            let set_cookie = r.headers().get_one("Set-Cookie").map(str::to_owned);
            (r.into_string().await.unwrap_or_default(), set_cookie)
        }
    };
    // No preference: English.
    let (html, set) = page("/".into(), None, None).await;
    assert!(
        html.contains("<html lang=\"en\">") && html.contains(">Search</button>"),
        "{html}"
    );
    assert!(set.is_none(), "no cookie without a choice");
    // The browser's Accept-Language.
    let (html, _) = page(
        "/search?q=%D1%82%D1%96%D0%BD%D1%96".into(),
        Some("uk-UA,uk;q=0.9,en;q=0.5"),
        None,
    )
    .await;
    assert!(html.contains("<html lang=\"uk\">"), "{html}");
    assert!(
        html.contains(">Шукати</button>") && html.contains("1 результат"),
        "{html}"
    );
    // Links to the same page in every language, keeping the query.
    assert!(
        html.contains("?q=%D1%82%D1%96%D0%BD%D1%96&amp;lang=ja\""),
        "{html}"
    );
    // Sizes and plurals read as the language writes them.
    let (html, _) = page(format!("/{hash}"), Some("uk"), None).await;
    assert!(html.contains("2,9 МіБ (3000000 байтів), 1 файл"), "{html}");
    // An explicit choice wins over the browser and is remembered in a cookie
    // (this client keeps cookies, as a browser does).
    let (html, set) = page("/stats?lang=ja".into(), Some("uk"), None).await;
    assert!(
        html.contains("<html lang=\"ja\">") && html.contains("索引済みトレント"),
        "{html}"
    );
    let set = set.expect("a lang cookie");
    assert!(
        set.starts_with("lang=ja") && set.contains("Path=/"),
        "{set}"
    );
    // The cookie wins over the browser on later pages.
    let (html, _) = page(format!("/{hash}"), Some("uk"), None).await;
    assert!(
        html.contains("<html lang=\"ja\">") && html.contains(".torrent をダウンロード"),
        "{html}"
    );
    // Error pages too.
    let (html, _) = page("/nothing/here".into(), Some("ja"), None).await;
    assert!(
        html.contains("<html lang=\"ja\">") && html.contains("新着トレントに戻る"),
        "{html}"
    );
}
