//! Integration tests of the whole platform, in one test binary so they compile once.

mod access;
mod audit;
mod bad_input;
mod breaker;
mod camping;
mod camping_race;
mod chaos;
mod cluster;
mod config;
mod contract;
mod dead_letters;
mod deploy;
mod e2e;
#[cfg(feature = "chaos")]
mod faulty_transport;
mod fuzz;
mod hostile;
mod idempotency;
mod image;
mod observability;
mod oidc;
mod race;
mod reconcile;
mod redelivery;
mod relays;
mod restart;
mod scaleout;
mod seed_httpie;
mod stuck;
mod support;
mod web;
