//! The Kafka transport (rdkafka over librdkafka), for running several instances of each service.
//!
//! - One topic per producing context; records keyed by aggregate, so one reservation's events
//!   share a partition and stay in order.
//! - Records are CloudEvents in structured mode: the value is the JSON envelope, with a
//!   `content-type: application/cloudevents+json` header, so any Kafka client can read them.
//! - Producer: `acks=all` and idempotence on, so a retried send is neither lost nor duplicated
//!   by the broker and per-partition order holds.
//! - Consumers: one group per consuming service; offsets are committed by hand, synchronously,
//!   only after the batch's inbox transactions (`enable.auto.commit=false`). A new group starts
//!   at the earliest offset, so nothing published before a service first started is missed.
//! - Topics are created when missing (partitions and replication configurable), at start-up and
//!   again before first use if the broker was down then.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::OnceCell;

use crate::events::{Delivery, Record, Subscription, Transport};

/// How to reach the broker and shape the topics.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]` (`bootstrap.servers`).
    pub brokers: String,
    /// Partitions of each topic created here.
    pub partitions: i32,
    /// Replication factor of each topic created here.
    pub replication: i32,
    /// How long the group waits for a silent member before giving its partitions to the others.
    pub session_timeout: Duration,
    /// The topics to create when missing.
    pub topics: Vec<String>,
    /// `client.id`, shown in the broker's logs (the service's name).
    pub client_id: String,
    /// Prefix of every topic and group name, so several platforms can share one cluster.
    pub namespace: String,
}

impl KafkaConfig {
    fn named(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }
}

const CONTENT_TYPE: &str = "application/cloudevents+json";
const BATCH: usize = 256;

/// The Kafka transport; cheap to clone.
#[derive(Clone)]
pub struct Kafka {
    producer: FutureProducer,
    config: Arc<KafkaConfig>,
    topics_ready: Arc<OnceCell<()>>,
}

impl Kafka {
    /// A transport for `config`. Does not need the broker to be up: topics are created now if it
    /// is, else before the first publish or subscribe.
    pub async fn connect(config: KafkaConfig) -> anyhow::Result<Self> {
        let producer: FutureProducer = client_config(&config)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000")
            .create()
            .context("creating the Kafka producer")?;
        let kafka = Self { producer, config: Arc::new(config), topics_ready: Arc::default() };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(10), kafka.ensure_topics())
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r)
        {
            tracing::warn!(brokers = %kafka.config.brokers, error = %format!("{e:#}"), "cannot create topics yet; will retry before first use");
        }
        Ok(kafka)
    }

    /// Creates the configured topics that are missing (once per process).
    async fn ensure_topics(&self) -> anyhow::Result<()> {
        self.topics_ready
            .get_or_try_init(|| async {
                let admin: AdminClient<DefaultClientContext> =
                    client_config(&self.config).create().context("creating the Kafka admin client")?;
                let (partitions, replication) = (self.config.partitions, self.config.replication);
                let names: Vec<String> = self.config.topics.iter().map(|t| self.config.named(t)).collect();
                let topics: Vec<NewTopic> =
                    names.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication))).collect();
                let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
                for result in admin.create_topics(&topics, &options).await.context("creating topics")? {
                    match result {
                        Ok(topic) => tracing::info!(%topic, partitions = self.config.partitions, "topic created"),
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// A client that reads `group`'s committed offsets and the logs' ends; it never joins the group.
    fn looker(&self, group: &str) -> anyhow::Result<rdkafka::consumer::BaseConsumer> {
        client_config(&self.config)
            .set("group.id", self.config.named(group))
            .set("enable.auto.commit", "false")
            .create()
            .with_context(|| format!("creating the offset reader of group {group}"))
    }
}

fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers).set("client.id", &config.client_id);
    c
}

