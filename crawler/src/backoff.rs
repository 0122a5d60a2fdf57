//! Exponential, persisted backoff for hashes that failed to resolve.

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
    /// Loads `path` (missing or garbage → empty, logged).
    pub fn load(path: &Path, initial_secs: u64, max_secs: u64, max_attempts: u32) -> Self {
        let entries = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<HashMap<InfoHash, Attempt>>(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), "ignoring unreadable backoff state: {e}");
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
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
    pub fn is_due(&self, hash: &InfoHash, now: i64) -> bool {
        match self.entries.get(hash) {
            None => true,
            Some(a) if self.max_attempts > 0 && a.failures >= self.max_attempts => false,
            Some(a) => a.next_try <= now,
        }
    }

    /// Hashes waiting for a retry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Writes the state atomically if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.entries).map_err(std::io::Error::other)?;
        magnetar_shared::write_atomic(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backoff.json");
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
        let path = dir.path().join("backoff.json");
        std::fs::write(&path, b"{garbage").unwrap();
        let mut b = Backoff::load(&path, 1, 1, 2);
        assert_eq!(b.len(), 0);
        let h = InfoHash([2; 20]);
        b.failed(h, 0);
        b.failed(h, 0);
        assert!(!b.is_due(&h, i64::MAX));
    }
}
