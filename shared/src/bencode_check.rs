//! A depth- and size-limited bencode scanner that runs before any parser.
//!
//! Recursive bencode parsers (ours via serde, librqbit's) overflow the stack
//! on deeply nested input. This scanner is iterative, allocates one small
//! stack bounded by [`MAX_DEPTH`], and checks the whole input is exactly one
//! well-formed value. Only bytes that pass it are handed to a parser.

use std::ops::Range;

/// Deepest nesting of lists/dicts accepted.
pub const MAX_DEPTH: usize = 64;
/// Largest metadata accepted, in bytes.
///
/// Chosen from what real torrents need and what a parse costs now. Almost
/// every `.torrent` is under 1 MiB, but collection torrents of 100 000+
/// files reach 10-30 MiB of metadata. libtorrent (qBittorrent, Deluge)
/// loads `.torrent` files up to 10 MB by default (`load_torrent_limits`)
/// and fetches metadata from peers up to 30 MiB (`max_metadata_size`).
/// 16 MiB keeps every torrent those clients load from a file, plus room.
/// Parsing is in place, so the cost is the bytes themselves, and that cost
/// is bounded in total: the catalog parses at most two torrents per core at
/// once, and keeps parsed ones within its 64 MiB cache budget.
pub const MAX_SIZE: usize = 16 * 1024 * 1024;

/// The bytes of the file at `path`, read to one byte past [`MAX_SIZE`] at
/// most: of a larger file, only as much as [`validate`] needs to reject it
/// as too large, not the whole file in memory (a `.torrent` of gigabytes
/// dropped into `preload/` cost its size in memory before). Only a regular
/// file is read (after symlinks): a FIFO, socket or device named like a
/// torrent is [`NotARegularFile`] at once, without waiting for a writer
/// (opening a FIFO to read blocks until one comes) or reading a device.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(NotARegularFile));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SIZE as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What [`read_file`] says of a path that is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a regular file")]
pub struct NotARegularFile;

impl NotARegularFile {
    /// Whether `e` is this error (a lasting one: trying again will not help).
    pub fn is(e: &std::io::Error) -> bool {
        e.get_ref()
            .is_some_and(|inner| inner.is::<NotARegularFile>())
    }
}

/// Why bytes are not acceptable bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    #[error("input is {0} bytes, over the {MAX_SIZE}-byte limit")]
    TooLarge(usize),
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unexpected end of input")]
    Truncated,
    #[error("invalid byte {byte:#04x} at offset {offset}")]
    Invalid { byte: u8, offset: usize },
    #[error("bad integer at offset {0}")]
    BadInteger(usize),
    #[error("dictionary key at offset {0} is not a string")]
    NonStringKey(usize),
    #[error("dictionary at offset {0} has a key without a value")]
    MissingValue(usize),
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    #[error("top-level value is not a dictionary")]
    NotADict,
}

struct Frame {
    is_dict: bool,
    start: usize,
    /// For dicts: the next item must be a key.
    expect_key: bool,
}

/// Returns the end offset of the single value starting at `start`.
pub fn skip_value(bytes: &[u8], start: usize) -> Result<usize, BencodeError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = start;
    loop {
        let byte = *bytes.get(pos).ok_or(BencodeError::Truncated)?;
        if let Some(top) = stack.last() {
            if byte == b'e' {
                if top.is_dict && !top.expect_key {
                    return Err(BencodeError::MissingValue(top.start));
                }
                stack.pop();
                pos += 1;
                if complete(&mut stack) {
                    return Ok(pos);
                }
                continue;
            }
            if top.is_dict && top.expect_key && !byte.is_ascii_digit() {
                return Err(BencodeError::NonStringKey(pos));
            }
        }
        match byte {
            b'i' => pos = skip_integer(bytes, pos)?,
            b'0'..=b'9' => pos = skip_string(bytes, pos)?.end,
            b'l' | b'd' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep);
                }
                stack.push(Frame {
                    is_dict: byte == b'd',
                    start: pos,
                    expect_key: true,
                });
                pos += 1;
                continue;
            }
            _ => return Err(BencodeError::Invalid { byte, offset: pos }),
        }
        if complete(&mut stack) {
            return Ok(pos);
        }
    }
}

