//! One typed configuration. Every setting of a service-running command is read from its flag,
//! its `SKYCAMP_*` variable, or a settings file (`--config`, `SKYCAMP_CONFIG`), in that order of
//! precedence; a setting given nowhere keeps its default, written once: in [`Settings::new`] and
//! the `Default`s of the service crates it hands settings to. Everything is checked at start-up,
//! and every error names the variable to fix (each has a `--flag` twin of the same name), so a bad
//! ConfigMap fails the pod at once with a message that says where to look.
//!
//! Secrets (the database URL, the internal key) are wrapped so they never print, and `up
//! --processes` hands every setting to its children through the environment, never on a command
//! line that other users can read in `ps`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use clap::parser::ValueSource;
use secrecy::{ExposeSecret, SecretString};
use skycamp_platform::endpoints::Endpoints;

use crate::app::{KafkaSettings, Service, Settings};

/// Where the SQLite files and the event log live when nothing else is said.
const DEFAULT_DATA_DIR: &str = "data";

/// Every setting of a command that runs services. None means "not given": the default applies.
#[derive(Args, Clone, Debug, Default)]
pub struct Options {
    /// A settings file of `SKYCAMP_NAME=value` lines (what a ConfigMap's `envFrom` holds); flags
    /// and the environment win over it.
    #[arg(long, env = "SKYCAMP_CONFIG")]
    pub config: Option<PathBuf>,
    /// PostgreSQL for every service (a schema each), or `sqlite://…`; default: SQLite files in
    /// the data dir.
    #[arg(long, env = "SKYCAMP_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the SQLite files and the event log live [default: data].
    #[arg(long, env = "SKYCAMP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1; only the gateway should face outside].
    #[arg(long, env = "SKYCAMP_BIND")]
    pub bind: Option<IpAddr>,
    #[arg(long, env = "SKYCAMP_GATEWAY_PORT")]
    pub gateway_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_RESERVATION_PORT")]
    pub reservation_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_FLIGHT_PORT")]
    pub flight_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_PAYMENT_PORT")]
    pub payment_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_CAMPSITE_PORT")]
    pub campsite_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_MILEAGE_PORT")]
    pub mileage_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_NOTIFICATION_PORT")]
    pub notification_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_REVIEW_PORT")]
    pub review_port: Option<u16>,
    #[arg(long, env = "SKYCAMP_ACCOUNT_PORT")]
    pub account_port: Option<u16>,
    /// How callers prove who they are: off (everyone may do everything), local (Skycamp's own
    /// accounts) or oidc (an OpenID Connect provider) [default: off].
    #[arg(long, env = "SKYCAMP_AUTH")]
    pub auth: Option<crate::app::AuthMode>,
    /// The tokens' issuer: with oidc the provider's URL (discovery starts there) [default: skycamp].
    #[arg(long, env = "SKYCAMP_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// An audience tokens must name [default: skycamp].
    #[arg(long, env = "SKYCAMP_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
    /// With oidc: the claim holding roles, a dotted path such as `realm_access.roles` [default: roles].
    #[arg(long, env = "SKYCAMP_AUTH_ROLES_CLAIM")]
    pub auth_roles_claim: Option<String>,
    /// With oidc: the role that makes an admin [default: admin].
    #[arg(long, env = "SKYCAMP_AUTH_ADMIN_ROLE")]
    pub auth_admin_role: Option<String>,
    /// With oidc: the web sites' client at the provider, for signing in in a browser (the
    /// authorization code flow with PKCE; its secret is SKYCAMP_AUTH_CLIENT_SECRET). Without it
    /// the sites offer no sign-in with oidc.
    #[arg(long, env = "SKYCAMP_AUTH_CLIENT_ID")]
    pub auth_client_id: Option<String>,
    /// With oidc: the scopes the web sites ask for, space-separated; add what the provider needs
    /// to issue access tokens for SKYCAMP_AUTH_AUDIENCE [default: openid].
    #[arg(long, env = "SKYCAMP_AUTH_SCOPE")]
    pub auth_scope: Option<String>,
    /// Lifetime of the tokens Skycamp issues, in seconds [default: 900].
    #[arg(long, env = "SKYCAMP_TOKEN_TTL_SECS", value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub token_ttl_secs: Option<u64>,
    /// Log filter (tracing syntax), e.g. `info` or `skycamp_reservation=debug,info`.
    #[arg(long, env = "SKYCAMP_LOG")]
    pub log_level: Option<String>,
    /// Record metrics and serve them at `/metrics` on every port [default: on].
    #[arg(long, env = "SKYCAMP_METRICS")]
    pub metrics: Option<Switch>,
    /// Export trace spans over OTLP/HTTP to this collector base URL (spans go to its
    /// `/v1/traces`), e.g. `http://otel-collector:4318`; default: not exported.
    #[arg(long, env = "SKYCAMP_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Charges above this many KRW are declined.
    #[arg(long, env = "SKYCAMP_PAYMENT_DECLINE_ABOVE")]
    pub payment_decline_above: Option<i64>,
    /// Timeout of the synchronous payment call, in milliseconds.
    #[arg(long, env = "SKYCAMP_PAYMENT_TIMEOUT_MS")]
    pub payment_timeout_ms: Option<u64>,
    /// Age at which a reservation stuck in PENDING_PAYMENT is reconciled, in milliseconds.
    #[arg(long, env = "SKYCAMP_PENDING_TIMEOUT_MS")]
    pub pending_timeout_ms: Option<u64>,
    /// How long the gateway waits for a service's answer to begin, and then for each part of its
    /// body, in milliseconds.
    #[arg(long, env = "SKYCAMP_GATEWAY_TIMEOUT_MS")]
    pub gateway_timeout_ms: Option<u64>,
    /// How long /readyz reports draining before listeners close on SIGTERM, in milliseconds.
    #[arg(long, env = "SKYCAMP_DRAIN_MS")]
    pub drain_ms: Option<u64>,
    /// Longest campsite stay, in nights.
    #[arg(long, env = "SKYCAMP_MAX_NIGHTS", value_parser = clap::value_parser!(i64).range(1..=365))]
    pub max_nights: Option<i64>,
    /// Percent of each approved payment credited as mileage points.
    #[arg(long, env = "SKYCAMP_MILEAGE_PERCENT", value_parser = clap::value_parser!(i64).range(0..=100))]
    pub mileage_percent: Option<i64>,
    /// Mileage points per review.
    #[arg(long, env = "SKYCAMP_MILEAGE_PER_REVIEW", value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub mileage_per_review: Option<i64>,
    /// Share of failed payment calls (0–1] in the breaker's window that opens it.
    #[arg(long, env = "SKYCAMP_BREAKER_FAILURE_RATE")]
    pub breaker_failure_rate: Option<f64>,
    /// How far back the breaker's window looks, in milliseconds.
    #[arg(long, env = "SKYCAMP_BREAKER_WINDOW_MS", value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub breaker_window_ms: Option<u64>,
    /// A payment call slower than this (ms) counts as slow, even when it succeeds.
    #[arg(long, env = "SKYCAMP_BREAKER_SLOW_CALL_MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub breaker_slow_call_ms: Option<u64>,
    /// Payment calls needed before the breaker may open.
    #[arg(long, env = "SKYCAMP_BREAKER_MIN_CALLS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub breaker_min_calls: Option<u64>,
    /// How long the breaker stays open before probing, in milliseconds.
    #[arg(long, env = "SKYCAMP_BREAKER_OPEN_MS")]
    pub breaker_open_ms: Option<u64>,
    /// Proxied requests the gateway lets in flight at once; more get 503 at once.
    #[arg(long, env = "SKYCAMP_GATEWAY_MAX_IN_FLIGHT", value_parser = clap::value_parser!(u64).range(1..))]
    pub gateway_max_in_flight: Option<u64>,
    /// Requests per second each client IP may sustain at the gateway (0: no limit); more get 429.
    #[arg(long, env = "SKYCAMP_GATEWAY_RATE_PER_CLIENT")]
    pub gateway_rate_per_client: Option<u32>,
    /// Requests a client may send at once above its rate.
    #[arg(long, env = "SKYCAMP_GATEWAY_RATE_BURST", value_parser = clap::value_parser!(u32).range(1..))]
    pub gateway_rate_burst: Option<u32>,
    /// Sign-ins and sign-ups per minute each client IP may make at the gateway (0: no limit).
    #[arg(long, env = "SKYCAMP_SIGN_IN_RATE_PER_MINUTE", value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub sign_in_rate_per_minute: Option<u32>,
    /// Sign-ins a client may make at once above that rate.
    #[arg(long, env = "SKYCAMP_SIGN_IN_BURST", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sign_in_burst: Option<u32>,
    /// Failures of one event before a consumer parks it as a dead letter and goes on.
    #[arg(long, env = "SKYCAMP_CONSUMER_MAX_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..))]
    pub consumer_max_attempts: Option<u32>,
    /// How long a paid reservation may wait for the flight or campsite service before it counts as stuck, in ms.
    #[arg(long, env = "SKYCAMP_INVENTORY_DEADLINE_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub inventory_deadline_ms: Option<u64>,
    /// How long Idempotency-Keys are kept, in hours (at least 24).
    #[arg(long, env = "SKYCAMP_IDEMPOTENCY_RETENTION_HOURS", value_parser = clap::value_parser!(u64).range(24..=24 * 365))]
    pub idempotency_retention_hours: Option<u64>,
    /// How long inbox entries are kept, in hours; an event older than this is parked, not applied.
    #[arg(long, env = "SKYCAMP_INBOX_RETENTION_HOURS", value_parser = clap::value_parser!(u64).range(24..=24 * 3650))]
    pub inbox_retention_hours: Option<u64>,
    /// How long the embedded event log keeps records every consumer handled, in hours.
    #[arg(long, env = "SKYCAMP_EVENT_LOG_RETENTION_HOURS", value_parser = clap::value_parser!(u64).range(1..=24 * 3650))]
    pub event_log_retention_hours: Option<u64>,
    /// Deliver customer messages as JSON POSTs to this URL (default: to the log).
    #[arg(long, env = "SKYCAMP_NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,
    /// Kafka bootstrap servers (`host:port,…`): events go over Kafka instead of the embedded log.
    #[arg(long, env = "SKYCAMP_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Partitions of each topic Skycamp creates.
    #[arg(long, env = "SKYCAMP_KAFKA_PARTITIONS", value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub kafka_partitions: Option<i32>,
    /// Replication factor of each topic Skycamp creates.
    #[arg(long, env = "SKYCAMP_KAFKA_REPLICATION", value_parser = clap::value_parser!(i32).range(1..=32))]
    pub kafka_replication: Option<i32>,
    /// How long a consumer group waits for a silent instance before moving its partitions, in ms.
    #[arg(long, env = "SKYCAMP_KAFKA_SESSION_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub kafka_session_timeout_ms: Option<u64>,
    /// Prefix of every topic and consumer group name, so several platforms can share a cluster.
    #[arg(long, env = "SKYCAMP_KAFKA_NAMESPACE")]
    pub kafka_namespace: Option<String>,
    /// Connections every server keeps open at once; one more is answered 503 and closed.
    #[arg(long, env = "SKYCAMP_HTTP_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub http_max_connections: Option<u64>,
    /// How long a client may take to send a request head, and may idle between requests, in ms.
    #[arg(long, env = "SKYCAMP_HTTP_HEADER_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub http_header_timeout_ms: Option<u64>,
    /// How long a client may take to send a whole request body, in ms.
    #[arg(long, env = "SKYCAMP_HTTP_BODY_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub http_body_timeout_ms: Option<u64>,
    /// Chaos testing only: publish every event twice, the first time out of order.
    #[arg(long, env = "SKYCAMP_FAULTY_TRANSPORT", hide = true)]
    pub faulty_transport: bool,
    /// Chaos testing only: every publish panics, killing the outbox relays.
    #[arg(long, env = "SKYCAMP_PANICKING_TRANSPORT", hide = true)]
    pub panicking_transport: bool,
}

