//! What the composition root hands a service: its database, the transport, and a place to run
//! background workers that stop with the process.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::{self, Consumer, Handler};
use crate::db::Db;
use crate::deadletter::DeadLetters;
use crate::events::Transport;
use crate::idempotency::{self, Keys};
use crate::liveness::Liveness;
use crate::outbox::{Relay, Waker};

/// One service's dependencies and worker set.
#[derive(Clone)]
pub struct Context {
    /// The service's name, as metrics and spans label it.
    pub service: &'static str,
    pub db: Db,
    pub transport: Arc<dyn Transport>,
    /// Background workers (relay, consumers); the root waits for them at shutdown.
    pub tasks: TaskTracker,
    /// Cancelled when workers should stop (after the HTTP server has drained).
    pub shutdown: CancellationToken,
    /// The process's workers that died before shutdown (`/healthz` reports them).
    pub liveness: Liveness,
    /// Where this service's consumers park events they keep failing on.
    pub dead_letters: DeadLetters,
    /// Failures of one event before it is parked (`SKYCAMP_CONSUMER_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Every consumer group started through this context, with its topics (for lag reports).
    pub groups: Groups,
    /// How long `Idempotency-Key`s are kept (`SKYCAMP_IDEMPOTENCY_RETENTION_HOURS`).
    pub key_retention: std::time::Duration,
    /// How long inbox entries are kept, and the age past which an event is no longer applied
    /// (`SKYCAMP_INBOX_RETENTION_HOURS`).
    pub inbox_retention: std::time::Duration,
}

/// Consumer groups and their topics, shared by the contexts of one process.
pub type Groups = Arc<Mutex<Vec<(&'static str, &'static [&'static str])>>>;

impl Context {
    /// Runs `work` until shutdown as the worker `what` of this service: if it ends before then,
    /// by returning or panicking, `/healthz` fails and names it.
    pub fn spawn_worker<F>(&self, what: &str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = format!("{} {what}", self.service);
        self.tasks.spawn(self.liveness.watch(name, self.shutdown.clone(), work));
    }

    /// Starts the outbox relay for this service's database; returns the handle to wake it.
    pub fn spawn_relay(&self) -> Waker {
        let waker = Waker::default();
        let relay = Relay::new(self.service, self.db.clone(), self.transport.clone(), waker.clone());
        self.spawn_worker("outbox relay", relay.run(self.shutdown.clone()));
        waker
    }

    /// The service's `Idempotency-Key` store (its tables must be migrated), expired hourly.
    pub fn idempotency_keys(&self) -> Keys {
        let keys = Keys::new(self.db.clone()).replays_counted_as(self.service);
        metrics::counter!(crate::metrics::IDEMPOTENT_REPLAYS, "service" => self.service).absolute(0);
        self.spawn_worker(
            "idempotency key expiry",
            idempotency::expire_hourly(keys.clone(), self.key_retention, self.shutdown.clone()),
        );
        keys
    }

    /// Starts a consumer group on `topics`; its dead letters can be replayed through `handler`.
    pub fn spawn_consumer(&self, group: &'static str, topics: &'static [&'static str], handler: Arc<dyn Handler>) {
        self.dead_letters.register(group, handler.clone());
        // Counters start at 0, so the first increment shows in `increase()` and alerts.
        metrics::counter!(crate::metrics::DEAD_LETTERS_PARKED, "group" => group).absolute(0);
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((group, topics));
        let consumer = Consumer {
            service: self.service,
            group,
            topics,
            handler,
            max_attempts: self.max_attempts,
            dead_letters: self.dead_letters.clone(),
            retention: self.inbox_retention,
        };
        self.spawn_worker(
            &format!("consumer {group}"),
            consumer::run(self.transport.clone(), consumer, self.shutdown.clone()),
        );
    }
}
