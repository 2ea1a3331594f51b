//! Several instances of one service behind one setting (`http://a:8083,http://b:8083`).
//!
//! Requests go round-robin over the instances in rotation. When a request cannot reach an
//! instance, that instance is **ejected** (passive health checking, as Envoy's outlier detection
//! does): no request goes to it until its `/readyz` answers 200 again, which a background probe
//! checks every [`PROBE_EVERY`]. If every instance is ejected, all are tried anyway, so a
//! transient blip never turns into a total outage.
//!
//! And the request goes to the next instance:
//! - if it could not even connect (it never reached the first instance: safe for every method);
//! - if the connection broke before an answer came (reset, closed) and the caller says the
//!   request is safe to repeat ([`Retry::Safe`]: reads, and writes the receiver deduplicates,
//!   such as POSTs with an `Idempotency-Key` or a charge keyed by its reservation).
//!
//! A timeout is not retried: the first instance may still be working on it. In Kubernetes a
//! Service's one URL does the spreading, so there the list has one entry.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often an ejected instance's readiness is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Whether a request may be sent again to another instance after its connection broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Only when it never reached an instance (connection refused).
    ConnectOnly,
    /// Also when the connection broke mid-request: repeating it is harmless.
    Safe,
}

/// How one attempt at one instance failed, for [`Endpoints::try_each`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// It never reached the instance (connection refused): the next may take it.
    Connect,
    /// The connection broke before an answer came: the next may take it if it is safe to repeat.
    Broken,
    /// Anything else (a timeout: the instance may still be working on it): not tried again.
    Other,
}

#[derive(Debug)]
struct Instance {
    base: String,
    ejected: AtomicBool,
    /// A probe task is watching this instance.
    probing: AtomicBool,
}

/// The base URLs of one service's instances.
#[derive(Clone, Debug)]
pub struct Endpoints {
    instances: Arc<[Instance]>,
    next: Arc<AtomicUsize>,
    probe: Arc<OnceLock<reqwest::Client>>,
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
        let instances: Vec<Instance> = bases
            .into_iter()
            .map(|base| Instance { base, ejected: AtomicBool::new(false), probing: AtomicBool::new(false) })
            .collect();
        Ok(Self { instances: instances.into(), next: Arc::default(), probe: Arc::default() })
    }

    /// Every instance's base URL.
    pub fn bases(&self) -> Vec<&str> {
        self.instances.iter().map(|i| i.base.as_str()).collect()
    }

    /// The instances not ejected (for tests and status pages).
    pub fn in_rotation(&self) -> Vec<&str> {
        self.instances.iter().filter(|i| !i.ejected.load(Ordering::Relaxed)).map(|i| i.base.as_str()).collect()
    }

    /// The instances in the order one request should try them: those in rotation first
    /// (round-robin), then the ejected ones, as a last resort.
    fn order(&self) -> Vec<&Instance> {
        let n = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let turn: Vec<&Instance> = (0..n).map(|i| &self.instances[(start + i) % n]).collect();
        let (live, ejected): (Vec<&Instance>, Vec<&Instance>) =
            turn.into_iter().partition(|i| !i.ejected.load(Ordering::Relaxed));
        live.into_iter().chain(ejected).collect()
    }

    /// Sends the request `build(base)` makes to one instance after another, as `retry` allows.
    pub async fn send(
        &self,
        retry: Retry,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.try_each(retry, move |base| {
            // Every call carries the current W3C trace context, replacing any the caller passed on.
            let sent = build(base).headers(crate::telemetry::headers()).send();
            async move {
                sent.await.map_err(|e| {
                    let failed = if e.is_timeout() {
                        Failed::Other
                    } else if e.is_connect() {
                        Failed::Connect
                    } else {
                        Failed::Broken
                    };
                    (failed, e)
                })
            }
        })
        .await
    }

    /// Runs `attempt(base)` on one instance after another, as `retry` allows, whatever the
    /// client: `attempt` says how a failed attempt failed. An instance that refused or broke the
    /// connection is ejected.
    pub async fn try_each<'a, T, E: std::fmt::Display, F>(
        &'a self,
        retry: Retry,
        attempt: impl Fn(&'a str) -> F,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, (Failed, E)>>,
    {
        let mut last = None;
        for instance in self.order() {
            let (failed, e) = match attempt(&instance.base).await {
                Err((Failed::Other, e)) => return Err(e),
                Err(failure) => failure,
                Ok(answer) => return Ok(answer),
            };
            // It refused the connection or broke it off: out of rotation until it is ready again.
            self.eject(instance);
            if !(failed == Failed::Connect || retry == Retry::Safe) {
                return Err(e);
            }
            tracing::warn!(base = %instance.base, error = %e, "instance unreachable; ejected, trying the next");
            last = Some(e);
        }
        Err(last.expect("at least one instance"))
    }

    /// Takes `instance` out of rotation until its `/readyz` answers 200.
    fn eject(&self, instance: &Instance) {
        instance.ejected.store(true, Ordering::Relaxed);
        if self.instances.len() == 1 || instance.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let me = self.clone();
        let base = instance.base.clone();
        runtime.spawn(async move { me.probe_until_ready(&base).await });
    }

    async fn probe_until_ready(&self, base: &str) {
        let http = self
            .probe
            .get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap_or_default());
        let Some(instance) = self.instances.iter().find(|i| i.base == base) else { return };
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let ready = http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success());
            if ready {
                instance.ejected.store(false, Ordering::Relaxed);
                instance.probing.store(false, Ordering::Release);
                tracing::info!(%base, "instance ready again; back in rotation");
                return;
            }
        }
    }
}

