//! Optional access list: allow or deny info-hashes listed in a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::AHashSet;
use magnetar_shared::config::AccessListMode;
use magnetar_shared::InfoHash;
use parking_lot::RwLock;

/// The tracker's access list; reloadable while workers read it.
pub struct AccessList {
    mode: AccessListMode,
    path: Option<PathBuf>,
    hashes: RwLock<Arc<AHashSet<InfoHash>>>,
}

impl AccessList {
    /// Loads the list (a missing path with mode `off` is fine).
    pub fn new(mode: AccessListMode, path: Option<PathBuf>) -> std::io::Result<Self> {
        let list = Self {
            mode,
            path,
            hashes: RwLock::default(),
        };
        if mode != AccessListMode::Off {
            if list.path.is_none() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "access_list_mode is allow/deny but access_list_path is not set",
                ));
            }
            list.reload()?;
        }
        Ok(list)
    }

    /// The file the list is read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether announces for `hash` are served.
    pub fn allows(&self, hash: &InfoHash) -> bool {
        match self.mode {
            AccessListMode::Off => true,
            AccessListMode::Allow => self.hashes.read().contains(hash),
            AccessListMode::Deny => !self.hashes.read().contains(hash),
        }
    }

    /// Re-reads the file; on error the previous list stays in force.
    pub fn reload(&self) -> std::io::Result<usize> {
        let Some(path) = &self.path else { return Ok(0) };
        let text = std::fs::read_to_string(path)?;
        let set = parse(&text, path);
        let n = set.len();
        *self.hashes.write() = Arc::new(set);
        tracing::info!(path = %path.display(), hashes = n, "access list loaded");
        Ok(n)
    }
}

fn parse(text: &str, path: &Path) -> AHashSet<InfoHash> {
    let mut set = AHashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse() {
            Ok(h) => {
                set.insert(h);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), line = n + 1, "skipping access list line: {e}")
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_and_deny_modes_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        let a = InfoHash([0xaa; 20]);
        let b = InfoHash([0xbb; 20]);
        std::fs::write(&path, format!("# comment\n{a}\nnot-a-hash\n")).unwrap();
        let allow = AccessList::new(AccessListMode::Allow, Some(path.clone())).unwrap();
        let deny = AccessList::new(AccessListMode::Deny, Some(path.clone())).unwrap();
        assert!(allow.allows(&a) && !allow.allows(&b));
        assert!(!deny.allows(&a) && deny.allows(&b));
        std::fs::write(&path, format!("{b}\n")).unwrap();
        assert_eq!(allow.reload().unwrap(), 1);
        assert!(!allow.allows(&a) && allow.allows(&b));
        std::fs::remove_file(&path).unwrap();
        assert!(allow.reload().is_err());
        assert!(allow.allows(&b), "failed reload keeps the old list");
        assert!(AccessList::new(AccessListMode::Off, None)
            .unwrap()
            .allows(&a));
        assert!(AccessList::new(AccessListMode::Allow, None).is_err());
    }
}
