//! The composition root. Every dependency is built here and passed in; nothing is global.
//!
//! Shutdown order (SIGTERM or Ctrl-C): `/readyz` turns 503, wait the drain delay, stop accepting
//! and finish in-flight requests, then stop workers (each outbox relay flushes), then close stores.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use skycamp_platform::auth::Auth;
use skycamp_platform::clock::Clock;
use skycamp_platform::deadletter::DeadLetters;
use skycamp_platform::eventlog::EventLog;
use skycamp_platform::http::{Health, Observed, finish};
use skycamp_platform::internal::InternalKey;
use skycamp_platform::liveness::Liveness;
use skycamp_platform::server::{ClientLimits, serve};
use skycamp_platform::service::{Context, Groups};
use skycamp_platform::{Db, Transport};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The services of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Service {
    Gateway,
    Reservation,
    Flight,
    Payment,
    Campsite,
    Mileage,
    Notification,
    Review,
    Account,
}

impl Service {
    /// Every service, in start-up order (upstreams first).
    pub const ALL: [Service; 9] = [
        Service::Account,
        Service::Payment,
        Service::Flight,
        Service::Campsite,
        Service::Mileage,
        Service::Notification,
        Service::Review,
        Service::Reservation,
        Service::Gateway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Reservation => "reservation",
            Self::Flight => "flight",
            Self::Payment => "payment",
            Self::Campsite => "campsite",
            Self::Mileage => "mileage",
            Self::Notification => "notification",
            Self::Review => "review",
            Self::Account => "account",
        }
    }

    /// The port DESIGN gives the service.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Gateway => 8080,
            Self::Reservation => 8081,
            Self::Flight => 8082,
            Self::Payment => 8083,
            Self::Campsite => 8084,
            Self::Mileage => 8085,
            Self::Notification => 8086,
            Self::Review => 8087,
            Self::Account => 8088,
        }
    }
}

/// Everything the platform is configured with (see the README's configuration table).
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub bind: IpAddr,
    /// Port per service; 0 picks a free one.
    pub ports: BTreeMap<Service, u16>,
    /// Base URL per service for services not run in this process.
    pub remote: BTreeMap<Service, String>,
    /// A database URL for the services run here (default: one SQLite file each in `data_dir`).
    /// On PostgreSQL every service keeps its tables in a schema named after it.
    pub database_url: Option<secrecy::SecretString>,
    pub payment_decline_above: i64,
    pub payment_timeout: Duration,
    pub pending_timeout: Duration,
    pub gateway_timeout: Duration,
    /// How long `/readyz` says "draining" before the listeners close.
    pub drain: Duration,
    pub max_nights: i64,
    pub mileage: skycamp_mileage::domain::Rules,
    pub notification: skycamp_notification::Config,
    /// The clock every service reads; tests move it forward.
    pub clock: Clock,
    pub breaker: skycamp_reservation::payment_client::BreakerConfig,
    pub idempotency_retention: Duration,
    /// How long inbox entries are kept; events older than this are parked, not applied.
    pub inbox_retention: Duration,
    /// How long the embedded event log keeps records every consumer group has handled.
    pub event_log_retention: Duration,
    pub gateway_limits: skycamp_gateway::Limits,
    /// Failures of one event before a consumer parks it as a dead letter.
    pub consumer_max_attempts: u32,
    pub inventory_deadline: Duration,
    /// Chaos testing only: publish every event twice, the first time out of order.
    pub faulty_transport: bool,
    /// Chaos testing only: every publish panics, killing the outbox relays.
    pub panicking_transport: bool,
    /// What every server allows its clients: connections, header and body deadlines.
    pub http_limits: ClientLimits,
    /// The key internal calls (the payment charge) are signed with; random unless given
    /// (`SKYCAMP_INTERNAL_KEY`), and then the same for every process started from here.
    pub internal_key: InternalKey,
    /// Events over Kafka instead of the embedded log (`SKYCAMP_KAFKA_BROKERS`).
    pub kafka: Option<KafkaSettings>,
    /// Who may call: no one is asked (off), Skycamp's own accounts, or an OpenID provider.
    pub auth: AuthSettings,
    /// Whether every service serves `/metrics` and records them (`SKYCAMP_METRICS`).
    pub metrics: bool,
}

