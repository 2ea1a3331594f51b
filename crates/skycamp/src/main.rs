//! `skycamp`: run the whole platform (`up`), one service (`serve`), or the benchmark (`bench`).
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use skycamp::app::{self, Service, Settings};
use skycamp::config;

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
        /// With --processes: instances of every service (more than one needs PostgreSQL and
        /// Kafka); instance k listens on the service's port + 100·k.
        #[arg(long, env = "SKYCAMP_INSTANCES", default_value_t = 1, requires = "processes", value_parser = clap::value_parser!(u16).range(1..=50))]
        instances: u16,
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
    /// How far back the breaker's window looks, in milliseconds.
    #[arg(long, env = "SKYCAMP_BREAKER_WINDOW_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    breaker_window_ms: u64,
    /// A payment call slower than this (ms) counts as slow, even when it succeeds.
    #[arg(long, env = "SKYCAMP_BREAKER_SLOW_CALL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    breaker_slow_call_ms: u64,
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
    /// How long inbox entries are kept, in hours; an event older than this is parked, not applied.
    #[arg(long, env = "SKYCAMP_INBOX_RETENTION_HOURS", default_value_t = 720, value_parser = clap::value_parser!(u64).range(24..=24 * 3650))]
    inbox_retention_hours: u64,
    /// How long the embedded event log keeps records every consumer handled, in hours.
    #[arg(long, env = "SKYCAMP_EVENT_LOG_RETENTION_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=24 * 3650))]
    event_log_retention_hours: u64,
    /// Deliver customer messages as JSON POSTs to this URL (default: to the log).
    #[arg(long, env = "SKYCAMP_NOTIFY_WEBHOOK_URL")]
    notify_webhook_url: Option<String>,
    /// Kafka bootstrap servers (`host:port,…`): events go over Kafka instead of the embedded log.
    #[arg(long, env = "SKYCAMP_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Partitions of each topic Skycamp creates.
    #[arg(long, env = "SKYCAMP_KAFKA_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    kafka_partitions: i32,
    /// Replication factor of each topic Skycamp creates.
    #[arg(long, env = "SKYCAMP_KAFKA_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=32))]
    kafka_replication: i32,
    /// How long a consumer group waits for a silent instance before moving its partitions, in ms.
    #[arg(long, env = "SKYCAMP_KAFKA_SESSION_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    kafka_session_timeout_ms: u64,
    /// Prefix of every topic and consumer group name, so several platforms can share a cluster.
    #[arg(long, env = "SKYCAMP_KAFKA_NAMESPACE", default_value = "")]
    kafka_namespace: String,
    /// Connections every server keeps open at once; one more is answered 503 and closed.
    #[arg(long, env = "SKYCAMP_HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    http_max_connections: u64,
    /// How long a client may take to send a request head, and may idle between requests, in ms.
    #[arg(long, env = "SKYCAMP_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    http_header_timeout_ms: u64,
    /// How long a client may take to send a whole request body, in ms.
    #[arg(long, env = "SKYCAMP_HTTP_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    http_body_timeout_ms: u64,
    /// Chaos testing only: publish every event twice, the first time out of order.
    #[arg(long, hide = true)]
    faulty_transport: bool,
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
            format!("--breaker-window-ms={}", self.breaker_window_ms),
            format!("--breaker-slow-call-ms={}", self.breaker_slow_call_ms),
            format!("--http-max-connections={}", self.http_max_connections),
            format!("--http-header-timeout-ms={}", self.http_header_timeout_ms),
            format!("--http-body-timeout-ms={}", self.http_body_timeout_ms),
            format!("--breaker-min-calls={}", self.breaker_min_calls),
            format!("--breaker-open-ms={}", self.breaker_open_ms),
            format!("--gateway-max-in-flight={}", self.gateway_max_in_flight),
            format!("--gateway-rate-per-client={}", self.gateway_rate_per_client),
            format!("--gateway-rate-burst={}", self.gateway_rate_burst),
            format!("--consumer-max-attempts={}", self.consumer_max_attempts),
            format!("--inventory-deadline-ms={}", self.inventory_deadline_ms),
            format!("--idempotency-retention-hours={}", self.idempotency_retention_hours),
            format!("--inbox-retention-hours={}", self.inbox_retention_hours),
            format!("--event-log-retention-hours={}", self.event_log_retention_hours),
        ];
        args.extend(self.notify_webhook_url.iter().map(|u| format!("--notify-webhook-url={u}")));
        args.extend(self.faulty_transport.then(|| "--faulty-transport".to_owned()));
        if let Some(brokers) = &self.kafka_brokers {
            args.extend([
                format!("--kafka-brokers={brokers}"),
                format!("--kafka-partitions={}", self.kafka_partitions),
                format!("--kafka-replication={}", self.kafka_replication),
                format!("--kafka-session-timeout-ms={}", self.kafka_session_timeout_ms),
                format!("--kafka-namespace={}", self.kafka_namespace),
            ]);
        }
        args
    }

    /// The settings, after the checks clap's parsers cannot make; errors name the variable.
    /// `key_required`: the internal key must come from `SKYCAMP_INTERNAL_KEY` (a service that
    /// signs or checks charges, started on its own).
    fn settings(&self, database_url: Option<String>, key_required: bool) -> anyhow::Result<Settings> {
        let internal_key = config::internal_key("SKYCAMP_INTERNAL_KEY", key_required)?;
        config::check_database_url("SKYCAMP_DATABASE_URL", database_url.as_deref())?;
        config::check_url("SKYCAMP_NOTIFY_WEBHOOK_URL", self.notify_webhook_url.as_deref())?;
        config::check_rate("SKYCAMP_BREAKER_FAILURE_RATE", self.breaker_failure_rate)?;
        anyhow::ensure!(
            self.inbox_retention_hours >= self.event_log_retention_hours,
            "invalid SKYCAMP_INBOX_RETENTION_HOURS: {} h is shorter than SKYCAMP_EVENT_LOG_RETENTION_HOURS ({} h); \
             events still in the log would be too old to apply",
            self.inbox_retention_hours,
            self.event_log_retention_hours
        );
        let kafka = match &self.kafka_brokers {
            None => None,
            Some(brokers) => {
                config::check_brokers("SKYCAMP_KAFKA_BROKERS", brokers)?;
                config::check_name("SKYCAMP_KAFKA_NAMESPACE", &self.kafka_namespace)?;
                Some(app::KafkaSettings {
                    brokers: brokers.clone(),
                    partitions: self.kafka_partitions,
                    replication: self.kafka_replication,
                    session_timeout: Duration::from_millis(self.kafka_session_timeout_ms),
                    namespace: self.kafka_namespace.clone(),
                })
            }
        };
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
        s.inbox_retention = Duration::from_secs(self.inbox_retention_hours * 3600);
        s.event_log_retention = Duration::from_secs(self.event_log_retention_hours * 3600);
        s.breaker = skycamp_reservation::payment_client::BreakerConfig {
            failure_rate: self.breaker_failure_rate,
            window: Duration::from_millis(self.breaker_window_ms),
            min_calls: self.breaker_min_calls as usize,
            slow_call: Duration::from_millis(self.breaker_slow_call_ms),
            open_for: Duration::from_millis(self.breaker_open_ms),
            half_open_calls: 2,
        };
        s.http_limits = skycamp_platform::server::ClientLimits {
            max_connections: self.http_max_connections as usize,
            header_timeout: Duration::from_millis(self.http_header_timeout_ms),
            body_timeout: Duration::from_millis(self.http_body_timeout_ms),
        };
        s.kafka = kafka;
        s.faulty_transport = self.faulty_transport;
        s.database_url = database_url;
        if let Some(key) = internal_key {
            s.internal_key = key;
        }
        Ok(s)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "skycamp stopped");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let argv: Vec<String> = std::env::args().collect();
            if let Some(var) = config::variable_behind(&e, &Cli::command(), &argv) {
                eprintln!("error: invalid {var} (set in the environment)");
            }
            e.exit()
        }
    };
    match cli.command {
        Command::Up { processes: false, database_url, common, .. } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let settings = common.settings(database_url, false)?;
            let running = app::start(&settings, &Service::ALL).await?;
            running.run_until_signalled().await
        }
        Command::Up { processes: true, instances, database_url, common } => {
            skycamp_platform::telemetry::init(&common.log_level);
            let settings = common.settings(database_url, false)?;
            let postgres = settings.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
            let shared = settings.kafka.is_some() && postgres;
            anyhow::ensure!(
                instances == 1 || shared,
                "invalid SKYCAMP_INSTANCES: {instances} instances of each service need SKYCAMP_KAFKA_BROKERS and a postgres:// SKYCAMP_DATABASE_URL"
            );
            let layout = skycamp::processes::layout(&settings, instances)?;
            let mut passthrough = common.passthrough();
            passthrough.extend(settings.database_url.iter().map(|url| format!("--database-url={url}")));
            let children = skycamp::processes::spawn_all(&settings, &layout, &passthrough)?;
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
            let signs_charges = matches!(service, Service::Payment | Service::Reservation);
            let mut settings = common.settings(database_url, signs_charges)?;
            if let Some(port) = port {
                settings.ports.insert(service, port);
            }
            for (s, var, urls) in [
                (Service::Flight, "SKYCAMP_FLIGHT_URL", flight_url),
                (Service::Reservation, "SKYCAMP_RESERVATION_URL", reservation_url),
                (Service::Payment, "SKYCAMP_PAYMENT_URL", payment_url),
                (Service::Campsite, "SKYCAMP_CAMPSITE_URL", campsite_url),
                (Service::Mileage, "SKYCAMP_MILEAGE_URL", mileage_url),
                (Service::Notification, "SKYCAMP_NOTIFICATION_URL", notification_url),
                (Service::Review, "SKYCAMP_REVIEW_URL", review_url),
            ] {
                config::check_urls(var, &urls)?;
                settings.remote.insert(s, urls);
            }
            let running = app::start(&settings, &[service]).await?;
            running.run_until_signalled().await
        }
        Command::Bench(args) => skycamp::bench::run(args).await,
        Command::Audit(args) => skycamp::audit::run(args).await,
    }
}
