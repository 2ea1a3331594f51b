//! Fault injection for chaos tests, compiled only with the `chaos` feature (`scripts/test`
//! builds it; a release build does not): `--faulty-transport` and `--panicking-transport` wrap
//! the event transport in [`Faulty`].

use std::sync::Arc;

use async_trait::async_trait;
use skycamp_platform::Transport;
use skycamp_platform::events::{Record, Subscription};

/// A transport that misbehaves on purpose, for chaos tests.
pub struct Faulty {
    inner: Arc<dyn Transport>,
    /// Every batch is published twice, the first time in reverse order, so consumers see every
    /// event twice and some out of order.
    duplicate: bool,
    /// A planted bug: every publish panics, which kills the outbox relay that called it (the
    /// liveness test sees `/healthz` report it).
    panic: bool,
}

/// `transport` with the faults `settings` ask for.
pub fn wrap(transport: Arc<dyn Transport>, settings: &crate::app::Settings) -> Arc<dyn Transport> {
    Arc::new(Faulty { inner: transport, duplicate: settings.faulty_transport, panic: settings.panicking_transport })
}

#[async_trait]
impl Transport for Faulty {
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()> {
        assert!(!self.panic, "planted transport bug: publish panics (--panicking-transport)");
        if self.duplicate {
            let reversed: Vec<Record> = records.iter().rev().cloned().collect();
            self.inner.publish(&reversed).await?;
        }
        self.inner.publish(records).await
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        self.inner.subscribe(group, topics).await
    }

    async fn ping(&self) -> bool {
        self.inner.ping().await
    }

    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64> {
        self.inner.lag(group, topics).await
    }
}
