//! Reloading the access list: when its file changes (notify) and on SIGHUP.
//! SIGHUP is always handled, so a stray signal never kills the tracker
//! (the default action of SIGHUP is to terminate).

use std::sync::Arc;

use magnetar_shared::task::{self, Criticality, Task};
use magnetar_shared::Shutdown;

use crate::Shared;

/// What keeps reloads running: the file watcher and the SIGHUP task.
pub(crate) struct Reloader {
    _watcher: Option<notify::RecommendedWatcher>,
    /// Joined when the tracker is served to its end.
    pub hangup: Option<Task>,
}

/// Starts the SIGHUP handler and, with an access list file, its watcher.
pub(crate) fn start(shared: Arc<Shared>, shutdown: &Shutdown) -> Reloader {
    #[cfg(unix)]
    let hangup = {
        let shared = shared.clone();
        Some(task::spawn(
            "tracker-sighup",
            shutdown,
            Criticality::BestEffort,
            async move {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hup = signal(SignalKind::hangup())?;
                while hup.recv().await.is_some() {
                    if shared.access.path().is_some() {
                        tracing::info!("SIGHUP: reloading the access list");
                        reload(&shared);
                    } else {
                        tracing::info!("SIGHUP: no access list configured, nothing to reload");
                    }
                }
                Ok::<(), std::io::Error>(())
            },
        ))
    };
    #[cfg(not(unix))]
    let hangup = None;
    Reloader {
        _watcher: watch_file(shared),
        hangup,
    }
}

fn reload(shared: &Shared) {
    if let Err(e) = shared.access.reload() {
        tracing::warn!("access list reload failed: {e}");
    }
}

/// Reloads the access list whenever its file is written or replaced.
fn watch_file(shared: Arc<Shared>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let path = shared.access.path()?.to_owned();
    let target = path.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if magnetar_shared::watch::concerns(&event, |n| Some(n) == target.file_name()) {
            reload(&shared);
        }
    })
    .map_err(|e| tracing::warn!("cannot watch access list: {e}"))
    .ok()?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| tracing::warn!("cannot watch {}: {e}", dir.display()))
        .ok()?;
    Some(watcher)
}