#[async_trait]
impl Transport for Kafka {
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()> {
        self.ensure_topics().await?;
        let mut pending = Vec::with_capacity(records.len());
        // Queue every record first (in order: the idempotent producer keeps that order per
        // partition, even across retries), then wait for the broker to acknowledge all of them.
        for r in records {
            let body = serde_json::to_vec(&r.envelope)?;
            let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some(CONTENT_TYPE) });
            let topic = self.config.named(&r.topic);
            let record = FutureRecord::to(&topic).key(&r.key).payload(&body).headers(headers);
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => anyhow::bail!("queueing an event for topic {}: {e}", r.topic),
            }
        }
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => anyhow::bail!("the broker did not take an event: {e}"),
                Err(_) => anyhow::bail!("the Kafka producer was closed before an event was acknowledged"),
            }
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        self.ensure_topics().await?;
        let session_ms = self.config.session_timeout.as_millis().max(1000);
        let consumer: StreamConsumer = client_config(&self.config)
            .set("group.id", self.config.named(group))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", session_ms.to_string())
            .set("heartbeat.interval.ms", (session_ms / 4).to_string())
            .create()
            .with_context(|| format!("creating the Kafka consumer of group {group}"))?;
        let named: Vec<String> = topics.iter().map(|t| self.config.named(t)).collect();
        let named: Vec<&str> = named.iter().map(String::as_str).collect();
        consumer.subscribe(&named).with_context(|| format!("subscribing group {group} to {topics:?}"))?;
        Ok(Box::new(KafkaSubscription {
            consumer: Arc::new(consumer),
            group: group.to_owned(),
            config: self.config.clone(),
            topics: named.iter().map(|t| (*t).to_owned()).collect(),
            watchdog: Watchdog::new(self.config.session_timeout, self.looker(group)?),
        }))
    }

    async fn ping(&self) -> bool {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(2)).is_ok())
            .await
            .unwrap_or(false)
    }

    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64> {
        let consumer = self.looker(group)?;
        let topics: Vec<String> = topics.iter().map(|t| self.config.named(t)).collect();
        let progress = tokio::task::spawn_blocking(move || progress(&consumer, &topics)).await??;
        Ok(progress.values().map(|(committed, end)| (end - committed).max(0)).sum())
    }

    async fn lag_by_topic(&self, group: &str, topics: &[&str]) -> anyhow::Result<Vec<i64>> {
        let consumer = self.looker(group)?;
        let names: Vec<String> = topics.iter().map(|t| self.config.named(t)).collect();
        let wanted = names.clone();
        let progress = tokio::task::spawn_blocking(move || progress(&consumer, &wanted)).await??;
        Ok(names
            .iter()
            .map(|name| {
                progress
                    .iter()
                    .filter(|((t, _), _)| t == name)
                    .map(|(_, (committed, end))| (end - committed).max(0))
                    .sum()
            })
            .collect())
    }
}

/// Per partition of `topics`: the group's committed offset (the start of the log when it has
/// none) and the end of the log. Blocking.
fn progress<C: Consumer>(consumer: &C, topics: &[String]) -> anyhow::Result<Progress> {
    let timeout = Duration::from_secs(5);
    let mut partitions = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            partitions.add_partition(topic, p.id());
            ends.insert((topic.clone(), p.id()), consumer.fetch_watermarks(topic, p.id(), timeout)?);
        }
    }
    let committed = consumer.committed_offsets(partitions, timeout)?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| {
            let key = (e.topic().to_owned(), e.partition());
            let (low, high) = ends[&key];
            let from = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            (key, (from, high))
        })
        .collect())
}

