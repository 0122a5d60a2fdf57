//! The `magnetar` command line: parses flags and calls a role's `run`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use magnetar_shared::config::Config;
use magnetar_shared::denylist::{self, Entry};
use magnetar_shared::shutdown::cancel_on_signal;
use magnetar_shared::task;
use magnetar_shared::Shutdown;

/// mimalloc rather than the C library's allocator: a results page makes
/// thousands of small allocations (its documents, the values its template
/// reads, the HTML), which mimalloc serves from per-thread free lists
/// without the locks and consolidation glibc's spends time in (see
/// bench/RESULTS.md, catalog at 1M, ninth session). Built without its use
/// of transparent huge pages (`no_thp`), with which it kept more memory
/// resident than glibc's allocator under the same load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the tracker (UDP, BEP 15, and HTTP on the same ports); it dumps every announced info-hash to infohash.bin.
    ///
    /// By default it listens on 0.0.0.0:6969 and [::]:6969, UDP and TCP
    /// (`tracker.bind`, `tracker.http`).
    Tracker(TrackerArgs),
    /// Resolve the info-hashes in infohash.bin into preload/<hex>.torrent files (BEP 9, DHT).
    Crawler(CrawlerArgs),
    /// Serve the web catalog: index preload/ in Tantivy, search, RSS, JSON, Torznab.
    Catalog(CatalogArgs),
    /// Run tracker, crawler and catalog together in one process.
    ///
    /// By default the tracker listens on port 6969 (UDP and HTTP, IPv4 and
    /// IPv6) and the catalog on http://[::]:8000/; the crawler resolves
    /// what the tracker sees, asking its peers first. Everything is kept
    /// in --data-dir. `magnetar print-config` shows every setting.
    Up(UpArgs),
    /// Print the effective configuration as TOML (loadable with --config).
    PrintConfig,
    /// Take a torrent down, or keep names out: add an entry to
    /// data/denylist. Running roles apply it within seconds: the tracker
    /// refuses the hash, the crawler never fetches it, the catalog removes
    /// it and answers 410 Gone on its pages.
    Block(BlockArgs),
    /// Remove an entry from data/denylist (the torrent is indexed again if
    /// its .torrent file is still in preload/).
    Unblock(UnblockArgs),
}

#[derive(Debug, Args)]
struct BlockArgs {
    /// Info-hash (40 hex or 32 base32 characters) or magnet link.
    #[arg(required_unless_present = "name", conflicts_with = "name")]
    target: Option<String>,
    /// Reason shown on the torrent's "removed" page.
    #[arg(long, value_name = "TEXT", conflicts_with = "name")]
    reason: Option<String>,
    /// A name rule instead of a hash: words matched as whole words in any
    /// case against torrent names and file paths, or /a regular expression/.
    /// Prints how many indexed torrents it hides.
    #[arg(long, value_name = "PATTERN")]
    name: Option<String>,
}

#[derive(Debug, Args)]
struct UnblockArgs {
    /// Info-hash or magnet link given to `block`.
    #[arg(required_unless_present = "name", conflicts_with = "name")]
    target: Option<String>,
    /// A name rule given to `block --name`, as written there.
    #[arg(long, value_name = "PATTERN")]
    name: Option<String>,
}

#[derive(Debug, Args)]
struct TrackerArgs {
    /// Address to listen on (UDP, and TCP for the HTTP tracker); repeat for several (replaces the configured list).
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

    match &cli.command {
        Command::PrintConfig => {
            print!("{}", config.to_toml());
            return Ok(());
        }
        Command::Block(args) => return block(&config, args),
        Command::Unblock(args) => return unblock(&config, args),
        _ => {}
    }

    // Colours only on a terminal (a log file or a pipe gets plain text),
    // and never with NO_COLOR set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
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
            Command::PrintConfig | Command::Block(_) | Command::Unblock(_) => Ok(()),
        };
        shutdown.cancel();
        signals.join().await;
        result
    })
}

/// The denylist entry a `block`/`unblock` names.
fn entry(target: Option<&str>, name: Option<&str>, reason: Option<&str>) -> anyhow::Result<Entry> {
    if let Some(rule) = name {
        return match denylist::parse_line(&format!("name: {rule}")) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => anyhow::bail!("empty name rule"),
            Err(e) => anyhow::bail!("{e}"),
        };
    }
    let target = target.context("give an info-hash, a magnet link or --name")?;
    let hash = denylist::parse_target(target).map_err(anyhow::Error::msg)?;
    let reason = reason.map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "));
    Ok(Entry::Hash(hash, reason.filter(|r| !r.is_empty())))
}

/// Adds (or removes) `entry` in the data directory's denylist; returns what
/// happened, the entry as the user reads it, and the file.
fn edit_denylist(
    config: &Config,
    entry: &Entry,
    remove: bool,
) -> anyhow::Result<(denylist::Edit, String, PathBuf)> {
    let path = config.data().root().join(denylist::FILE_NAME);
    let done = denylist::edit(&path, entry, remove)
        .with_context(|| format!("cannot update {}", path.display()))?;
    let what = match entry {
        Entry::Hash(h, _) => format!("info-hash {h}"),
        Entry::Name(rule) => format!("name rule `{rule}`"),
    };
    Ok((done, what, path))
}

fn block(config: &Config, args: &BlockArgs) -> anyhow::Result<()> {
    let entry = entry(
        args.target.as_deref(),
        args.name.as_deref(),
        args.reason.as_deref(),
    )?;
    std::fs::create_dir_all(config.data().root())
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let (done, what, path) = edit_denylist(config, &entry, false)?;
    match done {
        denylist::Edit::AlreadyThere => println!("{what} was already in {}", path.display()),
        _ => println!("blocked {what} in {}", path.display()),
    }
    if let Entry::Name(rule) = &entry {
        let (list, _) = denylist::Denylist::parse(&format!("name: {rule}\n"), false);
        match magnetar_catalog::count_name_matches(config, &list) {
            Some((hidden, total)) => {
                println!("it hides {hidden} of the {total} indexed torrents")
            }
            None => println!(
                "no index yet in {}: nothing to count",
                config.data_dir.display()
            ),
        }
    }
    println!("running roles apply it within seconds");
    Ok(())
}

fn unblock(config: &Config, args: &UnblockArgs) -> anyhow::Result<()> {
    let entry = entry(args.target.as_deref(), args.name.as_deref(), None)?;
    let (done, what, path) = edit_denylist(config, &entry, true)?;
    match done {
        denylist::Edit::NotThere => anyhow::bail!("{what} is not in {}", path.display()),
        _ => println!("unblocked {what}; running roles apply it within seconds"),
    }
    Ok(())
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
