//! The event envelope (CloudEvents 1.0, JSON) and the transport port every broker implements.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One event as it travels between services: CloudEvents 1.0 attributes plus JSON `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub specversion: String,
    /// Unique per event; consumers deduplicate on it.
    pub id: String,
    /// The producing context, e.g. `/skycamp/flight`.
    pub source: String,
    /// Past-tense event name, e.g. `SeatsReserved`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The aggregate this event is about (also the partition key), e.g. `reservation/7`.
    pub subject: String,
    /// When the event happened (RFC 3339).
    pub time: String,
    pub datacontenttype: String,
    pub data: serde_json::Value,
    /// The W3C trace context of the work that produced the event (the CloudEvents
    /// distributed-tracing extension), so its consumers continue the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl Envelope {
    /// Builds an envelope with a fresh id, the current time and the current trace context (in a
    /// batch of events handled together, that of the event about the same subject).
    pub fn new(context: &str, kind: &str, subject: String, data: serde_json::Value) -> Self {
        let (traceparent, tracestate) = crate::telemetry::for_subject(&subject);
        Self {
            specversion: "1.0".into(),
            id: uuid::Uuid::now_v7().to_string(),
            source: format!("/skycamp/{context}"),
            kind: kind.into(),
            subject,
            time: crate::time::now_rfc3339(),
            datacontenttype: "application/json".into(),
            data,
            traceparent,
            tracestate,
        }
    }

    /// Reads `data` as a typed payload.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.data.clone())
            .map_err(|e| anyhow::anyhow!("event {} ({}) has a malformed payload: {e}", self.id, self.kind))
    }
}

/// An event addressed to a topic, keyed so one aggregate's events stay in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub topic: String,
    pub key: String,
    pub envelope: Envelope,
}

/// A record handed to a consumer, with the position to commit once it is handled.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub record: Record,
    /// The partition the record came from (always 0 in the embedded log).
    pub partition: i32,
    /// The record's offset within its partition.
    pub position: i64,
}

/// The event transport: an embedded log or a broker. Delivery is at-least-once and in order per key.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Appends `records`, in order; returns once they are durable.
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()>;
    /// Opens a subscription for consumer `group` on `topics`, resuming after its last commit.
    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>>;
    /// Answers whether the transport can be reached.
    async fn ping(&self) -> bool;
    /// Records on `topics` that consumer `group` has not committed yet (its lag).
    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64>;
    /// The lag of `group` on each of `topics` (for metrics); one look at the broker where it can.
    async fn lag_by_topic(&self, group: &str, topics: &[&str]) -> anyhow::Result<Vec<i64>> {
        let mut lags = Vec::with_capacity(topics.len());
        for topic in topics {
            lags.push(self.lag(group, &[topic]).await?);
        }
        Ok(lags)
    }
}

/// One consumer group's view of its topics.
#[async_trait]
pub trait Subscription: Send {
    /// The next deliveries after the last commit; waits a short while and may return none.
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>>;
    /// Records that every delivery in `handled` (a prefix of what `poll` returned, in order) and
    /// everything before each of them in its partition is handled.
    async fn commit(&mut self, handled: &[Delivery]) -> anyhow::Result<()>;
}
