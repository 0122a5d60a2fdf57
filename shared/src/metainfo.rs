//! Torrent metainfo: parsing and validating `.torrent` files and info dicts.
//!
//! Bytes pass [`crate::bencode_check::validate`] first (depth and size), are
//! then read in place, field by field, with no tree of values built (the
//! only allocations are the result's), and checked for the limits in
//! DESIGN.md: piece length, size overflow, file count, paths.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::bencode_check::{self, BencodeError, Item, Items};
use crate::path::{sanitize_component, sanitize_path_lossy, PathError};
use crate::InfoHash;

/// Most files accepted in one torrent.
pub const MAX_FILES: usize = 100_000;

/// Why metadata was rejected.
#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    #[error("malformed bencode: {0}")]
    Bencode(#[from] BencodeError),
    #[error("bencode decode failed: {0}")]
    Decode(String),
    #[error("no info dictionary")]
    NoInfo,
    #[error("missing or invalid field {0:?}")]
    Field(&'static str),
    #[error("piece length {0} is not a positive power of two")]
    PieceLength(i64),
    #[error("a file length is negative or the total overflows")]
    SizeOverflow,
    #[error("{0} files, over the limit of {MAX_FILES}")]
    TooManyFiles(usize),
    #[error("pieces field holds {got} hashes, expected {expected}")]
    PieceCount { got: usize, expected: u64 },
    #[error("v2-only torrents (no v1 file list) are not supported")]
    V2Only,
    #[error("bad file path: {0}")]
    Path(#[from] PathError),
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the torrent's root directory (for a single-file
    /// torrent, just the name). Every component passed the path sanitizer.
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
}

/// Everything the roles need to know about a torrent. (`Default` is an
/// empty one, for building torrents field by field.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TorrentMeta {
    /// SHA-1 of the exact info dict bytes.
    pub info_hash: InfoHash,
    /// The torrent's name (`name.utf-8` preferred), sanitized as a path component.
    pub name: String,
    /// Files in metadata order.
    pub files: Vec<FileEntry>,
    /// True when the info dict has `length` rather than `files`.
    pub single_file: bool,
    /// Sum of file lengths.
    pub total_size: u64,
    /// Bytes per piece.
    pub piece_length: u64,
    /// Number of pieces.
    pub piece_count: u64,
    /// BEP 27 private flag.
    pub private: bool,
    /// Free-text comment of the .torrent file.
    pub comment: Option<String>,
    /// Program that made the .torrent.
    pub created_by: Option<String>,
    /// `creation date`, when present and in range.
    pub creation_date: Option<DateTime<Utc>>,
    /// The `announce` URL.
    pub announce: Option<String>,
    /// BEP 12 tiers.
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 web seeds.
    pub url_list: Vec<String>,
    /// Where the crawler learned it (`x-magnetar-origin`), when recorded.
    pub origin: Option<crate::Origin>,
}

impl TorrentMeta {
    /// Parses a complete `.torrent` file, in one pass over its bytes.
    pub fn from_torrent_bytes(bytes: &[u8]) -> Result<Self, MetainfoError> {
        bencode_check::validate(bytes)?;
        let mut info = None;
        let (mut comment, mut created_by, mut creation_date, mut announce) =
            (None, None, None, None);
        let (mut announce_list, mut url_list) = (Vec::new(), Vec::new());
        let mut origin = None;
        for (key, value) in bencode_check::dict(bytes)? {
            match key {
                // The first `info` counts; one that is not a dictionary is an error.
                b"info" if info.is_none() => {
                    info = Some(value.dict().ok_or(BencodeError::NotADict)?.raw())
                }
                b"comment" => comment = text(&value),
                b"created by" => created_by = text(&value),
                b"creation date" => {
                    creation_date = value.int().and_then(|s| DateTime::from_timestamp(s, 0))
                }
                b"announce" => announce = text(&value).filter(|s| !s.is_empty()),
                b"announce-list" => {
                    announce_list = value
                        .list()
                        .into_iter()
                        .flatten()
                        .filter_map(|tier| {
                            let urls: Vec<String> = tier.list()?.filter_map(|u| text(&u)).collect();
                            (!urls.is_empty()).then_some(urls)
                        })
                        .collect()
                }
                b"url-list" => {
                    url_list = match value.list() {
                        Some(urls) => urls.filter_map(|u| text(&u)).collect(),
                        None => text(&value).into_iter().filter(|s| !s.is_empty()).collect(),
                    }
                }
                crate::origin::ORIGIN_KEY => {
                    origin = text_in_place(&value).and_then(|t| crate::Origin::parse(&t))
                }
                _ => {}
            }
        }
        let info = info.ok_or(MetainfoError::NoInfo)?;
        Ok(Self {
            origin,
            comment,
            created_by,
            creation_date,
            announce,
            announce_list,
            url_list,
            ..Self::from_validated_info(info)?
        })
    }

    /// Parses a bare info dict (as fetched from peers with BEP 9).
    pub fn from_info_bytes(info_bytes: &[u8]) -> Result<Self, MetainfoError> {
        bencode_check::validate(info_bytes)?;
        Self::from_validated_info(info_bytes)
    }

    /// Parses an info dict that passed [`bencode_check::validate`]: its
    /// fields are read where they lie; unknown keys are skipped unread.
    fn from_validated_info(info_bytes: &[u8]) -> Result<Self, MetainfoError> {
        let (mut name, mut name_utf8) = (None, None);
        let (mut piece_length, mut pieces, mut length, mut files) = (None, None, None, None);
        let (mut private, mut file_tree) = (false, false);
        for (key, value) in bencode_check::dict(info_bytes)? {
            match key {
                b"name" => name = text(&value),
                b"name.utf-8" => name_utf8 = text(&value),
                b"piece length" => {
                    piece_length = Some(value.int().ok_or(MetainfoError::Field("piece length"))?)
                }
                b"pieces" => pieces = Some(value.bytes().ok_or(MetainfoError::Field("pieces"))?),
                b"length" => length = Some(value),
                b"files" => files = Some(value),
                b"private" => private = value.int() == Some(1),
                b"file tree" => file_tree = true,
                _ => {}
            }
        }
        // Names and paths are made plain (never refused): what is indexed,
        // shown and written to disk is the same sanitised text.
        let name = name_utf8
            .or(name)
            .map(|n| sanitize_component(&n).into_owned())
            .ok_or(MetainfoError::Field("name"))?;
        let piece_length = match piece_length {
            Some(n) if n > 0 && (n as u64).is_power_of_two() => n as u64,
            Some(n) => return Err(MetainfoError::PieceLength(n)),
            None => return Err(MetainfoError::Field("piece length")),
        };
        let pieces = match pieces {
            Some(b) if b.len() % 20 == 0 => b.len() / 20,
            _ => return Err(MetainfoError::Field("pieces")),
        };
        let (files, single_file) = match (length, files) {
            (Some(len), _) => {
                let len = match len {
                    Item::Int(_) => len.int().ok_or(MetainfoError::SizeOverflow)?,
                    _ => return Err(MetainfoError::Field("files")),
                };
                let length = u64::try_from(len).map_err(|_| MetainfoError::SizeOverflow)?;
                let path = PathBuf::from(&name);
                (vec![FileEntry { path, length }], true)
            }
            (None, Some(Item::List(list))) => (parse_files(list)?, false),
            (None, None) if file_tree => return Err(MetainfoError::V2Only),
            _ => return Err(MetainfoError::Field("files")),
        };

        let total_size = files
            .iter()
            .try_fold(0u64, |acc, f| acc.checked_add(f.length))
            .ok_or(MetainfoError::SizeOverflow)?;
        let expected = total_size.div_ceil(piece_length);
        if pieces as u64 != expected {
            return Err(MetainfoError::PieceCount {
                got: pieces,
                expected,
            });
        }

        Ok(Self {
            info_hash: InfoHash::of_info_bytes(info_bytes),
            name,
            files,
            single_file,
            total_size,
            piece_length,
            piece_count: expected,
            private,
            ..Self::default()
        })
    }

    /// Every tracker URL, `announce` first, without duplicates.
    pub fn trackers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for url in self
            .announce
            .iter()
            .chain(self.announce_list.iter().flatten())
        {
            if !out.contains(url) {
                out.push(url.clone());
            }
        }
        out
    }
}

