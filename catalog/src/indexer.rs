//! The one index writer: watches `preload/`, reconciles at start, commits in
//! batches, and reloads the reader after each commit. Runs on its own thread
//! so no Tantivy or disk work ever blocks the async runtime.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use magnetar_shared::config::CatalogConfig;
use magnetar_shared::denylist::Denylist;
use magnetar_shared::task::{self, Criticality, Task};
use magnetar_shared::{InfoHash, Moderation, PreloadDir, PreloadEntry, Shutdown, TorrentMeta};
use notify::{RecursiveMode, Watcher};
use tantivy::IndexWriter;

use crate::index::{Build, CatalogIndex, Generation, IndexError};
use crate::swarm::SwarmCache;

/// Quiet time before a burst of file events is applied.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Longest a change waits before it is committed.
const MAX_BATCH_AGE: Duration = Duration::from_millis(700);
/// Most changes per commit.
const MAX_BATCH: usize = 5_000;
/// Wait before a torrent that could not be read is read again.
const READ_RETRY: Duration = Duration::from_secs(5);
/// Most preloaded files listed per torrent.
const MAX_PRELOADED: usize = 64;
/// Most file events waiting for the indexer. While it is busy (a bulk
/// index of a million torrents takes a minute) more are not queued: the
/// queue's overflow makes it reconcile with `preload/` instead, so a
/// burst of new files costs a bounded queue, not memory per file.
pub const WATCH_QUEUE: usize = 4096;

enum Msg {
    Fs(notify::Result<notify::Event>),
}

/// Counters for `/metrics` and `/healthz`.
#[derive(Default)]
pub struct IndexerStats {
    /// True once the initial reconcile (or rebuild) has been committed.
    pub ready: AtomicBool,
    pub indexed: AtomicU64,
    pub removed: AtomicU64,
    pub rejected: AtomicU64,
    pub watcher_events: AtomicU64,
    /// File events dropped because the queue was full (a reconcile finds
    /// what they were about).
    pub watcher_dropped: AtomicU64,
    /// Deletes queued in the index writer (replaced, removed, moderated).
    pub deletes: AtomicU64,
    pub commits: AtomicU64,
    /// Reads that failed for a transient reason and were retried.
    pub read_retries: AtomicU64,
    /// Torrents kept out of (or removed from) the index by the denylist.
    pub moderated: AtomicU64,
}

/// Handle to the indexer thread.
#[derive(Clone)]
pub struct Indexer {
    pub stats: Arc<IndexerStats>,
    thread: Arc<parking_lot::Mutex<Option<Task>>>,
}

impl Indexer {
    /// Waits for the thread to finish (after shutdown was cancelled), so the
    /// index writer lock is released and the last batch committed.
    pub fn join(&self) {
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            t.join_blocking();
        }
    }
}

/// Called on the indexer's thread before its first build (tests: it
/// holds the build, so that what is seen meanwhile is certain).
pub type Hold = Box<dyn FnOnce() + Send>;

