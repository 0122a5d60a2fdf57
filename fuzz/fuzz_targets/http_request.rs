//! libFuzzer entry of the `http_request` target; the body is [`magnetar_fuzz::http_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::http_request(data));
