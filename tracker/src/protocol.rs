//! BEP 15 wire format: parsing requests and writing responses without allocating.
//!
//! Requests borrow from the receive buffer; responses are written into the
//! worker's reused send buffer. Every length is checked before it is read,
//! so no datagram can make this module panic.

use magnetar_shared::InfoHash;

/// The magic constant of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Most info-hashes in one scrape (a 16-byte header + 74 × 20 fits 1500 bytes).
pub const MAX_SCRAPE_HASHES: usize = 74;
/// Length of an announce request without BEP 41 options.
pub const ANNOUNCE_LEN: usize = 98;

/// BEP 15 action codes.
pub mod action {
    pub const CONNECT: u32 = 0;
    pub const ANNOUNCE: u32 = 1;
    pub const SCRAPE: u32 = 2;
    pub const ERROR: u32 = 3;
}

/// A 20-byte peer id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct PeerId(pub [u8; 20]);

/// The event of an announce.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    None,
    Completed,
    Started,
    Stopped,
}

impl Event {
    fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Completed,
            2 => Self::Started,
            3 => Self::Stopped,
            _ => Self::None,
        }
    }

    /// The wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Completed => 1,
            Self::Started => 2,
            Self::Stopped => 3,
        }
    }
}

/// An announce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    pub event: Event,
    pub key: u32,
    pub num_want: i32,
    pub port: u16,
}

/// A parsed request, borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Connect {
        transaction_id: u32,
    },
    Announce(AnnounceRequest),
    Scrape {
        connection_id: u64,
        transaction_id: u32,
        /// 1..=74 concatenated info-hashes.
        info_hashes: &'a [u8],
    },
}

/// Why a datagram is not a valid request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestErrorKind {
    /// Shorter than any request header: dropped silently.
    TooShort,
    /// A connect request without the magic constant.
    BadProtocolId,
    UnknownAction(u32),
    TruncatedAnnounce,
    ScrapeEmpty,
    ScrapeMisaligned,
    ScrapeTooMany,
}

impl RequestErrorKind {
    /// Text for an error reply.
    pub fn message(self) -> &'static str {
        match self {
            Self::TooShort => "packet too short",
            Self::BadProtocolId => "bad protocol id",
            Self::UnknownAction(_) => "unknown action",
            Self::TruncatedAnnounce => "truncated announce",
            Self::ScrapeEmpty => "scrape without info-hashes",
            Self::ScrapeMisaligned => "scrape length not a multiple of 20",
            Self::ScrapeTooMany => "too many info-hashes in scrape",
        }
    }
}

/// A rejected datagram, with the ids needed to answer it (when known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestError {
    pub kind: RequestErrorKind,
    pub connection_id: u64,
    /// Present when the header was complete enough to answer.
    pub transaction_id: Option<u32>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn array20_at(b: &[u8], at: usize) -> Option<[u8; 20]> {
    b.get(at..at + 20)?.try_into().ok()
}

/// Parses one datagram.
pub fn parse_request(b: &[u8]) -> Result<Request<'_>, RequestError> {
    let header = (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12));
    let (Some(connection_id), Some(action), Some(transaction_id)) = header else {
        return Err(RequestError {
            kind: RequestErrorKind::TooShort,
            connection_id: 0,
            transaction_id: None,
        });
    };
    let err = |kind| RequestError {
        kind,
        connection_id,
        transaction_id: Some(transaction_id),
    };
    match action {
        action::CONNECT if connection_id == PROTOCOL_ID => Ok(Request::Connect { transaction_id }),
        action::CONNECT => Err(RequestError {
            transaction_id: None,
            ..err(RequestErrorKind::BadProtocolId)
        }),
        action::ANNOUNCE => parse_announce(b, connection_id, transaction_id)
            .map(Request::Announce)
            .ok_or(err(RequestErrorKind::TruncatedAnnounce)),
        action::SCRAPE => {
            let hashes = &b[16..];
            if hashes.is_empty() {
                Err(err(RequestErrorKind::ScrapeEmpty))
            } else if !hashes.len().is_multiple_of(20) {
                Err(err(RequestErrorKind::ScrapeMisaligned))
            } else if hashes.len() / 20 > MAX_SCRAPE_HASHES {
                Err(err(RequestErrorKind::ScrapeTooMany))
            } else {
                Ok(Request::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes: hashes,
                })
            }
        }
        other => Err(err(RequestErrorKind::UnknownAction(other))),
    }
}

fn parse_announce(b: &[u8], connection_id: u64, transaction_id: u32) -> Option<AnnounceRequest> {
    // Trailing bytes (BEP 41 options) are tolerated and ignored.
    if b.len() < ANNOUNCE_LEN {
        return None;
    }
    Some(AnnounceRequest {
        connection_id,
        transaction_id,
        info_hash: InfoHash(array20_at(b, 16)?),
        peer_id: PeerId(array20_at(b, 36)?),
        downloaded: u64_at(b, 56)?,
        left: u64_at(b, 64)?,
        uploaded: u64_at(b, 72)?,
        event: Event::from_u32(u32_at(b, 80)?),
        // 84..88 is the IP field: ignored, the source address is used.
        key: u32_at(b, 88)?,
        num_want: u32_at(b, 92)? as i32,
        port: u16::from_be_bytes(b.get(96..98)?.try_into().ok()?),
    })
}