/// A feature turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Sets `$target` from `$value` (a `Copy` setting) when it was given, through `$f`.
macro_rules! given {
    ($value:expr, $target:expr) => {
        if let Some(v) = $value {
            $target = v;
        }
    };
    ($value:expr, $target:expr, $f:expr) => {
        if let Some(v) = $value {
            $target = $f(v);
        }
    };
}

impl Options {
    /// The log filter, for telemetry before anything else starts.
    pub fn log_level(&self) -> &str {
        self.log_level.as_deref().unwrap_or("info")
    }

    /// Installs logs and traces for this process (`service_name` names it in exported spans),
    /// before anything else starts.
    pub fn telemetry(&self, service_name: &str) -> anyhow::Result<skycamp_platform::telemetry::Telemetry> {
        check_url("SKYCAMP_OTLP_ENDPOINT", self.otlp_endpoint.as_deref())?;
        skycamp_platform::telemetry::init(self.log_level(), self.otlp_endpoint.as_deref(), service_name)
            .context("invalid SKYCAMP_OTLP_ENDPOINT")
    }

    /// The settings: the defaults with every given value applied, after the checks clap's
    /// parsers cannot make; errors name the variable. `key_required`: the internal key must come
    /// from `SKYCAMP_INTERNAL_KEY` (a service that signs or checks charges, started on its own).
    pub fn settings(&self, key_required: bool) -> anyhow::Result<Settings> {
        let ms = Duration::from_millis;
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let mut s = Settings::new(self.data_dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
        if let Some(key) = internal_key(INTERNAL_KEY, key_required)? {
            s.internal_key = key;
        }
        check_database_url("SKYCAMP_DATABASE_URL", self.database_url.as_deref())?;
        s.database_url = self.database_url.clone().map(SecretString::from);
        check_url("SKYCAMP_NOTIFY_WEBHOOK_URL", self.notify_webhook_url.as_deref())?;
        s.notification.webhook_url = self.notify_webhook_url.clone();
        given!(self.bind, s.bind);
        for (service, port) in [
            (Service::Gateway, self.gateway_port),
            (Service::Reservation, self.reservation_port),
            (Service::Flight, self.flight_port),
            (Service::Payment, self.payment_port),
            (Service::Campsite, self.campsite_port),
            (Service::Mileage, self.mileage_port),
            (Service::Notification, self.notification_port),
            (Service::Review, self.review_port),
            (Service::Account, self.account_port),
        ] {
            if let Some(port) = port {
                s.ports.insert(service, port);
            }
        }
        given!(self.payment_decline_above, s.payment_decline_above);
        given!(self.payment_timeout_ms, s.payment_timeout, ms);
        given!(self.pending_timeout_ms, s.pending_timeout, ms);
        given!(self.gateway_timeout_ms, s.gateway_timeout, ms);
        given!(self.drain_ms, s.drain, ms);
        given!(self.max_nights, s.max_nights);
        given!(self.mileage_percent, s.mileage.percent_of_payment);
        given!(self.mileage_per_review, s.mileage.per_review);
        if let Some(rate) = self.breaker_failure_rate {
            check_rate("SKYCAMP_BREAKER_FAILURE_RATE", rate)?;
            s.breaker.failure_rate = rate;
        }
        given!(self.breaker_window_ms, s.breaker.window, ms);
        given!(self.breaker_min_calls, s.breaker.min_calls, |n| n as usize);
        given!(self.breaker_slow_call_ms, s.breaker.slow_call, ms);
        given!(self.breaker_open_ms, s.breaker.open_for, ms);
        given!(self.gateway_max_in_flight, s.gateway_limits.max_in_flight, |n| n as usize);
        given!(self.gateway_rate_per_client, s.gateway_limits.per_client_per_second);
        given!(self.gateway_rate_burst, s.gateway_limits.burst);
        given!(self.sign_in_rate_per_minute, s.gateway_limits.sign_ins_per_minute);
        given!(self.sign_in_burst, s.gateway_limits.sign_in_burst);
        given!(self.consumer_max_attempts, s.consumer_max_attempts);
        given!(self.inventory_deadline_ms, s.inventory_deadline, ms);
        given!(self.idempotency_retention_hours, s.idempotency_retention, hours);
        given!(self.inbox_retention_hours, s.inbox_retention, hours);
        given!(self.event_log_retention_hours, s.event_log_retention, hours);
        ensure!(
            s.inbox_retention >= s.event_log_retention,
            "invalid SKYCAMP_INBOX_RETENTION_HOURS: {} h is shorter than SKYCAMP_EVENT_LOG_RETENTION_HOURS ({} h); \
             events still in the log would be too old to apply",
            s.inbox_retention.as_secs() / 3600,
            s.event_log_retention.as_secs() / 3600
        );
        given!(self.http_max_connections, s.http_limits.max_connections, |n| n as usize);
        given!(self.http_header_timeout_ms, s.http_limits.header_timeout, ms);
        given!(self.http_body_timeout_ms, s.http_limits.body_timeout, ms);
        if let Some(brokers) = &self.kafka_brokers {
            check_brokers("SKYCAMP_KAFKA_BROKERS", brokers)?;
            let mut kafka = KafkaSettings::new(brokers.clone());
            given!(self.kafka_partitions, kafka.partitions);
            given!(self.kafka_replication, kafka.replication);
            given!(self.kafka_session_timeout_ms, kafka.session_timeout, ms);
            if let Some(namespace) = &self.kafka_namespace {
                check_name("SKYCAMP_KAFKA_NAMESPACE", namespace)?;
                kafka.namespace = namespace.clone();
            }
            s.kafka = Some(kafka);
        }
        s.faulty_transport = self.faulty_transport;
        s.panicking_transport = self.panicking_transport;
        s.metrics = self.metrics != Some(Switch::Off);
        s.auth = self.auth_settings()?;
        Ok(s)
    }

    /// The authentication settings; the secrets come from the environment only.
    fn auth_settings(&self) -> anyhow::Result<crate::app::AuthSettings> {
        use crate::app::{AdminPassword, AuthMode};
        let mut auth = crate::app::AuthSettings::default();
        given!(self.auth, auth.mode);
        if let Some(issuer) = &self.auth_issuer {
            ensure!(!issuer.trim().is_empty(), "invalid SKYCAMP_AUTH_ISSUER: empty");
            auth.issuer = issuer.clone();
        }
        if auth.mode == AuthMode::Oidc {
            ensure!(
                self.auth_issuer.is_some(),
                "SKYCAMP_AUTH=oidc needs SKYCAMP_AUTH_ISSUER: the OpenID provider's issuer URL"
            );
            check_url("SKYCAMP_AUTH_ISSUER", Some(&auth.issuer))?;
        }
        for (var, value, target) in [
            ("SKYCAMP_AUTH_AUDIENCE", &self.auth_audience, &mut auth.audience),
            ("SKYCAMP_AUTH_ROLES_CLAIM", &self.auth_roles_claim, &mut auth.roles_claim),
            ("SKYCAMP_AUTH_ADMIN_ROLE", &self.auth_admin_role, &mut auth.admin_role),
        ] {
            if let Some(value) = value {
                ensure!(!value.trim().is_empty(), "invalid {var}: empty");
                *target = value.clone();
            }
        }
        given!(self.token_ttl_secs, auth.token_ttl, Duration::from_secs);
        if let Some(id) = &self.auth_client_id {
            ensure!(!id.trim().is_empty(), "invalid SKYCAMP_AUTH_CLIENT_ID: empty");
            auth.client_id = Some(id.clone());
        }
        if let Some(scope) = &self.auth_scope {
            ensure!(scope.split(' ').any(|s| s == "openid"), "invalid SKYCAMP_AUTH_SCOPE: it must include openid");
            auth.scope = scope.clone();
        }
        auth.client_secret = std::env::var(AUTH_CLIENT_SECRET).ok().filter(|s| !s.is_empty()).map(SecretString::from);
        if let Ok(keys) = std::env::var(TOKEN_KEYS) {
            let keys = SecretString::from(keys);
            skycamp_account::keys::SigningKeys::parse(&keys).context("invalid SKYCAMP_TOKEN_KEYS")?;
            auth.token_keys = Some(keys);
        }
        auth.admin_password = match (std::env::var(ADMIN_PASSWORD), std::env::var(ADMIN_PASSWORD_HASH)) {
            (Ok(_), Ok(_)) => {
                bail!("SKYCAMP_ADMIN_PASSWORD and SKYCAMP_ADMIN_PASSWORD_HASH are both set: give one")
            }
            (Ok(plain), _) => {
                skycamp_account::domain::check_password(&plain)
                    .map_err(|e| anyhow::anyhow!("invalid SKYCAMP_ADMIN_PASSWORD: {}", e.0))?;
                Some(AdminPassword::Plain(SecretString::from(plain)))
            }
            (_, Ok(hash)) => {
                ensure!(
                    skycamp_account::password::is_hash(hash.trim()),
                    "invalid SKYCAMP_ADMIN_PASSWORD_HASH: not an argon2 PHC string ($argon2id$v=19$…)"
                );
                Some(AdminPassword::Hash(hash.trim().to_owned()))
            }
            _ => None,
        };
        Ok(auth)
    }
}

/// Where `serve` finds the other services: base URLs, one per instance, comma-separated. A
/// service not given is found on its own port on 127.0.0.1.
#[derive(Args, Clone, Debug, Default)]
pub struct Peers {
    #[arg(long, env = "SKYCAMP_FLIGHT_URL")]
    pub flight_url: Option<String>,
    #[arg(long, env = "SKYCAMP_RESERVATION_URL")]
    pub reservation_url: Option<String>,
    #[arg(long, env = "SKYCAMP_PAYMENT_URL")]
    pub payment_url: Option<String>,
    #[arg(long, env = "SKYCAMP_CAMPSITE_URL")]
    pub campsite_url: Option<String>,
    #[arg(long, env = "SKYCAMP_MILEAGE_URL")]
    pub mileage_url: Option<String>,
    #[arg(long, env = "SKYCAMP_NOTIFICATION_URL")]
    pub notification_url: Option<String>,
    #[arg(long, env = "SKYCAMP_REVIEW_URL")]
    pub review_url: Option<String>,
    #[arg(long, env = "SKYCAMP_ACCOUNT_URL")]
    pub account_url: Option<String>,
}

impl Peers {
    /// Checks the given URLs and puts them in `settings`.
    pub fn apply(self, settings: &mut Settings) -> anyhow::Result<()> {
        for (service, var, urls) in [
            (Service::Flight, "SKYCAMP_FLIGHT_URL", self.flight_url),
            (Service::Reservation, "SKYCAMP_RESERVATION_URL", self.reservation_url),
            (Service::Payment, "SKYCAMP_PAYMENT_URL", self.payment_url),
            (Service::Campsite, "SKYCAMP_CAMPSITE_URL", self.campsite_url),
            (Service::Mileage, "SKYCAMP_MILEAGE_URL", self.mileage_url),
            (Service::Notification, "SKYCAMP_NOTIFICATION_URL", self.notification_url),
            (Service::Review, "SKYCAMP_REVIEW_URL", self.review_url),
            (Service::Account, "SKYCAMP_ACCOUNT_URL", self.account_url),
        ] {
            if let Some(urls) = urls {
                check_urls(var, &urls)?;
                settings.remote.insert(service, urls);
            }
        }
        Ok(())
    }
}

/// The secrets read from the environment only (never a flag or a settings file line).
pub const INTERNAL_KEY: &str = "SKYCAMP_INTERNAL_KEY";
pub const TOKEN_KEYS: &str = "SKYCAMP_TOKEN_KEYS";
pub const ADMIN_PASSWORD: &str = "SKYCAMP_ADMIN_PASSWORD";
pub const ADMIN_PASSWORD_HASH: &str = "SKYCAMP_ADMIN_PASSWORD_HASH";
/// The web sites' client secret at the OpenID provider.
pub const AUTH_CLIENT_SECRET: &str = "SKYCAMP_AUTH_CLIENT_SECRET";
pub const SECRETS: [&str; 5] = [INTERNAL_KEY, TOKEN_KEYS, ADMIN_PASSWORD, ADMIN_PASSWORD_HASH, AUTH_CLIENT_SECRET];

/// Every variable the services read (the `up` and `serve` commands of `command`, the whole
/// `skycamp` command line), with what it sets: each argument's variable with its help, then the
/// environment-only [`SECRETS`]. What `skycamp variables` prints, and what deployment files are
/// checked against.
pub fn variables(command: &clap::Command) -> std::collections::BTreeMap<String, String> {
    let mut all = std::collections::BTreeMap::new();
    for c in command.get_subcommands().filter(|c| matches!(c.get_name(), "up" | "serve")) {
        for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(name) = arg.get_env() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                all.entry(name.to_string_lossy().into_owned()).or_insert(help);
            }
        }
    }
    for name in SECRETS {
        all.insert(name.to_owned(), "secret, environment only (see README \"Configuration\")".to_owned());
    }
    all
}

