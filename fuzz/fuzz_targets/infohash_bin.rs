//! libFuzzer entry of the `infohash_bin` target; the body is [`magnetar_fuzz::infohash_bin`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::infohash_bin(data));