/// Starts the watcher and the writer thread, with a queue of `queue` file
/// events ([`WATCH_QUEUE`] but in tests), and `hold` called first there.
#[allow(clippy::too_many_arguments)]
pub fn start(
    index: CatalogIndex,
    build: Build,
    preload: PreloadDir,
    swarm: Arc<SwarmCache>,
    moderation: Arc<Moderation>,
    config: &CatalogConfig,
    shutdown: Shutdown,
    queue: usize,
    hold: Option<Hold>,
) -> Result<Indexer, IndexError> {
    std::fs::create_dir_all(preload.root()).map_err(|source| IndexError::Io {
        path: preload.root().to_owned(),
        source,
    })?;
    // Tantivy refuses budgets under 15 MB per thread.
    let writer_bytes = config.index_writer_bytes.max(15_000_000);
    let (target, beside) = match build {
        Build::Beside(new) => (Arc::new(*new), true),
        Build::Current | Build::InPlace => (index.current(), false),
    };
    let writer: IndexWriter = target.index.writer(writer_bytes)?;
    let (tx, rx) = sync_channel(queue);
    let stats = Arc::new(IndexerStats::default());
    let mut watch = Watch {
        tx,
        stats: stats.clone(),
        watcher: None,
        watched: None,
        checked: Instant::now(),
        reconciled: Instant::now(),
        reconcile_every: Duration::from_secs(config.reconcile_every_secs.max(1)),
    };
    watch.arm(preload.root());
    let worker = Worker {
        watch,
        live: index,
        target,
        beside,
        writer: Some(writer),
        writer_bytes,
        preload,
        swarm,
        moderated: (moderation.generation(), moderation.current()),
        moderation,
        left_out: HashSet::new(),
        stats: stats.clone(),
        pending: HashSet::new(),
        retry: Vec::new(),
        rescan: false,
        commit_every: config.index_commit_every.max(1),
        absent: false,
        dropped_seen: 0,
        synced: true,
    };
    let token = shutdown.clone();
    let thread = task::spawn_thread(
        "catalog-indexer",
        &shutdown,
        Criticality::BestEffort,
        move || {
            worker.run(rx, token, hold);
            Ok::<(), std::convert::Infallible>(())
        },
    )
    .map_err(|source| IndexError::Io {
        path: PathBuf::from("indexer thread"),
        source,
    })?;
    Ok(Indexer {
        stats,
        thread: Arc::new(parking_lot::Mutex::new(Some(thread))),
    })
}

/// The watcher on `preload/`, re-armed when the directory is replaced,
/// and the schedule of the periodic reconcile that catches what it missed.
struct Watch {
    tx: SyncSender<Msg>,
    /// Counts the events dropped when the queue is full.
    stats: Arc<IndexerStats>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Device and inode of the directory watched.
    watched: Option<(u64, u64)>,
    checked: Instant,
    reconciled: Instant,
    reconcile_every: Duration,
}

/// How often the watched directory is checked for replacement.
const WATCH_CHECK: Duration = Duration::from_secs(2);

fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

impl Watch {
    /// (Re)starts the watcher on `dir`.
    fn arm(&mut self, dir: &Path) {
        self.watcher = None;
        self.watched = identity(dir);
        let tx = self.tx.clone();
        let stats = self.stats.clone();
        let watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // Reads (every torrent the indexer or a page opens) raise
            // access events: not changes, and dropped here so a bulk
            // index does not queue one per file.
            if matches!(&e, Ok(event) if event.kind.is_access()) {
                return;
            }
            if let Err(TrySendError::Full(_)) = tx.try_send(Msg::Fs(e)) {
                stats.watcher_dropped.fetch_add(1, Relaxed);
            }
        })
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|_| w));
        match watcher {
            Ok(w) => self.watcher = Some(w),
            Err(e) => tracing::warn!(
                "cannot watch {}: {e}; new torrents appear at the next reconcile",
                dir.display()
            ),
        }
    }

    /// True when the index should be reconciled with `dir` now: its
    /// periodic turn came (a watcher that could not start is tried again
    /// then), or `dir` was replaced by another directory (watched again).
    fn due(&mut self, dir: &Path) -> bool {
        if self.checked.elapsed() < WATCH_CHECK {
            return false;
        }
        self.checked = Instant::now();
        let now = identity(dir);
        let replaced = now.is_some() && now != self.watched;
        if replaced {
            tracing::info!("{} was replaced: watching it again", dir.display());
            self.arm(dir);
        }
        let periodic = self.reconciled.elapsed() >= self.reconcile_every;
        if periodic && !replaced && self.watcher.is_none() {
            self.arm(dir);
        }
        if replaced || periodic {
            self.reconciled = Instant::now();
        }
        replaced || periodic
    }
}

