//! What every Skycamp service needs, and nothing about flights or campsites.
//!
//! - [`answers`]: read models answered from memory until they change, with `ETag` and 304.
//! - [`auth`]: bearer tokens verified in every service; who the caller is and what they may do.
//! - [`clock`]: "now" and "today", adjustable in tests.
//! - [`db`]: one SQL code path over SQLite and PostgreSQL (sqlx `Any`), migrations, write transactions.
//! - [`deadletter`]: events a consumer keeps failing on, parked, listed and replayed.
//! - [`endpoints`]: several instances of one service behind one setting, with connect failover.
//! - [`events`]: the CloudEvents envelope and the small [`events::Transport`] trait.
//! - [`eventlog`]: the embedded durable event log (a SQLite file several processes can share).
//! - `kafka` (feature `kafka`): the Kafka transport, for several instances of each service.
//! - [`openapi`]: what every service's part of the API document shares (problems, paging, roles).
//! - [`paging`]: every list a page at a time: `limit`, `cursor`, `Link: rel="next"`.
//! - [`outbox`] / [`inbox`]: state change and event in one transaction; handled ids recorded with the effect.
//! - [`internal`]: signed calls only Skycamp's services may make (the payment charge).
//! - [`idempotency`]: `Idempotency-Key` for POST endpoints (stored answers, replay, expiry).
//! - [`consumer`]: the loop that feeds a transport's deliveries to a handler with retry and backoff.
//! - [`http`]: problem+json errors, JSON-object extractors, health routes, the layers every router gets.
//! - [`server`]: the HTTP/1.1 server: connection cap, header and body deadlines, graceful drain.
//! - [`service`]: the context a service is started with (db, transport, workers).
//! - [`telemetry`]: JSON logs.
#![forbid(unsafe_code)]

pub mod answers;
pub mod auth;
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
pub mod internal;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod liveness;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod paging;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod time;

pub use db::{Db, Dialect, Migration};
pub use events::{Envelope, Transport};
