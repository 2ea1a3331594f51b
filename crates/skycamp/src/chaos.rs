//! Fault injection for chaos tests, compiled only with the `chaos` feature (`scripts/test`
//! builds it; a release build does not): `--faulty-transport` wraps the event transport in
//! [`Faulty`].

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
