//! libFuzzer entry of the `udp_request` target; the body is [`magnetar_fuzz::udp_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| magnetar_fuzz::udp_request(data));