/// Guards against a group member that died without leaving while the broker keeps it in the
/// group (Kafka evicts it after `session.timeout.ms`; tansu 0.6 only notices a silent member
/// when another member's request reaches the coordinator, and a storm test in CI once found a
/// dead member's partitions still unowned after two session time-outs).
/// Every session time-out it looks at the partitions this member does not own: one with a backlog whose
/// committed offset has not moved for a whole interval has nobody working on it, so this member
/// rejoins the group. The rebalance that follows leaves out members that do not answer. On a
/// broker that expires members itself it only fires when an owner is stuck on one event for the
/// whole interval, and the extra rebalance is harmless (the inbox absorbs redelivery).
///
/// The look never holds up consuming: it runs on a blocking thread with its own client (not
/// the group member, whose broker connection is busy with long-polling fetches: a look through
/// it waited behind a fetch per partition, ~10 s for 18 partitions, and every event meanwhile),
/// and its verdict is picked up by a later poll.
struct Watchdog {
    every: Duration,
    next: tokio::time::Instant,
    /// Committed offsets of backlogged partitions owned by others, at the last look.
    seen: BTreeMap<(String, i32), i64>,
    /// Asks the broker for offsets; in the group's name, but never a member of it.
    looker: Arc<rdkafka::consumer::BaseConsumer>,
    /// The look under way: the partitions this member owned when it began, and the progress.
    look: Option<tokio::task::JoinHandle<anyhow::Result<Look>>>,
}

/// Per partition: the group's committed offset and the log's end.
type Progress = BTreeMap<(String, i32), (i64, i64)>;
/// The partitions this member owned, and every partition's progress.
type Look = (Vec<(String, i32)>, Progress);

impl Watchdog {
    fn new(every: Duration, looker: rdkafka::consumer::BaseConsumer) -> Self {
        Self {
            every,
            next: tokio::time::Instant::now() + every,
            seen: BTreeMap::new(),
            looker: Arc::new(looker),
            look: None,
        }
    }

