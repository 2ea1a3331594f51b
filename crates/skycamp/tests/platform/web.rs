//! The customer site and the admin site in a real browser: Debian's Chromium driven by Playwright
//! (`tests/web/walk.mjs`), with local accounts. Each walk also checks every page it visits with
//! axe-core and at a phone's width, and leaves screenshots in `target/web-artifacts`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use skycamp::app::{self, AdminPassword, AuthMode, Service, Settings};
use skycamp_account::keys::SigningKeys;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::access::{call, flight, token};
use crate::support::{TestApp, all_but, cannot_run, eventually};

const ADMIN_PASSWORD: &str = "correct horse battery";
const PASSWORD: &str = "s3cret-enough";

fn chromium() -> PathBuf {
    std::env::var_os("SKYCAMP_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Where the walker lives, when it and the browser are installed.
fn walker() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    if !dir.join("node_modules/playwright-core").exists() {
        cannot_run("tests/web has no node_modules (scripts/setup runs npm ci there)");
        return None;
    }
    if !chromium().exists() {
        cannot_run("Chromium is not installed (scripts/setup: apt-get install chromium)");
        return None;
    }
    Some(dir)
}

/// Screenshots and failure pages, kept for CI to upload.
fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-artifacts")
}

/// Runs one scenario of the walker against `base`; answers each `WAIT what` it prints with
/// `on_wait(what)`; returns the JSON it prints last. Fails the test with the walker's own account
/// of what went wrong.
async fn walk(dir: &Path, scenario: &str, base: &str, args: Value, mut on_wait: impl AsyncFnMut(&str)) -> Value {
    let mut child = tokio::process::Command::new("node")
        .arg("walk.mjs")
        .args([scenario, base, artifacts().to_str().unwrap(), &args.to_string()])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await.ok();
        text
    });
    let mut last = String::new();
    let run = async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(what) = line.strip_prefix("WAIT ") {
                on_wait(what).await;
                stdin.write_all(b"OK\n").await.unwrap();
            } else {
                last = line;
            }
        }
        child.wait().await.unwrap()
    };
    let status =
        tokio::time::timeout(std::time::Duration::from_secs(300), run).await.expect("the walk ends within 5 minutes");
    let errors = errors.await.unwrap();
    assert!(status.success(), "the {scenario} walk failed:\n{errors}\n(screenshots in {})", artifacts().display());
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("the walk's last line is its result ({e}): {last}"))
}

/// Settings with local accounts, an admin, and `keys` (the same over a restart).
fn local(keys: SecretString) -> impl Fn(&mut Settings) + Clone {
    move |s: &mut Settings| {
        s.auth.mode = AuthMode::Local;
        s.auth.admin_password = Some(AdminPassword::Plain(ADMIN_PASSWORD.to_owned().into()));
        s.auth.token_keys = Some(keys.clone());
        // Every page of a walk is one visitor; the walks sign in more than a person would.
        s.gateway_limits.sign_ins_per_minute = 0;
    }
}

#[tokio::test]
async fn the_flight_seed_in_a_browser_booked_while_the_airline_is_down() {
    let Some(dir) = walker() else { return };
    let keys = SigningKeys::generate().unwrap();
    let adjust = local(keys);
    let mut app = TestApp::spawn_with(adjust.clone()).await;
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    let flight_id = flight(&app, &admin, "KE1203", 300_000, 10).await;

    // The airline's service goes down; everything else comes back on the same data.
    app.stop().await;
    let s = app.restart_adjusted_without(Service::Flight, &all_but(Service::Flight), &adjust).await;

    let (a, b) = ("01077770001", "01077770002");
    let args = json!({ "flightId": flight_id, "seats": 10, "phoneA": a, "phoneB": b, "password": PASSWORD });
    let mut airline = None;
    let out = walk(&dir, "flight", &app.gateway, args, async |what| {
        assert_eq!(what, "start the flight service");
        let mut s = s.clone();
        s.ports.insert(Service::Flight, 0);
        airline = Some(app::start(&s, &[Service::Flight]).await.unwrap());
    })
    .await;

    // What the pages said is what the services hold: cancelled, refunded, every seat back.
    let id = out["reservation"].as_i64().unwrap();
    let (_, r) = call(&app, Method::GET, &format!("/reservations/{id}"), Some(&admin), None).await;
    assert_eq!(r["status"], "CANCELLED");
    assert_eq!(r["phone"], a);
    let (_, payments) = call(&app, Method::GET, &format!("/payments?reservationId={id}"), Some(&admin), None).await;
    let statuses: Vec<&str> = payments.as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["REFUNDED"], "charged once, refunded once");
    // The booking made and cancelled with JavaScript off: cancelled too, and refunded.
    let plain = out["withoutScript"].as_i64().unwrap();
    eventually("the booking made without JavaScript is cancelled", || async {
        call(&app, Method::GET, &format!("/reservations/{plain}"), Some(&admin), None).await.1["status"] == "CANCELLED"
    })
    .await;
    let (_, f) = call(&app, Method::GET, &format!("/flightStatuses/{flight_id}"), None, None).await;
    eventually("every seat is free again", || async {
        call(&app, Method::GET, &format!("/flightStatuses/{flight_id}"), None, None).await.1["seat"] == 10
    })
    .await;
    assert_eq!(f["totalSeats"], 10);
    if let Some(airline) = airline {
        airline.shutdown().await;
    }
}

