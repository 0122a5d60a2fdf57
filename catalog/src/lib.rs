//! magnetar's catalog role: a Rocket web app over a Tantivy index of `preload/`.
//!
//! [`build`] makes the Rocket instance (used by `run` and by the tests);
//! [`run`] binds it and serves until shutdown.

mod api;
mod category;
#[doc(hidden)]
pub mod costs;
mod download;
mod export;
mod feeds;
#[doc(hidden)]
pub mod fuzzing;
mod i18n;
mod index;
mod indexer;
mod links;
mod metrics;
mod pages;
mod parsed;
pub mod query;
mod ratelimit;
pub mod release;
mod server;
mod swarm;
mod tracker_metrics;
mod view;
mod web;

pub use tracker_metrics::MetricsText;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use magnetar_shared::task::{self, Criticality};
use magnetar_shared::{Config, Shutdown};
use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};

use crate::index::CatalogIndex;
use crate::query::Catalog;
use crate::swarm::SwarmCache;

#[doc(hidden)]
pub use crate::indexer::Hold;
use crate::web::{App, SecurityHeaders, Templates};

pub use crate::index::IndexError;

/// Errors that stop the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error("templates: {0}")]
    Templates(#[from] tera::Error),
    #[error("interface languages: {0}")]
    Languages(#[from] i18n::I18nError),
    #[error("web server: {0}")]
    Rocket(#[from] Box<rocket::Error>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// How many of the indexed torrents the name rules of `list` match, and
/// how many are indexed (for `magnetar block --name`); `None` when there is
/// no readable index. Reads the index beside a running catalog.
pub fn count_name_matches(
    config: &Config,
    list: &magnetar_shared::denylist::Denylist,
) -> Option<(usize, u64)> {
    let generation = index::Generation::open_older(&config.data().index_dir(), 1)?;
    let hits =
        generation.matching(|name, files| list.torrent_rule(name, files.iter().copied()).is_some());
    Some((hits.len(), generation.doc_count()))
}

/// Opens (or rebuilds) the index, starts the indexer and returns the web app.
/// The indexer stops when `shutdown` is cancelled or Rocket shuts down.
pub fn build(config: &Config, shutdown: Shutdown) -> Result<Rocket<Build>, Error> {
    build_with(config, shutdown, None, None)
}

/// [`build`], with `hold` called on the indexer's thread before its first
/// build (for tests: the build waits until they let it go).
#[doc(hidden)]
pub fn build_held(
    config: &Config,
    shutdown: Shutdown,
    hold: Option<Hold>,
) -> Result<Rocket<Build>, Error> {
    build_with(config, shutdown, hold, None)
}

fn build_with(
    config: &Config,
    shutdown: Shutdown,
    hold: Option<Hold>,
    local_tracker: Option<MetricsText>,
) -> Result<Rocket<Build>, Error> {
    let data = config.data();
    let (index, build) = CatalogIndex::open(&data.index_dir(), config.catalog.search_threads)?;
    index
        .results()
        .set_capacity(config.catalog.search_cache_entries);
    if matches!(build, index::Build::InPlace) {
        tracing::info!("new index at {}", data.index_dir().display());
    }
    let swarm = Arc::new(SwarmCache::new(
        &config.catalog.scrape_trackers,
        Duration::from_secs(config.catalog.swarm_ttl.max(1)),
        Duration::from_millis(config.catalog.scrape_timeout_ms.max(1)),
    ));
    // Background work of the catalog stops with it: on `shutdown`, or when
    // Rocket shuts down by itself.
    let role = shutdown.child_token();
    let moderation = config.moderation();
    let indexer = indexer::start(
        index.clone(),
        build,
        data.preload(),
        swarm.clone(),
        moderation.clone(),
        &config.catalog,
        role.clone(),
        indexer::WATCH_QUEUE,
        hold,
    )?;
    let i18n = Arc::new(i18n::I18n::load()?);
    let templates = Templates::load(config.catalog.templates_dir.as_deref(), i18n.clone())?;
    // Sorting by seeders or leechers reads the counts where they are kept.
    index.set_counts(swarm.clone());
    let refresher = (
        index.clone(),
        swarm.clone(),
        Duration::from_secs(config.catalog.swarm_ttl.max(5)),
    );
    let app = App {
        catalog: Catalog::new(config, index, indexer, swarm, moderation, local_tracker),
        templates,
        i18n,
    };
    let figment = rocket::Config::figment()
        .merge(("address", config.catalog.bind.ip()))
        .merge(("port", config.catalog.bind.port()))
        .merge(("ident", "magnetar"))
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(("shutdown.ctrlc", false));
    let tasks = Arc::new(parking_lot::Mutex::new(task::TaskSet::new()));
    let (start_role, start_tasks) = (role.clone(), tasks.clone());
    Ok(rocket::custom(figment)
        .manage(app)
        .attach(SecurityHeaders)
        .attach(AdHoc::on_liftoff("swarm refresher", move |_| {
            let (index, swarm, every) = refresher;
            start_tasks.lock().push(task::spawn(
                "catalog-swarm-refresher",
                &start_role,
                Criticality::BestEffort,
                swarm::refresh_forever(index, swarm, every),
            ));
            Box::pin(async {})
        }))
        .attach(AdHoc::on_shutdown("stop background work", move |rocket| {
            role.cancel();
            let indexer = rocket.state::<App>().map(|a| a.catalog.indexer().clone());
            let tasks = std::mem::take(&mut *tasks.lock());
            Box::pin(async move {
                tasks.join_all().await;
                if let Some(indexer) = indexer {
                    let _ = rocket::tokio::task::spawn_blocking(move || indexer.join()).await;
                }
            })
        }))
        .mount("/", pages::routes())
        .mount("/", api::routes())
        .mount("/", feeds::routes())
        .mount("/", export::routes())
        .register("/", rocket::catchers![web::default_catcher]))
}

/// Chooses the address to listen on: `[::]` falls back to `0.0.0.0` where
/// IPv6 is unavailable.
fn listen_addr(configured: SocketAddr) -> SocketAddr {
    if configured.ip().is_unspecified() && configured.is_ipv6() {
        if let Err(e) = std::net::TcpListener::bind(configured) {
            if e.kind() != std::io::ErrorKind::AddrInUse {
                tracing::warn!("IPv6 unavailable ({e}), listening on 0.0.0.0 instead");
                return SocketAddr::from(([0, 0, 0, 0], configured.port()));
            }
        }
    }
    configured
}

/// What a caller may give the catalog beside its config.
#[derive(Default)]
pub struct Options {
    /// Receives the actual address once listening (useful with port 0).
    pub bound: Option<rocket::tokio::sync::oneshot::Sender<SocketAddr>>,
    /// The Prometheus text of a tracker in this process (`magnetar up`):
    /// `/stats` shows its counters when `tracker_metrics_url` is unset.
    pub tracker_metrics: Option<MetricsText>,
}

/// Serves the catalog until `shutdown` is cancelled. Connections are
/// accepted by [`server`] (header timeout, connection budget), requests
/// handled by the Rocket app.
pub async fn run_with(
    mut config: Config,
    shutdown: Shutdown,
    options: Options,
) -> Result<(), Error> {
    config.catalog.bind = listen_addr(config.catalog.bind);
    let fd_limit = server::raise_fd_limit();
    let limits = server::Limits {
        header_timeout: Duration::from_secs(config.catalog.header_timeout_secs.max(1)),
        max_connections: server::budget(config.catalog.max_connections, fd_limit),
    };
    if limits.max_connections < config.catalog.max_connections {
        tracing::warn!(
            "at most {} connections (the descriptor limit is {fd_limit}; max_connections is {})",
            limits.max_connections,
            config.catalog.max_connections
        );
    }
    let listener = rocket::tokio::net::TcpListener::bind(config.catalog.bind)
        .await
        .map_err(|source| Error::Bind {
            addr: config.catalog.bind,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.catalog.bind);
    let rocket = build_with(&config, shutdown.clone(), None, options.tracker_metrics)?;
    // Ignites the app and runs its liftoff fairings (the swarm refresher).
    let client = rocket::local::asynchronous::Client::untracked(rocket)
        .await
        .map_err(Box::new)?;
    let (stats, limiter) = client
        .rocket()
        .state::<App>()
        .map(|app| {
            (
                app.catalog.conn_stats().clone(),
                app.catalog.limiter().clone(),
            )
        })
        .unwrap_or_else(|| {
            (
                Arc::default(),
                Arc::new(ratelimit::ClientLimiter::new(0.0, 1, &[])),
            )
        });
    tracing::info!("catalog listening on http://{addr}/");
    if let Some(tx) = options.bound {
        let _ = tx.send(addr);
    }
    let client = Arc::new(client);
    server::serve(
        listener,
        client.clone(),
        limits,
        stats,
        limiter,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    // Requests still streaming hold the client for a moment: then the
    // app's shutdown fairings stop the background work.
    let mut client = client;
    for _ in 0..100 {
        match Arc::try_unwrap(client) {
            Ok(c) => {
                c.terminate().await;
                return Ok(());
            }
            Err(shared) => client = shared,
        }
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::warn!("requests still running at shutdown; the index's last batch may be lost");
    Ok(())
}

/// Serves the catalog until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    run_with(config, shutdown, Options::default()).await
}
