//! libFuzzer entry of the `feed` target; the body is [`magnetar_fuzz::feed`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::feed(data));
