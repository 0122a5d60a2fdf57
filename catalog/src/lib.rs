//! magnetar's catalog role.

use magnetar_shared::{Config, Shutdown};

/// Errors that stop the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the catalog role is not implemented yet")]
    NotImplemented,
}

/// Runs the catalog until `shutdown` is cancelled.
pub async fn run(_config: Config, _shutdown: Shutdown) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