/// The database URL, for code that must look at it (never print it).
pub fn database_url(settings: &Settings) -> Option<&str> {
    settings.database_url.as_ref().map(|url| url.expose_secret())
}

/// Reads the settings file named by `--config` or `SKYCAMP_CONFIG`, if any, and returns `argv`
/// with a `--flag=value` for every setting in it that neither the command line nor the
/// environment gives, and the names those came from (for error messages).
pub fn with_settings_file(argv: Vec<String>, command: &clap::Command) -> anyhow::Result<(Vec<String>, FileSettings)> {
    let from_flag = argv.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--config") {
        Some(rest) if rest.starts_with('=') => Some(rest[1..].to_owned()),
        Some("") => argv.get(i + 1).cloned(),
        _ => None,
    });
    let Some(path) = from_flag.or_else(|| std::env::var("SKYCAMP_CONFIG").ok()).filter(|p| !p.is_empty()) else {
        return Ok((argv, FileSettings::default()));
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("invalid SKYCAMP_CONFIG: cannot read {path}"))?;
    // Only the commands that run services take settings (`bench` and `audit` have their own).
    let subcommand = argv.iter().skip(1).find_map(|a| command.find_subcommand(a));
    let Some(subcommand) = subcommand.filter(|c| c.get_arguments().any(|a| a.get_id() == "config")) else {
        return Ok((argv, FileSettings::default()));
    };
    let mut args = argv.clone();
    let mut file = FileSettings { path: PathBuf::from(&path), longs: Vec::new() };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            bail!("invalid SKYCAMP_CONFIG: {path} line {}: expected SKYCAMP_NAME=value", n + 1)
        };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        ensure!(
            name != INTERNAL_KEY,
            "invalid SKYCAMP_CONFIG: {path} line {}: {INTERNAL_KEY} is a secret; give it in the environment (e.g. from a Kubernetes Secret)",
            n + 1
        );
        let Some(arg) = subcommand.get_arguments().find(|a| a.get_env().is_some_and(|e| e == name)) else {
            bail!(
                "invalid SKYCAMP_CONFIG: {path} line {}: {name} is not a setting of `skycamp {}`",
                n + 1,
                subcommand.get_name()
            )
        };
        let Some(long) = arg.get_long() else { continue };
        if on_command_line(&argv, long) || std::env::var_os(name).is_some() {
            continue;
        }
        args.push(format!("--{long}={value}"));
        file.longs.push((long.to_owned(), name.to_owned()));
    }
    Ok((args, file))
}

