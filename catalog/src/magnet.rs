//! Magnet links with every value percent-encoded.

use magnetar_shared::InfoHash;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in URL components (RFC 3986 unreserved).
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL component.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<size>&tr=<tracker>…`, trackers deduplicated in order.
pub fn magnet<'a>(
    hash: &InfoHash,
    name: &str,
    size: u64,
    trackers: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut out = format!("magnet:?xt=urn:btih:{hash}&dn={}&xl={size}", encode(name));
    let mut seen: Vec<&str> = Vec::new();
    for t in trackers {
        if !t.is_empty() && !seen.contains(&t) {
            seen.push(t);
            out.push_str("&tr=");
            out.push_str(&encode(t));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_value() {
        let h = InfoHash([0xab; 20]);
        let m = magnet(
            &h,
            "a b&c=d/é",
            42,
            [
                "udp://[200::1]:6969/announce",
                "udp://[200::1]:6969/announce",
            ],
        );
        assert_eq!(
            m,
            format!("magnet:?xt=urn:btih:{h}&dn=a%20b%26c%3Dd%2F%C3%A9&xl=42&tr=udp%3A%2F%2F%5B200%3A%3A1%5D%3A6969%2Fannounce")
        );
    }
}
