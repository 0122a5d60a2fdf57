//! Any datagram: the BEP 15 parser never panics, and what it accepts is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magnetar_tracker::protocol::{parse_request, Request, MAX_SCRAPE_HASHES};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(Request::Scrape { info_hashes, .. }) => {
            assert!(!info_hashes.is_empty());
            assert_eq!(info_hashes.len() % 20, 0);
            assert!(info_hashes.len() / 20 <= MAX_SCRAPE_HASHES);
        }
        Ok(Request::Announce(a)) => {
            let bytes = magnetar_tracker::client::encode_announce(&a);
            assert_eq!(&bytes[16..84], &data[16..84]);
        }
        Ok(Request::Connect { .. }) | Err(_) => {}
    }
});