/// How callers prove who they are (`SKYCAMP_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Nobody is asked: everyone may do everything, as in the seeds.
    Off,
    /// Skycamp's own accounts: customers by phone and password, one built-in admin.
    Local,
    /// Bearer tokens from an OpenID Connect provider.
    Oidc,
}

/// The authentication settings (see the README's "Accounts and access").
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// The tokens' `iss`: Skycamp's own (default `skycamp`) or the OpenID provider's URL.
    pub issuer: String,
    /// An `aud` tokens must name.
    pub audience: String,
    /// Where an OpenID provider's tokens carry roles (a dotted claim path).
    pub roles_claim: String,
    /// The role that makes an admin.
    pub admin_role: String,
    /// Lifetime of the tokens Skycamp issues.
    pub token_ttl: Duration,
    /// `SKYCAMP_TOKEN_KEYS`: Ed25519 seeds, the signing one first; default: a key kept in the
    /// data dir (`token-keys`), made on first start.
    pub token_keys: Option<secrecy::SecretString>,
    /// `SKYCAMP_ADMIN_PASSWORD` (hashed at start-up) or `SKYCAMP_ADMIN_PASSWORD_HASH`.
    pub admin_password: Option<AdminPassword>,
    /// With oidc: the web sites' client id and secret at the provider (browser sign-in).
    pub client_id: Option<String>,
    pub client_secret: Option<secrecy::SecretString>,
    /// With oidc: the scopes the web sites ask the provider for.
    pub scope: String,
}

/// The admin's password as given: plain (hashed when the account service starts) or hashed.
#[derive(Debug, Clone)]
pub enum AdminPassword {
    Plain(secrecy::SecretString),
    Hash(String),
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Off,
            issuer: "skycamp".into(),
            audience: "skycamp".into(),
            roles_claim: "roles".into(),
            admin_role: "admin".into(),
            token_ttl: Duration::from_secs(15 * 60),
            token_keys: None,
            admin_password: None,
            client_id: None,
            client_secret: None,
            scope: "openid".into(),
        }
    }
}

/// The Kafka transport's settings (see the README's configuration table).
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub brokers: String,
    pub partitions: i32,
    pub replication: i32,
    pub session_timeout: Duration,
    pub namespace: String,
}

impl KafkaSettings {
    /// Settings for `brokers` with the defaults: 6 partitions, replication 1, 10 s sessions.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            partitions: 6,
            replication: 1,
            session_timeout: Duration::from_secs(10),
            namespace: String::new(),
        }
    }
}

impl Settings {
    /// Defaults for a data directory: DESIGN's ports on loopback.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            bind: IpAddr::from([127, 0, 0, 1]),
            ports: Service::ALL.iter().map(|s| (*s, s.default_port())).collect(),
            remote: Service::ALL.iter().map(|s| (*s, format!("http://127.0.0.1:{}", s.default_port()))).collect(),
            database_url: None,
            payment_decline_above: skycamp_payment::DEFAULT_DECLINE_ABOVE,
            payment_timeout: Duration::from_secs(3),
            pending_timeout: Duration::from_secs(15),
            gateway_timeout: Duration::from_secs(10),
            drain: Duration::ZERO,
            max_nights: 14,
            mileage: skycamp_mileage::domain::Rules::default(),
            notification: skycamp_notification::Config::default(),
            clock: Clock::system(),
            breaker: skycamp_reservation::payment_client::BreakerConfig::default(),
            idempotency_retention: Duration::from_secs(24 * 3600),
            inbox_retention: Duration::from_secs(30 * 24 * 3600),
            event_log_retention: Duration::from_secs(7 * 24 * 3600),
            gateway_limits: skycamp_gateway::Limits::default(),
            consumer_max_attempts: 10,
            inventory_deadline: Duration::from_secs(60),
            faulty_transport: false,
            panicking_transport: false,
            http_limits: ClientLimits::default(),
            internal_key: InternalKey::random(),
            kafka: None,
            auth: AuthSettings::default(),
            metrics: true,
        }
    }

    /// Every port 0, for tests.
    pub fn on_free_ports(mut self) -> Self {
        self.ports.values_mut().for_each(|p| *p = 0);
        self
    }
}

