//! Types, file formats and configuration shared by magnetar's roles.
//!
//! The roles talk only through files in the data directory and the UDP
//! tracker protocol; this crate is the single definition of those files.

pub mod atomic;
pub mod bencode_check;
pub mod config;
pub mod denylist;
mod infohash;
pub mod infohash_file;
pub mod layout;
pub mod metainfo;
pub mod origin;
pub mod path;
pub mod shutdown;
pub mod task;
pub mod telemetry;
pub mod watch;

pub use atomic::{write_atomic, write_atomic_with};
pub use config::Config;
pub use denylist::Moderation;
pub use infohash::{InfoHash, InfoHashParseError};
pub use layout::{DataDir, PreloadDir, PreloadEntry};
pub use metainfo::{FileEntry, MetainfoError, TorrentMeta};
pub use origin::Origin;
pub use shutdown::Shutdown;