/// The admin site's operations on what went wrong: two bookings stuck while the airline is down
/// (one compensated from the stuck-sagas page, one refunded from the payments page) and a poison
/// event parked as a dead letter (whose replay fails again, and says so).
#[tokio::test]
async fn the_admin_site_compensates_refunds_and_replays_in_a_browser() {
    let Some(dir) = walker() else { return };
    let keys = SigningKeys::generate().unwrap();
    let adjust = local(keys);
    let mut app = TestApp::spawn_with(adjust.clone()).await;
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    let flight_id = flight(&app, &admin, "LJ301", 70_000, 6).await;
    app.stop().await;
    let with_few_attempts = |s: &mut Settings| {
        adjust(s);
        s.consumer_max_attempts = 2;
    };
    app.restart_adjusted_without(Service::Flight, &all_but(Service::Flight), with_few_attempts).await;

    let customer = "01077770040";
    let (code, _) =
        call(&app, Method::POST, "/accounts", None, Some(&json!({ "phone": customer, "password": PASSWORD }))).await;
    assert_eq!(code, 202);
    let bearer = token(&app, customer, PASSWORD).await;
    let mut ids = Vec::new();
    for count in [1, 2] {
        let body = json!({ "flightId": flight_id, "count": count });
        let (code, r) = call(&app, Method::POST, "/reservations", Some(&bearer), Some(&body)).await;
        assert_eq!(code, 201, "{r}");
        ids.push(r["id"].as_i64().unwrap());
    }
    app.clock.advance(std::time::Duration::from_secs(61));
    let poison = skycamp_platform::Envelope::new(
        "reservation",
        "ReservationPlaced",
        "reservation/999".into(),
        json!({ "reservationId": "oops" }),
    );
    let record = skycamp_platform::events::Record {
        topic: "reservation".into(),
        key: poison.subject.clone(),
        envelope: poison.clone(),
    };
    app.running().transport().publish(&[record]).await.unwrap();
    eventually("the poison event is parked", || async {
        let (_, parked) = call(&app, Method::GET, "/deadLetters/campsite", Some(&admin), None).await;
        parked.as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let (_, payments) =
        call(&app, Method::GET, &format!("/payments?reservationId={}", ids[1]), Some(&admin), None).await;
    let refunded = payments[0]["id"].as_i64().unwrap();

    let args = json!({ "adminPassword": ADMIN_PASSWORD, "compensate": ids[0], "refund": refunded });
    walk(&dir, "operations", &app.gateway, args, async |what| panic!("unexpected wait: {what}")).await;

    let (_, r) = call(&app, Method::GET, &format!("/reservations/{}", ids[0]), Some(&admin), None).await;
    assert_eq!(r["status"], "REJECTED", "compensated from the admin site");
    eventually("both payments refunded", || async {
        let mut all = Vec::new();
        for id in &ids {
            let (_, p) = call(&app, Method::GET, &format!("/payments?reservationId={id}"), Some(&admin), None).await;
            all.push(p[0]["status"].as_str().unwrap_or("").to_owned());
        }
        all == ["REFUNDED", "REFUNDED"]
    })
    .await;
}

#[tokio::test]
async fn the_admin_site_in_a_browser_shows_the_domains_refusal_at_its_field() {
    let Some(dir) = walker() else { return };
    let keys = SigningKeys::generate().unwrap();
    let app = TestApp::spawn_with(local(keys)).await;
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    // A flight with seats sold, so that fewer seats than sold can be tried.
    let sold = flight(&app, &admin, "OZ8901", 90_000, 5).await;
    let buyer = "01077770009";
    let (code, _) =
        call(&app, Method::POST, "/accounts", None, Some(&json!({ "phone": buyer, "password": PASSWORD }))).await;
    assert_eq!(code, 202);
    let customer = token(&app, buyer, PASSWORD).await;
    let (code, r) =
        call(&app, Method::POST, "/reservations", Some(&customer), Some(&json!({ "flightId": sold, "count": 3 })))
            .await;
    assert_eq!(code, 201, "{r}");
    let id = r["id"].as_i64().unwrap();
    eventually("the booking is confirmed", || async {
        call(&app, Method::GET, &format!("/reservations/{id}"), Some(&customer), None).await.1["status"] == "CONFIRMED"
    })
    .await;

    let args =
        json!({ "phoneA": "01077770010", "password": PASSWORD, "adminPassword": ADMIN_PASSWORD, "soldFlightId": sold });
    walk(&dir, "admin", &app.gateway, args, async |what| panic!("unexpected wait: {what}")).await;

    let (_, f) = call(&app, Method::GET, &format!("/flights/{sold}"), Some(&admin), None).await;
    assert_eq!((f["seat"].as_i64(), f["seatsLeft"].as_i64()), (Some(5), Some(2)), "the refused change changed nothing");
}

#[tokio::test]
async fn the_camping_seeds_eleven_requirements_in_a_browser() {
    let Some(dir) = walker() else { return };
    let keys = SigningKeys::generate().unwrap();
    let app = TestApp::spawn_with(local(keys)).await;
    let phone = "01077770020";
    let args = json!({
        "phoneA": phone, "password": PASSWORD, "adminPassword": ADMIN_PASSWORD,
        "stay": [app.day(1), app.day(3)], "other": [app.day(5), app.day(6)],
    });
    let out = walk(&dir, "camping", &app.gateway, args, async |what| {
        assert_eq!(what, "move the clock past the check-out");
        app.clock.advance_days(3);
    })
    .await;

    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    let (_, mine) = call(&app, Method::GET, &format!("/reservations?phone={phone}"), Some(&admin), None).await;
    let mut statuses: Vec<(i64, String)> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["status"].as_str().unwrap().to_owned()))
        .collect();
    statuses.sort();
    let (stay, cancelled) = (out["stay"].as_i64().unwrap(), out["cancelled"].as_i64().unwrap());
    let mut expected = vec![(stay, "CONFIRMED".to_owned()), (cancelled, "CANCELLED".to_owned())];
    expected.sort();
    assert_eq!(statuses, expected, "two bookings, though one form was sent twice");
    let (_, ledger) = call(&app, Method::GET, &format!("/mileages/{phone}"), Some(&admin), None).await;
    let causes: Vec<&str> =
        ledger["entries"].as_array().unwrap().iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert!(causes.len() >= 4, "earned twice, deducted once, reviewed once: {causes:?}");
    let (_, reviews) = call(&app, Method::GET, &format!("/reviews?campsiteId={}", out["site"]), None, None).await;
    assert_eq!(reviews.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn people_sign_in_to_the_sites_at_an_openid_provider() {
    let Some(dir) = walker() else { return };
    let (issuer_port, gateway_port) = (crate::support::free_port(), crate::support::free_port());
    let callback = format!("http://127.0.0.1:{gateway_port}/signin/callback");
    let Some(issuer) = crate::oidc::Issuer::start_with(issuer_port, Some(&callback)).await else { return };
    let url = issuer.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.ports.insert(Service::Gateway, gateway_port);
        s.auth.mode = AuthMode::Oidc;
        s.auth.issuer = url;
        s.auth.roles_claim = "realm_access.roles".into();
        s.auth.admin_role = "skycamp-admin".into();
        s.auth.client_id = Some("skycamp-web".into());
        s.auth.client_secret = Some("secret-skycamp-web".to_owned().into());
        s.auth.scope = "openid api".into();
    })
    .await;
    let out = walk(&dir, "oidc", &app.gateway, json!({}), async |what| panic!("unexpected wait: {what}")).await;
    assert_eq!(out["customer"], "+821055550101", "the provider's verified phone is the customer");
    drop(issuer);
}

