//! `SKYCAMP_AUTH=oidc` against a real OpenID Connect provider (npm `oidc-provider`, started here
//! from `tests/oidc/issuer.mjs`): tokens verified through discovery and JWKS, roles from a
//! dotted claim, the phone from `phone_number`, and a key rotation picked up without a restart.

use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};
use skycamp::app::AuthMode;

use crate::access::call;
use crate::support::{TestApp, cannot_run, eventually, free_port};

/// The provider as a child process, killed on drop.
pub(crate) struct Issuer {
    child: tokio::process::Child,
    pub(crate) url: String,
    port: u16,
}

impl Issuer {
    /// Starts the provider on `port`; None (after `cannot_run`) when Node.js or its packages
    /// are missing.
    async fn start(port: u16) -> Option<Self> {
        Self::start_with(port, None).await
    }

    /// [`Issuer::start`], with the web sites' client sending people back to `redirect`.
    pub(crate) async fn start_with(port: u16, redirect: Option<&str>) -> Option<Self> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        if !dir.join("node_modules/oidc-provider").exists() {
            cannot_run("tests/oidc has no node_modules (scripts/setup runs npm ci there)");
            return None;
        }
        let child = tokio::process::Command::new("node")
            .arg("issuer.mjs")
            .arg(port.to_string())
            .args(redirect)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(child) = child else {
            cannot_run("node is not installed");
            return None;
        };
        let url = format!("http://127.0.0.1:{port}");
        let discovery = format!("{url}/.well-known/openid-configuration");
        eventually("the OpenID provider answers discovery", || async {
            reqwest::get(&discovery).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        Some(Self { child, url, port })
    }

    /// A fresh access token for the test user `client`.
    async fn token(&self, client: &str) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/token", self.url))
            .basic_auth(client, Some(format!("secret-{client}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=api")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the provider issues a token for {client}");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn stop(mut self) -> u16 {
        self.child.kill().await.unwrap();
        self.port
    }
}

#[tokio::test]
async fn tokens_from_an_openid_provider_decide_who_may_do_what() {
    let Some(issuer) = Issuer::start(free_port()).await else { return };
    let url = issuer.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.auth.mode = AuthMode::Oidc;
        s.auth.issuer = url;
        s.auth.roles_claim = "realm_access.roles".into();
        s.auth.admin_role = "skycamp-admin".into();
    })
    .await;
    let (ops, a, b, unverified) = (
        issuer.token("ops").await,
        issuer.token("customer-a").await,
        issuer.token("customer-b").await,
        issuer.token("unverified").await,
    );

    let flight = json!({ "flightName": "OIDC1", "destination": "jeju", "price": 10_000, "seat": 5 });
    assert_eq!(call(&app, Method::POST, "/flights", Some(&a), Some(&flight)).await.0, 403, "a customer is no admin");
    let (code, f) = call(&app, Method::POST, "/flights", Some(&ops), Some(&flight)).await;
    assert_eq!(code, 201, "the provider's admin role makes an admin: {f}");
    let id = f["id"].as_i64().unwrap();
    eventually("the flight in flightStatuses", || async {
        app.http.get(app.url(&format!("/flightStatuses/{id}"))).send().await.unwrap().status() == 200
    })
    .await;

    let booking = json!({ "flightId": id, "count": 1 });
    let (code, r) = call(&app, Method::POST, "/reservations", Some(&a), Some(&booking)).await;
    assert_eq!((code, r["phone"].as_str()), (201, Some("+821055550101")), "booked under the verified phone: {r}");
    let (code, body) = call(&app, Method::POST, "/reservations", Some(&unverified), Some(&booking)).await;
    assert_eq!(code, 403, "no verified phone, no booking: {body}");
    let mine = format!("/reservations/{}", r["id"]);
    assert_eq!(call(&app, Method::GET, &mine, Some(&b), None).await.0, 403, "B cannot read A's reservation");
    assert_eq!(call(&app, Method::GET, &mine, Some(&a), None).await.0, 200);

    // A token Skycamp's own accounts would issue is not one this deployment accepts.
    let own = skycamp_account::keys::SigningKeys::parse(&skycamp_account::keys::SigningKeys::generate().unwrap())
        .unwrap()
        .sign(&json!({ "iss": issuer.url, "aud": "skycamp", "sub": "x", "exp": u64::MAX / 2, "roles": ["admin"] }))
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, "/flights/holds", Some(&own), None).await.0,
        401,
        "a key the provider never published"
    );

    // The provider rotates its key (a restart makes a new one): new tokens verify once the
    // services refetch the key set, and tokens signed with the retired key stop working.
    let port = issuer.stop().await;
    let issuer = Issuer::start(port).await.expect("the provider starts again");
    let rotated = issuer.token("ops").await;
    eventually("a token signed with the new key is accepted", || async {
        call(&app, Method::GET, "/flights/holds", Some(&rotated), None).await.0 == 200
    })
    .await;
    assert_eq!(call(&app, Method::GET, "/flights/holds", Some(&ops), None).await.0, 401, "the retired key's token");
}