impl std::fmt::Display for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.bases().join(","))
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

    async fn live_instance() -> (String, tokio::task::JoinHandle<()>) {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", live.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/who", axum::routing::get(|| async { "live" }))
            .route("/readyz", axum::routing::get(|| async { "ready" }));
        let task = tokio::spawn(async move {
            let _ = axum::serve(live, app).await;
        });
        (url, task)
    }

    /// A port nobody listens on: bind, note it, close.
    fn dead_url() -> (String, u16) {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = dead.local_addr().unwrap().port();
        (format!("http://127.0.0.1:{port}"), port)
    }

    #[tokio::test]
    async fn a_refusing_instance_is_skipped_ejected_and_taken_back_once_ready() {
        let (live_url, _live) = live_instance().await;
        let (dead_url, dead_port) = dead_url();
        let endpoints = Endpoints::parse(&format!("{dead_url},{live_url}")).unwrap();
        let http = reqwest::Client::new();
        for _ in 0..4 {
            let answer = endpoints.send(Retry::ConnectOnly, |base| http.get(format!("{base}/who"))).await;
            assert_eq!(answer.unwrap().text().await.unwrap(), "live", "every request reached the live instance");
        }
        assert_eq!(endpoints.in_rotation(), [live_url.as_str()], "the dead one is out of rotation");

        // The dead instance comes back on its port: the probe takes it back.
        let back = tokio::net::TcpListener::bind(("127.0.0.1", dead_port)).await.unwrap();
        let app = axum::Router::new().route("/readyz", axum::routing::get(|| async { "ready" }));
        tokio::spawn(async move { axum::serve(back, app).await });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while endpoints.in_rotation().len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "the recovered instance was never taken back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_broken_connection_is_retried_elsewhere_only_when_the_request_is_safe() {
        // An instance that accepts the connection, reads the request and hangs up without answering.
        let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rude_url = format!("http://{}", rude.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = rude.accept().await else { return };
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                drop(s);
            }
        });
        let (live_url, _live) = live_instance().await;
        let http = reqwest::Client::new();
        let safe = Endpoints::parse(&format!("{rude_url},{live_url}")).unwrap();
        let answer = safe.send(Retry::Safe, |base| http.get(format!("{base}/who"))).await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "live");

        let unsafe_ = Endpoints::parse(&format!("{rude_url},{live_url}")).unwrap();
        let answer = unsafe_.send(Retry::ConnectOnly, |base| http.post(format!("{base}/who"))).await;
        assert!(answer.is_err(), "an unsafe request that may have reached an instance is not sent twice");
    }
}