struct Worker {
    watch: Watch,
    /// The index that serves.
    live: CatalogIndex,
    /// The index written to: the serving one, or during a rebuild beside
    /// it, the new one (swapped in when complete).
    target: Arc<Generation>,
    beside: bool,
    /// `None` only after a failed swap (see [`Worker::swap_in`]).
    writer: Option<IndexWriter>,
    writer_bytes: usize,
    preload: PreloadDir,
    swarm: Arc<SwarmCache>,
    stats: Arc<IndexerStats>,
    pending: HashSet<InfoHash>,
    /// Torrents whose file could not be read, and when to try again.
    retry: Vec<(InfoHash, Instant)>,
    rescan: bool,
    /// Commit after this many torrents during a (re)build.
    commit_every: usize,
    /// `watcher_dropped` when last looked at.
    dropped_seen: u64,
    /// A reconcile is writing torrents known not to be in the index: the
    /// delete of each is not queued (Tantivy keeps every queued delete
    /// until each segment has seen it, about 570 bytes a torrent: 550 MiB
    /// over a cold build of a million).
    absent: bool,
    /// Everything written has been committed and the reader sees it
    /// (false after a failed commit or reload, until one succeeds).
    synced: bool,
    /// `data/denylist`, and the list last applied to the index.
    moderation: Arc<Moderation>,
    moderated: (u64, Arc<Denylist>),
    /// Torrents in `preload/` a name rule keeps out (not read again by a
    /// reconcile until the rules change).
    left_out: HashSet<InfoHash>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>, shutdown: Shutdown, hold: Option<Hold>) {
        // The watcher is already running, so nothing added from here on is missed.
        if self.beside {
            // The old index serves (complete, if older) while the new one fills.
            self.stats.ready.store(true, Relaxed);
        }
        if let Some(hold) = hold {
            hold();
        }
        self.reconcile();
        if self.beside {
            self.swap_in();
        } else {
            self.live.rebuilt_in_place();
        }
        self.stats.ready.store(true, Relaxed);
        let mut first_pending: Option<Instant> = None;
        let mut last_event = Instant::now();
        while !shutdown.is_cancelled() {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(msg) => {
                    self.accept(msg);
                    last_event = Instant::now();
                    first_pending.get_or_insert(last_event);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.moderation.generation() != self.moderated.0 {
                self.apply_denylist();
            }
            if !self.retry.is_empty() && self.requeue_due_retries() {
                first_pending.get_or_insert_with(Instant::now);
            }
            // Events were dropped (the queue was full): only a reconcile
            // finds what they were about.
            let dropped = self.stats.watcher_dropped.load(Relaxed);
            let overflowed = dropped != self.dropped_seen;
            self.dropped_seen = dropped;
            if self.watch.due(self.preload.root()) || overflowed {
                self.rescan = true;
                first_pending.get_or_insert_with(Instant::now);
            }
            let Some(first) = first_pending else { continue };
            let due = last_event.elapsed() >= DEBOUNCE
                || first.elapsed() >= MAX_BATCH_AGE
                || self.pending.len() >= MAX_BATCH;
            if due {
                if std::mem::take(&mut self.rescan) {
                    self.pending.clear();
                    self.reconcile();
                } else {
                    self.apply_pending();
                }
                first_pending = None;
            }
        }
        self.apply_pending();
        tracing::debug!("indexer stopped");
    }

    fn accept(&mut self, msg: Msg) {
        match msg {
            Msg::Fs(Err(e)) => {
                tracing::warn!("watcher error, rescanning preload/: {e}");
                self.rescan = true;
            }
            Msg::Fs(Ok(event)) => {
                self.stats.watcher_events.fetch_add(1, Relaxed);
                if event.need_rescan() {
                    self.rescan = true;
                }
                for path in &event.paths {
                    if let Some(PreloadEntry::Torrent(h) | PreloadEntry::Data(h)) =
                        path.file_name().map(PreloadDir::classify)
                    {
                        self.pending.insert(h);
                    }
                }
            }
        }
    }

    /// Makes the index match `preload/`: adds missing, removes stale.
    fn reconcile(&mut self) {
        let on_disk: HashSet<InfoHash> = match self.preload.list_torrents() {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                tracing::error!("cannot list {}: {e}", self.preload.root().display());
                return;
            }
        };
        let (listed, complete) = self.target.list_hashes();
        let in_index: HashSet<InfoHash> = listed.into_iter().collect();
        let denied = self.moderation.current();
        let missing: Vec<InfoHash> = on_disk
            .difference(&in_index)
            .filter(|h| !denied.denies_hash(h) && !self.left_out.contains(h))
            .copied()
            .collect();
        for stale in in_index.difference(&on_disk) {
            self.delete(stale);
            self.stats.removed.fetch_add(1, Relaxed);
        }
        // Denied while the catalog was not running.
        for h in in_index.iter().filter(|h| denied.denies_hash(h)) {
            self.delete(h);
            self.stats.moderated.fetch_add(1, Relaxed);
        }
        // No hash of `missing` is in the index (when it was listed whole
        // and holds all that was written), and each is written once: its
        // delete would find nothing.
        self.absent = complete && self.synced;
        // The listings are not needed during the bulk (tens of MiB at a
        // million torrents).
        drop((on_disk, in_index));
        let total = missing.len();
        if total > 0 {
            tracing::info!(torrents = total, "indexing torrents from preload/");
        }
        let started = Instant::now();
        let mut last_log = Instant::now();
        self.upsert_all(&missing, |me, i| {
            if last_log.elapsed() >= Duration::from_secs(2) {
                last_log = Instant::now();
                let rate = (i + 1) as f64 / started.elapsed().as_secs_f64().max(0.001);
                let eta = (total - i - 1) as f64 / rate.max(0.001);
                tracing::info!("indexed {}/{total} ({rate:.0}/s, ETA {eta:.0}s)", i + 1);
            }
            if (i + 1) % me.commit_every == 0 {
                me.commit();
            }
        });
        self.absent = false;
        drop(missing);
        self.commit();
        if total > 0 {
            release_freed_memory();
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                "indexed {total} torrents in {secs:.1}s ({:.0}/s)",
                total as f64 / secs.max(0.001)
            );
        }
    }

    fn apply_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        for h in std::mem::take(&mut self.pending) {
            self.upsert(&h);
        }
        self.commit();
    }

    /// Adds or replaces the document of `hash`, or deletes it when the file
    /// is gone or invalid. A transient read error (too many open files, an
    /// I/O error) leaves the document as it is and retries later: a valid
    /// torrent never vanishes from the catalog because of one.
    fn upsert(&mut self, hash: &InfoHash) {
        if self.writer.is_none() || self.moderation.denies_hash(hash) {
            return self.apply(hash, None);
        }
        let prepared = prepare(&self.target, &self.preload, hash);
        self.apply(hash, Some(prepared));
    }

    /// Upserts `hashes` with the reading, parsing and document building
    /// (the costly part) spread over every core; the writes stay in order
    /// on this thread. Calls `each(self, i)` after the `i`-th.
    fn upsert_all(&mut self, hashes: &[InfoHash], mut each: impl FnMut(&mut Self, usize)) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_PARSE_THREADS);
        let mut done = 0;
        for batch in hashes.chunks(PARSE_BATCH * threads) {
            let (target, preload) = (&self.target, &self.preload);
            let moderation = &self.moderation;
            let chunk = batch.len().div_ceil(threads);
            // One entry per hash, in order; `None` where a parse thread
            // panicked (its hashes are done again one by one below).
            let prepared: Vec<Option<Option<Prepared>>> = std::thread::scope(|scope| {
                let parts: Vec<_> = batch
                    .chunks(chunk)
                    .map(|part| {
                        let handle = scope.spawn(move || {
                            part.iter()
                                .map(|h| {
                                    (!moderation.denies_hash(h))
                                        .then(|| prepare(target, preload, h))
                                })
                                .collect::<Vec<_>>()
                        });
                        (part.len(), handle)
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|(len, handle)| match handle.join() {
                        Ok(done) => done.into_iter().map(Some).collect::<Vec<_>>(),
                        Err(_) => (0..len).map(|_| None).collect(),
                    })
                    .collect()
            });
            for (h, p) in batch.iter().zip(prepared) {
                match p {
                    Some(p) => self.apply(h, p),
                    None => self.upsert(h),
                }
                each(self, done);
                done += 1;
            }
        }
    }

    /// Writes what [`prepare`] found for `hash` (`None`: denied, or no writer).
    fn apply(&mut self, hash: &InfoHash, prepared: Option<Prepared>) {
        let Some(writer) = &self.writer else { return };
        let Some(Prepared { path, read, doc }) = prepared else {
            self.delete(hash);
            self.stats.moderated.fetch_add(1, Relaxed);
            return;
        };
        if !matches!(read, Err(ReadError::Transient(_))) {
            self.delete(hash);
        }
        let rule = match &read {
            Ok((meta, _)) => self
                .moderation
                .with_current(|l| l.torrent_meta_rule(meta).map(str::to_owned)),
            Err(_) => None,
        };
        if let Some(rule) = rule {
            tracing::debug!(%hash, "not indexed: the denylist's name rule `{rule}` matches");
            self.left_out.insert(*hash);
            self.stats.moderated.fetch_add(1, Relaxed);
            return;
        }
        match (read, doc) {
            (Ok(_), Some(doc)) => {
                if let Err(e) = writer.add_document(doc) {
                    tracing::error!(%hash, "cannot index: {e}");
                } else {
                    self.stats.indexed.fetch_add(1, Relaxed);
                    self.swarm.indexed(hash);
                }
            }
            (Ok(_), None) => {}
            (Err(ReadError::Gone), _) => {
                self.stats.removed.fetch_add(1, Relaxed);
            }
            (Err(ReadError::Bad(reason)), _) => {
                self.stats.rejected.fetch_add(1, Relaxed);
                tracing::warn!(path = %path.display(), "skipping torrent: {reason}");
            }
            (Err(ReadError::Transient(e)), _) => {
                self.stats.read_retries.fetch_add(1, Relaxed);
                tracing::warn!(path = %path.display(), "cannot read torrent now, retrying: {e}");
                self.retry.push((*hash, Instant::now() + READ_RETRY));
            }
        }
    }

    /// Moves retries that came due into the pending batch.
    fn requeue_due_retries(&mut self) -> bool {
        let now = Instant::now();
        let before = self.pending.len();
        let pending = &mut self.pending;
        self.retry.retain(|(h, at)| {
            if *at <= now {
                pending.insert(*h);
                false
            } else {
                true
            }
        });
        self.pending.len() != before
    }

    /// Applies a changed denylist: removes what it now names (newly denied
    /// hashes; with new name rules, every document they match, found by a
    /// scan of the stored names and paths) and indexes again what it no
    /// longer names, in one commit.
    fn apply_denylist(&mut self) {
        let generation = self.moderation.generation();
        let list = self.moderation.current();
        let before = std::mem::replace(&mut self.moderated, (generation, list.clone())).1;
        if self.writer.is_none() {
            return;
        }
        let mut removed = 0u64;
        for h in list.hashes().filter(|h| !before.denies_hash(h)) {
            self.delete(h);
            removed += 1;
        }
        let mut again: Vec<InfoHash> = before
            .hashes()
            .filter(|h| !list.denies_hash(h))
            .copied()
            .collect();
        if before.rules() != list.rules() {
            again.extend(self.left_out.drain());
            if !list.rules().is_empty() {
                let started = Instant::now();
                let hidden = self.target.matching(|name, files| {
                    list.torrent_rule(name, files.iter().copied()).is_some()
                });
                for h in &hidden {
                    self.delete(h);
                    self.left_out.insert(*h);
                }
                removed += hidden.len() as u64;
                tracing::info!(
                    torrents = hidden.len(),
                    secs = format!("{:.1}", started.elapsed().as_secs_f64()),
                    "name rules applied to the index"
                );
            }
        }
        self.stats.moderated.fetch_add(removed, Relaxed);
        self.pending.extend(again);
        let pending = std::mem::take(&mut self.pending);
        for h in pending {
            self.upsert(&h);
        }
        self.commit();
    }

    /// Queues the delete of `hash`'s document (applied at the commit);
    /// none while a reconcile writes torrents known to be absent.
    fn delete(&self, hash: &InfoHash) {
        if self.absent {
            return;
        }
        if let Some(w) = &self.writer {
            w.delete_term(self.target.key(hash));
            self.stats.deletes.fetch_add(1, Relaxed);
        }
    }

    fn commit(&mut self) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        match writer.commit() {
            Ok(_) => {
                self.stats.commits.fetch_add(1, Relaxed);
                self.synced = true;
                if let Err(e) = self.target.reader.reload() {
                    self.synced = false;
                    tracing::error!("index reader reload failed: {e}");
                }
            }
            Err(e) => {
                self.synced = false;
                tracing::error!("index commit failed: {e}");
            }
        }
    }
}