fn parse_files(list: Items<'_>) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut out = Vec::new();
    for file in list {
        if out.len() == MAX_FILES {
            return Err(MetainfoError::TooManyFiles(MAX_FILES + 1));
        }
        let Some(entries) = file.dict() else {
            return Err(MetainfoError::Field("files"));
        };
        let (mut length, mut path, mut path_utf8) = (None, None, None);
        for (key, value) in entries {
            match key {
                b"length" => length = Some(value),
                b"path" => path = Some(value),
                b"path.utf-8" => path_utf8 = Some(value),
                _ => {}
            }
        }
        let length = match length {
            Some(n @ Item::Int(_)) => {
                let n = n.int().ok_or(MetainfoError::SizeOverflow)?;
                u64::try_from(n).map_err(|_| MetainfoError::SizeOverflow)?
            }
            _ => return Err(MetainfoError::Field("length")),
        };
        let components = match path_utf8.or(path).as_ref().and_then(Item::list) {
            Some(parts) => parts
                .map(|p| text_in_place(&p).ok_or(MetainfoError::Field("path")))
                .collect::<Result<Vec<_>, _>>()?,
            None => return Err(MetainfoError::Field("path")),
        };
        out.push(FileEntry {
            path: sanitize_path_lossy(&components)?,
            length,
        });
    }
    if out.is_empty() {
        return Err(MetainfoError::Field("files"));
    }
    Ok(out)
}

