//! Exponential, persisted backoff for hashes that failed to resolve.
//!
//! Saved compactly (`backoff.bin`: 32 bytes a hash — the hash, failures as
//! u32 LE, next try as i64 LE), about a twentieth of the JSON it replaces
//! (read once for migration); hashes that left every source are pruned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use magnetar_shared::InfoHash;
use serde::{Deserialize, Serialize};

/// Failure record of one hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Failures so far.
    pub failures: u32,
    /// Unix time (s) before which the hash is not retried.
    pub next_try: i64,
}

/// Backoff state, saved as JSON in the crawler's directory.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<InfoHash, Attempt>,
    path: PathBuf,
    initial: i64,
    max: i64,
    max_attempts: u32,
    dirty: bool,
}

impl Backoff {
    /// Loads `path` (`backoff.bin`), or the legacy `backoff.json` beside it;
    /// missing or garbage → empty, logged.
    pub fn load(path: &Path, initial_secs: u64, max_secs: u64, max_attempts: u32) -> Self {
        let entries = match std::fs::read(path) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "ignoring unreadable backoff state");
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => load_legacy(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read backoff state: {e}");
                HashMap::new()
            }
        };
        Self {
            entries,
            path: path.to_owned(),
            initial: initial_secs.max(1) as i64,
            max: max_secs.max(1) as i64,
            max_attempts,
            dirty: false,
        }
    }

    /// Records a failure at `now` and returns the next try time.
    pub fn failed(&mut self, hash: InfoHash, now: i64) -> Attempt {
        let e = self.entries.entry(hash).or_insert(Attempt {
            failures: 0,
            next_try: now,
        });
        e.failures = e.failures.saturating_add(1);
        let delay = self
            .initial
            .saturating_mul(1i64 << (e.failures - 1).min(40))
            .min(self.max);
        e.next_try = now.saturating_add(delay);
        self.dirty = true;
        *e
    }

    /// Forgets a hash (resolved).
    pub fn succeeded(&mut self, hash: &InfoHash) {
        if self.entries.remove(hash).is_some() {
            self.dirty = true;
        }
    }

    /// The record of a hash, if it ever failed.
    pub fn get(&self, hash: &InfoHash) -> Option<Attempt> {
        self.entries.get(hash).copied()
    }

    /// Whether a hash may be tried at `now`.
    #[cfg(test)]
    pub fn is_due(&self, hash: &InfoHash, now: i64) -> bool {
        match self.entries.get(hash) {
            None => true,
            Some(a) if self.given_up(a) => false,
            Some(a) => a.next_try <= now,
        }
    }

    /// Hashes waiting for a retry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets hashes for which `keep` is false (they left every source);
    /// returns how many were dropped.
    pub fn retain(&mut self, keep: impl Fn(&InfoHash) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|h, _| keep(h));
        let dropped = before - self.entries.len();
        if dropped > 0 {
            self.dirty = true;
        }
        dropped
    }

    /// Whether the hash has failed `max_attempts` times and is given up.
    pub fn given_up(&self, a: &Attempt) -> bool {
        self.max_attempts > 0 && a.failures >= self.max_attempts
    }

    /// The state to save, when it changed since the last call: the encoded
    /// bytes and the path, to write off the async runtime with
    /// [`write_state`].
    pub fn take_changes(&mut self) -> Option<(std::path::PathBuf, Vec<u8>)> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut bytes = Vec::with_capacity(self.entries.len() * RECORD);
        for (h, a) in &self.entries {
            bytes.extend_from_slice(&h.0);
            bytes.extend_from_slice(&a.failures.to_le_bytes());
            bytes.extend_from_slice(&a.next_try.to_le_bytes());
        }
        Some((self.path.clone(), bytes))
    }

    /// Writes the state now if it changed (blocking).
    #[cfg(test)]
    pub fn save(&mut self) -> std::io::Result<()> {
        match self.take_changes() {
            Some((path, bytes)) => write_state(&path, &bytes),
            None => Ok(()),
        }
    }
}