impl Worker {
    /// Serves the index rebuilt beside the old one: the writer is closed
    /// (merges finished), the directories swapped, and a new writer opened
    /// on the index now in place.
    fn swap_in(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        if let Err(e) = writer.wait_merging_threads() {
            tracing::error!("index merge failed before the swap: {e}");
        }
        let built = self.target.dir().to_owned();
        let swapped = self.live.swap_in(&built).and_then(|generation| {
            let writer = generation.index.writer(self.writer_bytes)?;
            Ok((generation, writer))
        });
        match swapped {
            Ok((generation, writer)) => {
                tracing::info!(
                    documents = generation.doc_count(),
                    "the rebuilt index serves now"
                );
                self.target = generation;
                self.writer = Some(writer);
                self.beside = false;
            }
            // Nothing to write to: the old index keeps serving, unchanged.
            Err(e) => tracing::error!(
                "cannot swap in the rebuilt index: {e}; the old one serves, and changes are not indexed until a restart"
            ),
        }
    }
}

/// Hands the heap a bulk index freed back to the system where glibc's
/// allocator serves it (this crate's tests, a program that links the
/// catalog without the `magnetar` binary's mimalloc, which returns freed
/// pages by itself): glibc keeps it otherwise, and a cold build of a
/// million torrents left the process several hundred MiB larger than what
/// it serves with.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Torrents one parse thread takes at a time during a bulk index.
const PARSE_BATCH: usize = 256;
/// Most parse threads (beside Tantivy's own indexing threads).
const MAX_PARSE_THREADS: usize = 8;

