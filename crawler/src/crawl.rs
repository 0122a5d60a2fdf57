//! The crawler's loop as a struct: the state it keeps between turns, and
//! one method per step (`refresh` the queue from the sources, `fill` the
//! free resolve slots, `finish` a resolve, `report` progress).
//!
//! Linear at millions of hashes: the queue is a heap ordered by next
//! attempt, updated with what a source adds (not rebuilt), unchanged source
//! files are not read again, `preload/` is listed once at start off the
//! runtime (a hash's `.torrent` is checked with one `stat` before its
//! resolve starts), and the backoff state is written off the runtime.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use librqbit::Session;
use magnetar_shared::config::CrawlerConfig;
use magnetar_shared::{DataDir, InfoHash, PreloadDir, Shutdown};
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use crate::backoff::Backoff;
use crate::federation::Federation;
use crate::pipeline::{self, Job};
use crate::preload::PreloadBudget;
use crate::resolver::{self, ResolveError};
use crate::sources::{Known, Source, Sources};
use crate::status::Counters;
use crate::{Error, Options};

/// Everything the crawler loop keeps between two turns.
pub(crate) struct Crawler {
    /// The role's configuration.
    config: CrawlerConfig,
    /// The data directory (status and backoff files live in `crawler/`).
    data: DataDir,
    /// Where `.torrent` files and preloads are written.
    preload: PreloadDir,
    /// Where hashes come from.
    sources: Sources,
    /// The hashes of the sources at their last read, with the first
    /// source that lists each.
    known: Known,
    /// Client for URL sources (timeout: `source_timeout`).
    http: reqwest::Client,
    /// The one librqbit session; replaced after `session_recycle_after`
    /// resolves, once the resolves running on it have finished.
    session: Arc<Session>,
    /// Resolves started on the current session.
    resolves_on_session: u64,
    /// What every resolve needs besides its hash.
    job: Arc<Job>,
    /// Failure counts and next-try times, persisted.
    backoff: Backoff,
    /// Hashes whose `.torrent` exists.
    done: HashSet<InfoHash>,
    /// Hashes to start, by next attempt (new ones at 0). Entries that went
    /// stale (resolved, left every source) are skipped when popped.
    queue: BinaryHeap<Reverse<(i64, InfoHash)>>,
    /// Resolves running, by task id, so a task that panics still frees its hash.
    in_flight: HashMap<Id, InfoHash>,
    /// The same hashes, for lookups by hash, with a handle to stop them.
    in_flight_hashes: HashMap<InfoHash, AbortHandle>,
    /// `data/denylist`, and the generation of it last applied to the queue.
    moderation: Arc<magnetar_shared::Moderation>,
    moderated: (u64, Arc<magnetar_shared::denylist::Denylist>),
    /// Hashes whose metadata a name rule matched (tried again when the
    /// rules change).
    left_out: HashSet<InfoHash>,
    /// The resolve tasks; aborted on shutdown.
    tasks: JoinSet<Outcome>,
    /// Progress counters shared with metrics and `status.json`.
    counters: Arc<Counters>,
    /// Caller's options (extra peer source, run once).
    options: Options,
    /// Set when a source changed: re-read the sources.
    refresh_due: bool,
    /// When the sources were last read (they are polled every `poll_interval`).
    last_refresh: Instant,
    /// When progress was last reported, and the resolved count then.
    last_report: (Instant, u64),
}