/// Bytes of one saved record.
const RECORD: usize = 20 + 4 + 8;

/// Writes saved state atomically (blocking: call off the async runtime).
pub fn write_state(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    magnetar_shared::write_atomic(path, bytes)
}

fn decode(bytes: &[u8]) -> Option<HashMap<InfoHash, Attempt>> {
    if !bytes.len().is_multiple_of(RECORD) {
        return None;
    }
    let mut out = HashMap::with_capacity(bytes.len() / RECORD);
    for r in bytes.chunks_exact(RECORD) {
        let hash = InfoHash::from_slice(&r[..20])?;
        let failures = u32::from_le_bytes(r[20..24].try_into().ok()?);
        let next_try = i64::from_le_bytes(r[24..32].try_into().ok()?);
        out.insert(hash, Attempt { failures, next_try });
    }
    Some(out)
}

/// Reads `backoff.json` (the format before `backoff.bin`) beside `path`.
fn load_legacy(path: &Path) -> HashMap<InfoHash, Attempt> {
    let legacy = path.with_file_name("backoff.json");
    let Ok(bytes) = std::fs::read(&legacy) else {
        return HashMap::new();
    };
    match serde_json::from_slice::<HashMap<InfoHash, Attempt>>(&bytes) {
        Ok(m) => {
            tracing::info!(entries = m.len(), "migrating backoff.json to backoff.bin");
            m
        }
        Err(e) => {
            tracing::warn!(path = %legacy.display(), "ignoring unreadable backoff state: {e}");
            HashMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backoff.bin");
        let h = InfoHash([1; 20]);
        let mut b = Backoff::load(&path, 10, 35, 0);
        assert!(b.is_due(&h, 0));
        assert_eq!(b.failed(h, 100).next_try, 110);
        assert_eq!(b.failed(h, 110).next_try, 130);
        assert_eq!(b.failed(h, 130).next_try, 165, "capped at 35 s");
        assert!(!b.is_due(&h, 164) && b.is_due(&h, 165));
        b.save().unwrap();
        let mut again = Backoff::load(&path, 10, 35, 0);
        assert_eq!(
            again.get(&h),
            Some(Attempt {
                failures: 3,
                next_try: 165
            })
        );
        again.succeeded(&h);
        assert!(again.is_due(&h, 0));
    }

    #[test]
    fn max_attempts_stops_retries_and_garbage_state_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backoff.bin");
        std::fs::write(&path, b"{garbage").unwrap();
        let mut b = Backoff::load(&path, 1, 1, 2);
        assert_eq!(b.len(), 0);
        let h = InfoHash([2; 20]);
        b.failed(h, 0);
        b.failed(h, 0);
        assert!(!b.is_due(&h, i64::MAX));
    }

    #[test]
    fn saved_state_is_compact_pruned_and_migrated_from_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backoff.bin");
        let json =
            serde_json::json!({ InfoHash([3; 20]).to_hex(): { "failures": 2, "next_try": 50 } });
        std::fs::write(dir.path().join("backoff.json"), json.to_string()).unwrap();
        let mut b = Backoff::load(&path, 1, 10, 0);
        assert_eq!(
            b.get(&InfoHash([3; 20])),
            Some(Attempt {
                failures: 2,
                next_try: 50
            })
        );
        for n in 10..20u8 {
            b.failed(InfoHash([n; 20]), 0);
        }
        assert_eq!(b.retain(|h| h.0[0] != 15), 1, "left every source");
        b.save().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10 * 32);
        let again = Backoff::load(&path, 1, 10, 0);
        assert_eq!(again.len(), 10);
        assert!(again.get(&InfoHash([15; 20])).is_none());
        assert_eq!(again.get(&InfoHash([3; 20])).unwrap().failures, 2);
    }
}
