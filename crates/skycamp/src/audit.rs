//! `skycamp audit`: the reconciliation auditor ([`skycamp_web::audit`]) over HTTP, against a
//! gateway: prints the report as JSON and fails when services disagree.

use anyhow::Context as _;
use serde_json::Value;
pub use skycamp_web::audit::{Mismatch, Report};

/// Options of `skycamp audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// The gateway to audit.
    #[arg(long, env = "SKYCAMP_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An admin's bearer token, when the platform checks who calls (SKYCAMP_AUTH=local or oidc).
    #[arg(long, env = "SKYCAMP_AUDIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Runs the audit and prints the report as JSON; fails when there is a mismatch.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let report = audit_as(&args.url, args.token.as_deref()).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(report.mismatches.is_empty(), "{} mismatches found", report.mismatches.len());
    Ok(())
}

/// The API behind a gateway, over HTTP.
struct Http {
    client: reqwest::Client,
    origin: reqwest::Url,
}

#[async_trait::async_trait]
impl skycamp_web::audit::Pages for Http {
    async fn page(&self, path: &str) -> anyhow::Result<(Vec<Value>, Option<String>)> {
        let url = self.origin.join(path)?;
        let r = self.client.get(url.clone()).send().await.with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
        let link = r.headers().get(reqwest::header::LINK).and_then(|v| v.to_str().ok());
        let next = skycamp_web::audit::next_page(link);
        Ok((r.json().await?, next))
    }
}

/// Audits the platform behind the gateway at `url`.
pub async fn audit(url: &str) -> anyhow::Result<Report> {
    audit_as(url, None).await
}

/// [`audit`] with an admin's bearer token (the audit reads payments, holds and nights, which
/// only an admin may).
pub async fn audit_as(url: &str, token: Option<&str>) -> anyhow::Result<Report> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the audit token is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder().default_headers(headers).build()?;
    let origin = reqwest::Url::parse(url.trim_end_matches('/')).with_context(|| format!("{url} is not a URL"))?;
    skycamp_web::audit::audit(&Http { client, origin }).await
}
