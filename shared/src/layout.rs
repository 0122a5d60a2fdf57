//! Where each role's files live inside the data directory.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use crate::InfoHash;

/// The data directory shared by the three roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Wraps a data directory path (not created here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tracker's dump of every seen info-hash.
    pub fn infohash_bin(&self) -> PathBuf {
        self.root.join("infohash.bin")
    }

    /// The crawler's output, watched by the catalog.
    pub fn preload(&self) -> PreloadDir {
        PreloadDir::new(self.root.join("preload"))
    }

    /// The crawler's own state (backoff, status.json, DHT).
    pub fn crawler_dir(&self) -> PathBuf {
        self.root.join("crawler")
    }

    /// The catalog's Tantivy index.
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    /// A path relative to the data dir, or `path` itself when absolute.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.root.join(path)
    }
}

/// The preload directory: `<hex>.torrent`, `<hex>/` data, `.<hex>/` temp.
///
/// Compatible with YGGverse's aquatic-crawler layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadDir {
    root: PathBuf,
}

/// What a name in the preload directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreloadEntry {
    /// `<hex>.torrent`: a resolved torrent, ready to index.
    Torrent(InfoHash),
    /// `<hex>/`: preloaded files of a torrent.
    Data(InfoHash),
    /// `.<hex>/`: a download in progress; never read.
    Temp(InfoHash),
    /// Anything else (temp files of atomic writes, strays).
    Other,
}

impl PreloadDir {
    /// Wraps a preload directory path.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<hex>.torrent`
    pub fn torrent_path(&self, hash: &InfoHash) -> PathBuf {
        self.root.join(format!("{hash}.torrent"))
    }

    /// `<root>/<hex>/`
    pub fn data_dir(&self, hash: &InfoHash) -> PathBuf {
        self.root.join(hash.to_hex())
    }

    /// `<root>/.<hex>/`
    pub fn temp_dir(&self, hash: &InfoHash) -> PathBuf {
        self.root.join(format!(".{hash}"))
    }

    /// Classifies one directory entry name.
    pub fn classify(name: &OsStr) -> PreloadEntry {
        let Some(name) = name.to_str() else {
            return PreloadEntry::Other;
        };
        let lower_hex = |s: &str| {
            s.len() == 40
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let parse = |s: &str| InfoHash::from_hex(s).ok().filter(|_| lower_hex(s));
        if let Some(stem) = name.strip_suffix(".torrent") {
            return parse(stem).map_or(PreloadEntry::Other, PreloadEntry::Torrent);
        }
        if let Some(rest) = name.strip_prefix('.') {
            return parse(rest).map_or(PreloadEntry::Other, PreloadEntry::Temp);
        }
        parse(name).map_or(PreloadEntry::Other, PreloadEntry::Data)
    }

    /// The info-hashes of every finished `<hex>.torrent` in the directory.
    /// A missing directory has none.
    pub fn list_torrents(&self) -> io::Result<Vec<InfoHash>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let PreloadEntry::Torrent(h) = Self::classify(&entry.file_name()) {
                out.push(h);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn paths_follow_the_layout() {
        let d = DataDir::new("/d");
        let h: InfoHash = HEX.parse().unwrap();
        let p = d.preload();
        assert_eq!(d.infohash_bin(), PathBuf::from("/d/infohash.bin"));
        assert_eq!(
            p.torrent_path(&h),
            PathBuf::from(format!("/d/preload/{HEX}.torrent"))
        );
        assert_eq!(p.data_dir(&h), PathBuf::from(format!("/d/preload/{HEX}")));
        assert_eq!(p.temp_dir(&h), PathBuf::from(format!("/d/preload/.{HEX}")));
    }

    #[test]
    fn classifies_names() {
        let h: InfoHash = HEX.parse().unwrap();
        let c = |s: &str| PreloadDir::classify(OsStr::new(s));
        assert_eq!(c(&format!("{HEX}.torrent")), PreloadEntry::Torrent(h));
        assert_eq!(c(HEX), PreloadEntry::Data(h));
        assert_eq!(c(&format!(".{HEX}")), PreloadEntry::Temp(h));
        assert_eq!(c(&format!(".{HEX}.torrent.tmp.1.0")), PreloadEntry::Other);
        assert_eq!(
            c(&format!("{}.torrent", HEX.to_uppercase())),
            PreloadEntry::Other
        );
        assert_eq!(c("notes.txt"), PreloadEntry::Other);
        assert_eq!(c("x.torrent"), PreloadEntry::Other);
    }

    #[test]
    fn lists_only_finished_torrents() {
        let dir = tempfile::tempdir().unwrap();
        let p = PreloadDir::new(dir.path());
        std::fs::write(dir.path().join(format!("{HEX}.torrent")), b"x").unwrap();
        std::fs::create_dir(dir.path().join(format!(".{}", "a".repeat(40)))).unwrap();
        std::fs::write(dir.path().join("junk"), b"x").unwrap();
        assert_eq!(p.list_torrents().unwrap(), vec![HEX.parse().unwrap()]);
        assert!(PreloadDir::new(dir.path().join("missing"))
            .list_torrents()
            .unwrap()
            .is_empty());
    }
}