/// Records that a value finished inside the top frame; true when no frame is open.
fn complete(stack: &mut [Frame]) -> bool {
    match stack.last_mut() {
        None => true,
        Some(top) => {
            if top.is_dict {
                top.expect_key = !top.expect_key;
            }
            false
        }
    }
}

fn skip_integer(bytes: &[u8], start: usize) -> Result<usize, BencodeError> {
    let mut pos = start + 1;
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    let digits_start = pos;
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    match bytes.get(pos) {
        None => Err(BencodeError::Truncated),
        Some(b'e') if pos > digits_start && pos - digits_start <= 20 => Ok(pos + 1),
        Some(_) => Err(BencodeError::BadInteger(start)),
    }
}

/// Returns the byte range of the string's contents; `start` is at its length.
fn skip_string(bytes: &[u8], start: usize) -> Result<Range<usize>, BencodeError> {
    let mut pos = start;
    let mut len: usize = 0;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'0'..=b'9' => {
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(b - b'0')))
                    .ok_or(BencodeError::Truncated)?;
                pos += 1;
            }
            b':' => {
                let from = pos + 1;
                let to = from.checked_add(len).ok_or(BencodeError::Truncated)?;
                if to > bytes.len() {
                    return Err(BencodeError::Truncated);
                }
                return Ok(from..to);
            }
            _ => {
                return Err(BencodeError::Invalid {
                    byte: b,
                    offset: pos,
                })
            }
        }
    }
    Err(BencodeError::Truncated)
}

/// Checks size, depth and well-formedness of one complete bencoded value.
pub fn validate(bytes: &[u8]) -> Result<(), BencodeError> {
    if bytes.len() > MAX_SIZE {
        return Err(BencodeError::TooLarge(bytes.len()));
    }
    let end = skip_value(bytes, 0)?;
    if end != bytes.len() {
        return Err(BencodeError::Trailing(bytes.len() - end));
    }
    Ok(())
}

/// In a validated top-level dictionary, the byte range of the value of `key`.
///
/// Used to take the info dict's exact bytes (its SHA-1 is the info-hash).
pub fn dict_value_span(bytes: &[u8], key: &[u8]) -> Result<Option<Range<usize>>, BencodeError> {
    if bytes.first() != Some(&b'd') {
        return Err(BencodeError::NotADict);
    }
    let mut pos = 1;
    loop {
        match bytes.get(pos) {
            None => return Err(BencodeError::Truncated),
            Some(b'e') => return Ok(None),
            Some(_) => {}
        }
        let k = skip_string(bytes, pos)?;
        let value_start = k.end;
        let value_end = skip_value(bytes, value_start)?;
        if &bytes[k] == key {
            return Ok(Some(value_start..value_end));
        }
        pos = value_end;
    }
}

