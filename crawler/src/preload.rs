//! Optional preload of small files (images, .nfo) next to the `.torrent`.
//!
//! Only the selected files are downloaded (librqbit `only_files`) into the
//! temp dir `.<hex>/`, pieces verified by librqbit, then only those files are
//! moved into `<hex>/` (files sharing a boundary piece may be created partly;
//! they are not kept) and the temp dir is removed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use librqbit::api::TorrentIdOrHash;
use librqbit::{AddTorrent, AddTorrentOptions, Session};
use magnetar_shared::config::PreloadConfig;
use magnetar_shared::{PreloadDir, PreloadEntry, TorrentMeta};

/// Indices of the files worth preloading, within the remaining disk budget.
pub fn select_files(meta: &TorrentMeta, cfg: &PreloadConfig, budget_left: u64) -> Vec<usize> {
    let mut left = budget_left;
    let mut out = Vec::new();
    for (i, f) in meta.files.iter().enumerate() {
        let ext = f
            .path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if f.length == 0 || f.length > cfg.max_file_size || f.length > left {
            continue;
        }
        if cfg.extensions.iter().any(|e| e.eq_ignore_ascii_case(&ext)) {
            left -= f.length;
            out.push(i);
        }
    }
    out
}

/// The preload disk budget (`max_total_bytes`), shared by concurrent
/// preloads: bytes are reserved before a download starts and the unused
/// part given back after, so preloads running at once, and temp dirs still
/// being filled, never add up past the budget.
pub struct PreloadBudget {
    max: u64,
    used: std::sync::atomic::AtomicU64,
}

impl PreloadBudget {
    /// A budget of `max` bytes of which `used` are taken by earlier preloads.
    pub fn new(max: u64, used: u64) -> Self {
        Self {
            max,
            used: std::sync::atomic::AtomicU64::new(used),
        }
    }

    /// Selects the files worth preloading within what is left and reserves
    /// their bytes; returns the file indices and the bytes reserved.
    pub fn reserve(&self, meta: &TorrentMeta, cfg: &PreloadConfig) -> (Vec<usize>, u64) {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        let mut used = self.used.load(Acquire);
        loop {
            let wanted = select_files(meta, cfg, self.max.saturating_sub(used));
            let bytes: u64 = wanted
                .iter()
                .filter_map(|i| meta.files.get(*i))
                .map(|f| f.length)
                .sum();
            match self
                .used
                .compare_exchange_weak(used, used + bytes, Acquire, Relaxed)
            {
                Ok(_) => return (wanted, bytes),
                Err(now) => used = now,
            }
        }
    }

    /// Gives back bytes reserved but not kept.
    pub fn release(&self, bytes: u64) {
        let _ = self.used.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |u| Some(u.saturating_sub(bytes)),
        );
    }

    /// Bytes reserved or used now.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Bytes used by finished preload dirs (a walk of `preload/`: run it once,
/// at start, off the async runtime).
pub fn used_bytes(preload: &PreloadDir) -> u64 {
    let Ok(entries) = std::fs::read_dir(preload.root()) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        if matches!(PreloadDir::classify(&e.file_name()), PreloadEntry::Data(_)) {
            total += du(&e.path());
        }
    }
    total
}

fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// Removes `.<hex>/` dirs left by a crash.
pub fn remove_stale_temp_dirs(preload: &PreloadDir) {
    let Ok(entries) = std::fs::read_dir(preload.root()) else {
        return;
    };
    for e in entries.flatten() {
        if matches!(PreloadDir::classify(&e.file_name()), PreloadEntry::Temp(_)) {
            tracing::info!(path = %e.path().display(), "removing stale preload temp dir");
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!(path = %e.path().display(), "cannot remove: {err}");
            }
        }
    }
}

/// Downloads the selected small files of a resolved torrent from `peers`;
/// returns how many were kept.
pub async fn preload(
    session: &Arc<Session>,
    preload: &PreloadDir,
    meta: &TorrentMeta,
    torrent: &bytes::Bytes,
    cfg: &PreloadConfig,
    budget: &PreloadBudget,
    peers: Vec<std::net::SocketAddr>,
) -> anyhow::Result<usize> {
    let (wanted, reserved) = budget.reserve(meta, cfg);
    if wanted.is_empty() {
        return Ok(0);
    }
    let result = preload_reserved(session, preload, meta, torrent, cfg, &wanted, peers).await;
    let kept_bytes = match &result {
        Ok(_) => du(&preload.data_dir(&meta.info_hash)),
        Err(_) => 0,
    };
    budget.release(reserved.saturating_sub(kept_bytes));
    result
}