impl Crawler {
    /// Creates the directories, the librqbit session and the saved state.
    pub(crate) async fn new(
        config: CrawlerConfig,
        data: DataDir,
        moderation: Arc<magnetar_shared::Moderation>,
        federation: Option<Arc<Federation>>,
        options: Options,
    ) -> Result<Self, Error> {
        let preload = data.preload();
        for dir in [preload.root().to_owned(), data.crawler_dir()] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Dir {
                path: dir.clone(),
                source,
            })?;
        }
        let counters = options.counters.clone().unwrap_or_default();
        let mut list: Vec<Source> = config
            .sources
            .iter()
            .map(|s| Source::parse(s, &data))
            .collect();
        list.extend(federation.iter().flat_map(|f| f.sources()));
        let sources = Sources::new(list);
        // The one walk of preload/: off the runtime.
        let walk = preload.clone();
        let (done, preloaded) = tokio::task::spawn_blocking(move || {
            crate::preload::remove_stale_temp_dirs(&walk);
            let done: HashSet<InfoHash> = walk
                .list_torrents()
                .unwrap_or_default()
                .into_iter()
                .collect();
            (done, crate::preload::used_bytes(&walk))
        })
        .await
        .map_err(|e| Error::Dir {
            path: preload.root().to_owned(),
            source: std::io::Error::other(e),
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.source_timeout.max(1)))
            .build()?;
        let peer_id = crate::depart::new_peer_id();
        let session = resolver::new_session(&config, &data, peer_id)
            .await
            .map_err(Error::Session)?;
        let backoff = Backoff::load(
            &data.crawler_dir().join("backoff.bin"),
            config.backoff_initial,
            config.backoff_max,
            config.max_attempts,
        );
        let job = Arc::new(Job {
            preload: preload.clone(),
            announce: if config.announce.is_empty() {
                config.trackers.clone()
            } else {
                config.announce.clone()
            },
            timeout: Duration::from_secs(config.timeout.max(1)),
            preload_config: config.preload.clone(),
            preload_budget: PreloadBudget::new(config.preload.max_total_bytes, preloaded),
            counters: counters.clone(),
            moderation: moderation.clone(),
            federation,
            departures: crate::depart::Departures::new(
                &config.trackers,
                peer_id,
                config.listen_port,
            )?,
        });
        let resolved = counters.resolved.load(Relaxed);
        Ok(Self {
            config,
            data,
            preload,
            sources,
            known: Known::new(),
            http,
            session,
            resolves_on_session: 0,
            job,
            backoff,
            done,
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            in_flight_hashes: HashMap::new(),
            moderated: (moderation.generation(), moderation.current()),
            left_out: HashSet::new(),
            moderation,
            tasks: JoinSet::new(),
            counters,
            options,
            refresh_due: true,
            last_refresh: Instant::now(),
            last_report: (Instant::now(), resolved),
        })
    }

    /// The sources, for the caller's file watcher.
    pub(crate) fn sources(&self) -> &[Source] {
        self.sources.list()
    }

    /// Runs turns until `shutdown` is cancelled (or, with `once`, until no
    /// queued hash is due), then stops every resolve and saves the state.
    pub(crate) async fn run(
        mut self,
        shutdown: &Shutdown,
        mut changed: tokio::sync::mpsc::UnboundedReceiver<()>,
    ) -> Result<(), Error> {
        tracing::info!(
            sources = self.sources.list().len(),
            concurrency = self.config.concurrency.max(1),
            "crawler started"
        );
        loop {
            self.apply_denylist();
            if self.refresh_due
                || self.last_refresh.elapsed()
                    >= Duration::from_secs(self.config.poll_interval.max(1))
            {
                self.refresh().await;
            }
            if !shutdown.is_cancelled() {
                self.fill().await?;
            }
            self.update_gauges();
            if shutdown.is_cancelled()
                || (self.options.once && self.tasks.is_empty() && !self.has_due(unix_now()))
            {
                break;
            }
            tokio::select! {
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.finish(joined);
                }
                Some(()) = changed.recv() => {
                    while changed.try_recv().is_ok() {}
                    self.refresh_due = true;
                }
                // Wake up for retries that came due and the poll timer.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => {}
            }
            if self.last_report.0.elapsed()
                >= Duration::from_secs(self.config.status_interval.max(1))
            {
                self.report().await;
            }
        }
        self.stop().await;
        Ok(())
    }

    /// Re-reads the sources (unless unchanged) and queues what they added;
    /// forgets the backoff of hashes that left every source.
    async fn refresh(&mut self) {
        self.refresh_due = false;
        self.last_refresh = Instant::now();
        let Some((known, failed)) = self
            .sources
            .read_if_changed(&self.http, self.config.max_source_bytes)
            .await
        else {
            return;
        };
        self.counters.source_reads.fetch_add(1, Relaxed);
        self.counters.source_errors.fetch_add(failed, Relaxed);
        let denied = self.moderation.current();
        for h in known.keys().filter(|h| !self.known.contains_key(h)) {
            if self.done.contains(h) || self.in_flight_hashes.contains_key(h) {
                continue;
            }
            if denied.denies_hash(h) {
                self.counters.denied.fetch_add(1, Relaxed);
                continue;
            }
            match self.backoff.get(h) {
                None => self.queue.push(Reverse((0, *h))),
                Some(a) if !self.backoff.given_up(&a) => self.queue.push(Reverse((a.next_try, *h))),
                Some(_) => {}
            }
        }
        if failed == 0 {
            let pruned = self.backoff.retain(|h| known.contains_key(h));
            if pruned > 0 {
                tracing::debug!(pruned, "forgot the backoff of hashes no source lists");
            }
        }
        self.counters.known.store(known.len() as u64, Relaxed);
        self.known = known;
    }

    /// Whether a queued hash is due at `now`.
    fn has_due(&self, now: i64) -> bool {
        self.queue.peek().is_some_and(|Reverse((t, _))| *t <= now)
    }

    /// The next hash due to start, skipping stale queue entries.
    fn next_due(&mut self, now: i64) -> Option<InfoHash> {
        while self.has_due(now) {
            let Reverse((_, h)) = self.queue.pop()?;
            if !self.known.contains_key(&h)
                || self.done.contains(&h)
                || self.in_flight_hashes.contains_key(&h)
            {
                continue;
            }
            if self.moderation.denies_hash(&h) {
                self.counters.denied.fetch_add(1, Relaxed);
                continue;
            }
            // Written by someone else meanwhile (another crawler, federation).
            if self.preload.torrent_path(&h).exists() {
                self.done.insert(h);
                continue;
            }
            return Some(h);
        }
        None
    }

    /// Whether the session has served its share of resolves.
    fn recycle_due(&self) -> bool {
        self.config.session_recycle_after > 0
            && self.resolves_on_session >= self.config.session_recycle_after
    }

    /// Starts resolves until `concurrency` run or the queue is empty. When
    /// the session is due for recycling no new resolve starts: the running
    /// ones drain, then the session is replaced.
    async fn fill(&mut self) -> Result<(), Error> {
        let concurrency = self.config.concurrency.max(1);
        while self.tasks.len() < concurrency && self.has_due(unix_now()) {
            if self.recycle_due() {
                if !self.tasks.is_empty() {
                    return Ok(());
                }
                tracing::info!(
                    resolves = self.resolves_on_session,
                    "recycling the librqbit session"
                );
                self.session.stop().await;
                // The same peer id: departures name the one announced.
                let peer_id = self.job.departures.peer_id();
                self.session = resolver::new_session(&self.config, &self.data, peer_id)
                    .await
                    .map_err(Error::Session)?;
                self.resolves_on_session = 0;
                self.counters.session_recycles.fetch_add(1, Relaxed);
            }
            let Some(hash) = self.next_due(unix_now()) else {
                break;
            };
            self.resolves_on_session += 1;
            let mut peers = self.config.initial_peers.clone();
            if let Some(source) = &self.options.peer_source {
                peers.extend(source(&hash));
            }
            let origin = self
                .known
                .get(&hash)
                .and_then(|&i| self.sources.list().get(usize::from(i)))
                .map_or(magnetar_shared::Origin::Tracker, Source::origin);
            let (job, session) = (self.job.clone(), self.session.clone());
            let handle = self
                .tasks
                .spawn(async move { pipeline::resolve(&job, session, hash, peers, origin).await });
            self.in_flight.insert(handle.id(), hash);
            self.in_flight_hashes.insert(hash, handle);
        }
        Ok(())
    }

    /// Records the end of one resolve: success, failure (into backoff), or a
    /// panic, which counts as a rejected resolve of its hash.
    fn finish(&mut self, joined: Result<(Id, Outcome), JoinError>) {
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => {
                let id = e.id();
                if e.is_cancelled() {
                    self.forget(id);
                    return;
                }
                (id, Err(ResolveError::Panicked))
            }
        };
        let Some(hash) = self.forget(id) else { return };
        match result {
            Ok(()) => {
                self.done.insert(hash);
                self.backoff.succeeded(&hash);
                self.counters.resolved.fetch_add(1, Relaxed);
                tracing::info!(%hash, "resolved");
            }
            Err(ResolveError::Denied(rule)) => {
                // Never stored, never tried again in this run.
                self.done.insert(hash);
                self.left_out.insert(hash);
                self.backoff.succeeded(&hash);
                self.counters.denied.fetch_add(1, Relaxed);
                tracing::info!(%hash, "left out: the denylist's name rule `{rule}` matches");
            }
            Err(e) => {
                self.counters.failed.fetch_add(1, Relaxed);
                match &e {
                    ResolveError::Timeout => {
                        self.counters.timeouts.fetch_add(1, Relaxed);
                    }
                    ResolveError::Rejected(_) | ResolveError::Panicked => {
                        self.counters.rejected.fetch_add(1, Relaxed);
                    }
                    _ => {}
                }
                let attempt = self.backoff.failed(hash, unix_now());
                if !self.backoff.given_up(&attempt) {
                    self.queue.push(Reverse((attempt.next_try, hash)));
                }
                tracing::info!(%hash, failures = attempt.failures, "resolve failed: {e}");
            }
        }
    }

    /// When the denylist changed: drops the denied hashes from the queue
    /// and stops their resolves (nothing of them is stored).
    fn apply_denylist(&mut self) {
        let generation = self.moderation.generation();
        if generation == self.moderated.0 {
            return;
        }
        let list = self.moderation.current();
        let before = std::mem::replace(&mut self.moderated, (generation, list.clone())).1;
        // Unblocked hashes, and hashes left out by rules that changed, are
        // queued again.
        let mut again: Vec<InfoHash> = before
            .hashes()
            .filter(|h| !list.denies_hash(h) && self.known.contains_key(h))
            .copied()
            .collect();
        if before.rules() != list.rules() {
            for h in self.left_out.drain() {
                self.done.remove(&h);
                again.push(h);
            }
        }
        for h in again {
            if !self.done.contains(&h) && !self.in_flight_hashes.contains_key(&h) {
                self.queue.push(Reverse((0, h)));
            }
        }
        if list.hash_count() == 0 {
            return;
        }
        let before = self.queue.len();
        self.queue.retain(|Reverse((_, h))| !list.denies_hash(h));
        let mut dropped = before - self.queue.len();
        for (h, handle) in &self.in_flight_hashes {
            if list.denies_hash(h) {
                handle.abort();
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.counters.denied.fetch_add(dropped as u64, Relaxed);
            tracing::info!(hashes = dropped, "dropped the hashes the denylist names");
        }
    }

    fn forget(&mut self, id: Id) -> Option<InfoHash> {
        let hash = self.in_flight.remove(&id)?;
        self.in_flight_hashes.remove(&hash);
        Some(hash)
    }

    fn update_gauges(&self) {
        self.counters.queue.store(self.queue.len() as u64, Relaxed);
        self.counters
            .in_flight
            .store(self.tasks.len() as u64, Relaxed);
        self.counters
            .backoff
            .store(self.backoff.len() as u64, Relaxed);
    }

    /// Logs progress, writes `status.json` and saves the backoff state,
    /// the writes off the async runtime.
    async fn report(&mut self) {
        let resolved = self.counters.resolved.load(Relaxed);
        let (since, before) = self.last_report;
        let rate = resolved.saturating_sub(before) as f64 * 60.0
            / since.elapsed().as_secs_f64().max(0.001);
        self.last_report = (Instant::now(), resolved);
        let status = self.counters.status(rate);
        let changes = self.backoff.take_changes();
        let dir = self.data.crawler_dir();
        let written = tokio::task::spawn_blocking(move || {
            write_status(&status, &dir);
            if let Some((path, bytes)) = changes {
                if let Err(e) = crate::backoff::write_state(&path, &bytes) {
                    tracing::warn!("cannot save backoff state: {e}");
                }
            }
        })
        .await;
        if let Err(e) = written {
            tracing::warn!("status writer failed: {e}");
        }
    }

    /// Aborts the running resolves, saves the state and stops the session.
    async fn stop(mut self) {
        self.tasks.shutdown().await;
        self.in_flight.clear();
        self.in_flight_hashes.clear();
        self.counters.in_flight.store(0, Relaxed);
        self.report().await;
        self.session.stop().await;
        tracing::info!(
            resolved = self.counters.resolved.load(Relaxed),
            failed = self.counters.failed.load(Relaxed),
            "crawler stopped"
        );
    }
}

/// How one resolve ended (its hash is known by the task's id).
type Outcome = Result<(), ResolveError>;

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn write_status(status: &crate::status::Status, dir: &std::path::Path) {
    let rate = status.rate_per_minute;
    tracing::info!(
        known = status.known,
        queue = status.queue,
        in_flight = status.in_flight,
        resolved = status.resolved,
        failed = status.failed,
        rate_per_minute = format!("{rate:.1}"),
        "crawler progress"
    );
    match serde_json::to_vec_pretty(&status) {
        Ok(bytes) => {
            if let Err(e) = magnetar_shared::write_atomic(&dir.join("status.json"), &bytes) {
                tracing::warn!("cannot write status.json: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot encode status: {e}"),
    }
}