/// A byte string as text; invalid UTF-8 (old torrents) is replaced, not rejected.
fn text(v: &Item<'_>) -> Option<String> {
    text_in_place(v).map(std::borrow::Cow::into_owned)
}

/// [`text`] borrowed from the torrent's bytes when they are valid UTF-8
/// (checked first: faster than the lossy decoder on valid text).
fn text_in_place<'a>(v: &Item<'a>) -> Option<std::borrow::Cow<'a, str>> {
    v.bytes().map(|b| match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    })
}

/// Builds a `.torrent` around exact info dict bytes, with the given trackers
/// and optional descriptive fields. The info bytes are copied verbatim, so the
/// file's info-hash is the SHA-1 of `info_bytes`.
pub fn build_torrent_file(
    info_bytes: &[u8],
    trackers: &[String],
    comment: Option<&str>,
    created_by: Option<&str>,
    creation_date: Option<DateTime<Utc>>,
) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(b.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(b);
    }
    let mut out = Vec::with_capacity(info_bytes.len() + 256);
    out.push(b'd');
    // Keys in sorted order, as bencode requires.
    if let Some(first) = trackers.first() {
        bytes(&mut out, b"announce");
        bytes(&mut out, first.as_bytes());
        bytes(&mut out, b"announce-list");
        out.push(b'l');
        for t in trackers {
            out.push(b'l');
            bytes(&mut out, t.as_bytes());
            out.push(b'e');
        }
        out.push(b'e');
    }
    if let Some(c) = comment {
        bytes(&mut out, b"comment");
        bytes(&mut out, c.as_bytes());
    }
    if let Some(c) = created_by {
        bytes(&mut out, b"created by");
        bytes(&mut out, c.as_bytes());
    }
    if let Some(d) = creation_date {
        bytes(&mut out, b"creation date");
        out.extend_from_slice(format!("i{}e", d.timestamp()).as_bytes());
    }
    bytes(&mut out, b"info");
    out.extend_from_slice(info_bytes);
    out.push(b'e');
    out
}

