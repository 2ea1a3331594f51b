//! `skycamp`: run the whole platform (`up`), one service (`serve`), the benchmark (`bench`) or
//! the audit (`audit`). Settings are read and checked in [`skycamp::config`].
#![forbid(unsafe_code)]

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use skycamp::app::{self, Service};
use skycamp::config::{self, Options};

/// jemalloc instead of glibc's malloc: a proxied answer's buffers cost the gateway a sixth of its
/// CPU in glibc, and mimalloc, as fast, held 2.5 times the memory at rest (ADR 22).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
        #[command(flatten)]
        options: Options,
    },
    /// Run one service (what a container runs).
    Serve {
        service: Service,
        /// Port to listen on (default: the service's own, 8080–8088).
        #[arg(long, env = "SKYCAMP_PORT")]
        port: Option<u16>,
        /// Run with authentication off (SKYCAMP_AUTH=off): anyone who reaches the service may do
        /// anything. Refused without this flag.
        #[arg(long)]
        insecure: bool,
        #[command(flatten)]
        peers: config::Peers,
        #[command(flatten)]
        options: Options,
    },
    /// Measure bookings and reads through the gateway.
    Bench(skycamp::bench::BenchArgs),
    /// Check that the services agree on seats, nights and money; exit 1 on any mismatch.
    Audit(skycamp::audit::AuditArgs),
    /// Print a new token signing key (for SKYCAMP_TOKEN_KEYS).
    TokenKey,
    /// Print the public API's OpenAPI 3.1 document (the gateway serves it at /openapi.json).
    Openapi,
    /// List every SKYCAMP_* variable the services (`up`, `serve`) read, with what it sets.
    Variables,
}

/// With authentication off, says so loudly: anyone who reaches the gateway may do anything.
fn warn_if_open(settings: &app::Settings) {
    if settings.auth.mode == app::AuthMode::Off {
        tracing::warn!(
            "AUTHENTICATION IS OFF: anyone who reaches the gateway may change prices, delete campsites \
             and read every customer's data. Set SKYCAMP_AUTH=local (or oidc) for anything but a local trial."
        );
        eprintln!(
            "warning: authentication is off (SKYCAMP_AUTH=off): anyone who can reach port {} may do anything",
            settings.ports[&Service::Gateway]
        );
    }
}

/// Sends the spans still buffered before the process exits.
async fn flush(telemetry: skycamp_platform::telemetry::Telemetry) {
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
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
    let command = Cli::command();
    let (argv, file) = config::with_settings_file(std::env::args().collect(), &command)?;
    let matches = match command.clone().try_get_matches_from(&argv) {
        Ok(matches) => matches,
        Err(e) => {
            if let Some(var) = config::variable_behind(&e, &command, &argv, &file) {
                eprintln!("error: invalid {var}");
            }
            e.exit()
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{e}"))?;
    match cli.command {
        Command::Up { processes: false, options, .. } => {
            let signals = app::Signals::catch()?;
            let telemetry = options.telemetry("skycamp")?;
            let settings = options.settings(false)?;
            warn_if_open(&settings);
            let running = app::start(&settings, &Service::ALL).await?;
            let result = running.run_until_signalled(signals).await;
            flush(telemetry).await;
            result
        }
        Command::Up { processes: true, instances, options } => {
            let signals = app::Signals::catch()?;
            let _telemetry = options.telemetry("skycamp")?;
            let settings = options.settings(false)?;
            warn_if_open(&settings);
            let shared =
                settings.kafka.is_some() && config::database_url(&settings).is_some_and(|u| u.starts_with("postgres"));
            anyhow::ensure!(
                instances == 1 || shared,
                "invalid SKYCAMP_INSTANCES: {instances} instances of each service need SKYCAMP_KAFKA_BROKERS and a postgres:// SKYCAMP_DATABASE_URL"
            );
            let layout = skycamp::processes::layout(&settings, instances)?;
            let (up, up_matches) = (command.find_subcommand("up"), matches.subcommand_matches("up"));
            let env = match (up, up_matches) {
                (Some(up), Some(m)) => config::child_env(m, up),
                _ => anyhow::bail!("`up` was not parsed as a subcommand"),
            };
            let children = skycamp::processes::spawn_all(&settings, &layout, &env)?;
            skycamp::processes::supervise(children, signals).await
        }
        Command::Serve { service, port, insecure, peers, options } => {
            let signals = app::Signals::catch()?;
            let telemetry = options.telemetry(&format!("skycamp-{}", service.name()))?;
            let signs_charges = matches!(service, Service::Payment | Service::Reservation);
            let mut settings = options.settings(signs_charges)?;
            if let Some(port) = port {
                settings.ports.insert(service, port);
            }
            peers.apply(&mut settings)?;
            anyhow::ensure!(
                settings.auth.mode != app::AuthMode::Off || insecure,
                "`skycamp serve` will not run with authentication off: set SKYCAMP_AUTH=local or oidc, \
                 or pass --insecure to let anyone who reaches it do anything"
            );
            let running = app::start(&settings, &[service]).await?;
            let result = running.run_until_signalled(signals).await;
            flush(telemetry).await;
            result
        }
        Command::Bench(args) => skycamp::bench::run(args).await,
        Command::Openapi => {
            println!("{}", skycamp::openapi::document().to_pretty_json()?);
            Ok(())
        }
        Command::TokenKey => {
            use secrecy::ExposeSecret as _;
            println!("{}", skycamp_account::keys::SigningKeys::generate()?.expose_secret());
            Ok(())
        }
        Command::Audit(args) => skycamp::audit::run(args).await,
        Command::Variables => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            for (name, help) in config::variables(&command) {
                // A closed pipe (`| head`) ends the listing; it is not an error.
                if writeln!(out, "{name}\t{help}").is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
}