/// A torrent read, checked and turned into its document, ready to write.
struct Prepared {
    path: PathBuf,
    read: Result<(TorrentMeta, DateTime<Utc>), ReadError>,
    doc: Option<tantivy::TantivyDocument>,
}

/// Reads and parses `hash`'s file and builds its document (no writes:
/// runs on any thread).
fn prepare(target: &Generation, preload: &PreloadDir, hash: &InfoHash) -> Prepared {
    let path = preload.torrent_path(hash);
    let read = read_torrent(&path, hash);
    let doc = read.as_ref().ok().map(|(meta, modified)| {
        let preloaded = list_preloaded(&preload.data_dir(hash));
        // Counts are not stored: lists and sorts read the swarm cache.
        target.document(meta, *modified, &preloaded)
    });
    Prepared { path, read, doc }
}

enum ReadError {
    Gone,
    /// The file is not a valid torrent (or not this hash's).
    Bad(String),
    /// The file could not be read now; it may be fine.
    Transient(std::io::Error),
}

fn read_torrent(
    path: &Path,
    expected: &InfoHash,
) -> Result<(TorrentMeta, DateTime<Utc>), ReadError> {
    let bytes = match magnetar_shared::bencode_check::read_file(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Gone),
        Err(e) if magnetar_shared::bencode_check::NotARegularFile::is(&e) => {
            return Err(ReadError::Bad(e.to_string()))
        }
        Err(e) => return Err(ReadError::Transient(e)),
    };
    let meta =
        TorrentMeta::from_torrent_bytes(&bytes).map_err(|e| ReadError::Bad(e.to_string()))?;
    if meta.info_hash != *expected {
        return Err(ReadError::Bad(format!(
            "file name says {expected} but its info-hash is {}",
            meta.info_hash
        )));
    }
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    Ok((meta, modified))
}