/// Whether `argv` gives the flag `--long` (as `--long value` or `--long=value`).
fn on_command_line(argv: &[String], long: &str) -> bool {
    argv.iter().any(|a| {
        a.strip_prefix("--")
            .and_then(|a| a.strip_prefix(long))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
    })
}

/// The settings a file gave: (flag, variable) pairs.
#[derive(Debug, Default)]
pub struct FileSettings {
    path: PathBuf,
    longs: Vec<(String, String)>,
}

impl FileSettings {
    /// The variable behind `--long`, when the settings file gave it.
    fn variable(&self, long: &str) -> Option<String> {
        self.longs.iter().find(|(l, _)| l == long).map(|(_, name)| format!("{name} (in {})", self.path.display()))
    }
}

/// The environment for a child process of `up --processes`: every setting given on the command
/// line (or in the settings file) as its variable. Settings from the environment are inherited
/// as they are, and secrets go by [`crate::processes::child_env`]: nothing but the child's own
/// place (service, port, peers) travels on its command line.
pub fn child_env(matches: &clap::ArgMatches, command: &clap::Command) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for arg in command.get_arguments() {
        let (Some(name), id) = (arg.get_env(), arg.get_id().as_str()) else { continue };
        if name == "SKYCAMP_INSTANCES" || matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let values: Vec<String> =
            matches.get_raw(id).into_iter().flatten().map(|v| v.to_string_lossy().into_owned()).collect();
        let value = if values.is_empty() { "true".to_owned() } else { values.join(",") };
        env.push((name.to_string_lossy().into_owned(), value));
    }
    env
}