async fn preload_reserved(
    session: &Arc<Session>,
    preload: &PreloadDir,
    meta: &TorrentMeta,
    torrent: &bytes::Bytes,
    cfg: &PreloadConfig,
    wanted: &[usize],
    peers: Vec<std::net::SocketAddr>,
) -> anyhow::Result<usize> {
    let hash = meta.info_hash;
    let temp = preload.temp_dir(&hash);
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).context("creating temp dir")?;
    let result = download(session, &temp, torrent, wanted, cfg, peers).await;
    let kept = match result {
        Ok(()) => move_files(meta, wanted, &temp, &preload.data_dir(&hash)),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&temp);
    kept
}

async fn download(
    session: &Arc<Session>,
    temp: &Path,
    torrent: &bytes::Bytes,
    wanted: &[usize],
    cfg: &PreloadConfig,
    peers: Vec<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let opts = AddTorrentOptions {
        only_files: Some(wanted.to_vec()),
        output_folder: Some(temp.to_string_lossy().into_owned()),
        overwrite: true,
        // Only the peers that served the metadata: never announce, so the
        // crawler does not show up as a leecher (or a "completed") in swarms.
        disable_trackers: true,
        initial_peers: (!peers.is_empty()).then_some(peers),
        ..Default::default()
    };
    let handle = session
        .add_torrent(AddTorrent::TorrentFileBytes(torrent.clone()), Some(opts))
        .await?
        .into_handle()
        .context("torrent was not added")?;
    let waited = tokio::time::timeout(
        Duration::from_secs(cfg.timeout.max(1)),
        handle.wait_until_completed(),
    )
    .await;
    if let Err(e) = session
        .delete(TorrentIdOrHash::Id(handle.id()), false)
        .await
    {
        tracing::debug!("removing preload torrent from session: {e:#}");
    }
    match waited {
        Ok(r) => r,
        Err(_) => anyhow::bail!("timed out"),
    }
}

fn move_files(
    meta: &TorrentMeta,
    wanted: &[usize],
    temp: &Path,
    dest: &Path,
) -> anyhow::Result<usize> {
    let mut kept = 0;
    for &i in wanted {
        let Some(f) = meta.files.get(i) else { continue };
        // Paths passed the sanitizer: only normal components, so both joins stay inside.
        let src = temp.join(&f.path);
        let meta_ok =
            std::fs::symlink_metadata(&src).map(|m| m.file_type().is_file() && m.len() == f.length);
        if !matches!(meta_ok, Ok(true)) {
            continue;
        }
        let dst = dest.join(&f.path);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&src, &dst)?;
        kept += 1;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnetar_shared::{FileEntry, InfoHash};

    fn meta(n: usize) -> TorrentMeta {
        TorrentMeta {
            info_hash: InfoHash([1; 20]),
            name: "t".into(),
            files: (0..n)
                .map(|i| FileEntry {
                    path: format!("p{i}.jpg").into(),
                    length: 100,
                })
                .collect(),
            single_file: false,
            total_size: 100 * n as u64,
            piece_length: 16_384,
            piece_count: 1,
            ..TorrentMeta::default()
        }
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_budget() {
        let cfg = PreloadConfig {
            enabled: true,
            max_file_size: 1_000,
            extensions: vec!["jpg".into()],
            max_total_bytes: 1_000,
            timeout: 1,
        };
        let budget = Arc::new(PreloadBudget::new(1_000, 300));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (budget, cfg) = (budget.clone(), cfg.clone());
                std::thread::spawn(move || budget.reserve(&meta(3), &cfg).1)
            })
            .collect();
        let reserved: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(reserved, 700, "exactly what was left, never more");
        assert_eq!(budget.used(), 1_000);
        budget.release(250);
        assert_eq!(
            budget.reserve(&meta(3), &cfg).1,
            200,
            "two 100-byte files fit in 250"
        );
    }
}
