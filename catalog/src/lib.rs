//! magnetar's catalog role: a Rocket web app over a Tantivy index of `preload/`.
//!
//! [`build`] makes the Rocket instance (used by `run` and by the tests);
//! [`run`] binds it and serves until shutdown.

pub mod api;
pub mod category;
pub mod download;
pub mod feeds;
pub mod index;
pub mod indexer;
pub mod magnet;
pub mod metrics;
pub mod pages;
pub mod swarm;
pub mod view;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use magnetar_shared::{Config, Shutdown};
use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};

use crate::index::CatalogIndex;
use crate::swarm::SwarmCache;
use crate::web::{App, SecurityHeaders, Templates};

/// Errors that stop the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error("templates: {0}")]
    Templates(#[from] tera::Error),
    #[error("web server: {0}")]
    Rocket(#[from] Box<rocket::Error>),
}

/// Opens (or rebuilds) the index, starts the indexer and returns the web app.
/// The indexer stops when `shutdown` is cancelled or Rocket shuts down.
pub fn build(config: &Config, shutdown: Shutdown) -> Result<Rocket<Build>, Error> {
    let data = config.data();
    let (index, created) = CatalogIndex::open_or_create(&data.index_dir())?;
    if created {
        tracing::info!("new index at {}", data.index_dir().display());
    }
    let swarm = Arc::new(SwarmCache::new(
        &config.catalog.scrape_trackers,
        Duration::from_secs(config.catalog.swarm_ttl.max(1)),
    ));
    let indexer = indexer::start(
        index.clone(),
        data.preload(),
        swarm.clone(),
        shutdown.clone(),
    )?;
    let templates = Templates::load(config.catalog.templates_dir.as_deref())?;
    let app = App {
        config: config.clone(),
        index,
        indexer,
        swarm,
        templates,
        metrics: Default::default(),
        shutdown: shutdown.clone(),
    };
    let figment = rocket::Config::figment()
        .merge(("address", config.catalog.bind.ip()))
        .merge(("port", config.catalog.bind.port()))
        .merge(("ident", "magnetar"))
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(("shutdown.ctrlc", false));
    let stop = shutdown.clone();
    Ok(rocket::custom(figment)
        .manage(app)
        .attach(SecurityHeaders)
        .attach(AdHoc::on_liftoff("swarm refresher", |rocket| {
            Box::pin(async move {
                if let Some(app) = rocket.state::<App>() {
                    spawn_swarm_refresher(app);
                }
            })
        }))
        .attach(AdHoc::on_shutdown("stop indexer", move |rocket| {
            stop.cancel();
            let indexer = rocket.state::<App>().map(|a| a.indexer.clone());
            Box::pin(async move {
                if let Some(indexer) = indexer {
                    let _ = rocket::tokio::task::spawn_blocking(move || indexer.join()).await;
                }
            })
        }))
        .mount("/", pages::routes())
        .mount("/", api::routes())
        .mount("/", feeds::routes())
        .register("/", rocket::catchers![web::default_catcher]))
}

/// Periodically scrapes every indexed torrent and reindexes changed counts.
fn spawn_swarm_refresher(app: &App) {
    let (index, swarm, indexer, shutdown) = (
        app.index.clone(),
        app.swarm.clone(),
        app.indexer.clone(),
        app.shutdown.clone(),
    );
    let every = Duration::from_secs(app.config.catalog.swarm_ttl.max(5));
    rocket::tokio::spawn(async move {
        loop {
            let (index, swarm) = (index.clone(), swarm.clone());
            let changed = rocket::tokio::task::spawn_blocking(move || {
                swarm.refresh_blocking(&index.all_hashes())
            })
            .await
            .unwrap_or_default();
            if !changed.is_empty() {
                tracing::debug!(torrents = changed.len(), "swarm counts changed");
                indexer.reindex(changed);
            }
            rocket::tokio::select! {
                _ = rocket::tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
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

/// Serves the catalog until `shutdown` is cancelled. `bound` receives the
/// actual address once listening (useful with port 0).
pub async fn run_with(
    mut config: Config,
    shutdown: Shutdown,
    bound: Option<rocket::tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), Error> {
    config.catalog.bind = listen_addr(config.catalog.bind);
    let rocket = build(&config, shutdown.clone())?;
    let bound = std::sync::Mutex::new(bound);
    let rocket = rocket
        .attach(AdHoc::on_liftoff("announce address", move |rocket| {
            let addr = SocketAddr::new(rocket.config().address, rocket.config().port);
            if let Some(tx) = bound.lock().ok().and_then(|mut b| b.take()) {
                let _ = tx.send(addr);
            }
            Box::pin(async move {
                tracing::info!("catalog listening on http://{addr}/");
            })
        }))
        .ignite()
        .await
        .map_err(Box::new)?;
    let handle = rocket.shutdown();
    let stop = shutdown.clone();
    rocket::tokio::spawn(async move {
        stop.cancelled().await;
        handle.notify();
    });
    rocket.launch().await.map_err(Box::new)?;
    shutdown.cancel();
    Ok(())
}

/// Serves the catalog until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    run_with(config, shutdown, None).await
}
