//! magnetar's tracker role.

use magnetar_shared::{Config, Shutdown};

/// Errors that stop the tracker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the tracker role is not implemented yet")]
    NotImplemented,
}

/// Runs the tracker until `shutdown` is cancelled.
pub async fn run(_config: Config, _shutdown: Shutdown) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
