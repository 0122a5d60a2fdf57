//! `infohash.bin`: concatenated raw 20-byte info-hashes, sorted and unique.
//!
//! Written by the tracker (or the YGGverse aquatic fork), read by the crawler.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::atomic::write_atomic_with;
use crate::InfoHash;

/// Error reading or writing an `infohash.bin` file.
#[derive(Debug, thiserror::Error)]
pub enum InfoHashFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl InfoHashFileError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// True when the file does not exist (a normal state before the first dump).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Streams the hashes of an `infohash.bin` without loading it whole.
///
/// A trailing partial record (size not a multiple of 20) is ignored with a
/// warning, as the tracker may be a foreign program that was cut off.
pub struct InfoHashReader<R> {
    inner: R,
    label: String,
    failed: bool,
}

impl InfoHashReader<BufReader<File>> {
    /// Opens a file for streaming.
    pub fn open(path: &Path) -> Result<Self, InfoHashFileError> {
        let file = File::open(path).map_err(|e| InfoHashFileError::io(path, e))?;
        Ok(Self::new(
            BufReader::with_capacity(64 * 1024, file),
            path.display().to_string(),
        ))
    }
}

impl<R: Read> InfoHashReader<R> {
    /// Streams hashes from any reader; `label` names it in warnings.
    pub fn new(inner: R, label: impl Into<String>) -> Self {
        Self {
            inner,
            label: label.into(),
            failed: false,
        }
    }
}

impl<R: Read> Iterator for InfoHashReader<R> {
    type Item = Result<InfoHash, InfoHashFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut record = [0u8; 20];
        let mut filled = 0;
        while filled < record.len() {
            match self.inner.read(&mut record[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(InfoHashFileError::io(Path::new(&self.label), e)));
                }
            }
        }
        match filled {
            20 => Some(Ok(InfoHash(record))),
            0 => None,
            n => {
                tracing::warn!(
                    file = %self.label,
                    bytes = n,
                    "ignoring trailing partial record in infohash file"
                );
                None
            }
        }
    }
}

/// Reads every hash of a file into a vector (one allocation that grows).
pub fn read_infohash_file(path: &Path) -> Result<Vec<InfoHash>, InfoHashFileError> {
    InfoHashReader::open(path)?.collect()
}

/// Atomically writes `hashes` sorted and without duplicates.
pub fn write_infohash_file(
    path: &Path,
    mut hashes: Vec<InfoHash>,
) -> Result<(), InfoHashFileError> {
    hashes.sort_unstable();
    hashes.dedup();
    write_sorted_unique(path, &hashes)
}

/// Atomically writes hashes the caller already sorted and deduplicated.
pub fn write_sorted_unique(path: &Path, hashes: &[InfoHash]) -> Result<(), InfoHashFileError> {
    debug_assert!(hashes.windows(2).all(|w| w[0] < w[1]));
    write_atomic_with(path, |w| {
        for h in hashes {
            w.write_all(&h.0)?;
        }
        Ok(())
    })
    .map_err(|e| InfoHashFileError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> InfoHash {
        InfoHash([n; 20])
    }

    #[test]
    fn round_trip_sorts_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infohash.bin");
        write_infohash_file(&path, vec![h(3), h(1), h(3), h(2)]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 60);
        assert_eq!(read_infohash_file(&path).unwrap(), vec![h(1), h(2), h(3)]);
    }

    #[test]
    fn trailing_partial_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infohash.bin");
        let mut bytes = vec![7u8; 40];
        bytes.extend_from_slice(&[9u8; 13]);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_infohash_file(&path).unwrap(), vec![h(7), h(7)]);
    }

    #[test]
    fn empty_file_has_no_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infohash.bin");
        std::fs::write(&path, b"").unwrap();
        assert!(read_infohash_file(&path).unwrap().is_empty());
    }

    #[test]
    fn missing_file_is_a_typed_not_found_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_infohash_file(&dir.path().join("nope.bin")).unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("nope.bin"));
    }

    /// A reader that hands out one byte at a time, like a slow pipe.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn short_reads_are_reassembled() {
        let bytes: Vec<u8> = (0..60).collect();
        let got: Vec<_> = InfoHashReader::new(Trickle(bytes.clone(), 0), "trickle")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(&got[2].0[..], &bytes[40..60]);
    }

    #[test]
    fn a_million_hashes_stream_in_constant_memory() {
        // The iterator yields `InfoHash` by value (no per-record allocation);
        // check that counting a large file works without collecting it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let hashes: Vec<InfoHash> = (0u32..1_000_000)
            .map(|i| {
                let mut b = [0u8; 20];
                b[..4].copy_from_slice(&i.to_be_bytes());
                InfoHash(b)
            })
            .collect();
        write_sorted_unique(&path, &hashes).unwrap();
        let count = InfoHashReader::open(&path)
            .unwrap()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(count, 1_000_000);
    }
}