/// Relative paths of the files preloaded for a torrent (bounded, no symlinks followed).
pub fn list_preloaded(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
            if out.len() >= MAX_PRELOADED {
                out.sort();
                return out;
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(dir: &Path, every: Duration) -> (Watch, Receiver<Msg>) {
        let (tx, rx) = sync_channel(WATCH_QUEUE);
        let mut w = Watch {
            tx,
            stats: Arc::default(),
            watcher: None,
            watched: None,
            checked: Instant::now(),
            reconciled: Instant::now(),
            reconcile_every: every,
        };
        w.arm(dir);
        (w, rx)
    }

    /// A one-file torrent named `name` (its info-hash follows the name;
    /// `comment` changes the file, not the hash).
    fn torrent(name: &str, comment: &str) -> (InfoHash, Vec<u8>) {
        let info = format!(
            "d6:lengthi1e4:name{}:{name}12:piece lengthi16384e6:pieces20:{}e",
            name.len(),
            "x".repeat(20)
        );
        let hash = InfoHash::of_info_bytes(info.as_bytes());
        let body = format!("d7:comment{}:{comment}4:info{info}e", comment.len());
        (hash, body.into_bytes())
    }

    fn add(data: &Path, name: &str, comment: &str) -> InfoHash {
        let (hash, bytes) = torrent(name, comment);
        let preload = data.join("preload");
        std::fs::create_dir_all(&preload).unwrap();
        magnetar_shared::write_atomic(&preload.join(format!("{hash}.torrent")), &bytes).unwrap();
        hash
    }

    /// The indexer on `data` with a file event queue of `queue` events
    /// (and no periodic reconcile within a test's time), `hold` called
    /// before its first build.
    fn run(data: &Path, queue: usize, hold: Option<Hold>) -> (CatalogIndex, Indexer, Shutdown) {
        let mut config = magnetar_shared::Config::with_data_dir(data);
        config.catalog.reconcile_every_secs = 3600;
        let (index, build) = CatalogIndex::open(&data.join("index"), 1).unwrap();
        let swarm = Arc::new(SwarmCache::new(
            &[],
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        let shutdown = Shutdown::new();
        let indexer = start(
            index.clone(),
            build,
            config.data().preload(),
            swarm,
            config.moderation(),
            &config.catalog,
            shutdown.clone(),
            queue,
            hold,
        )
        .unwrap();
        (index, indexer, shutdown)
    }

    /// Polls `cond` until it holds; fails after 30 s.
    fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "not within 30 s: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn files_whose_events_found_the_queue_full_are_indexed_by_a_reconcile() {
        let dir = tempfile::tempdir().unwrap();
        let preload = dir.path().join("preload");
        std::fs::create_dir_all(&preload).unwrap();
        // The first build is held, so nothing takes events from the queue
        // (of one) meanwhile.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let hold: Hold = Box::new(move || {
            let _ = held.recv();
        });
        let (index, indexer, shutdown) = run(dir.path(), 1, Some(hold));
        let added: Vec<InfoHash> = (0..20)
            .map(|i| add(dir.path(), &format!("queued {i}"), ""))
            .collect();
        until("events dropped by the full queue", || {
            indexer.stats.watcher_dropped.load(Relaxed) > 0
        });
        // Released, the build runs, and the overflow makes the indexer
        // reconcile: every file is found.
        release.send(()).unwrap();
        until("the 20 torrents indexed", || index.doc_count() == 20);
        let mut listed = index.all_hashes();
        listed.sort();
        let mut expected = added;
        expected.sort();
        assert_eq!(listed, expected);
        shutdown.cancel();
        indexer.join();
    }

    #[test]
    fn a_reconcile_queues_no_deletes_for_torrents_not_in_the_index_and_a_change_still_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let first: Vec<InfoHash> = (0..10)
            .map(|i| add(dir.path(), &format!("first {i}"), ""))
            .collect();
        let (index, indexer, shutdown) = run(dir.path(), WATCH_QUEUE, None);
        until("the first build", || {
            indexer.stats.ready.load(Relaxed) && index.doc_count() == 10
        });
        assert_eq!(
            indexer.stats.deletes.load(Relaxed),
            0,
            "a cold build writes torrents not in the index: no deletes"
        );
        // The same torrent, changed (same hash): replaced, not doubled.
        add(dir.path(), "first 0", "changed");
        until("the change indexed", || {
            indexer.stats.indexed.load(Relaxed) == 11
        });
        assert_eq!(indexer.stats.deletes.load(Relaxed), 1);
        assert_eq!(index.doc_count(), 10);
        shutdown.cancel();
        indexer.join();
        // Torrents added while stopped are found by the reconcile at the
        // next start, again without deletes, and each is indexed once.
        let later: Vec<InfoHash> = (0..5)
            .map(|i| add(dir.path(), &format!("later {i}"), ""))
            .collect();
        let (index, indexer, shutdown) = run(dir.path(), WATCH_QUEUE, None);
        until("the restart's reconcile", || {
            indexer.stats.ready.load(Relaxed) && index.doc_count() == 15
        });
        assert_eq!(indexer.stats.indexed.load(Relaxed), 5);
        assert_eq!(indexer.stats.deletes.load(Relaxed), 0);
        let mut listed = index.all_hashes();
        listed.sort();
        let mut expected: Vec<InfoHash> = first.into_iter().chain(later).collect();
        expected.sort();
        assert_eq!(listed, expected, "every torrent once");
        shutdown.cancel();
        indexer.join();
    }

    /// Moves the watch's clocks back, as if `by` had passed.
    fn age(w: &mut Watch, by: Duration) {
        w.checked -= by;
        w.reconciled -= by;
    }

    #[test]
    fn the_index_is_reconciled_periodically_and_when_preload_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let preload = dir.path().join("preload");
        std::fs::create_dir(&preload).unwrap();
        let (mut w, rx) = watch(&preload, Duration::from_secs(600));
        assert!(w.watcher.is_some());
        assert!(!w.due(&preload), "checked just now");
        age(&mut w, WATCH_CHECK);
        assert!(
            !w.due(&preload),
            "checked, but neither replaced nor its turn"
        );
        age(&mut w, Duration::from_secs(600));
        assert!(w.due(&preload), "the periodic turn");
        age(&mut w, WATCH_CHECK);
        assert!(!w.due(&preload), "the turn was taken");
        // preload/ replaced by another directory: due at the next check,
        // and the new directory is watched.
        std::fs::rename(&preload, dir.path().join("preload.old")).unwrap();
        std::fs::create_dir(&preload).unwrap();
        age(&mut w, WATCH_CHECK);
        assert!(w.due(&preload), "replaced");
        assert_eq!(w.watched, identity(&preload));
        while rx.try_recv().is_ok() {}
        std::fs::write(preload.join("x"), b"x").unwrap();
        // The old watch's last events (the directory moved, the watch
        // dropped) may still arrive first: they are read past until the
        // file's.
        until(
            "events come from the new directory",
            || matches!(rx.try_recv(), Ok(Msg::Fs(Ok(e))) if e.paths.iter().any(|p| p.ends_with("x"))),
        );
        age(&mut w, WATCH_CHECK);
        assert!(!w.due(&preload), "re-armed once");
    }
}
