//! The one way magnetar starts background work: a named task (async) or
//! thread (blocking loops such as the tracker's workers) that runs under the
//! role's shutdown signal, inside a `tracing` span carrying its name, and
//! whose error or panic is logged with that name instead of vanishing.
//!
//! A task marked [`Criticality::Critical`] cancels the shutdown signal when
//! it fails or panics, so the whole role stops (and flushes) rather than
//! running on without, say, one of its socket workers — aquatic's rule.
//! Every [`Task`] is joined on shutdown through [`Task::join`] or
//! [`TaskSet::join_all`].

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::Shutdown;

/// What a failure of the task means for its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criticality {
    /// The role cannot work without it: a failure cancels the shutdown signal.
    Critical,
    /// A failure is logged; the role goes on.
    BestEffort,
}

enum Handle {
    Async(tokio::task::JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

/// A running named task or thread.
pub struct Task {
    name: String,
    handle: Handle,
}

fn report(name: &str, outcome: Result<Result<(), String>, String>, on_failure: &dyn Fn()) {
    match outcome {
        Ok(Ok(())) => tracing::debug!(task = name, "stopped"),
        Ok(Err(e)) => {
            tracing::error!(task = name, "failed: {e}");
            on_failure();
        }
        Err(panic) => {
            tracing::error!(task = name, "panicked: {panic}");
            on_failure();
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Spawns `future` on the tokio runtime as the task `name`. It is dropped
/// (stopped at its next await point) when `shutdown` is cancelled, so it
/// must not hold state that needs a flush; such work takes the token itself
/// and returns when it is cancelled.
pub fn spawn<F, E>(name: &str, shutdown: &Shutdown, criticality: Criticality, future: F) -> Task
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let span = tracing::info_span!("task", name);
    let (task_name, token) = (name.to_owned(), shutdown.clone());
    let run = async move {
        let outcome = tokio::select! {
            r = AssertUnwindSafe(future).catch_unwind() => {
                r.map(|r| r.map_err(|e| e.to_string())).map_err(panic_message)
            }
            _ = token.cancelled() => Ok(Ok(())),
        };
        report(&task_name, outcome, &|| {
            if criticality == Criticality::Critical {
                token.cancel();
            }
        });
    };
    Task {
        name: name.to_owned(),
        handle: Handle::Async(tokio::spawn(run.instrument(span))),
    }
}

/// Starts a thread named `name` running `body`, which must return soon after
/// `shutdown` is cancelled (it polls [`Shutdown::is_cancelled`]: one atomic
/// load, cheap enough for a packet loop).
pub fn spawn_thread<F, E>(
    name: &str,
    shutdown: &Shutdown,
    criticality: Criticality,
    body: F,
) -> std::io::Result<Task>
where
    F: FnOnce() -> Result<(), E> + Send + 'static,
    E: std::fmt::Display,
{
    let (task_name, token) = (name.to_owned(), shutdown.clone());
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _span = tracing::info_span!("task", name = task_name.as_str()).entered();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(body))
                .map(|r| r.map_err(|e| e.to_string()))
                .map_err(panic_message);
            report(&task_name, outcome, &|| {
                if criticality == Criticality::Critical {
                    token.cancel();
                }
            });
        })?;
    Ok(Task {
        name: name.to_owned(),
        handle: Handle::Thread(handle),
    })
}

impl Task {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the task to end (cancel its shutdown signal first). Blocks
    /// the calling thread for a thread task: call it off the async runtime,
    /// or use [`Task::join`].
    pub fn join_blocking(self) {
        match self.handle {
            Handle::Thread(t) => {
                // The body's panic was caught and logged inside the thread.
                let _ = t.join();
            }
            Handle::Async(t) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let _ = rt.block_on(t);
                }
            }
        }
    }

    /// Waits for the task to end without blocking the runtime.
    pub async fn join(self) {
        match self.handle {
            Handle::Async(t) => {
                if let Err(e) = t.await {
                    tracing::error!(task = self.name, "could not be joined: {e}");
                }
            }
            Handle::Thread(t) => {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
        }
    }
}

/// Tasks started together and joined together.
#[derive(Default)]
pub struct TaskSet(Vec<Task>);

impl TaskSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a started task.
    pub fn push(&mut self, task: Task) {
        self.0.push(task);
    }

    /// Number of tasks held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Joins every task (blocking; for threads and non-async callers).
    pub fn join_all_blocking(self) {
        for t in self.0 {
            t.join_blocking();
        }
    }

    /// Joins every task without blocking the runtime.
    pub async fn join_all(self) {
        for t in self.0 {
            t.join().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_task_stops_on_shutdown_and_is_joined() {
        let shutdown = Shutdown::new();
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let task = spawn("waits", &shutdown, Criticality::Critical, async move {
            s.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        });
        assert_eq!(task.name(), "waits");
        shutdown.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(10), task.join())
            .await
            .expect("joined after shutdown");
    }

    #[tokio::test]
    async fn a_failing_critical_task_cancels_the_role() {
        let shutdown = Shutdown::new();
        let task = spawn("fails", &shutdown, Criticality::Critical, async {
            Err::<(), _>("boom")
        });
        task.join().await;
        assert!(shutdown.is_cancelled(), "a critical failure stops the role");
    }

    #[tokio::test]
    async fn a_panicking_task_is_reported_not_lost() {
        let shutdown = Shutdown::new();
        let task = spawn("panics", &shutdown, Criticality::Critical, async {
            if shutdown_never() {
                return Ok::<(), String>(());
            }
            panic!("inside the task")
        });
        task.join().await;
        assert!(shutdown.is_cancelled(), "the panic was caught and handled");
    }

    fn shutdown_never() -> bool {
        std::hint::black_box(false)
    }

    #[tokio::test]
    async fn a_best_effort_failure_leaves_the_role_running() {
        let shutdown = Shutdown::new();
        spawn("fails", &shutdown, Criticality::BestEffort, async {
            Err::<(), _>("boom")
        })
        .join()
        .await;
        assert!(!shutdown.is_cancelled());
    }

    #[test]
    fn a_panicking_thread_cancels_the_role_and_joins() {
        let shutdown = Shutdown::new();
        let t = spawn_thread("worker", &shutdown, Criticality::Critical, || {
            if shutdown_never() {
                return Ok::<(), String>(());
            }
            panic!("worker died")
        })
        .unwrap();
        t.join_blocking();
        assert!(shutdown.is_cancelled());
    }

    #[test]
    fn a_thread_returns_when_shutdown_is_cancelled() {
        let shutdown = Shutdown::new();
        let token = shutdown.clone();
        let mut set = TaskSet::new();
        set.push(
            spawn_thread("loop", &shutdown, Criticality::Critical, move || {
                while !token.is_cancelled() {
                    std::thread::yield_now();
                }
                Ok::<(), String>(())
            })
            .unwrap(),
        );
        assert_eq!(set.len(), 1);
        shutdown.cancel();
        set.join_all_blocking();
    }
}
