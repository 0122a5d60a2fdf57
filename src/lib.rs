//! `magnetar up`: the three roles in one process.

use magnetar_shared::{Config, Shutdown};

/// Runs tracker, crawler and catalog on one runtime until `shutdown`.
///
/// The first role to fail cancels the others, so the process never keeps
/// running half-alive.
pub async fn up(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    use anyhow::Context;
    let (t, c, k) = tokio::join!(
        guard(
            magnetar_tracker::run(config.clone(), shutdown.clone()),
            &shutdown
        ),
        guard(
            magnetar_crawler::run(config.clone(), shutdown.clone()),
            &shutdown
        ),
        guard(magnetar_catalog::run(config, shutdown.clone()), &shutdown),
    );
    t.context("tracker")?;
    c.context("crawler")?;
    k.context("catalog")?;
    Ok(())
}

async fn guard<E>(
    role: impl std::future::Future<Output = Result<(), E>>,
    shutdown: &Shutdown,
) -> Result<(), E> {
    let result = role.await;
    if result.is_err() {
        shutdown.cancel();
    }
    result
}
