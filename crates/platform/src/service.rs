//! What the composition root hands a service: its database, the transport, and a place to run
//! background workers that stop with the process.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::{self, Handler};
use crate::db::Db;
use crate::events::Transport;
use crate::outbox::{Relay, Waker};

/// One service's dependencies and worker set.
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub transport: Arc<dyn Transport>,
    /// Background workers (relay, consumers); the root waits for them at shutdown.
    pub tasks: TaskTracker,
    /// Cancelled when workers should stop (after the HTTP server has drained).
    pub shutdown: CancellationToken,
}

impl Context {
    /// Starts the outbox relay for this service's database; returns the handle to wake it.
    pub fn spawn_relay(&self) -> Waker {
        let waker = Waker::default();
        let relay = Relay::new(self.db.clone(), self.transport.clone(), waker.clone());
        self.tasks.spawn(relay.run(self.shutdown.clone()));
        waker
    }

    /// Starts a consumer group on `topics`.
    pub fn spawn_consumer(&self, group: &'static str, topics: &'static [&'static str], handler: Arc<dyn Handler>) {
        let run = consumer::run(self.transport.clone(), group, topics, handler, self.shutdown.clone());
        self.tasks.spawn(run);
    }
}
