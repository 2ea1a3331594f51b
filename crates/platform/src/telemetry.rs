//! Logging: JSON lines on stderr, filtered by `SKYCAMP_LOG` / `--log-level` (tracing's filter syntax).

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber once; later calls are ignored (tests start many platforms).
pub fn init(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
