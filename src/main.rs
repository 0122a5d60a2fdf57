//! The `magnetar` command line: parses flags and calls a role's `run`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use magnetar_shared::config::Config;
use magnetar_shared::shutdown::cancel_on_signal;
use magnetar_shared::task;
use magnetar_shared::Shutdown;

/// Self-hosted BitTorrent tracker, metadata crawler and search catalog.
///
/// Three roles share one data directory: the tracker records every
/// info-hash announced to it in infohash.bin, the crawler fetches each
/// hash's metadata from peers into preload/<hex>.torrent, and the catalog
/// indexes those files and serves a searchable web site. Run them alone or
/// all together with `magnetar up`.
#[derive(Debug, Parser)]
#[command(name = "magnetar", version, propagate_version = true)]
struct Cli {
    /// TOML configuration file (optional; every setting has a default).
    #[arg(
        long,
        short,
        global = true,
        env = "MAGNETAR_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    /// Data directory shared by the roles [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the BEP 15 UDP tracker; it dumps every announced info-hash to infohash.bin.
    Tracker(TrackerArgs),
    /// Resolve the info-hashes in infohash.bin into preload/<hex>.torrent files (BEP 9, DHT).
    Crawler(CrawlerArgs),
    /// Serve the web catalog: index preload/ in Tantivy, search, RSS, JSON, Torznab.
    Catalog(CatalogArgs),
    /// Run tracker, crawler and catalog together in one process.
    Up(UpArgs),
    /// Print the effective configuration as TOML (loadable with --config).
    PrintConfig,
}

#[derive(Debug, Args)]
struct TrackerArgs {
    /// UDP address to listen on; repeat for several (replaces the configured list).
    #[arg(long, value_name = "ADDR")]
    bind: Vec<SocketAddr>,
}

#[derive(Debug, Args)]
struct CrawlerArgs {
    /// Resolve the current queue once and exit (for cron and scripts).
    #[arg(long)]
    once: bool,
}

#[derive(Debug, Args)]
struct CatalogArgs {
    /// HTTP address to listen on, e.g. [::]:8000.
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// Public URL of the catalog, used in feeds and links.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Seed a few generated sample torrents so the catalog is not empty.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    catalog: CatalogArgs,
}

impl Cli {
    /// Flags as a figment layer over file and environment.
    fn overrides(&self) -> Figment {
        let mut f = Figment::new();
        if let Some(dir) = &self.data_dir {
            f = f.merge(Serialized::default("data_dir", dir));
        }
        let catalog = match &self.command {
            Command::Catalog(c) => Some(c),
            Command::Up(u) => Some(&u.catalog),
            _ => None,
        };
        if let Some(c) = catalog {
            if let Some(bind) = c.bind {
                f = f.merge(Serialized::default("catalog.bind", bind));
                if c.base_url.is_none() {
                    f = f.merge(Serialized::default("catalog.base_url", base_url_for(bind)));
                }
            }
            if let Some(url) = &c.base_url {
                f = f.merge(Serialized::default("catalog.base_url", url));
            }
        }
        if let Command::Tracker(t) = &self.command {
            if !t.bind.is_empty() {
                f = f.merge(Serialized::default("tracker.bind", &t.bind));
            }
        }
        f
    }
}

/// The URL a browser on this host uses for a bind address.
fn base_url_for(bind: SocketAddr) -> String {
    format!("http://{}/", magnetar::reachable(bind))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(Config::figment(cli.config.as_deref(), cli.overrides()))?;

    if let Command::PrintConfig = cli.command {
        print!("{}", config.to_toml());
        return Ok(());
    }

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,rocket=error,tantivy=warn")
            }),
        )
        .init();

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        let on_signal = shutdown.clone();
        let signals = task::spawn(
            "signals",
            &shutdown,
            task::Criticality::BestEffort,
            async move {
                cancel_on_signal(on_signal).await;
                Ok::<(), std::convert::Infallible>(())
            },
        );
        let result = match cli.command {
            Command::Tracker(_) => magnetar_tracker::run(config, shutdown.clone())
                .await
                .context("tracker failed"),
            Command::Crawler(args) => {
                let options = magnetar_crawler::Options {
                    once: args.once,
                    ..Default::default()
                };
                magnetar_crawler::run_with(config, shutdown.clone(), options)
                    .await
                    .context("crawler failed")
            }
            Command::Catalog(_) => magnetar_catalog::run(config, shutdown.clone())
                .await
                .context("catalog failed"),
            Command::Up(args) => {
                let options = magnetar::UpOptions {
                    demo: args.demo,
                    ..Default::default()
                };
                magnetar::up(config, shutdown.clone(), options).await
            }
            Command::PrintConfig => Ok(()),
        };
        shutdown.cancel();
        signals.join().await;
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(args: &[&str]) -> Config {
        let cli = Cli::parse_from(args);
        Config::load(Config::figment(cli.config.as_deref(), cli.overrides())).unwrap()
    }

    #[test]
    fn flags_override_nested_settings() {
        let c = config_of(&[
            "magnetar",
            "--data-dir",
            "/srv/m",
            "up",
            "--bind",
            "[::1]:9000",
            "--base-url",
            "http://[200::1]:9000/",
        ]);
        assert_eq!(c.data_dir, PathBuf::from("/srv/m"));
        assert_eq!(c.catalog.bind, "[::1]:9000".parse().unwrap());
        assert_eq!(c.catalog.base_url, "http://[200::1]:9000/");
        let c = config_of(&["magnetar", "catalog", "--bind", "[::]:9001"]);
        assert_eq!(
            c.catalog.base_url, "http://[::1]:9001/",
            "derived from --bind"
        );
        let t = config_of(&[
            "magnetar",
            "tracker",
            "--bind",
            "127.0.0.1:1",
            "--bind",
            "[::1]:2",
        ]);
        assert_eq!(t.tracker.bind.len(), 2);
    }

    #[test]
    fn help_lists_every_subcommand() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for sub in ["tracker", "crawler", "catalog", "up", "print-config"] {
            assert!(help.contains(sub), "{sub} missing from --help");
        }
    }
}