/// A running platform (some or all services).
pub struct Running {
    addrs: BTreeMap<Service, SocketAddr>,
    health: Vec<Health>,
    http_stop: CancellationToken,
    worker_stop: CancellationToken,
    servers: JoinSet<std::io::Result<()>>,
    tasks: TaskTracker,
    dbs: Vec<Db>,
    /// The databases with an outbox (every service's but the account service's).
    outboxes: Vec<Db>,
    /// The embedded log, when events do not go over Kafka.
    log: Option<EventLog>,
    transport: Arc<dyn Transport>,
    groups: Groups,
    /// The background workers that died before shutdown (`/healthz` of every service here).
    liveness: Liveness,
    drain: Duration,
}

/// Starts `services` in this process.
pub async fn start(settings: &Settings, services: &[Service]) -> anyhow::Result<Running> {
    let mut listeners = BTreeMap::new();
    for &s in services {
        let addr = SocketAddr::new(settings.bind, settings.ports.get(&s).copied().unwrap_or(0));
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {} to {addr}", s.name()))?;
        listeners.insert(s, listener);
    }
    let addrs: BTreeMap<Service, SocketAddr> =
        listeners.iter().map(|(s, l)| Ok((*s, l.local_addr()?))).collect::<std::io::Result<_>>()?;
    let url = |s: Service| match addrs.get(&s) {
        Some(a) => format!("http://{a}"),
        None => settings.remote.get(&s).cloned().unwrap_or_default(),
    };
    let (log, transport) = open_transport(settings, services).await?;
    let auth = verifier(&settings.auth, &url(Service::Account))?;
    let metrics = if settings.metrics { Some(skycamp_platform::metrics::install()?) } else { None };
    let mut sampled = Vec::new();
    let mut running = Running {
        addrs: addrs.clone(),
        health: Vec::new(),
        http_stop: CancellationToken::new(),
        worker_stop: CancellationToken::new(),
        servers: JoinSet::new(),
        tasks: TaskTracker::new(),
        dbs: Vec::new(),
        outboxes: Vec::new(),
        log,
        transport: transport.clone(),
        groups: Groups::default(),
        liveness: Liveness::default(),
        drain: settings.drain,
    };
    if let Some(log) = &running.log {
        let prune = log.clone().prune_hourly(settings.event_log_retention, running.worker_stop.clone());
        running.spawn_worker("event log pruning", prune);
    }
    // Upstreams first, so the gateway is built with the finished routers of the services here.
    let mut here = std::collections::HashMap::new();
    for service in Service::ALL {
        let Some(listener) = listeners.remove(&service) else { continue };
        let db = match service {
            Service::Gateway => None,
            _ => Some(open_db(settings, service).await?),
        };
        let ctx = db.clone().map(|db| Context {
            service: service.name(),
            dead_letters: DeadLetters::new(db.clone(), settings.inbox_retention),
            max_attempts: settings.consumer_max_attempts,
            db,
            transport: transport.clone(),
            tasks: running.tasks.clone(),
            shutdown: running.worker_stop.clone(),
            liveness: running.liveness.clone(),
            groups: running.groups.clone(),
            key_retention: settings.idempotency_retention,
            inbox_retention: settings.inbox_retention,
        });
        let mut router = build(settings, service, ctx.as_ref(), &url, &auth, &here)
            .await
            .with_context(|| format!("starting {}", service.name()))?;
        // The account service publishes and consumes no events: no dead letters, inbox or outbox.
        let eventful = service != Service::Account;
        if let Some(ctx) = ctx.as_ref().filter(|_| eventful) {
            router = router.merge(ctx.dead_letters.clone().routes());
            let prune =
                skycamp_platform::inbox::prune_hourly(ctx.db.clone(), settings.inbox_retention, ctx.shutdown.clone());
            ctx.spawn_worker("inbox pruning", prune);
        }
        let health = Health::new(db.clone(), db.as_ref().filter(|_| eventful).map(|_| transport.clone()))
            .watching(running.liveness.clone());
        running.health.push(health.clone());
        running.outboxes.extend(db.clone().filter(|_| eventful));
        if let Some(db) = &db {
            sampled.push(skycamp_platform::metrics::Sampled { service: service.name(), db: db.clone(), eventful });
        }
        running.dbs.extend(db);
        let observed = Observed { service: service.name(), metrics: metrics.clone() };
        let app = finish(router, health, running.tasks.clone(), auth.clone(), observed);
        here.insert(service.name(), app.clone());
        running.servers.spawn(serve(listener, app, running.http_stop.clone(), settings.http_limits));
        tracing::info!(service = service.name(), addr = %addrs[&service], "service listening");
    }
    if metrics.is_some() {
        let sampler = skycamp_platform::metrics::sample_forever(
            sampled,
            transport.clone(),
            running.groups.clone(),
            running.worker_stop.clone(),
        );
        running.spawn_worker("metrics sampler", sampler);
    }
    Ok(running)
}

