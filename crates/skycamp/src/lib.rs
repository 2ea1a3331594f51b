//! The `skycamp` binary's library: the composition root that builds every service from its
//! settings, plus the benchmark. `main.rs` only parses the command line.
//!
//! - [`app`]: starts some or all services in this process and stops them cleanly.
//! - [`audit`]: checks that services agree on seats, nights and money.
//! - [`processes`]: `skycamp up --processes`, one OS process per service.
//! - [`bench`]: measures bookings and reads through the gateway.
//! - [`ratios`]: the limits `bench --ratios` measures them against in the same run.
//! - `chaos` (feature `chaos`, tests only): a transport that duplicates and reorders events.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod bench;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod config;
pub mod openapi;
pub mod processes;
pub mod ratios;