/// A value inside bencode that passed [`validate`], borrowed from it:
/// reading one allocates nothing, and what a reader does not ask for is
/// skipped, never built.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// The digits of an integer (`-` included).
    Int(&'a [u8]),
    Bytes(&'a [u8]),
    List(Items<'a>),
    Dict(Entries<'a>),
}

impl<'a> Item<'a> {
    /// The integer, when it is one that fits an `i64`.
    pub fn int(&self) -> Option<i64> {
        match self {
            Item::Int(digits) => std::str::from_utf8(digits).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Item::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<Items<'a>> {
        match self {
            Item::List(l) => Some(l.clone()),
            _ => None,
        }
    }

    pub fn dict(&self) -> Option<Entries<'a>> {
        match self {
            Item::Dict(d) => Some(d.clone()),
            _ => None,
        }
    }
}

/// Where the list or dictionary at `start` ends, in input that passed
/// [`validate`]: only the depth is counted, without the checks (and the
/// frame stack) of [`skip_value`], since every container a reader opens is
/// scanned again here. Other input gives an error or a wrong end, never a
/// panic.
fn container_end(bytes: &[u8], start: usize) -> Result<usize, BencodeError> {
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        match *bytes.get(pos).ok_or(BencodeError::Truncated)? {
            b'l' | b'd' => {
                depth += 1;
                pos += 1;
            }
            b'e' if depth > 0 => {
                depth -= 1;
                pos += 1;
                if depth == 0 {
                    return Ok(pos);
                }
            }
            b'i' => pos = skip_integer(bytes, pos)?,
            b'0'..=b'9' => pos = skip_string(bytes, pos)?.end,
            byte => return Err(BencodeError::Invalid { byte, offset: pos }),
        }
    }
}

/// Reads the value at `start`; returns it and where it ends.
pub fn item(bytes: &[u8], start: usize) -> Result<(Item<'_>, usize), BencodeError> {
    let first = *bytes.get(start).ok_or(BencodeError::Truncated)?;
    match first {
        b'i' => {
            let end = skip_integer(bytes, start)?;
            Ok((Item::Int(&bytes[start + 1..end - 1]), end))
        }
        b'0'..=b'9' => {
            let range = skip_string(bytes, start)?;
            let end = range.end;
            Ok((Item::Bytes(&bytes[range]), end))
        }
        b'l' | b'd' => {
            let end = container_end(bytes, start)?;
            let inner = Cursor {
                bytes: &bytes[..end - 1],
                pos: start + 1,
            };
            Ok((
                if first == b'l' {
                    Item::List(Items(inner))
                } else {
                    Item::Dict(Entries {
                        cursor: inner,
                        raw: &bytes[start..end],
                    })
                },
                end,
            ))
        }
        byte => Err(BencodeError::Invalid {
            byte,
            offset: start,
        }),
    }
}

/// Input that passed [`validate`] as the dictionary it holds. (It is one
/// value, so a dictionary ends at its last byte: nothing is scanned here.
/// Other input is not a panic: reading stops where it goes wrong.)
pub fn dict(bytes: &[u8]) -> Result<Entries<'_>, BencodeError> {
    match bytes {
        [b'd', .., b'e'] => Ok(Entries {
            cursor: Cursor {
                bytes: &bytes[..bytes.len() - 1],
                pos: 1,
            },
            raw: bytes,
        }),
        _ => Err(BencodeError::NotADict),
    }
}

#[derive(Debug, Clone)]
struct Cursor<'a> {
    /// The container's bytes up to (not including) its closing `e`.
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn next_item(&mut self) -> Option<Item<'a>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let (value, end) = item(self.bytes, self.pos).ok()?;
        self.pos = end;
        Some(value)
    }
}

/// The values of a list, in order.
#[derive(Debug, Clone)]
pub struct Items<'a>(Cursor<'a>);

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        self.0.next_item()
    }
}

/// The entries of a dictionary, in order.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    cursor: Cursor<'a>,
    /// The dictionary's whole encoding (`d` … `e`).
    raw: &'a [u8],
}