/// What a careless or hostile client sends the sites, without a browser: each gets a clear
/// answer, and nothing is done that should not be.
#[tokio::test]
async fn the_sites_refuse_forged_sessions_cross_site_forms_and_bad_input() {
    let keys = SigningKeys::generate().unwrap();
    let app = TestApp::spawn_with(local(keys)).await;
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    let flight_id = flight(&app, &admin, "TW201", 50_000, 4).await;
    let customer = "01077770030";
    let (code, _) =
        call(&app, Method::POST, "/accounts", None, Some(&json!({ "phone": customer, "password": PASSWORD }))).await;
    assert_eq!(code, 202);
    let session = format!("token={}", token(&app, customer, PASSWORD).await);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let send = async |method: Method, path: &str, cookie: Option<&str>, form: Option<&str>, origin: Option<&str>| {
        let mut r = http.request(method, app.url(path));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(f) = form {
            r = r.header("content-type", "application/x-www-form-urlencoded").body(f.to_owned());
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
        let kind = r.headers().get("content-type").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
        let csp = r.headers().get("content-security-policy").map(|l| l.to_str().unwrap().to_owned());
        (status, location, kind, csp, r.text().await.unwrap())
    };
    let html = "text/html; charset=utf-8";

    // Every page forbids framing and foreign scripts.
    let (status, _, kind, csp, _) = send(Method::GET, "/", None, None, None).await;
    assert_eq!((status, kind.as_str()), (200, html));
    assert!(csp.unwrap().contains("frame-ancestors 'none'"));

    // A path the site cannot read is its own 400 page, not a panic or plain text.
    let (status, _, kind, _, _) = send(Method::GET, "/my/reservations/abc", Some(&session), None, None).await;
    assert_eq!((status, kind.as_str()), (400, html));

    // A forged or expired session is nobody: sent to sign in.
    let (status, location, ..) = send(Method::GET, "/my/reservations", Some("token=not.a.token"), None, None).await;
    assert_eq!((status, location.as_str()), (303, "/signin?next=%2Fmy%2Freservations"));

    // A form posted from another site is refused, and books nothing.
    let book = format!("/book/flights/{flight_id}");
    let (status, _, kind, _, _) =
        send(Method::POST, &book, Some(&session), Some("count=1"), Some("https://evil.example")).await;
    assert_eq!((status, kind.as_str()), (403, html));

    // Bad values are shown at their field, with a 422; none books anything.
    for bad in ["count=abc", "count=0", "count=999", "count=", "count=-1"] {
        let (status, _, kind, _, body) = send(Method::POST, &book, Some(&session), Some(bad), None).await;
        assert_eq!((status, kind.as_str()), (422, html), "{bad}: {body}");
        assert!(body.contains("aria-invalid=\"true\""), "{bad}: the field is marked");
    }
    // A form no page of the site sends (a field twice) is refused as a whole.
    let (status, _, kind, _, _) = send(Method::POST, &book, Some(&session), Some("count=1&count=2"), None).await;
    assert_eq!((status, kind.as_str()), (422, html));
    let (_, mine) = call(&app, Method::GET, "/reservations", Some(&session[6..]), None).await;
    assert_eq!(mine.as_array().unwrap().len(), 0, "nothing was booked");

    // What a visitor typed is shown back escaped, never as markup.
    let (status, _, _, _, body) =
        send(Method::POST, "/signup", None, Some("phone=%3Cscript%3Ealert(1)%3C%2Fscript%3E&password=x"), None).await;
    assert_eq!(status, 422);
    assert!(!body.contains("<script>alert(1)</script>") && body.contains("&#60;script&#62;alert(1)"));

    // After signing in (or switching language) only a path on this site is followed.
    let form = format!("username={customer}&password={PASSWORD}&next=https%3A%2F%2Fevil.example");
    let (status, location, ..) = send(Method::POST, "/signin", None, Some(&form), None).await;
    assert_eq!((status, location.as_str()), (303, "/"));
    let (status, location, ..) = send(Method::GET, "/lang?to=en&back=//evil.example", None, None, None).await;
    assert_eq!((status, location.as_str()), (303, "/"));

    // A customer is refused the admin site, its pages and its forms; nothing changes.
    let (status, ..) = send(Method::GET, "/admin/payments", Some(&session), None, None).await;
    assert_eq!(status, 403);
    let registered = "flightName=X&destination=Y&price=1&seat=1";
    let (status, ..) = send(Method::POST, "/admin/flights", Some(&session), Some(registered), None).await;
    assert_eq!(status, 403);
    let (status, ..) =
        send(Method::POST, &format!("/admin/flights/{flight_id}/delete"), Some(&session), None, None).await;
    assert_eq!(status, 403);
    let (_, flights) = call(&app, Method::GET, "/flights", None, None).await;
    assert_eq!(flights.as_array().unwrap().len(), 1, "no flight registered or deleted");

    // A body over the limit is refused before it is read.
    let huge = format!("count={}", "1".repeat(2 * 1024 * 1024));
    let (status, ..) = send(Method::POST, &book, Some(&session), Some(&huge), None).await;
    assert_eq!(status, 413);
}
