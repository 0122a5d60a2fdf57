//! Any file content as infohash.bin: the streaming reader yields exactly the whole records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magnetar_shared::infohash_file::InfoHashReader;

fuzz_target!(|data: &[u8]| {
    let hashes: Vec<_> = InfoHashReader::new(data, "fuzz").filter_map(Result::ok).collect();
    assert_eq!(hashes.len(), data.len() / 20);
    for (i, h) in hashes.iter().enumerate() {
        assert_eq!(&h.0[..], &data[i * 20..i * 20 + 20]);
    }
});
