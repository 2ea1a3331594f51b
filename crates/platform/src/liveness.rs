//! Whether this process can still do its job. The background workers a service needs (its outbox
//! relay, its consumers, its sweepers) run until shutdown; one that ends before then, by
//! returning or by panicking, is not restarted in-process. Instead `/healthz` turns 503 and names
//! it, so the orchestrator (a Kubernetes liveness probe, a process supervisor) restarts the
//! process, which recovers everything from its durable state: the outbox rows wait, the consumer
//! resumes from its committed offset, and the inbox makes redelivery harmless.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// The workers of one process that ended before shutdown. Cheap to clone; clones share the list.
#[derive(Clone, Default)]
pub struct Liveness {
    dead: Arc<Mutex<Vec<String>>>,
}

impl Liveness {
    /// Wraps `work` so that, if it ends (returns, or panics and its task unwinds) while
    /// `shutdown` is not cancelled, `worker` is recorded as dead.
    pub fn watch<F>(
        &self,
        worker: String,
        shutdown: CancellationToken,
        work: F,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let watch = Watch { worker, liveness: self.clone(), shutdown };
        async move {
            work.await;
            drop(watch);
        }
    }

    /// The workers that died, in the order they did.
    pub fn dead(&self) -> Vec<String> {
        self.dead.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Records its worker as dead when dropped before shutdown: on return, and when a panicking
/// task's future is dropped after the panic.
struct Watch {
    worker: String,
    liveness: Liveness,
    shutdown: CancellationToken,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        tracing::error!(worker = %self.worker, "a background worker stopped; /healthz fails until the process is restarted");
        self.liveness.dead.lock().unwrap_or_else(PoisonError::into_inner).push(std::mem::take(&mut self.worker));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_worker_that_panics_or_returns_before_shutdown_is_dead_and_one_stopped_by_it_is_not() {
        let live = Liveness::default();
        let stop = CancellationToken::new();
        let panicked = tokio::spawn(live.watch("relay".into(), stop.clone(), async { panic!("planted") }));
        assert!(panicked.await.unwrap_err().is_panic());
        tokio::spawn(live.watch("sweeper".into(), stop.clone(), async {})).await.unwrap();
        let waiting = stop.clone();
        let stopped =
            tokio::spawn(live.watch("consumer".into(), stop.clone(), async move { waiting.cancelled().await }));
        assert_eq!(live.dead(), ["relay", "sweeper"]);
        stop.cancel();
        stopped.await.unwrap();
        assert_eq!(live.dead(), ["relay", "sweeper"], "a worker stopped by shutdown is not dead");
    }
}
