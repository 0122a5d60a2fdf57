//! Where the crawler learned a torrent, recorded in its `.torrent` file (a
//! top-level key outside the info dict, so the info-hash does not change
//! and BitTorrent clients ignore it) and shown by the catalog.

use std::fmt;

/// The top-level key of a stored `.torrent` that holds its [`Origin`]. It
/// sorts after `info`, the last key magnetar writes before it.
pub const ORIGIN_KEY: &[u8] = b"x-magnetar-origin";

/// Where a torrent came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Announced to this instance's own tracker (a local `infohash.bin`),
    /// metadata from the swarm.
    Tracker,
    /// Listed by a remote `infohash.bin` URL, metadata from the swarm.
    Source(String),
    /// From another magnetar instance (its base URL): listed by it, and
    /// its metadata either from the swarm or from that instance (verified
    /// against the info-hash).
    Peer(String),
}

impl Origin {
    /// The kind alone: `tracker`, `source` or `peer` (a search filter).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tracker => "tracker",
            Self::Source(_) => "source",
            Self::Peer(_) => "peer",
        }
    }

    /// The URL of a source or peer.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Tracker => None,
            Self::Source(u) | Self::Peer(u) => Some(u),
        }
    }

    /// Parses [`Origin`]'s text form (`tracker`, `source <url>`, `peer <url>`).
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, url) = text.split_once(' ').unwrap_or((text, ""));
        let url = url.trim();
        // A URL is one printable word of bounded length: it is shown and
        // turned into a search filter.
        let plain =
            !url.is_empty() && url.len() <= 512 && url.chars().all(|c| c.is_ascii_graphic());
        match kind {
            "tracker" if url.is_empty() => Some(Self::Tracker),
            "source" if plain => Some(Self::Source(url.to_owned())),
            "peer" if plain => Some(Self::Peer(url.to_owned())),
            _ => None,
        }
    }

    /// Appends this origin to a `.torrent` made by
    /// [`crate::metainfo::build_torrent_file`] (whose keys all sort before
    /// [`ORIGIN_KEY`]).
    pub fn append_to(&self, torrent: &mut Vec<u8>) {
        if torrent.last() != Some(&b'e') {
            return;
        }
        torrent.pop();
        let text = self.to_string();
        for b in [ORIGIN_KEY, text.as_bytes()] {
            torrent.extend_from_slice(b.len().to_string().as_bytes());
            torrent.push(b':');
            torrent.extend_from_slice(b);
        }
        torrent.push(b'e');
    }
}

/// As JSON: `{"kind": "peer", "url": "http://…"}` (`url` only for sources and peers).
impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("kind", self.kind())?;
        if let Some(url) = self.url() {
            map.serialize_entry("url", url)?;
        }
        map.end()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.url() {
            None => f.write_str(self.kind()),
            Some(url) => write!(f, "{} {url}", self.kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_round_trip_and_junk_is_refused() {
        for o in [
            Origin::Tracker,
            Origin::Source("http://a.example/infohash.bin".into()),
            Origin::Peer("http://[200::1]:8000".into()),
        ] {
            assert_eq!(Origin::parse(&o.to_string()), Some(o));
        }
        for bad in [
            "",
            "dht",
            "peer",
            "peer ",
            "tracker x",
            "peer a b",
            "peer <script>\u{7}",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Origin::parse(&format!("peer {}", "a".repeat(513))), None);
    }

    #[test]
    fn an_appended_origin_is_read_back_and_keeps_the_info_hash() {
        let info = b"d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let mut file =
            crate::metainfo::build_torrent_file(info, &["udp://t/a".into()], None, None, None);
        let origin = Origin::Peer("http://[::1]:8000".into());
        origin.append_to(&mut file);
        let meta = crate::TorrentMeta::from_torrent_bytes(&file).unwrap();
        assert_eq!(meta.origin, Some(origin));
        assert_eq!(meta.info_hash, crate::InfoHash::of_info_bytes(info));
        assert_eq!(meta.announce.as_deref(), Some("udp://t/a"));
    }
}
