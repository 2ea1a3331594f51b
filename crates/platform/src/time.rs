//! Wall-clock time as the platform stores and shows it: RFC 3339 text in UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, as RFC 3339 text with sub-second precision.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 text.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Milliseconds since the Unix epoch, for comparisons stored as integers.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Milliseconds since the Unix epoch of an RFC 3339 text; None when it is not one.
pub fn parse_rfc3339_millis(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Runs a clean-up `job` now and then every hour until `shutdown`, logging what it removed
/// (`what`: e.g. "inbox entries pruned") and any failure; a failure waits for the next hour.
pub async fn hourly<F, Fut>(what: &'static str, shutdown: tokio_util::sync::CancellationToken, job: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    loop {
        match job().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "{what}"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "{what}: failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
