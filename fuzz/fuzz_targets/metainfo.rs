//! Any bytes as a .torrent or an info dict: the validator and parser never
//! panic, and accepted metadata has safe paths and consistent sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magnetar_shared::TorrentMeta;

fuzz_target!(|data: &[u8]| {
    for meta in [TorrentMeta::from_torrent_bytes(data), TorrentMeta::from_info_bytes(data)].into_iter().flatten() {
        assert!(meta.piece_length.is_power_of_two());
        assert_eq!(meta.total_size, meta.files.iter().map(|f| f.length).sum::<u64>());
        for f in &meta.files {
            assert!(f.path.components().all(|c| matches!(c, std::path::Component::Normal(_))));
        }
    }
});
