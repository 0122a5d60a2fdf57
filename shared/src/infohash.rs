//! The `InfoHash` newtype: a BitTorrent v1 info-hash (SHA-1 of the info dict).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 20-byte BitTorrent v1 info-hash. Displayed as 40 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InfoHash(pub [u8; 20]);

/// Why a string is not an info-hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoHashParseError {
    #[error("an info-hash is 40 hex or 32 base32 characters, got {0} characters")]
    Length(usize),
    #[error("not a valid hex info-hash")]
    Hex,
    #[error("not a valid base32 info-hash")]
    Base32,
}

impl InfoHash {
    /// Length of the raw hash in bytes.
    pub const LEN: usize = 20;

    /// Wraps raw bytes; returns `None` unless exactly 20 bytes are given.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(Self)
    }

    /// SHA-1 of `bytes`: the info-hash of an info dict given its exact encoding.
    pub fn of_info_bytes(bytes: &[u8]) -> Self {
        use sha1::{Digest, Sha1};
        Self(Sha1::digest(bytes).into())
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// 40 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// 32 uppercase base32 characters (RFC 4648, as in old magnet links).
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// Parses 40 hex characters (either case) only.
    pub fn from_hex(s: &str) -> Result<Self, InfoHashParseError> {
        if s.len() != 40 {
            return Err(InfoHashParseError::Length(s.len()));
        }
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| InfoHashParseError::Hex)?;
        Self::from_slice(&bytes).ok_or(InfoHashParseError::Hex)
    }

    /// Parses 32 base32 characters (either case) only.
    pub fn from_base32(s: &str) -> Result<Self, InfoHashParseError> {
        if s.len() != 32 {
            return Err(InfoHashParseError::Length(s.len()));
        }
        let upper = s.to_ascii_uppercase();
        let bytes = data_encoding::BASE32_NOPAD
            .decode(upper.as_bytes())
            .map_err(|_| InfoHashParseError::Base32)?;
        Self::from_slice(&bytes).ok_or(InfoHashParseError::Base32)
    }
}

impl FromStr for InfoHash {
    type Err = InfoHashParseError;

    /// Accepts 40 hex characters or 32 base32 characters, in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.len() {
            40 => Self::from_hex(s),
            32 => Self::from_base32(s),
            n => Err(InfoHashParseError::Length(n)),
        }
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0u8; 40];
        data_encoding::HEXLOWER.encode_mut(&self.0, &mut hex);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

impl Serialize for InfoHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for InfoHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn hex_round_trip_lowercases() {
        let h: InfoHash = HEX.to_uppercase().parse().unwrap();
        assert_eq!(h.to_string(), HEX);
        assert_eq!(h.to_hex(), HEX);
        assert_eq!(h.0[0], 0xc1);
    }

    #[test]
    fn base32_round_trip() {
        let h: InfoHash = HEX.parse().unwrap();
        let b32 = h.to_base32();
        assert_eq!(b32.len(), 32);
        assert_eq!(b32.parse::<InfoHash>().unwrap(), h);
        assert_eq!(b32.to_lowercase().parse::<InfoHash>().unwrap(), h);
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!(
            "abc".parse::<InfoHash>(),
            Err(InfoHashParseError::Length(3))
        );
        assert_eq!(
            "g12fe1c06bba254a9dc9f519b335aa7c1367a88a".parse::<InfoHash>(),
            Err(InfoHashParseError::Hex)
        );
        assert_eq!(
            "1111111111111111111111111111111!".parse::<InfoHash>(),
            Err(InfoHashParseError::Base32)
        );
        // 40 characters of base32 alphabet that are not hex.
        assert!("ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
            .parse::<InfoHash>()
            .is_err());
        assert!(InfoHash::from_slice(&[0u8; 19]).is_none());
    }

    #[test]
    fn serde_as_hex() {
        let h: InfoHash = HEX.parse().unwrap();
        let json = serde_json_like(&h);
        assert_eq!(json, format!("\"{HEX}\""));
        let back: InfoHash = toml::from_str::<Wrapper>(&format!("h = \"{HEX}\""))
            .unwrap()
            .h;
        assert_eq!(back, h);
    }

    #[derive(Deserialize, Serialize)]
    struct Wrapper {
        h: InfoHash,
    }

    fn serde_json_like(h: &InfoHash) -> String {
        let s = toml::to_string(&Wrapper { h: *h }).unwrap();
        s.trim().trim_start_matches("h = ").to_string()
    }

    #[test]
    fn sha1_of_info_bytes() {
        // SHA-1("abc") test vector.
        assert_eq!(
            InfoHash::of_info_bytes(b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
