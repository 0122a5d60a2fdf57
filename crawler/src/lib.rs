//! magnetar's crawler role.

use magnetar_shared::{Config, Shutdown};

/// Errors that stop the crawler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the crawler role is not implemented yet")]
    NotImplemented,
}

/// Runs the crawler until `shutdown` is cancelled.
pub async fn run(_config: Config, _shutdown: Shutdown) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
