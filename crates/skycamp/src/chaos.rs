//! Fault injection for chaos tests, compiled only with the `chaos` feature (`scripts/test`
//! builds it; a release build does not): `--faulty-transport` wraps the event transport in
//! [`Faulty`], `--panicking-transport` in [`Panicking`].

use std::sync::Arc;

use async_trait::async_trait;
use skycamp_platform::Transport;
use skycamp_platform::events::{Record, Subscription};

/// A transport that misbehaves on purpose, for chaos tests: every batch is published twice, the
/// first time in reverse order, so consumers see every event twice and some out of order.
pub struct Faulty(pub Arc<dyn Transport>);

#[async_trait]
impl Transport for Faulty {
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()> {
        let reversed: Vec<Record> = records.iter().rev().cloned().collect();
        self.0.publish(&reversed).await?;
        self.0.publish(records).await
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        self.0.subscribe(group, topics).await
    }

    async fn ping(&self) -> bool {
        self.0.ping().await
    }

    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64> {
        self.0.lag(group, topics).await
    }
}

/// A transport with a bug: every publish panics, which kills the outbox relay that called it.
/// The liveness test uses it to see `/healthz` report a dead worker.
pub struct Panicking(pub Arc<dyn Transport>);

#[async_trait]
impl Transport for Panicking {
    async fn publish(&self, _: &[Record]) -> anyhow::Result<()> {
        panic!("planted transport bug: publish panics (--panicking-transport)")
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        self.0.subscribe(group, topics).await
    }

    async fn ping(&self) -> bool {
        self.0.ping().await
    }

    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64> {
        self.0.lag(group, topics).await
    }
}

/// `transport` with the faults `settings` ask for.
pub fn wrap(transport: Arc<dyn Transport>, settings: &crate::app::Settings) -> Arc<dyn Transport> {
    let transport: Arc<dyn Transport> = if settings.faulty_transport { Arc::new(Faulty(transport)) } else { transport };
    if settings.panicking_transport { Arc::new(Panicking(transport)) } else { transport }
}