/// How every service here verifies callers: not at all, against the account service's keys, or
/// against the OpenID provider's (found through its discovery document).
fn verifier(auth: &AuthSettings, account_urls: &str) -> anyhow::Result<Auth> {
    use skycamp_platform::auth::{KeySource, Rules};
    let rules = match auth.mode {
        AuthMode::Off => return Ok(Auth::off()),
        AuthMode::Local => {
            let jwks = account_urls
                .split(',')
                .map(|url| format!("{}/.well-known/jwks.json", url.trim().trim_end_matches('/')))
                .collect();
            Rules {
                issuer: auth.issuer.clone(),
                audience: auth.audience.clone(),
                roles_claim: "roles".into(),
                admin_role: "admin".into(),
                keys: KeySource::Jwks(jwks),
            }
        }
        AuthMode::Oidc => Rules {
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            roles_claim: auth.roles_claim.clone(),
            admin_role: auth.admin_role.clone(),
            keys: KeySource::Discovery,
        },
    };
    Auth::verifying(rules)
}

/// The account service's settings: its signing keys (from the Secret, or kept in the data dir)
/// and the admin's password hash.
async fn account_config(settings: &Settings) -> anyhow::Result<skycamp_account::Config> {
    use skycamp_account::keys::SigningKeys;
    let keys = match &settings.auth.token_keys {
        Some(secret) => SigningKeys::parse(secret).context("invalid SKYCAMP_TOKEN_KEYS")?,
        None => SigningKeys::parse(&kept_token_key(&settings.data_dir)?)
            .with_context(|| format!("invalid {}", settings.data_dir.join("token-keys").display()))?,
    };
    let admin_password_hash = match settings.auth.admin_password.clone() {
        None => None,
        Some(AdminPassword::Hash(hash)) => Some(hash),
        Some(AdminPassword::Plain(plain)) => {
            Some(tokio::task::spawn_blocking(move || skycamp_account::password::hash(plain.expose_secret())).await??)
        }
    };
    Ok(skycamp_account::Config {
        keys,
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
        token_ttl: settings.auth.token_ttl,
        admin_password_hash,
        clock: settings.clock.clone(),
    })
}

