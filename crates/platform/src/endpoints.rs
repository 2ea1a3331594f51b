//! Several instances of one service behind one setting (`http://a:8083,http://b:8083`).
//!
//! Requests go round-robin. A request that could not even connect to one instance is sent to the
//! next: it never reached the first, so this is safe for every method, POST included. Anything
//! else (a timeout, a 5xx) is the caller's to handle, as with a single instance. In Kubernetes a
//! Service's one URL does this job, so there the list has one entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The base URLs of one service's instances.
#[derive(Clone, Debug)]
pub struct Endpoints {
    bases: Arc<[String]>,
    next: Arc<AtomicUsize>,
}

impl Endpoints {
    /// Parses a comma-separated list of `http://` or `https://` base URLs.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let bases: Vec<String> =
            list.split(',').map(|b| b.trim().trim_end_matches('/').to_owned()).filter(|b| !b.is_empty()).collect();
        anyhow::ensure!(!bases.is_empty(), "no URL given");
        for base in &bases {
            let url = reqwest::Url::parse(base).map_err(|e| anyhow::anyhow!("{base:?} is not a URL: {e}"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https") && url.host().is_some(),
                "{base:?} is not an http:// or https:// URL"
            );
        }
        Ok(Self { bases: bases.into(), next: Arc::default() })
    }

    /// Every instance's base URL.
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// The instances in the order one request should try them.
    fn rotation(&self) -> impl Iterator<Item = &str> {
        let n = self.bases.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(move |i| self.bases[(start + i) % n].as_str())
    }

    /// Sends the request `build(base)` makes, to one instance after another until one accepts
    /// the connection.
    pub async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut refused = None;
        for base in self.rotation() {
            match build(base).send().await {
                Err(e) if e.is_connect() => {
                    tracing::debug!(%base, error = %e, "instance refused the connection; trying the next");
                    refused = Some(e);
                }
                answer => return answer,
            }
        }
        Err(refused.expect("at least one instance"))
    }
}

impl std::fmt::Display for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.bases.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_parsed_and_bad_entries_named() {
        let e = Endpoints::parse("http://a:1/, http://b:2").unwrap();
        assert_eq!(e.bases(), ["http://a:1", "http://b:2"]);
        assert!(Endpoints::parse("").is_err());
        let err = Endpoints::parse("http://a:1,b:2").unwrap_err().to_string();
        assert!(err.contains("\"b:2\""), "{err}");
        assert!(Endpoints::parse("ftp://a").is_err());
    }

    #[tokio::test]
    async fn requests_alternate_and_skip_an_instance_that_refuses_connections() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_url = format!("http://{}", live.local_addr().unwrap());
        let app = axum::Router::new().route("/who", axum::routing::get(|| async { "live" }));
        tokio::spawn(async move { axum::serve(live, app).await });
        // A port nobody listens on: bind, note it, close.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_url = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        let endpoints = Endpoints::parse(&format!("{dead_url},{live_url}")).unwrap();
        let http = reqwest::Client::new();
        for _ in 0..4 {
            let answer = endpoints.send(|base| http.post(format!("{base}/who"))).await;
            assert_eq!(answer.unwrap().status(), 405, "every request reached the live instance");
        }
    }
}
