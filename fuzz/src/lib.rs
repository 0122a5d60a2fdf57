//! The bodies of magnetar's fuzz targets. Each takes any bytes and asserts
//! what must hold of every input, beyond not panicking; a panic is a
//! finding. The libFuzzer binaries in `fuzz_targets/` call them (built on
//! the stable toolchain by `fuzz/run.sh`), and `tests/corpus.rs` runs each
//! over its committed seed corpus in `corpus/<target>/` as an ordinary test.

use magnetar_shared::infohash_file::InfoHashReader;
use magnetar_shared::path::sanitize_path;
use magnetar_shared::TorrentMeta;
use magnetar_tracker::protocol::{parse_request, Request, MAX_SCRAPE_HASHES};

pub use magnetar_catalog::fuzzing::{feed, params, query};
pub use magnetar_tracker::fuzzing::http_request;

/// A target's body: any bytes in, a panic when an invariant breaks.
pub type Body = fn(&[u8]);

/// Every target: its name (the binary's and the corpus folder's) and body.
pub const TARGETS: &[(&str, Body)] = &[
    ("udp_request", udp_request),
    ("metainfo", metainfo),
    ("infohash_bin", infohash_bin),
    ("path_sanitizer", path_sanitizer),
    ("query", query),
    ("params", params),
    ("feed", feed),
    ("http_request", http_request),
];

/// Any datagram: the BEP 15 parser never panics; an accepted scrape holds
/// 1 to 74 whole hashes; an accepted announce encodes back to the same
/// bytes (the IP field aside, which is ignored, and the event: values
/// above 3 are read as "none", as BEP 15 clients expect).
pub fn udp_request(data: &[u8]) {
    match parse_request(data) {
        Ok(Request::Scrape { info_hashes, .. }) => {
            assert!(!info_hashes.is_empty());
            assert_eq!(info_hashes.len() % 20, 0);
            assert!(info_hashes.len() / 20 <= MAX_SCRAPE_HASHES);
        }
        Ok(Request::Announce(a)) => {
            let bytes = magnetar_tracker::client::encode_announce(&a);
            assert_eq!(&bytes[..80], &data[..80], "header, hash, peer id, counters");
            assert_eq!(&bytes[88..98], &data[88..98], "key, num_want, port");
            let event = u32::from_be_bytes([data[80], data[81], data[82], data[83]]);
            let expected = if event <= 3 { event } else { 0 };
            assert_eq!(a.event.to_u32(), expected, "event {event}");
        }
        Ok(Request::Connect { .. }) | Err(_) => {}
    }
}

/// Any bytes as a `.torrent` or an info dictionary: the validator and the
/// parser never panic, and accepted metadata has plain relative paths and
/// sizes that add up.
pub fn metainfo(data: &[u8]) {
    let parsed = [
        TorrentMeta::from_torrent_bytes(data),
        TorrentMeta::from_info_bytes(data),
    ];
    for meta in parsed.into_iter().flatten() {
        assert!(meta.piece_length.is_power_of_two());
        assert_eq!(
            meta.total_size,
            meta.files.iter().map(|f| f.length).sum::<u64>()
        );
        for f in &meta.files {
            assert!(f
                .path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))));
        }
    }
}

/// Any file content as `infohash.bin`: the streaming reader yields exactly
/// the whole 20-byte records, in order.
pub fn infohash_bin(data: &[u8]) {
    let hashes: Vec<_> = InfoHashReader::new(data, "fuzz")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(hashes.len(), data.len() / 20);
    for (i, h) in hashes.iter().enumerate() {
        assert_eq!(&h.0[..], &data[i * 20..i * 20 + 20]);
    }
}

/// Any path components (separated by U+001F): an accepted path is
/// relative, made of plain components, and stays inside its base.
pub fn path_sanitizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\u{1f}').collect();
    if let Ok(p) = sanitize_path(&parts) {
        assert!(p.is_relative());
        assert!(p
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_))));
        assert!(std::path::Path::new("/base").join(&p).starts_with("/base"));
    }
}