/// The signing key kept in `data_dir/token-keys` (owner-only), made on first use; every process
/// sharing the data dir reads the same one.
fn kept_token_key(data_dir: &std::path::Path) -> anyhow::Result<secrecy::SecretString> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join("token-keys");
    std::fs::create_dir_all(data_dir)?;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut file) => {
            let key = skycamp_account::keys::SigningKeys::generate()?;
            file.write_all(key.expose_secret().as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process may be writing it this instant.
            for _ in 0..50 {
                let text = std::fs::read_to_string(&path)?;
                if !text.trim().is_empty() {
                    return Ok(secrecy::SecretString::from(text.trim().to_owned()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            anyhow::bail!("{} is empty", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// The embedded log (when used) and the transport every service here shares.
async fn open_transport(
    settings: &Settings,
    services: &[Service],
) -> anyhow::Result<(Option<EventLog>, Arc<dyn Transport>)> {
    let (log, transport): (Option<EventLog>, Arc<dyn Transport>) = match &settings.kafka {
        None => {
            let log = EventLog::open(&settings.data_dir).await.context("opening the event log")?;
            (Some(log.clone()), Arc::new(log))
        }
        Some(kafka) => (None, connect_kafka(kafka, services).await?),
    };
    if !settings.faulty_transport && !settings.panicking_transport {
        return Ok((log, transport));
    }
    #[cfg(feature = "chaos")]
    return Ok((log, crate::chaos::wrap(transport, settings)));
    #[cfg(not(feature = "chaos"))]
    anyhow::bail!(
        "--faulty-transport and --panicking-transport need a skycamp built with the `chaos` feature (tests only)"
    )
}

#[cfg(feature = "kafka")]
async fn connect_kafka(kafka: &KafkaSettings, services: &[Service]) -> anyhow::Result<Arc<dyn Transport>> {
    let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
    let config = skycamp_platform::kafka::KafkaConfig {
        brokers: kafka.brokers.clone(),
        partitions: kafka.partitions,
        replication: kafka.replication,
        session_timeout: kafka.session_timeout,
        topics: skycamp_contracts::topics::ALL.iter().map(|t| (*t).to_owned()).collect(),
        client_id: format!("skycamp-{}", names.join("-")),
        namespace: kafka.namespace.clone(),
    };
    Ok(Arc::new(skycamp_platform::kafka::Kafka::connect(config).await?))
}

#[cfg(not(feature = "kafka"))]
async fn connect_kafka(_: &KafkaSettings, _: &[Service]) -> anyhow::Result<Arc<dyn Transport>> {
    anyhow::bail!("SKYCAMP_KAFKA_BROKERS is set, but this skycamp was built without the `kafka` feature")
}

async fn open_db(settings: &Settings, service: Service) -> anyhow::Result<Db> {
    match &settings.database_url {
        Some(url) => Db::connect_in_schema(url.expose_secret(), service.name()).await,
        None => Db::sqlite_in(&settings.data_dir, &format!("{}.db", service.name())).await,
    }
}

async fn build(
    settings: &Settings,
    service: Service,
    ctx: Option<&Context>,
    url: &dyn Fn(Service) -> String,
    auth: &Auth,
    here: &std::collections::HashMap<&'static str, axum::Router>,
) -> anyhow::Result<axum::Router> {
    let ctx = || ctx.ok_or_else(|| anyhow::anyhow!("{} needs a database", service.name()));
    match service {
        Service::Flight => skycamp_flight::start(ctx()?).await,
        Service::Payment => {
            let config = skycamp_payment::Config {
                decline_above: settings.payment_decline_above,
                internal_key: settings.internal_key.clone(),
            };
            skycamp_payment::start(ctx()?, config).await
        }
        Service::Reservation => {
            let config = skycamp_reservation::Config {
                payment_url: url(Service::Payment),
                payment_timeout: settings.payment_timeout,
                pending_timeout: settings.pending_timeout,
                max_nights: settings.max_nights,
                clock: settings.clock.clone(),
                breaker: settings.breaker,
                inventory_deadline: settings.inventory_deadline,
                internal_key: settings.internal_key.clone(),
            };
            skycamp_reservation::start(ctx()?, config).await
        }
        Service::Campsite => skycamp_campsite::start(ctx()?, settings.clock.clone()).await,
        Service::Mileage => skycamp_mileage::start(ctx()?, settings.mileage).await,
        Service::Notification => skycamp_notification::start(ctx()?, settings.notification.clone()).await,
        Service::Review => skycamp_review::start(ctx()?, settings.clock.clone()).await,
        Service::Account => skycamp_account::start(ctx()?, account_config(settings).await?).await,
        Service::Gateway => skycamp_gateway::router(skycamp_gateway::Config {
            upstreams: skycamp_gateway::Upstreams {
                flight: url(Service::Flight),
                reservation: url(Service::Reservation),
                payment: url(Service::Payment),
                campsite: url(Service::Campsite),
                mileage: url(Service::Mileage),
                notification: url(Service::Notification),
                review: url(Service::Review),
                account: url(Service::Account),
            },
            in_process: here.clone(),
            timeout: settings.gateway_timeout,
            limits: settings.gateway_limits,
            api: Some(crate::openapi::document()),
            auth: auth.clone(),
            sign_in: match (&settings.auth.mode, &settings.auth.client_id) {
                (AuthMode::Oidc, Some(client_id)) => Some(skycamp_web::OidcClient {
                    issuer: settings.auth.issuer.clone(),
                    client_id: client_id.clone(),
                    client_secret: settings.auth.client_secret.clone(),
                    scope: settings.auth.scope.clone(),
                }),
                _ => None,
            },
        }),
    }
}

impl Running {
    /// Runs `work` until shutdown as a process-wide worker; `/healthz` fails if it ends sooner.
    fn spawn_worker<F>(&self, what: &str, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(self.liveness.watch(what.to_owned(), self.worker_stop.clone(), work));
    }

    /// Where a service run here listens.
    pub fn addr(&self, service: Service) -> SocketAddr {
        self.addrs[&service]
    }

    /// `http://addr` of a service run here.
    pub fn url(&self, service: Service) -> String {
        format!("http://{}", self.addr(service))
    }

    /// The embedded event log (for tools and tests); None when events go over Kafka.
    pub fn event_log(&self) -> Option<&EventLog> {
        self.log.as_ref()
    }

    /// The transport the services here publish to and consume from.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// Work not yet done: events in outboxes plus events consumers have not handled.
    ///
    /// Outboxes are counted first: an event a relay publishes after its outbox was counted is
    /// then still seen as lag. Counted the other way round, an event could leave its outbox
    /// between the two looks and be counted in neither. An event a consumer's handling emits
    /// after the outboxes were counted can still be missed, so "settled" means two quiet looks in
    /// a row.
    pub async fn backlog(&self) -> anyhow::Result<i64> {
        let mut total = 0;
        for db in &self.outboxes {
            total += skycamp_platform::outbox::pending(db).await?;
        }
        let groups = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for (group, topics) in groups {
            total += self.transport.lag(group, topics).await?;
        }
        Ok(total)
    }

    /// Whether all work is done: two looks in a row at [`Running::backlog`] find none.
    pub async fn settled(&self) -> anyhow::Result<bool> {
        Ok(self.backlog().await? == 0 && self.backlog().await? == 0)
    }

    /// Drains and stops everything; see the module docs for the order.
    pub async fn shutdown(mut self) {
        self.health.iter().for_each(Health::start_draining);
        tokio::time::sleep(self.drain).await;
        self.http_stop.cancel();
        while let Some(result) = self.servers.join_next().await {
            if let Ok(Err(e)) = result {
                tracing::warn!(error = %e, "server stopped with an error");
            }
        }
        self.worker_stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        for db in &self.dbs {
            db.close().await;
        }
        if let Some(log) = &self.log {
            log.close().await;
        }
        tracing::info!("stopped");
    }

    /// Runs until SIGTERM or Ctrl-C (counted from when `signals` was made), then shuts down.
    pub async fn run_until_signalled(self, mut signals: Signals) -> anyhow::Result<()> {
        signals.wait().await;
        tracing::info!("shutdown requested; draining");
        self.shutdown().await;
        Ok(())
    }
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment this is made. Make it before starting
/// anything: a signal that arrives while the services start is then kept, not lost. (As PID 1
/// in a container an uncaught SIGTERM is ignored, and the engine kills the process when its
/// grace period ends.)
pub struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn catch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { term: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    /// The next SIGTERM or SIGINT, or one that came since this was made.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
