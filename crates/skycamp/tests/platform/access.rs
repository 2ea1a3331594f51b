//! Who may do what, with Skycamp's own accounts (`SKYCAMP_AUTH=local`), tried from outside
//! through the gateway: the authorization matrix, forged tokens, login abuse, and idempotency
//! keys that one customer cannot use to see another's answer (docs/SECURITY.md).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use skycamp::app::{AdminPassword, AuthMode, Service};
use skycamp_account::keys::SigningKeys;

use crate::support::{TestApp, eventually};

const ADMIN_PASSWORD: &str = "correct horse battery";
const A: &str = "01055550001";
const B: &str = "01055550002";
const PASSWORD: &str = "s3cret-enough";

/// The platform with local accounts; `keys` are its token keys (so tests can sign their own).
async fn secured(keys: &SecretString) -> TestApp {
    let keys = keys.clone();
    TestApp::spawn_with(move |s| {
        s.auth.mode = AuthMode::Local;
        s.auth.admin_password = Some(AdminPassword::Plain(ADMIN_PASSWORD.to_owned().into()));
        s.auth.token_keys = Some(keys);
        // The tests sign in more often than a person would; `sign_ins_are_rate_limited_per_client`
        // turns the limit on.
        s.gateway_limits.sign_ins_per_minute = 0;
    })
    .await
}

