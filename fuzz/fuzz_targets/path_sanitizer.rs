//! Any path components: an accepted path is relative, plain and stays inside its base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magnetar_shared::path::sanitize_path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\u{1f}').collect();
    if let Ok(p) = sanitize_path(&parts) {
        assert!(p.is_relative());
        assert!(p.components().all(|c| matches!(c, std::path::Component::Normal(_))));
        assert!(std::path::Path::new("/base").join(&p).starts_with("/base"));
    }
});