/// The exact info dict bytes of a `.torrent` file (validated first).
pub fn info_bytes_of(torrent: &[u8]) -> Result<&[u8], MetainfoError> {
    bencode_check::validate(torrent)?;
    let span = bencode_check::dict_value_span(torrent, b"info")?.ok_or(MetainfoError::NoInfo)?;
    Ok(&torrent[span])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_single() -> Vec<u8> {
        let mut v = b"d6:lengthi100e4:name8:file.txt12:piece lengthi64e6:pieces40:".to_vec();
        v.extend_from_slice(&[1u8; 40]);
        v.extend_from_slice(b"7:privatei1ee");
        v
    }

    fn info_multi(paths: &[&[&str]], piece_length: i64) -> Vec<u8> {
        let mut v = b"d5:filesl".to_vec();
        for p in paths {
            v.extend_from_slice(b"d6:lengthi10e4:pathl");
            for c in *p {
                v.extend_from_slice(format!("{}:{}", c.len(), c).as_bytes());
            }
            v.extend_from_slice(b"ee");
        }
        v.extend_from_slice(
            format!("e4:name5:album12:piece lengthi{piece_length}e6:pieces").as_bytes(),
        );
        let n = if piece_length > 0 {
            (10 * paths.len() as i64 + piece_length - 1) / piece_length
        } else {
            1
        };
        v.extend_from_slice(format!("{}:", n * 20).as_bytes());
        v.extend(std::iter::repeat_n(7u8, (n * 20) as usize));
        v.push(b'e');
        v
    }

    #[test]
    fn parses_single_file_torrent_with_exact_info_hash() {
        let info = info_single();
        let torrent = build_torrent_file(
            &info,
            &[
                "udp://t.example:6969/announce".into(),
                "udp://[::1]:6969".into(),
            ],
            Some("hello"),
            Some("mktorrent 1.1"),
            DateTime::from_timestamp(1_700_000_000, 0),
        );
        let meta = TorrentMeta::from_torrent_bytes(&torrent).unwrap();
        assert_eq!(meta.info_hash, InfoHash::of_info_bytes(&info));
        assert_eq!(meta.name, "file.txt");
        assert!(meta.single_file);
        assert_eq!(
            meta.files,
            vec![FileEntry {
                path: "file.txt".into(),
                length: 100
            }]
        );
        assert_eq!(
            (meta.piece_length, meta.piece_count, meta.total_size),
            (64, 2, 100)
        );
        assert!(meta.private);
        assert_eq!(meta.comment.as_deref(), Some("hello"));
        assert_eq!(meta.created_by.as_deref(), Some("mktorrent 1.1"));
        assert_eq!(meta.creation_date.unwrap().timestamp(), 1_700_000_000);
        assert_eq!(
            meta.trackers(),
            vec!["udp://t.example:6969/announce", "udp://[::1]:6969"]
        );
        assert_eq!(info_bytes_of(&torrent).unwrap(), &info[..]);
    }

    #[test]
    fn parses_multi_file_torrent() {
        let info = info_multi(&[&["cd1", "01.flac"], &["cover.jpg"]], 16);
        let meta = TorrentMeta::from_info_bytes(&info).unwrap();
        assert_eq!(meta.info_hash, InfoHash::of_info_bytes(&info));
        assert!(!meta.single_file);
        assert_eq!(meta.files.len(), 2);
        assert_eq!(meta.files[0].path, PathBuf::from("cd1/01.flac"));
        assert_eq!(meta.total_size, 20);
        assert_eq!(meta.piece_count, 2);
        assert!(!meta.private);
    }

    #[test]
    fn rejects_piece_length_zero_and_non_power_of_two() {
        let info = info_multi(&[&["a"]], 0);
        assert!(matches!(
            TorrentMeta::from_info_bytes(&info),
            Err(MetainfoError::PieceLength(0))
        ));
        let info = info_multi(&[&["a"]], 3);
        assert!(matches!(
            TorrentMeta::from_info_bytes(&info),
            Err(MetainfoError::PieceLength(3))
        ));
    }

    #[test]
    fn traversal_and_absolute_paths_become_plain_names() {
        let info = info_multi(&[&["..", "..", "etc", "passwd"]], 16);
        let meta = TorrentMeta::from_info_bytes(&info).unwrap();
        assert_eq!(meta.files[0].path, PathBuf::from("_/_/etc/passwd"));
        let info = info_multi(&[&["/etc/passwd"]], 16);
        let meta = TorrentMeta::from_info_bytes(&info).unwrap();
        assert_eq!(meta.files[0].path, PathBuf::from("_etc_passwd"));
        let deep: Vec<&str> = vec!["d"; 65];
        assert!(matches!(
            TorrentMeta::from_info_bytes(&info_multi(&[&deep], 16)),
            Err(MetainfoError::Path(_))
        ));
    }

    #[test]
    fn rejects_size_overflow_and_negative_lengths() {
        let mut v = b"d5:filesld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi9223372036854775807e4:pathl1:beed6:lengthi9223372036854775807e4:pathl1:ceee".to_vec();
        v.extend_from_slice(b"4:name1:x12:piece lengthi16384e6:pieces0:e");
        assert!(matches!(
            TorrentMeta::from_info_bytes(&v),
            Err(MetainfoError::SizeOverflow)
        ));
        let v = b"d6:lengthi-5e4:name1:x12:piece lengthi16e6:pieces0:e";
        assert!(matches!(
            TorrentMeta::from_info_bytes(v),
            Err(MetainfoError::SizeOverflow)
        ));
    }

    #[test]
    fn rejects_too_many_files() {
        let mut v = b"d5:filesl".to_vec();
        for _ in 0..=MAX_FILES {
            v.extend_from_slice(b"d6:lengthi0e4:pathl1:aee");
        }
        v.extend_from_slice(b"e4:name1:x12:piece lengthi16e6:pieces0:e");
        assert!(matches!(
            TorrentMeta::from_info_bytes(&v),
            Err(MetainfoError::TooManyFiles(n)) if n == MAX_FILES + 1
        ));
    }

    #[test]
    fn rejects_deep_nesting_and_garbage() {
        let deep = format!(
            "d4:infod1:x{}{}ee",
            "l".repeat(100_000),
            "e".repeat(100_000)
        );
        assert!(matches!(
            TorrentMeta::from_torrent_bytes(deep.as_bytes()),
            Err(MetainfoError::Bencode(BencodeError::TooDeep))
        ));
        assert!(TorrentMeta::from_torrent_bytes(b"not bencode").is_err());
        assert!(matches!(
            TorrentMeta::from_torrent_bytes(b"de"),
            Err(MetainfoError::NoInfo)
        ));
        assert!(matches!(
            TorrentMeta::from_info_bytes(b"d4:name1:xe"),
            Err(MetainfoError::Field(_))
        ));
    }

    #[test]
    fn rejects_wrong_piece_count() {
        let v = b"d6:lengthi100e4:name1:x12:piece lengthi64e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        assert!(matches!(
            TorrentMeta::from_info_bytes(v),
            Err(MetainfoError::PieceCount {
                got: 1,
                expected: 2
            })
        ));
    }
}