/// A single `http://` or `https://` URL, when given.
pub fn check_url(var: &str, value: Option<&str>) -> anyhow::Result<()> {
    let Some(value) = value else { return Ok(()) };
    let endpoints = Endpoints::parse(value).with_context(|| format!("invalid {var}"))?;
    ensure!(endpoints.bases().len() == 1, "invalid {var}: expected one URL, got {}", endpoints.bases().len());
    Ok(())
}

/// One base URL per instance, separated by commas.
pub fn check_urls(var: &str, value: &str) -> anyhow::Result<()> {
    Endpoints::parse(value).map(drop).with_context(|| format!("invalid {var}"))
}

/// A `sqlite:` or `postgres://` URL, when given.
pub fn check_database_url(var: &str, value: Option<&str>) -> anyhow::Result<()> {
    let Some(value) = value else { return Ok(()) };
    skycamp_platform::Dialect::from_url(value).with_context(|| format!("invalid {var}"))?;
    Ok(())
}

/// Kafka bootstrap servers: `host:port` entries separated by commas.
pub fn check_brokers(var: &str, value: &str) -> anyhow::Result<()> {
    let entries: Vec<&str> = value.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    ensure!(!entries.is_empty(), "invalid {var}: no broker given (expected host:port[,host:port…])");
    for entry in entries {
        let Some((host, port)) = entry.rsplit_once(':') else {
            bail!("invalid {var}: {entry:?} has no port (expected host:port)")
        };
        ensure!(!host.is_empty() && !host.contains('/'), "invalid {var}: {entry:?} is not host:port");
        ensure!(port.parse::<u16>().is_ok_and(|p| p > 0), "invalid {var}: {entry:?} has no valid port");
    }
    Ok(())
}

