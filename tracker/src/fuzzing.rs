//! The HTTP tracker's fuzz target body, here because it needs the
//! tracker's private request handling; `magnetar-fuzz` calls it. Not an API.

use std::net::IpAddr;
use std::sync::OnceLock;

use magnetar_shared::Config;

use crate::http::answer::{answer, Scratch};
use crate::http::HttpConfig;
use crate::Shared;

/// Any bytes as one HTTP request, from a plain client, from a trusted
/// proxy and over IPv6: answering never panics, the status is one the
/// tracker sends, and the body is one well-formed bencoded dictionary,
/// with a `failure reason` whenever the status is not 200.
pub fn http_request(data: &[u8]) {
    static STATE: OnceLock<(Shared, HttpConfig)> = OnceLock::new();
    let (shared, config) = STATE.get_or_init(|| {
        let mut c = Config::with_data_dir(std::env::temp_dir().join("magnetar-fuzz-http"));
        // Every input is one more announce from the same source: without
        // this the rate limit would answer all but the first few.
        c.tracker.source_announce_rate = 0;
        c.tracker.max_torrents = 10_000;
        c.tracker.max_peers = 100_000;
        let shared = Shared::new(&c, 1).expect("tracker state for fuzzing");
        let config = HttpConfig {
            workers: 1,
            max_connections: 16,
            trusted_proxies: vec![IpAddr::from([127, 0, 0, 1])],
        };
        (shared, config)
    });
    let mut scratch = Scratch::default();
    for peer in [
        IpAddr::from([192, 0, 2, 1]),
        IpAddr::from([127, 0, 0, 1]),
        "2001:db8::1".parse().expect("an IPv6 literal"),
    ] {
        let reply = answer(data, peer, shared, config, &mut scratch);
        assert!(
            matches!(reply.status, 200 | 400 | 404 | 405),
            "status {}",
            reply.status
        );
        let body = &scratch.body;
        assert!(body.first() == Some(&b'd'), "a dictionary: {body:?}");
        assert_eq!(
            magnetar_shared::bencode_check::skip_value(body, 0).ok(),
            Some(body.len()),
            "one whole bencoded value: {body:?}"
        );
        if reply.status != 200 {
            assert!(body.starts_with(b"d14:failure reason"), "{body:?}");
        }
    }
}
