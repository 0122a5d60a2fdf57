//! The one builder of the catalog's links: absolute URLs of pages and
//! `.torrent` downloads, and magnet links with every value percent-encoded.

use magnetar_shared::config::CatalogConfig;
use magnetar_shared::InfoHash;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in URL components (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL component.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Links of one instance: its base URL and the trackers it advertises.
#[derive(Debug, Clone)]
pub struct Links {
    base_url: String,
    public_trackers: Vec<String>,
    /// `&tr=…` of the instance's trackers, encoded once: a results page
    /// has fifty magnet links.
    public_tr: String,
}

impl Links {
    /// Links for the configured `base_url` and `public_trackers`.
    pub fn new(config: &CatalogConfig) -> Self {
        let mut links = Self {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            public_trackers: config.public_trackers.clone(),
            public_tr: String::new(),
        };
        links.public_tr = links.tr(&[]);
        links
    }

    /// `&tr=<tracker>` for each of [`Links::trackers_for`].
    fn tr(&self, own: &[String]) -> String {
        let mut out = String::new();
        for t in self.trackers_for(own) {
            out.push_str("&tr=");
            out.extend(utf8_percent_encode(t, COMPONENT));
        }
        out
    }

    /// `base_url` joined with a site-relative path (`"rss"`, `"/x"`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// The detail page of a torrent.
    pub fn page(&self, hash: &InfoHash) -> String {
        self.url(&hash.to_hex())
    }

    /// The `.torrent` download of a torrent.
    pub fn torrent(&self, hash: &InfoHash) -> String {
        self.url(&format!("{hash}.torrent"))
    }

    /// The instance's trackers first, then `own` (a torrent's), each once.
    pub fn trackers_for<'a>(&'a self, own: &'a [String]) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        for t in self.public_trackers.iter().chain(own) {
            if !t.is_empty() && !out.contains(&t.as_str()) {
                out.push(t);
            }
        }
        out
    }

    /// `magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<size>&tr=<tracker>…` with the
    /// trackers of [`Links::trackers_for`].
    pub fn magnet(&self, hash: &InfoHash, name: &str, size: u64, own: &[String]) -> String {
        let mut out = String::with_capacity(80 + name.len() * 2 + self.public_tr.len());
        out.push_str("magnet:?xt=urn:btih:");
        out.push_str(&hash.to_hex());
        out.push_str("&dn=");
        out.extend(utf8_percent_encode(name, COMPONENT));
        out.push_str("&xl=");
        out.push_str(&size.to_string());
        if own.is_empty() {
            out.push_str(&self.public_tr);
        } else {
            out.push_str(&self.tr(own));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(base: &str, trackers: &[&str]) -> Links {
        Links::new(&CatalogConfig {
            base_url: base.into(),
            public_trackers: trackers.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn magnets_encode_every_value_and_list_each_tracker_once() {
        let h = InfoHash([0xab; 20]);
        let l = links("http://x/", &["udp://[200::1]:6969/announce"]);
        let m = l.magnet(
            &h,
            "a b&c=d/é",
            42,
            &["udp://[200::1]:6969/announce".into(), "udp://o:1".into()],
        );
        assert_eq!(
            m,
            format!("magnet:?xt=urn:btih:{h}&dn=a%20b%26c%3Dd%2F%C3%A9&xl=42&tr=udp%3A%2F%2F%5B200%3A%3A1%5D%3A6969%2Fannounce&tr=udp%3A%2F%2Fo%3A1")
        );
        // Without trackers of its own: the instance's (encoded once).
        assert_eq!(
            l.magnet(&h, "n", 1, &[]),
            format!("magnet:?xt=urn:btih:{h}&dn=n&xl=1&tr=udp%3A%2F%2F%5B200%3A%3A1%5D%3A6969%2Fannounce")
        );
        assert_eq!(h.to_string(), "ab".repeat(20));
    }

    #[test]
    fn urls_join_the_base_with_one_slash() {
        let h = InfoHash([1; 20]);
        for base in ["http://[200::1]:8000", "http://[200::1]:8000/"] {
            let l = links(base, &[]);
            assert_eq!(l.url("/rss"), "http://[200::1]:8000/rss");
            assert_eq!(l.page(&h), format!("http://[200::1]:8000/{h}"));
            assert_eq!(l.torrent(&h), format!("http://[200::1]:8000/{h}.torrent"));
        }
        assert_eq!(
            links("http://x", &["", "t"]).trackers_for(&["t".into()]),
            vec!["t"]
        );
    }
}