impl<'a> Entries<'a> {
    /// The dictionary's exact bytes (an info dict's are what is hashed).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], Item<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.cursor.next_item()?.bytes()?;
        let value = self.cursor.next_item()?;
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_to_one_byte_past_the_limit_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.torrent");
        std::fs::write(&small, b"d1:ai1ee").unwrap();
        assert_eq!(read_file(&small).unwrap(), b"d1:ai1ee");
        // A sparse file of a GiB: only the limit and one byte are read,
        // and that is rejected as too large.
        let huge = dir.path().join("huge.torrent");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let bytes = read_file(&huge).unwrap();
        assert_eq!(bytes.len(), MAX_SIZE + 1);
        assert_eq!(validate(&bytes), Err(BencodeError::TooLarge(MAX_SIZE + 1)));
        assert!(read_file(&dir.path().join("absent.torrent")).is_err());
    }

    /// A FIFO named like a torrent (with no writer, opening it to read
    /// would block for ever), a symlink to it, and a device are refused as
    /// not regular files, at once; a symlink to a regular file is read.
    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.torrent");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let link = dir.path().join("link.torrent");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let file = dir.path().join("file.torrent");
        std::fs::write(&file, b"d1:ai1ee").unwrap();
        let to_file = dir.path().join("to_file.torrent");
        std::os::unix::fs::symlink(&file, &to_file).unwrap();
        // Read on another thread: were the open to block, the test fails
        // after a minute instead of hanging.
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [fifo, link, std::path::PathBuf::from("/dev/zero"), to_file];
        std::thread::spawn(move || {
            for p in paths {
                let _ = tx.send(read_file(&p));
            }
        });
        let next = || rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
        for what in ["a FIFO", "a symlink to it", "a device"] {
            let e = next().unwrap_err();
            assert!(NotARegularFile::is(&e), "{what}: {e}");
            assert_eq!(e.to_string(), "not a regular file");
        }
        assert_eq!(next().unwrap(), b"d1:ai1ee");
        assert!(!NotARegularFile::is(
            &read_file(&dir.path().join("absent")).unwrap_err()
        ));
    }

    #[test]
    fn items_are_read_in_place_and_unknown_values_skipped() {
        let bytes = b"d3:bigli1ei2eli3eee3:inti-99999999999999999999e\
                      1:nli-4ee4:text5:hello3:zzzd1:ad1:bi1eeee";
        validate(bytes).unwrap();
        let entries: Vec<(&[u8], Item)> = dict(bytes).unwrap().collect();
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [&b"big"[..], b"int", b"n", b"text", b"zzz"]);
        // A nested value is skipped whole when not asked for.
        assert_eq!(entries[0].1.list().unwrap().count(), 3);
        // An integer beyond i64 is not one.
        assert_eq!(entries[1].1.int(), None);
        let n: Vec<i64> = entries[2]
            .1
            .list()
            .unwrap()
            .filter_map(|i| i.int())
            .collect();
        assert_eq!(n, [-4]);
        assert_eq!(entries[3].1.bytes(), Some(&b"hello"[..]));
        let inner = entries[4].1.dict().unwrap().next().unwrap();
        assert_eq!(inner.0, b"a");
        assert_eq!(inner.1.dict().unwrap().next().unwrap().1.int(), Some(1));
        assert!(matches!(dict(b"le"), Err(BencodeError::NotADict)));
    }

    #[test]
    fn accepts_well_formed_values() {
        for ok in [
            &b"i42e"[..],
            b"i-3e",
            b"4:spam",
            b"0:",
            b"le",
            b"de",
            b"l4:spami42ee",
            b"d3:bar4:spam3:fooi42ee",
            b"d1:ad1:bl1:ceee",
        ] {
            assert_eq!(validate(ok), Ok(()), "{:?}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(validate(b""), Err(BencodeError::Truncated));
        assert_eq!(validate(b"i42"), Err(BencodeError::Truncated));
        assert_eq!(validate(b"ie"), Err(BencodeError::BadInteger(0)));
        assert_eq!(validate(b"5:abc"), Err(BencodeError::Truncated));
        assert_eq!(validate(b"l4:spam"), Err(BencodeError::Truncated));
        assert_eq!(validate(b"di1e1:ae"), Err(BencodeError::NonStringKey(1)));
        assert_eq!(validate(b"d1:ae"), Err(BencodeError::MissingValue(0)));
        assert_eq!(validate(b"i1ei2e"), Err(BencodeError::Trailing(3)));
        assert!(matches!(validate(b"x"), Err(BencodeError::Invalid { .. })));
        assert_eq!(
            validate(b"99999999999999999999999999:"),
            Err(BencodeError::Truncated)
        );
    }

    #[test]
    fn depth_limit_is_exact() {
        let ok = format!("{}{}", "l".repeat(MAX_DEPTH), "e".repeat(MAX_DEPTH));
        assert_eq!(validate(ok.as_bytes()), Ok(()));
        let deep = format!("{}{}", "l".repeat(MAX_DEPTH + 1), "e".repeat(MAX_DEPTH + 1));
        assert_eq!(validate(deep.as_bytes()), Err(BencodeError::TooDeep));
    }

    #[test]
    fn nesting_of_100_000_is_rejected_without_stack_overflow() {
        let deep = format!("{}{}", "l".repeat(100_000), "e".repeat(100_000));
        assert_eq!(validate(deep.as_bytes()), Err(BencodeError::TooDeep));
        let dicts = "d1:a".repeat(100_000);
        assert_eq!(validate(dicts.as_bytes()), Err(BencodeError::TooDeep));
    }

    #[test]
    fn size_limit() {
        let big = vec![b'l'; MAX_SIZE + 1];
        assert_eq!(validate(&big), Err(BencodeError::TooLarge(MAX_SIZE + 1)));
    }

    #[test]
    fn finds_value_spans_in_a_dict() {
        let bytes = b"d8:announce3:url4:infod4:name1:xee";
        let span = dict_value_span(bytes, b"info").unwrap().unwrap();
        assert_eq!(&bytes[span], b"d4:name1:xe");
        assert_eq!(dict_value_span(bytes, b"nope").unwrap(), None);
        assert_eq!(dict_value_span(b"le", b"info"), Err(BencodeError::NotADict));
    }
}
