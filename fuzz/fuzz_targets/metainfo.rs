//! libFuzzer entry of the `metainfo` target; the body is [`magnetar_fuzz::metainfo`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::metainfo(data));