/// A prefix for Kafka topic and group names: letters, digits, `.`, `_`, `-`.
pub fn check_name(var: &str, value: &str) -> anyhow::Result<()> {
    ensure!(
        value.len() <= 100 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
        "invalid {var}: {value:?} may hold only letters, digits, '.', '_' and '-' (at most 100)"
    );
    Ok(())
}

/// The internal signing key from the environment variable `var`: None when unset and not
/// `required`. It is read from the environment only, never from a flag, so it never shows in a
/// process list.
pub fn internal_key(var: &str, required: bool) -> anyhow::Result<Option<skycamp_platform::internal::InternalKey>> {
    match std::env::var(var) {
        Ok(secret) => skycamp_platform::internal::InternalKey::parse(secret.trim())
            .map(Some)
            .with_context(|| format!("invalid {var}")),
        Err(_) if required => bail!(
            "{var} is not set: the payment and reservation services sign and check charges with it; \
             give both the same secret of at least 32 bytes (e.g. from a Kubernetes Secret)"
        ),
        Err(_) => Ok(None),
    }
}

/// A share in (0, 1].
pub fn check_rate(var: &str, value: f64) -> anyhow::Result<()> {
    ensure!(value > 0.0 && value <= 1.0, "invalid {var}: {value} is not in (0, 1]");
    Ok(())
}