/// Writes big-endian fields into a buffer, stopping (not panicking) when full.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends bytes if they fit; returns whether they did.
    pub fn put(&mut self, bytes: &[u8]) -> bool {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }

    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) -> bool {
        self.put(&v.to_be_bytes())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Writes a connect response (16 bytes).
pub fn write_connect(buf: &mut [u8], transaction_id: u32, connection_id: u64) -> usize {
    let mut w = Writer::new(buf);
    w.u32(action::CONNECT);
    w.u32(transaction_id);
    w.put(&connection_id.to_be_bytes());
    w.len()
}

/// Writes an error response, truncating the message so the reply is at most
/// `max_len` bytes (anti-amplification); returns 0 if not even the header fits.
pub fn write_error(buf: &mut [u8], transaction_id: u32, message: &str, max_len: usize) -> usize {
    if max_len < 8 {
        return 0;
    }
    let msg = &message.as_bytes()[..message.len().min(max_len - 8)];
    let mut w = Writer::new(buf);
    w.u32(action::ERROR);
    w.u32(transaction_id);
    w.put(msg);
    w.len()
}

/// Starts an announce response; peers are appended by the caller.
pub fn write_announce_header(
    w: &mut Writer<'_>,
    transaction_id: u32,
    interval: u32,
    leechers: u32,
    seeders: u32,
) {
    w.u32(action::ANNOUNCE);
    w.u32(transaction_id);
    w.u32(interval);
    w.u32(leechers);
    w.u32(seeders);
}

/// Length of an announce response header.
pub const ANNOUNCE_HEADER_LEN: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn announce_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        b.extend_from_slice(&[0xaa; 20]);
        b.extend_from_slice(&[0xbb; 20]);
        b.extend_from_slice(&5u64.to_be_bytes());
        b.extend_from_slice(&6u64.to_be_bytes());
        b.extend_from_slice(&7u64.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&[1, 2, 3, 4]);
        b.extend_from_slice(&9u32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&6881u16.to_be_bytes());
        assert_eq!(b.len(), ANNOUNCE_LEN);
        b
    }

    #[test]
    fn parses_connect() {
        let mut b = PROTOCOL_ID.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
        assert_eq!(
            parse_request(&b),
            Ok(Request::Connect { transaction_id: 42 })
        );
        b[0] = 9;
        assert_eq!(
            parse_request(&b).unwrap_err().kind,
            RequestErrorKind::BadProtocolId
        );
    }

    #[test]
    fn parses_announce_byte_layout_and_tolerates_bep41_options() {
        let mut b = announce_bytes();
        let expected = AnnounceRequest {
            connection_id: 0x1122_3344_5566_7788,
            transaction_id: 0xdead_beef,
            info_hash: InfoHash([0xaa; 20]),
            peer_id: PeerId([0xbb; 20]),
            downloaded: 5,
            left: 6,
            uploaded: 7,
            event: Event::Started,
            key: 9,
            num_want: -1,
            port: 6881,
        };
        assert_eq!(parse_request(&b), Ok(Request::Announce(expected)));
        b.extend_from_slice(&[2, 5, b'/', b'a', b'n', b'n', b'o']);
        assert_eq!(parse_request(&b), Ok(Request::Announce(expected)));
        let short = &announce_bytes()[..97];
        assert_eq!(
            parse_request(short).unwrap_err().kind,
            RequestErrorKind::TruncatedAnnounce
        );
    }

    #[test]
    fn scrape_limits() {
        let header = |n: usize| {
            let mut b = 7u64.to_be_bytes().to_vec();
            b.extend_from_slice(&2u32.to_be_bytes());
            b.extend_from_slice(&3u32.to_be_bytes());
            b.extend(std::iter::repeat_n(1u8, n));
            b
        };
        assert!(
            matches!(parse_request(&header(20)), Ok(Request::Scrape { info_hashes, .. }) if info_hashes.len() == 20)
        );
        assert!(parse_request(&header(74 * 20)).is_ok());
        let kind = |n| parse_request(&header(n)).unwrap_err().kind;
        assert_eq!(kind(0), RequestErrorKind::ScrapeEmpty);
        assert_eq!(kind(21), RequestErrorKind::ScrapeMisaligned);
        assert_eq!(kind(75 * 20), RequestErrorKind::ScrapeTooMany);
    }

    #[test]
    fn short_and_unknown_packets() {
        for n in 0..16 {
            assert_eq!(
                parse_request(&vec![0u8; n]).unwrap_err().kind,
                RequestErrorKind::TooShort
            );
        }
        let mut b = vec![0u8; 16];
        b[11] = 9;
        assert_eq!(
            parse_request(&b).unwrap_err().kind,
            RequestErrorKind::UnknownAction(9)
        );
    }

    #[test]
    fn responses_have_bep15_layout() {
        let mut buf = [0u8; 64];
        let n = write_connect(&mut buf, 5, 0x0102_0304_0506_0708);
        assert_eq!(&buf[..n], &[0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]);
        let n = write_error(&mut buf, 5, "hello world", 12);
        assert_eq!(&buf[..n], b"\0\0\0\x03\0\0\0\x05hell");
        assert_eq!(write_error(&mut buf, 5, "x", 7), 0);
        let mut w = Writer::new(&mut buf[..21]);
        write_announce_header(&mut w, 1, 1800, 2, 3);
        assert_eq!(w.len(), ANNOUNCE_HEADER_LEN);
        assert!(!w.put(&[1, 2]));
    }
}
