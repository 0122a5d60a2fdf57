//! libFuzzer entry of the `params` target; the body is [`magnetar_fuzz::params`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::params(data));