/// For a parse error about a value that came from the environment (not from a flag on the
/// command line), the variable it came from.
pub fn variable_behind(
    err: &clap::Error,
    command: &clap::Command,
    argv: &[String],
    file: &FileSettings,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(err.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    if let Some(from_file) = file.variable(long) {
        return Some(from_file);
    }
    if on_command_line(argv, long) {
        return None;
    }
    let mut commands = vec![command];
    while let Some(c) = commands.pop() {
        commands.extend(c.get_subcommands());
        if let Some(env) = c.get_arguments().find(|a| a.get_long() == Some(long)).and_then(|a| a.get_env()) {
            return Some(env.to_string_lossy().into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let e = check_brokers("SKYCAMP_KAFKA_BROKERS", "localhost").unwrap_err().to_string();
        assert!(e.contains("SKYCAMP_KAFKA_BROKERS") && e.contains("no port"), "{e}");
        assert!(check_brokers("B", "a:9092, b:9093").is_ok());
        assert!(check_brokers("B", "a:0").is_err());
        assert!(check_brokers("B", " , ").is_err());
        let e = format!("{:#}", check_urls("SKYCAMP_PAYMENT_URL", "http://a:1,nonsense").unwrap_err());
        assert!(e.contains("SKYCAMP_PAYMENT_URL") && e.contains("nonsense"), "{e}");
        let e = format!("{:#}", check_database_url("SKYCAMP_DATABASE_URL", Some("mysql://x")).unwrap_err());
        assert!(e.contains("SKYCAMP_DATABASE_URL"), "{e}");
        assert!(check_name("N", "team-a.").is_ok());
        assert!(check_name("N", "a b").is_err());
        assert!(check_rate("R", 0.0).is_err());
        assert!(check_url("U", Some("http://a,http://b")).is_err());
    }

    /// A command like `skycamp up` with every setting, for parsing in tests.
    fn up() -> clap::Command {
        #[derive(clap::Parser)]
        struct Up {
            #[command(flatten)]
            options: Options,
        }
        clap::Command::new("skycamp").subcommand(<Up as clap::CommandFactory>::command().name("up"))
    }

    #[test]
    fn commands_without_settings_leave_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skycamp.env");
        std::fs::write(&file, "SKYCAMP_MAX_NIGHTS=5\n").unwrap();
        let command = up().subcommand(clap::Command::new("audit"));
        let args = argv(&["skycamp", "audit", &format!("--config={}", file.display())]);
        let (kept, _) = with_settings_file(args.clone(), &command).unwrap();
        assert_eq!(kept, args, "audit takes no service settings, so the file adds none and is no error");
    }

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn a_setting_not_given_keeps_its_one_default_and_a_given_one_wins() {
        let defaults = Options::default().settings(false).unwrap();
        assert_eq!(defaults.max_nights, Settings::new("data".into()).max_nights);
        assert_eq!(defaults.data_dir, PathBuf::from("data"));
        let given = Options { max_nights: Some(3), breaker_window_ms: Some(2_000), ..Options::default() };
        let s = given.settings(false).unwrap();
        assert_eq!((s.max_nights, s.breaker.window), (3, Duration::from_secs(2)));
        assert_eq!(s.breaker.min_calls, defaults.breaker.min_calls, "the rest of the breaker keeps its defaults");
    }

    #[test]
    fn the_database_url_never_prints() {
        let options = Options { database_url: Some("postgres://app:hunter2@db/skycamp".into()), ..Options::default() };
        let settings = options.settings(false).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"), "Debug shows no password");
        assert_eq!(database_url(&settings), Some("postgres://app:hunter2@db/skycamp"));
    }

    #[test]
    fn a_settings_file_fills_in_what_flags_and_environment_do_not_give() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skycamp.env");
        std::fs::write(&file, "# the camp\nSKYCAMP_MAX_NIGHTS=5\n\nSKYCAMP_PAYMENT_TIMEOUT_MS = \"2000\"\n").unwrap();
        let config = format!("--config={}", file.display());
        let (args, _) = with_settings_file(argv(&["skycamp", "up", &config, "--max-nights=7"]), &up()).unwrap();
        assert!(args.contains(&"--payment-timeout-ms=2000".to_owned()), "{args:?}");
        assert!(!args.iter().any(|a| a == "--max-nights=5"), "the flag wins over the file: {args:?}");

        std::fs::write(&file, "SKYCAMP_NO_SUCH_THING=1\n").unwrap();
        let e = with_settings_file(argv(&["skycamp", "up", &config]), &up()).unwrap_err().to_string();
        assert!(e.contains("SKYCAMP_NO_SUCH_THING is not a setting"), "{e}");
        std::fs::write(&file, "SKYCAMP_INTERNAL_KEY=0123456789abcdef0123456789abcdef\n").unwrap();
        let e = with_settings_file(argv(&["skycamp", "up", &config]), &up()).unwrap_err().to_string();
        assert!(e.contains("is a secret"), "{e}");
        std::fs::write(&file, "max nights\n").unwrap();
        let e = with_settings_file(argv(&["skycamp", "up", &config]), &up()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn children_get_what_the_command_line_gave_through_their_environment() {
        let command = up();
        let args = argv(&["skycamp", "up", "--max-nights=3", "--database-url=postgres://app:pw@db/x"]);
        let matches = command.clone().try_get_matches_from(&args).unwrap();
        let up_command = command.find_subcommand("up").unwrap();
        let env = child_env(matches.subcommand_matches("up").unwrap(), up_command);
        assert!(env.contains(&("SKYCAMP_MAX_NIGHTS".into(), "3".into())), "{env:?}");
        assert!(env.contains(&("SKYCAMP_DATABASE_URL".into(), "postgres://app:pw@db/x".into())), "{env:?}");
        assert!(!env.iter().any(|(k, _)| k == "SKYCAMP_BREAKER_WINDOW_MS"), "defaults stay defaults: {env:?}");
    }
}
