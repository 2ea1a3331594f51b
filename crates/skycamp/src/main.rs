//! `skycamp`: run the whole platform (`up`), one service (`serve`), or the benchmark (`bench`).
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use skycamp::app::{self, Service, Settings};

#[derive(Parser)]
#[command(name = "skycamp", version, about = "Flight and campsite reservations as event-driven microservices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process, each on its own port (the embedded default).
    Up(Common),
    /// Run one service (what a container runs).
    Serve {
        service: Service,
        /// Port to listen on (default: the service's own, 8080–8083).
        #[arg(long, env = "SKYCAMP_PORT")]
        port: Option<u16>,
        /// Database URL (`postgres://…` or `sqlite://…`); default: a SQLite file in the data dir.
        #[arg(long, env = "SKYCAMP_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        #[arg(long, env = "SKYCAMP_FLIGHT_URL", default_value = "http://127.0.0.1:8082")]
        flight_url: String,
        #[arg(long, env = "SKYCAMP_RESERVATION_URL", default_value = "http://127.0.0.1:8081")]
        reservation_url: String,
        #[arg(long, env = "SKYCAMP_PAYMENT_URL", default_value = "http://127.0.0.1:8083")]
        payment_url: String,
        #[command(flatten)]
        common: Common,
    },
    /// Measure bookings and reads through the gateway.
    Bench(skycamp::bench::BenchArgs),
}

/// Options every service-running command takes.
#[derive(Args, Clone)]
struct Common {
    /// Where the SQLite files and the event log live.
    #[arg(long, env = "SKYCAMP_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Address to listen on (loopback by default: only the gateway should face outside).
    #[arg(long, env = "SKYCAMP_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    #[arg(long, env = "SKYCAMP_GATEWAY_PORT", default_value_t = 8080)]
    gateway_port: u16,
    #[arg(long, env = "SKYCAMP_RESERVATION_PORT", default_value_t = 8081)]
    reservation_port: u16,
    #[arg(long, env = "SKYCAMP_FLIGHT_PORT", default_value_t = 8082)]
    flight_port: u16,
    #[arg(long, env = "SKYCAMP_PAYMENT_PORT", default_value_t = 8083)]
    payment_port: u16,
    /// Log filter (tracing syntax), e.g. `info` or `skycamp_reservation=debug,info`.
    #[arg(long, env = "SKYCAMP_LOG", default_value = "info")]
    log_level: String,
    /// Charges above this many KRW are declined.
    #[arg(long, env = "SKYCAMP_PAYMENT_DECLINE_ABOVE", default_value_t = 10_000_000)]
    payment_decline_above: i64,
    /// Timeout of the synchronous payment call, in milliseconds.
    #[arg(long, env = "SKYCAMP_PAYMENT_TIMEOUT_MS", default_value_t = 3_000)]
    payment_timeout_ms: u64,
    /// Age at which a reservation stuck in PENDING_PAYMENT is reconciled, in milliseconds.
    #[arg(long, env = "SKYCAMP_PENDING_TIMEOUT_MS", default_value_t = 15_000)]
    pending_timeout_ms: u64,
    /// How long the gateway waits for a service, in milliseconds.
    #[arg(long, env = "SKYCAMP_GATEWAY_TIMEOUT_MS", default_value_t = 10_000)]
    gateway_timeout_ms: u64,
    /// How long /readyz reports draining before listeners close on SIGTERM, in milliseconds.
    #[arg(long, env = "SKYCAMP_DRAIN_MS", default_value_t = 0)]
    drain_ms: u64,
}

impl Common {
    fn settings(&self) -> Settings {
        let mut s = Settings::new(self.data_dir.clone());
        s.bind = self.bind;
        s.ports.insert(Service::Gateway, self.gateway_port);
        s.ports.insert(Service::Reservation, self.reservation_port);
        s.ports.insert(Service::Flight, self.flight_port);
        s.ports.insert(Service::Payment, self.payment_port);
        s.payment_decline_above = self.payment_decline_above;
        s.payment_timeout = Duration::from_millis(self.payment_timeout_ms);
        s.pending_timeout = Duration::from_millis(self.pending_timeout_ms);
        s.gateway_timeout = Duration::from_millis(self.gateway_timeout_ms);
        s.drain = Duration::from_millis(self.drain_ms);
        s
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(common) => {
            skycamp_platform::telemetry::init(&common.log_level);
            let running = app::start(&common.settings(), &Service::ALL).await?;
            running.run_until_signalled().await
        }
        Command::Serve { service, port, database_url, flight_url, reservation_url, payment_url, common } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let mut settings = common.settings();
            settings.database_url = database_url;
            if let Some(port) = port {
                settings.ports.insert(service, port);
            }
            settings.remote.insert(Service::Flight, flight_url);
            settings.remote.insert(Service::Reservation, reservation_url);
            settings.remote.insert(Service::Payment, payment_url);
            let running = app::start(&settings, &[service]).await?;
            running.run_until_signalled().await
        }
        Command::Bench(args) => skycamp::bench::run(args).await,
    }
}
