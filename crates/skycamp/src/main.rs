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
    Up {
        /// Run each service as its own OS process instead, sharing the data dir.
        #[arg(long)]
        processes: bool,
        /// PostgreSQL for every service (a schema each); default: SQLite files in the data dir.
        #[arg(long, env = "SKYCAMP_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Run one service (what a container runs).
    Serve {
        service: Service,
        /// Port to listen on (default: the service's own, 8080–8087).
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
        #[arg(long, env = "SKYCAMP_CAMPSITE_URL", default_value = "http://127.0.0.1:8084")]
        campsite_url: String,
        #[arg(long, env = "SKYCAMP_MILEAGE_URL", default_value = "http://127.0.0.1:8085")]
        mileage_url: String,
        #[arg(long, env = "SKYCAMP_NOTIFICATION_URL", default_value = "http://127.0.0.1:8086")]
        notification_url: String,
        #[arg(long, env = "SKYCAMP_REVIEW_URL", default_value = "http://127.0.0.1:8087")]
        review_url: String,
        #[command(flatten)]
        common: Common,
    },
    /// Measure bookings and reads through the gateway.
    Bench(skycamp::bench::BenchArgs),
    /// Check that the services agree on seats, nights and money; exit 1 on any mismatch.
    Audit(skycamp::audit::AuditArgs),
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
    #[arg(long, env = "SKYCAMP_CAMPSITE_PORT", default_value_t = 8084)]
    campsite_port: u16,
    #[arg(long, env = "SKYCAMP_MILEAGE_PORT", default_value_t = 8085)]
    mileage_port: u16,
    #[arg(long, env = "SKYCAMP_NOTIFICATION_PORT", default_value_t = 8086)]
    notification_port: u16,
    #[arg(long, env = "SKYCAMP_REVIEW_PORT", default_value_t = 8087)]
    review_port: u16,
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
    /// Longest campsite stay, in nights.
    #[arg(long, env = "SKYCAMP_MAX_NIGHTS", default_value_t = 14)]
    max_nights: i64,
    /// Percent of each approved payment credited as mileage points.
    #[arg(long, env = "SKYCAMP_MILEAGE_PERCENT", default_value_t = 1)]
    mileage_percent: i64,
    /// Mileage points per review.
    #[arg(long, env = "SKYCAMP_MILEAGE_PER_REVIEW", default_value_t = 500)]
    mileage_per_review: i64,
    /// Share of failed payment calls (0–1] in the breaker's window that opens it.
    #[arg(long, env = "SKYCAMP_BREAKER_FAILURE_RATE", default_value_t = 0.5)]
    breaker_failure_rate: f64,
    /// Payment calls the breaker's failure rate is computed over.
    #[arg(long, env = "SKYCAMP_BREAKER_WINDOW", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    breaker_window: u64,
    /// Payment calls needed before the breaker may open.
    #[arg(long, env = "SKYCAMP_BREAKER_MIN_CALLS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    breaker_min_calls: u64,
    /// How long the breaker stays open before probing, in milliseconds.
    #[arg(long, env = "SKYCAMP_BREAKER_OPEN_MS", default_value_t = 5_000)]
    breaker_open_ms: u64,
    /// Proxied requests the gateway lets in flight at once; more get 503 at once.
    #[arg(long, env = "SKYCAMP_GATEWAY_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    gateway_max_in_flight: u64,
    /// Requests per second each client IP may sustain at the gateway (0: no limit); more get 429.
    #[arg(long, env = "SKYCAMP_GATEWAY_RATE_PER_CLIENT", default_value_t = 0)]
    gateway_rate_per_client: u32,
    /// Requests a client may send at once above its rate.
    #[arg(long, env = "SKYCAMP_GATEWAY_RATE_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    gateway_rate_burst: u32,
    /// Failures of one event before a consumer parks it as a dead letter and goes on.
    #[arg(long, env = "SKYCAMP_CONSUMER_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    consumer_max_attempts: u32,
    /// How long a paid reservation may wait for the flight or campsite service before it counts as stuck, in ms.
    #[arg(long, env = "SKYCAMP_INVENTORY_DEADLINE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    inventory_deadline_ms: u64,
    /// How long Idempotency-Keys are kept, in hours (at least 24).
    #[arg(long, env = "SKYCAMP_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(24..=24 * 365))]
    idempotency_retention_hours: u64,
    /// Deliver customer messages as JSON POSTs to this URL (default: to the log).
    #[arg(long, env = "SKYCAMP_NOTIFY_WEBHOOK_URL")]
    notify_webhook_url: Option<String>,
}

