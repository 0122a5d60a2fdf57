//! libFuzzer entry of the `path_sanitizer` target; the body is [`magnetar_fuzz::path_sanitizer`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::path_sanitizer(data));
