//! A small librqbit seeder: serves local files to the swarm. Used by
//! `magnetar up --demo` and by the tests (never by the crawler itself).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use librqbit::{
    AddTorrent, AddTorrentOptions, CreateTorrentOptions, ListenerOptions, Session, SessionOptions,
};
use magnetar_shared::InfoHash;

/// A seeding session with DHT and LSD off, listening on one address.
pub struct Seeder {
    session: Arc<Session>,
    addr: SocketAddr,
}

impl Seeder {
    /// Starts a session listening on `ip` (a free port is chosen). The port
    /// is announced explicitly, since librqbit announces none for loopback.
    pub async fn start(state_dir: &Path, ip: IpAddr) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind((ip, 0))?.local_addr()?.port();
        let addr = SocketAddr::new(ip, port);
        let session = Session::new_with_opts(
            state_dir.to_owned(),
            SessionOptions {
                dht: None,
                disable_local_service_discovery: true,
                listen: Some(ListenerOptions {
                    listen_addr: addr,
                    announce_port: Some(port),
                    ipv4_only: ip.is_ipv4(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await?;
        Ok(Self { session, addr })
    }

    /// The address peers connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes a torrent of `content` (a file or a directory) announcing to
    /// `trackers`, and seeds it. Returns its info-hash and `.torrent` bytes.
    pub async fn seed(
        &self,
        content: &Path,
        trackers: Vec<String>,
    ) -> anyhow::Result<(InfoHash, Vec<u8>)> {
        let name = content
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let created = librqbit::create_torrent(
            content,
            CreateTorrentOptions {
                name: name.as_deref(),
                trackers,
                piece_length: Some(16384),
            },
            &librqbit::spawn_utils::BlockingSpawner::new(1),
        )
        .await?;
        let bytes = created.as_bytes()?.to_vec();
        let hash = InfoHash(created.info_hash().0);
        let folder = if content.is_dir() {
            content
        } else {
            content.parent().context("file has no parent")?
        };
        let handle = self
            .session
            .add_torrent(
                AddTorrent::TorrentFileBytes(bytes.clone().into()),
                Some(AddTorrentOptions {
                    output_folder: Some(folder.to_string_lossy().into_owned()),
                    overwrite: true,
                    ..Default::default()
                }),
            )
            .await?
            .into_handle()
            .context("torrent not added")?;
        handle.wait_until_initialized().await?;
        Ok((hash, bytes))
    }

    /// Stops seeding.
    pub async fn stop(self) {
        self.session.stop().await;
    }
}
