//! libFuzzer entry of the `query` target; the body is [`magnetar_fuzz::query`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::query(data));