impl Common {
    /// The settings `serve_args` does not carry, for child processes.
    fn passthrough(&self) -> Vec<String> {
        let mut args = vec![
            format!("--log-level={}", self.log_level),
            format!("--payment-decline-above={}", self.payment_decline_above),
            format!("--payment-timeout-ms={}", self.payment_timeout_ms),
            format!("--pending-timeout-ms={}", self.pending_timeout_ms),
            format!("--gateway-timeout-ms={}", self.gateway_timeout_ms),
            format!("--drain-ms={}", self.drain_ms),
            format!("--max-nights={}", self.max_nights),
            format!("--mileage-percent={}", self.mileage_percent),
            format!("--mileage-per-review={}", self.mileage_per_review),
            format!("--breaker-failure-rate={}", self.breaker_failure_rate),
            format!("--breaker-window={}", self.breaker_window),
            format!("--breaker-min-calls={}", self.breaker_min_calls),
            format!("--breaker-open-ms={}", self.breaker_open_ms),
            format!("--gateway-max-in-flight={}", self.gateway_max_in_flight),
            format!("--gateway-rate-per-client={}", self.gateway_rate_per_client),
            format!("--gateway-rate-burst={}", self.gateway_rate_burst),
            format!("--consumer-max-attempts={}", self.consumer_max_attempts),
            format!("--inventory-deadline-ms={}", self.inventory_deadline_ms),
            format!("--idempotency-retention-hours={}", self.idempotency_retention_hours),
        ];
        args.extend(self.notify_webhook_url.iter().map(|u| format!("--notify-webhook-url={u}")));
        args
    }

    fn settings(&self) -> Settings {
        let mut s = Settings::new(self.data_dir.clone());
        s.bind = self.bind;
        s.ports.insert(Service::Gateway, self.gateway_port);
        s.ports.insert(Service::Reservation, self.reservation_port);
        s.ports.insert(Service::Flight, self.flight_port);
        s.ports.insert(Service::Payment, self.payment_port);
        s.ports.insert(Service::Campsite, self.campsite_port);
        s.ports.insert(Service::Mileage, self.mileage_port);
        s.ports.insert(Service::Notification, self.notification_port);
        s.ports.insert(Service::Review, self.review_port);
        s.payment_decline_above = self.payment_decline_above;
        s.payment_timeout = Duration::from_millis(self.payment_timeout_ms);
        s.pending_timeout = Duration::from_millis(self.pending_timeout_ms);
        s.gateway_timeout = Duration::from_millis(self.gateway_timeout_ms);
        s.drain = Duration::from_millis(self.drain_ms);
        s.max_nights = self.max_nights;
        s.mileage = skycamp_mileage::domain::Rules {
            percent_of_payment: self.mileage_percent,
            per_review: self.mileage_per_review,
        };
        s.notification.webhook_url = self.notify_webhook_url.clone();
        s.gateway_limits = skycamp_gateway::Limits {
            max_in_flight: self.gateway_max_in_flight as usize,
            per_client_per_second: self.gateway_rate_per_client,
            burst: self.gateway_rate_burst,
        };
        s.consumer_max_attempts = self.consumer_max_attempts;
        s.inventory_deadline = Duration::from_millis(self.inventory_deadline_ms);
        s.idempotency_retention = Duration::from_secs(self.idempotency_retention_hours * 3600);
        s.breaker = skycamp_reservation::payment_client::BreakerConfig {
            failure_rate: self.breaker_failure_rate,
            window: self.breaker_window as usize,
            min_calls: self.breaker_min_calls as usize,
            open_for: Duration::from_millis(self.breaker_open_ms),
            half_open_calls: 2,
        };
        s
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up { processes: false, database_url, common } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let mut settings = common.settings();
            settings.database_url = database_url;
            let running = app::start(&settings, &Service::ALL).await?;
            running.run_until_signalled().await
        }
        Command::Up { processes: true, database_url, common } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let settings = common.settings();
            let mut passthrough = common.passthrough();
            passthrough.extend(database_url.map(|url| format!("--database-url={url}")));
            let children = skycamp::processes::spawn_all(&settings, &passthrough)?;
            skycamp::processes::supervise(children).await
        }
        Command::Serve {
            service,
            port,
            database_url,
            flight_url,
            reservation_url,
            payment_url,
            campsite_url,
            mileage_url,
            notification_url,
            review_url,
            common,
        } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let mut settings = common.settings();
            settings.database_url = database_url;
            if let Some(port) = port {
                settings.ports.insert(service, port);
            }
            settings.remote.insert(Service::Flight, flight_url);
            settings.remote.insert(Service::Reservation, reservation_url);
            settings.remote.insert(Service::Payment, payment_url);
            settings.remote.insert(Service::Campsite, campsite_url);
            settings.remote.insert(Service::Mileage, mileage_url);
            settings.remote.insert(Service::Notification, notification_url);
            settings.remote.insert(Service::Review, review_url);
            let running = app::start(&settings, &[service]).await?;
            running.run_until_signalled().await
        }
        Command::Bench(args) => skycamp::bench::run(args).await,
        Command::Audit(args) => skycamp::audit::run(args).await,
    }
}
