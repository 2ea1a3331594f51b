//! Start-up checks the argument parsers cannot make. Every error names the environment variable
//! to fix (each has a `--flag` twin of the same name), so a bad ConfigMap fails the pod at once
//! with a message that says where to look.

use anyhow::{Context as _, bail, ensure};
use skycamp_platform::endpoints::Endpoints;

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
pub fn variable_behind(err: &clap::Error, command: &clap::Command, argv: &[String]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(err.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let on_command_line = argv.iter().any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
    if on_command_line {
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
}
