//! What every Skycamp service needs, and nothing about flights or campsites.
//!
//! - [`clock`]: "now" and "today", adjustable in tests.
//! - [`db`]: one SQL code path over SQLite and PostgreSQL (sqlx `Any`), migrations, write transactions.
//! - [`deadletter`]: events a consumer keeps failing on, parked, listed and replayed.
//! - [`endpoints`]: several instances of one service behind one setting, with connect failover.
//! - [`events`]: the CloudEvents envelope and the small [`events::Transport`] trait.
//! - [`eventlog`]: the embedded durable event log (a SQLite file several processes can share).
//! - `kafka` (feature `kafka`): the Kafka transport, for several instances of each service.
//! - [`outbox`] / [`inbox`]: state change and event in one transaction; handled ids recorded with the effect.
//! - [`idempotency`]: `Idempotency-Key` for POST endpoints (stored answers, replay, expiry).
//! - [`consumer`]: the loop that feeds a transport's deliveries to a handler with retry and backoff.
//! - [`http`]: problem+json errors, a lenient JSON extractor, health routes and a graceful server.
//! - [`service`]: the context a service is started with (db, transport, workers).
//! - [`telemetry`]: JSON logs.
#![forbid(unsafe_code)]

pub mod clock;
pub mod consumer;
pub mod db;
pub mod deadletter;
pub mod endpoints;
pub mod eventlog;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod inbox;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod outbox;
pub mod service;
pub mod telemetry;
pub mod time;

pub use db::{Db, Dialect, Migration};
pub use events::{Envelope, Transport};