    /// Starts a look when due, and judges a finished one; returns the partitions found abandoned.
    async fn abandoned(&mut self, consumer: &StreamConsumer, topics: &[String]) -> Vec<(String, i32)> {
        if let Some(look) = self.look.take_if(|look| look.is_finished()) {
            self.next = tokio::time::Instant::now() + self.every;
            return match look.await {
                Ok(Ok((owned, progress))) => self.judge(&owned, progress),
                Ok(Err(e)) => {
                    // Once a session time-out at most; a look that keeps failing leaves a dead
                    // member's partitions stranded, which an operator must hear about.
                    tracing::warn!(error = %format!("{e:#}"), "group watchdog could not look at the group's offsets");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
        }
        if self.look.is_none() && tokio::time::Instant::now() >= self.next {
            // The member's own assignment is local knowledge: no broker round trip.
            let owned = match consumer.assignment() {
                Ok(owned) => owned.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect(),
                Err(_) => return Vec::new(),
            };
            let (looker, topics) = (self.looker.clone(), topics.to_vec());
            self.look = Some(tokio::task::spawn_blocking(move || Ok((owned, progress(&*looker, &topics)?))));
        }
        Vec::new()
    }

    fn judge(&mut self, owned: &[(String, i32)], progress: Progress) -> Vec<(String, i32)> {
        let backlogged: BTreeMap<(String, i32), i64> = progress
            .into_iter()
            .filter(|(key, (committed, end))| end > committed && !owned.contains(key))
            .map(|(key, (committed, _))| (key, committed))
            .collect();
        let abandoned =
            backlogged.iter().filter(|(key, committed)| self.seen.get(*key) == Some(committed)).map(|(k, _)| k.clone());
        let abandoned = abandoned.collect();
        self.seen = backlogged;
        abandoned
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer>,
    group: String,
    config: Arc<KafkaConfig>,
    /// The subscribed topics' names on the broker.
    topics: Vec<String>,
    watchdog: Watchdog,
}

impl KafkaSubscription {
    /// The delivery for a message, or None (logged) for one that is not a Skycamp event.
    fn delivery(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Option<Delivery> {
        let envelope = m.payload().map(serde_json::from_slice).transpose().ok().flatten();
        let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
        match envelope {
            Some(envelope) => Some(Delivery {
                record: Record {
                    topic: m.topic().strip_prefix(self.config.namespace.as_str()).unwrap_or(m.topic()).to_owned(),
                    key: key.unwrap_or_default(),
                    envelope,
                },
                partition: m.partition(),
                position: m.offset(),
            }),
            None => {
                tracing::error!(group = %self.group, topic = m.topic(), partition = m.partition(), offset = m.offset(), "skipping a record that is not a CloudEvents JSON envelope");
                None
            }
        }
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>> {
        let abandoned = self.watchdog.abandoned(&self.consumer, &self.topics).await;
        if !abandoned.is_empty() {
            tracing::warn!(group = %self.group, ?abandoned, "partitions have a backlog and nobody working on them; rejoining the group so they are handed out again");
            self.consumer.unsubscribe();
            let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            self.consumer.subscribe(&topics)?;
        }
        let mut batch = Vec::new();
        match tokio::time::timeout(Duration::from_millis(500), self.consumer.recv()).await {
            Err(_) => return Ok(batch),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(m)) => batch.extend(self.delivery(&m)),
        }
        // Then whatever is already fetched, without waiting.
        while batch.len() < BATCH {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.extend(self.delivery(&m)),
                _ => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, handled: &[Delivery]) -> anyhow::Result<()> {
        let mut next = BTreeMap::new();
        for d in handled {
            next.insert((self.config.named(&d.record.topic), d.partition), d.position + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            offsets.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        let consumer = self.consumer.clone();
        // librdkafka's synchronous commit has no deadline of its own. One that hangs (a
        // coordinator stuck in a rebalance) must not stop this member polling: polling is what
        // runs the watchdog and takes the next assignment. Given up on, the commit still
        // finishes or fails on its blocking thread, and at worst the events are delivered again.
        let commit = tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync));
        match tokio::time::timeout(self.config.session_timeout, commit).await {
            Ok(done) => done??,
            Err(_) => anyhow::bail!(
                "the broker did not answer the offset commit within {:?}; polling on (the events may be delivered again)",
                self.config.session_timeout
            ),
        }
        Ok(())
    }
}

/// The broker's own floor for one hop, for `skycamp bench --ratios`: a plain librdkafka producer
/// (`bootstrap.servers` only, every other setting librdkafka's default) sends `samples` records
/// one after another to a fresh topic, and a plain group consumer (auto-commit, defaults) on the
/// same broker receives each; how long each took from send to receipt.
pub async fn floor_hops(brokers: &str, samples: usize) -> anyhow::Result<Vec<Duration>> {
    let topic = format!("skycamp-floor-{}", uuid::Uuid::now_v7().simple());
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", brokers);
    let admin: AdminClient<DefaultClientContext> = base.create()?;
    let created =
        admin.create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))], &AdminOptions::new()).await?;
    for result in created {
        result.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    let producer: FutureProducer = base.create()?;
    let consumer: StreamConsumer = base.clone().set("group.id", format!("{topic}-group")).create()?;
    consumer.subscribe(&[&topic])?;
    // Until the group has its partition: a warm-up record, received.
    let warm_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        producer
            .send(FutureRecord::<(), _>::to(&topic).payload("warm-up"), Duration::from_secs(5))
            .await
            .map_err(|(e, _)| e)?;
        match tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            Ok(received) => {
                received?;
                break;
            }
            Err(_) => {
                anyhow::ensure!(tokio::time::Instant::now() < warm_up, "the floor's consumer got nothing in 60 s")
            }
        }
    }
    // Drain whatever else the warm-up left.
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await {}
    let mut hops = Vec::with_capacity(samples);
    for i in 0..samples {
        let body = format!("hop {i}");
        let started = tokio::time::Instant::now();
        producer
            .send(FutureRecord::<(), _>::to(&topic).payload(&body), Duration::from_secs(5))
            .await
            .map_err(|(e, _)| e)?;
        loop {
            let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
                .await
                .context("a floor hop over 60 s")??;
            if m.payload() == Some(body.as_bytes()) {
                break;
            }
        }
        hops.push(started.elapsed());
    }
    let _ = admin.delete_topics(&[&topic], &AdminOptions::new()).await;
    Ok(hops)
}