/// Status and JSON body of a request through the gateway, with `token` as bearer if given.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "401 says how to authenticate: {path}");
    }
    if status >= 400 {
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(kind, "application/problem+json", "{method_path} answers a problem", method_path = path);
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sign_up(app: &TestApp, phone: &str, password: &str) -> (u16, Value) {
    call(app, Method::POST, "/accounts", None, Some(&json!({ "phone": phone, "password": password }))).await
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    call(app, Method::POST, "/accounts/token", None, Some(&json!({ "username": username, "password": password }))).await
}

pub(crate) async fn token(app: &TestApp, username: &str, password: &str) -> String {
    let (code, body) = sign_in(app, username, password).await;
    assert_eq!(code, 200, "{username} signs in: {body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A flight registered by the admin, once `flightStatuses` shows it.
pub(crate) async fn flight(app: &TestApp, admin: &str, name: &str, price: i64, seat: i64) -> i64 {
    let body = json!({ "flightName": name, "destination": "jeju", "price": price, "seat": seat });
    let (code, f) = call(app, Method::POST, "/flights", Some(admin), Some(&body)).await;
    assert_eq!(code, 201, "{f}");
    let id = f["id"].as_i64().unwrap();
    eventually("the flight in flightStatuses", || async {
        call(app, Method::GET, &format!("/flightStatuses/{id}"), None, None).await.0 == 200
    })
    .await;
    id
}

/// A campsite registered by the admin, once `campsiteStatuses` shows it.
async fn campsite(app: &TestApp, admin: &str, name: &str) -> i64 {
    let body = json!({ "name": name, "location": "gapyeong", "pricePerNight": 50_000, "capacity": 4 });
    let (code, c) = call(app, Method::POST, "/campsites", Some(admin), Some(&body)).await;
    assert_eq!(code, 201, "{c}");
    let id = c["id"].as_i64().unwrap();
    eventually("the campsite in campsiteStatuses", || async {
        call(app, Method::GET, &format!("/campsiteStatuses/{id}"), None, None).await.0 == 200
    })
    .await;
    id
}

/// A confirmed flight booking by the customer holding `token`.
async fn booked(app: &TestApp, token: &str, flight: i64) -> i64 {
    let (code, r) =
        call(app, Method::POST, "/reservations", Some(token), Some(&json!({ "flightId": flight, "count": 1 }))).await;
    assert_eq!(code, 201, "{r}");
    let id = r["id"].as_i64().unwrap();
    eventually("the booking confirmed", || async {
        call(app, Method::GET, &format!("/reservations/{id}"), Some(token), None).await.1["status"] == "CONFIRMED"
    })
    .await;
    id
}

/// One request of the matrix: method, the document's path, the path called, body, and the
/// status expected for [anonymous, customer B, customer A, admin].
type Row = (Method, &'static str, String, Option<Value>, [u16; 4]);

#[tokio::test]
async fn every_operation_answers_each_caller_as_their_role_allows() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    assert_eq!(sign_up(&app, A, PASSWORD).await.0, 202);
    assert_eq!(sign_up(&app, B, PASSWORD).await.0, 202);
    let (admin, a, b) =
        (token(&app, "admin", ADMIN_PASSWORD).await, token(&app, A, PASSWORD).await, token(&app, B, PASSWORD).await);
    let f = flight(&app, &admin, "ACL1", 10_000, 10).await;
    let spare = flight(&app, &admin, "ACL2", 10_000, 10).await;
    let ra = booked(&app, &a, f).await;
    let ra2 = booked(&app, &a, f).await;
    let ra3 = booked(&app, &a, f).await;
    let payment =
        call(&app, Method::GET, &format!("/reservations/{ra3}"), Some(&a), None).await.1["paymentId"].as_i64().unwrap();

    let c = campsite(&app, &admin, "ACL3").await;
    let spare_site = campsite(&app, &admin, "ACL4").await;

    let callers: [(&str, Option<&str>); 4] =
        [("anonymous", None), ("customer B", Some(&b)), ("customer A", Some(&a)), ("admin", Some(&admin))];
    let price = json!({ "price": 20_000 });
    let site = json!({ "name": "X", "location": "gapyeong", "description": "", "pricePerNight": 1, "capacity": 4 });
    // (method, the document's path, the path called, body, expected for [anonymous, B, A, admin]);
    // the callers go in that order, so a change is made last, by whoever may make it.
    let rows: Vec<Row> = vec![
        (Method::GET, "/flights", "/flights".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/flights/{id}", format!("/flights/{f}"), None, [200, 200, 200, 200]),
        (Method::GET, "/flightStatuses", "/flightStatuses".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/flightStatuses/{flight_id}", format!("/flightStatuses/{f}"), None, [200, 200, 200, 200]),
        (Method::GET, "/campsites", "/campsites".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/campsites/{id}", format!("/campsites/{c}"), None, [200, 200, 200, 200]),
        (Method::GET, "/campsiteStatuses", "/campsiteStatuses".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/campsiteStatuses/{campsite_id}", format!("/campsiteStatuses/{c}"), None, [200, 200, 200, 200]),
        (Method::GET, "/reviews", "/reviews".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/reviews/{id}", "/reviews/1".into(), None, [404, 404, 404, 404]),
        (Method::GET, "/.well-known/jwks.json", "/.well-known/jwks.json".into(), None, [200, 200, 200, 200]),
        (
            Method::POST,
            "/accounts",
            "/accounts".into(),
            Some(json!({"phone": B, "password": PASSWORD})),
            [202, 202, 202, 202],
        ),
        (
            Method::POST,
            "/accounts/token",
            "/accounts/token".into(),
            Some(json!({"username": B, "password": PASSWORD})),
            [200, 200, 200, 200],
        ),
        (Method::GET, "/flights/holds", "/flights/holds".into(), None, [401, 403, 403, 200]),
        (Method::GET, "/campsites/nights", "/campsites/nights".into(), None, [401, 403, 403, 200]),
        (Method::PATCH, "/flights/{id}", format!("/flights/{spare}"), Some(price.clone()), [401, 403, 403, 200]),
        (
            Method::PUT,
            "/flights/{id}",
            format!("/flights/{spare}"),
            Some(json!({"flightName": "X", "destination": "y", "price": 1, "seat": 10})),
            [401, 403, 403, 200],
        ),
        (Method::DELETE, "/flights/{id}", format!("/flights/{spare}"), None, [401, 403, 403, 204]),
        (
            Method::POST,
            "/flights",
            "/flights".into(),
            Some(json!({"flightName": "Z", "destination": "y", "price": 1, "seat": 1})),
            [401, 403, 403, 201],
        ),
        (Method::POST, "/campsites", "/campsites".into(), Some(site.clone()), [401, 403, 403, 201]),
        (
            Method::PATCH,
            "/campsites/{id}",
            format!("/campsites/{spare_site}"),
            Some(json!({ "pricePerNight": 60_000 })),
            [401, 403, 403, 200],
        ),
        (Method::PUT, "/campsites/{id}", format!("/campsites/{spare_site}"), Some(site.clone()), [401, 403, 403, 200]),
        (Method::DELETE, "/campsites/{id}", format!("/campsites/{spare_site}"), None, [401, 403, 403, 204]),
        (Method::GET, "/reservations", "/reservations".into(), None, [401, 200, 200, 200]),
        (Method::GET, "/reservations", format!("/reservations?phone={A}"), None, [401, 403, 200, 200]),
        (Method::GET, "/reservations", "/reservations?stuck=true".into(), None, [401, 403, 403, 200]),
        // B books as B, A as A; the admin must name the customer.
        (
            Method::POST,
            "/reservations",
            "/reservations".into(),
            Some(json!({"flightId": f, "count": 1})),
            [401, 201, 201, 422],
        ),
        (Method::GET, "/reservations/{id}", format!("/reservations/{ra}"), None, [401, 403, 200, 200]),
        (
            Method::GET,
            "/reservations/{id}/timeline",
            format!("/reservations/{ra}/timeline"),
            None,
            [401, 403, 200, 200],
        ),
        (Method::GET, "/mileages/{customer}", format!("/mileages/{A}"), None, [401, 403, 200, 200]),
        (Method::GET, "/messages", format!("/messages?phone={A}"), None, [401, 403, 200, 200]),
        (Method::GET, "/messages", "/messages".into(), None, [401, 200, 200, 422]),
        // A customer's review is checked, not refused: this one lacks its rating.
        (Method::POST, "/reviews", "/reviews".into(), Some(json!({"campsiteId": c})), [401, 422, 422, 422]),
        (Method::GET, "/payments", "/payments".into(), None, [401, 403, 403, 200]),
        (Method::GET, "/payments/{id}", format!("/payments/{payment}"), None, [401, 403, 403, 200]),
        (Method::GET, "/circuits", "/circuits".into(), None, [401, 403, 403, 200]),
        (Method::GET, "/deadLetters/{service}", "/deadLetters/flight".into(), None, [401, 403, 403, 200]),
        (
            Method::POST,
            "/deadLetters/{service}/{id}/replay",
            "/deadLetters/flight/1/replay".into(),
            None,
            [401, 403, 403, 404],
        ),
        (Method::POST, "/reservations/{id}/retry", format!("/reservations/{ra}/retry"), None, [401, 403, 403, 409]),
        (
            Method::POST,
            "/reservations/{id}/compensate",
            format!("/reservations/{ra}/compensate"),
            None,
            [401, 403, 403, 409],
        ),
        (Method::GET, "/accounts/me", "/accounts/me".into(), None, [401, 200, 200, 200]),
        // A's own cancel goes through; the admin then finds it cancelled.
        (Method::POST, "/reservations/{id}/cancel", format!("/reservations/{ra}/cancel"), None, [401, 403, 200, 409]),
        (
            Method::POST,
            "/reservations",
            "/reservations".into(),
            Some(json!({"reserveStatus": "cancel", "reservationId": ra2})),
            [401, 403, 200, 409],
        ),
        (
            Method::POST,
            "/payments/{id}/refund",
            format!("/payments/{payment}/refund"),
            Some(json!({"reason": "ops"})),
            [401, 403, 403, 200],
        ),
    ];

    // The table covers every operation of the published document, and agrees with the roles the
    // document gives each: no route escapes it.
    let doc = serde_json::to_value(skycamp::openapi::document()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_ascii_uppercase().parse().unwrap();
            let tried: Vec<&[u16; 4]> = rows.iter().filter(|r| r.0 == method && r.1 == path).map(|r| &r.4).collect();
            assert!(!tried.is_empty(), "{method} {path} is in the document but not in the matrix");
            let roles: Vec<&str> = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|req| req.get("bearer"))
                .flat_map(|scopes| scopes.as_array().unwrap().iter().filter_map(Value::as_str))
                .collect();
            let public = op["security"].as_array().unwrap().iter().any(|req| req.as_object().unwrap().is_empty());
            for expected in tried {
                if public {
                    assert!(!matches!(expected[0], 401 | 403), "{method} {path} is public in the document");
                } else {
                    assert_eq!(expected[0], 401, "{method} {path} needs a token in the document");
                }
                if roles == ["admin"] {
                    assert_eq!(expected[1..3], [403, 403], "{method} {path} is the admin's in the document");
                }
            }
        }
    }

    let mut wrong = Vec::new();
    for (method, _, path, body, expected) in &rows {
        for ((who, token), want) in callers.iter().zip(expected) {
            let (got, answer) = call(&app, method.clone(), path, *token, body.as_ref()).await;
            if got != *want {
                wrong.push(format!("{method} {path} as {who}: {got} (expected {want}) {answer}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing the refusals touched changed: the spare flight was changed by the admin only.
    let (_, flights) = call(&app, Method::GET, "/flights", None, None).await;
    assert!(flights.as_array().unwrap().iter().all(|f| f["id"] != spare), "the admin deleted the spare flight");
    let (_, mine) = call(&app, Method::GET, "/reservations", Some(&b), None).await;
    assert!(mine.as_array().unwrap().iter().all(|r| r["phone"] == B), "B sees only their own: {mine}");
    let (_, theirs) = call(&app, Method::GET, "/reservations", Some(&a), None).await;
    assert_eq!(theirs.as_array().unwrap().len(), 4, "A sees their own four");

    // The auditor reads what only an admin may: with the admin's token it runs, without it not.
    app.settle().await;
    let report = skycamp::audit::audit_as(&app.gateway, Some(&admin)).await.unwrap();
    assert_eq!((report.mismatches.len(), report.reservations), (0, 5), "{:?}", report.mismatches);
    let refused = skycamp::audit::audit(&app.gateway).await.unwrap_err();
    assert!(format!("{refused:#}").contains("401"), "{refused:#}");
}

#[tokio::test]
async fn a_customer_books_as_themselves_only() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    sign_up(&app, A, PASSWORD).await;
    let (admin, a) = (token(&app, "admin", ADMIN_PASSWORD).await, token(&app, A, PASSWORD).await);
    let f = flight(&app, &admin, "OWN1", 10_000, 10).await;
    let as_b = json!({ "flightId": f, "count": 1, "phone": B });
    let (code, body) = call(&app, Method::POST, "/reservations", Some(&a), Some(&as_b)).await;
    assert_eq!(code, 403, "A cannot book (and pay) in B's name: {body}");
    let (code, _) = call(&app, Method::POST, "/reservations", None, Some(&as_b)).await;
    assert_eq!(code, 401, "nor can anyone without a token");
    let (code, r) = call(&app, Method::POST, "/reservations", Some(&admin), Some(&as_b)).await;
    assert_eq!(code, 201, "an admin may book for a customer: {r}");
    assert_eq!(r["phone"], B);
    let (code, r) = call(&app, Method::POST, "/reservations", Some(&a), Some(&json!({ "flightId": f }))).await;
    assert_eq!((code, r["phone"].as_str()), (201, Some(A)), "with no phone given, the booking is A's: {r}");
    // The seed's cancel form is held to the same rule.
    let id = r["id"].as_i64().unwrap();
    let cancel = json!({ "reserveStatus": "cancel", "reservationId": id });
    let b = {
        sign_up(&app, B, PASSWORD).await;
        token(&app, B, PASSWORD).await
    };
    let (code, _) = call(&app, Method::POST, "/reservations", Some(&b), Some(&cancel)).await;
    assert_eq!(code, 403, "B cannot cancel A's booking through the form");
}

#[tokio::test]
async fn one_customers_idempotency_key_never_answers_another() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    sign_up(&app, A, PASSWORD).await;
    sign_up(&app, B, PASSWORD).await;
    let (admin, a, b) =
        (token(&app, "admin", ADMIN_PASSWORD).await, token(&app, A, PASSWORD).await, token(&app, B, PASSWORD).await);
    let f = flight(&app, &admin, "KEY1", 10_000, 10).await;
    let body = json!({ "flightId": f, "count": 1 });
    let mut ids = Vec::new();
    for token in [&a, &b, &a] {
        let r = app
            .http
            .post(app.url("/reservations"))
            .bearer_auth(token)
            .header("idempotency-key", "same-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r: Value = r.json().await.unwrap();
        ids.push((r["id"].as_i64().unwrap(), r["phone"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ids[1].1, B, "B's request with A's key is B's own booking");
    assert_ne!(ids[0].0, ids[1].0, "and a new one");
    assert_eq!(ids[0], ids[2], "A's retry replays A's answer");
}

/// The claims of a good customer token for `phone`, to forge variations of.
fn claims(phone: &str) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    json!({
        "iss": "skycamp", "aud": "skycamp", "sub": format!("customer:{phone}"), "iat": now, "nbf": now,
        "exp": now + 600, "roles": ["admin"], "phone_number": phone, "phone_number_verified": true,
    })
}

#[tokio::test]
async fn forged_tokens_are_refused_and_change_nothing() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    let real = SigningKeys::parse(&keys).unwrap();
    let good = real.sign(&claims(A)).unwrap();
    let (code, me) = call(&app, Method::GET, "/accounts/me", Some(&good), None).await;
    assert_eq!((code, me["admin"].as_bool()), (200, Some(true)), "a token signed with the real key passes: {me}");

    let payload = |c: &Value| URL_SAFE_NO_PAD.encode(c.to_string());
    let [h, _, s]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let kid = real.jwks()["keys"][0]["kid"].as_str().unwrap().to_owned();
    let public_x = URL_SAFE_NO_PAD.decode(real.jwks()["keys"][0]["x"].as_str().unwrap()).unwrap();
    let now = claims(A)["iat"].as_u64().unwrap();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(A);
        change(&mut c);
        real.sign(&c).unwrap()
    };
    let hmac_with_public_key = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims(A), &jsonwebtoken::EncodingKey::from_secret(&public_x)).unwrap()
    };
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), payload(&claims(A)));
    let stranger = SigningKeys::parse(&SigningKeys::generate().unwrap()).unwrap().sign(&claims(A)).unwrap();
    let mut tampered_claims = claims(A);
    tampered_claims["phone_number"] = json!(B);
    let tampered = format!("{h}.{}.{s}", payload(&tampered_claims));
    let forged: Vec<(&str, String)> = vec![
        ("alg none", none),
        ("an unknown key", stranger),
        ("HS256 keyed with the public key", hmac_with_public_key),
        ("expired", with(&|c| c["exp"] = json!(now - 120))),
        ("not valid yet", with(&|c| c["nbf"] = json!(now + 600))),
        ("wrong issuer", with(&|c| c["iss"] = json!("https://evil.example"))),
        ("wrong audience", with(&|c| c["aud"] = json!("someone-else"))),
        ("no expiry", with(&|c| drop(c.as_object_mut().unwrap().remove("exp")))),
        ("tampered payload", tampered),
        ("garbage", "not.a.token".into()),
    ];
    for (what, token) in &forged {
        let body = json!({ "flightName": "FORGED", "destination": "x", "price": 1, "seat": 1 });
        let (code, answer) = call(&app, Method::POST, "/flights", Some(token), Some(&body)).await;
        assert_eq!(code, 401, "{what}: {answer}");
        assert!(answer["detail"].as_str().unwrap().starts_with("invalid token"), "{what}: {answer}");
        // Every service checks for itself: the flight service refuses it without the gateway.
        let flight = app.running().url(Service::Flight);
        let direct = app.http.post(format!("{flight}/flights")).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(direct.status(), 401, "{what}, straight to the flight service");
    }
    let (_, flights) = call(&app, Method::GET, "/flights", None, None).await;
    assert_eq!(flights, json!([]), "nothing was registered");
}

#[tokio::test]
async fn sign_in_is_locked_after_repeated_failures_and_tells_nothing_about_accounts() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    let (code, known) = sign_up(&app, A, PASSWORD).await;
    assert_eq!(code, 202);
    let (code, again) = sign_up(&app, A, "another password").await;
    assert_eq!((code, &again), (202, &known), "signing up a taken phone answers exactly as a new one");
    token(&app, A, PASSWORD).await;

    // The same answers, in the same order, for an account and for a phone nobody has.
    let mut answers = Vec::new();
    for login in [A, B] {
        let mut seen = Vec::new();
        for _ in 0..6 {
            let (code, body) = sign_in(&app, login, "wrong password").await;
            seen.push((code, body["detail"].as_str().unwrap_or_default().to_owned()));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "an unknown phone cannot be told from a known one");
    let codes: Vec<u16> = answers[0].iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [401, 401, 401, 401, 401, 429], "five tries, then locked");
    let (code, _) = sign_in(&app, A, PASSWORD).await;
    assert_eq!(code, 429, "while locked, even the right password waits");
    let locked = app.http.post(app.url("/accounts/token")).json(&json!({"username": A, "password": PASSWORD}));
    let retry_after: u64 = locked.send().await.unwrap().headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "it says when to come back");

    app.clock.advance(std::time::Duration::from_secs(2));
    let (code, _) = sign_in(&app, A, "wrong again").await;
    assert_eq!(code, 401, "after the lock, one more try");
    let (code, _) = sign_in(&app, A, PASSWORD).await;
    assert_eq!(code, 429, "which failed, so the lock is back, and longer");
    app.clock.advance(std::time::Duration::from_secs(5));
    let t = token(&app, A, PASSWORD).await;
    let (code, me) = call(&app, Method::GET, "/accounts/me", Some(&t), None).await;
    assert_eq!((code, me["phone"].as_str()), (200, Some(A)));
    // The admin's account is locked the same way, and wrong user names are no different.
    for _ in 0..5 {
        assert_eq!(sign_in(&app, "root", "x").await.0, 401);
    }
    assert_eq!(sign_in(&app, "root", "x").await.0, 429);
}

#[tokio::test]
async fn bad_sign_up_and_sign_in_bodies_get_clear_answers() {
    let keys = SigningKeys::generate().unwrap();
    let app = secured(&keys).await;
    for (body, want) in [
        (json!({ "phone": A, "password": "short" }), 422),
        (json!({ "phone": "abc", "password": PASSWORD }), 422),
        (json!({ "password": PASSWORD }), 422),
        (json!({ "phone": A, "password": "x".repeat(129) }), 422),
    ] {
        let (code, answer) = call(&app, Method::POST, "/accounts", None, Some(&body)).await;
        assert_eq!(code, want, "{body}: {answer}");
    }
    let (code, _) = call(&app, Method::POST, "/accounts/token", None, Some(&json!({ "username": A }))).await;
    assert_eq!(code, 422);
    let r = app.http.get(app.url("/reservations")).header("authorization", "Basic YTpi").send().await.unwrap();
    assert_eq!(r.status(), 401, "only bearer tokens are understood");
}

#[tokio::test]
async fn token_keys_rotate_by_listing_the_new_one_first() {
    let (old, new) = (SigningKeys::generate().unwrap(), SigningKeys::generate().unwrap());
    let both: SecretString =
        format!("{},{}", secrecy::ExposeSecret::expose_secret(&new), secrecy::ExposeSecret::expose_secret(&old)).into();
    let before = secured(&old).await;
    let old_token = token(&before, "admin", ADMIN_PASSWORD).await;

    // The new key signs; the old one is still published, so tokens it signed keep working.
    let during = secured(&both).await;
    let (_, jwks) = call(&during, Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "both keys are published: {jwks}");
    assert_eq!(call(&during, Method::GET, "/flights/holds", Some(&old_token), None).await.0, 200);
    let new_token = token(&during, "admin", ADMIN_PASSWORD).await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(kid(&new_token), jwks["keys"][0]["kid"].as_str().unwrap(), "the first key listed signs");
    assert_ne!(kid(&new_token), kid(&old_token));

    // Once the old key is dropped, what it signed is refused.
    let after = secured(&new).await;
    assert_eq!(call(&after, Method::GET, "/flights/holds", Some(&old_token), None).await.0, 401);
    assert_eq!(call(&after, Method::GET, "/flights/holds", Some(&new_token), None).await.0, 200);
}

#[tokio::test]
async fn sign_ins_are_rate_limited_per_client_whatever_the_phone() {
    let keys = SigningKeys::generate().unwrap();
    let keys2 = keys.clone();
    let app = TestApp::spawn_with(move |s| {
        s.auth.mode = AuthMode::Local;
        s.auth.token_keys = Some(keys2);
        s.gateway_limits.sign_ins_per_minute = 6;
        s.gateway_limits.sign_in_burst = 3;
    })
    .await;
    // Three different phones: the per-login lockout would never trigger, the per-client limit does.
    for phone in ["01066660001", "01066660002", "01066660003"] {
        assert_eq!(sign_in(&app, phone, "guess").await.0, 401);
    }
    let r = app.http.post(app.url("/accounts/token")).json(&json!({"username": "01066660004", "password": "guess"}));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 429, "a client trying many phones is slowed down");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(sign_up(&app, "01066660005", PASSWORD).await.0, 429, "sign-ups count too: each costs a hash");
    // Reading the catalogue is not affected.
    assert_eq!(call(&app, Method::GET, "/flights", None, None).await.0, 200);
}
