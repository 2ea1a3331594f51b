//! The admin site at `/admin`: the catalogue (flights and campsites: register, edit, delete, with
//! the domain's refusals on the form), payments and refunds, dead letters with replay, stuck
//! sagas with retry and compensate, the payment breaker, the audit report, and bookings per
//! minute from the reservation service's own metrics.
//!
//! Every page asks the API as the signed-in admin; a customer who opens one gets 403 here, and
//! would get it from every service anyway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, Problem, form_key, int, items, text};
use crate::customer::status_text;
use crate::format::{grouped, instant, won};
use crate::forms::{Field, FormPage};
use crate::page::{Action, Chrome, ErrorPage, Row, Section, TablePage};
use crate::session::Visit;
use crate::{Lang, State, Web};

/// The services whose consumers can park dead letters.
const SERVICES: &[&str] = &["flight", "reservation", "payment", "campsite", "mileage", "notification", "review"];

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/rate", get(rate))
        .route("/admin/flights", get(flights).post(create_flight))
        .route("/admin/flights/new", get(new_flight))
        .route("/admin/flights/{id}", get(edit_flight).post(change_flight))
        .route("/admin/flights/{id}/delete", post(delete_flight))
        .route("/admin/campsites", get(campsites).post(create_campsite))
        .route("/admin/campsites/new", get(new_campsite))
        .route("/admin/campsites/{id}", get(edit_campsite).post(change_campsite))
        .route("/admin/campsites/{id}/delete", post(delete_campsite))
        .route("/admin/payments", get(payments))
        .route("/admin/payments/{id}/refund", post(refund))
        .route("/admin/dead-letters", get(dead_letters))
        .route("/admin/dead-letters/{service}/{id}/replay", post(replay))
        .route("/admin/sagas", get(sagas))
        .route("/admin/sagas/{id}/{action}", post(saga_action))
        .route("/admin/audit", get(audit))
}

/// None for an admin; else the answer: sign in first, or 403.
fn refuse(visit: &Visit) -> Option<Response> {
    if visit.admin() {
        None
    } else if visit.signed_in() {
        Some(ErrorPage::shown_to(visit, StatusCode::FORBIDDEN, visit.lang.s("admin_only")))
    } else {
        Some(visit.to_sign_in())
    }
}

macro_rules! admin_only {
    ($visit:expr) => {
        if let Some(r) = refuse(&$visit) {
            return r;
        }
    };
}

#[derive(Template, WebTemplate)]
#[template(path = "admin.html")]
pub struct Dashboard {
    t: Lang,
    chrome: Chrome,
    title: String,
    admin_page: bool,
    breakers: Vec<(String, String)>,
    rate_html: String,
    counts: Vec<(&'static str, &'static str, String)>,
}

/// `GET /admin`.
pub async fn dashboard(state: State, visit: Visit) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let api = Api::new(&state.0, &visit);
    let (circuits, stuck, payments) =
        tokio::join!(api.get("/circuits"), api.get("/reservations?stuck=true&limit=100"), api.get("/payments?limit=1"));
    let circuits = match circuits {
        Ok(c) => c,
        Err(p) => return p.page(&visit),
    };
    let mut letters = 0;
    for service in SERVICES {
        letters += api.get(&format!("/deadLetters/{service}?limit=100")).await.map_or(0, |l| items(&l).len());
    }
    let counts = vec![
        ("/admin/flights", t.s("flights"), String::new()),
        ("/admin/campsites", t.s("campsites"), String::new()),
        ("/admin/payments", t.s("payments"), if payments.is_ok() { String::new() } else { "!".into() }),
        ("/admin/dead-letters", t.s("dead_letters"), letters.to_string()),
        (
            "/admin/sagas",
            t.s("stuck_sagas"),
            stuck.as_ref().map_or_else(|_| "?".into(), |s| items(s).len().to_string()),
        ),
        ("/admin/audit", t.s("audit"), String::new()),
    ];
    Dashboard {
        t,
        chrome: Chrome::of(&visit),
        title: t.s("admin_console").to_owned(),
        admin_page: true,
        breakers: breakers(&circuits),
        rate_html: state.0.rate(t).await.render().unwrap_or_default(),
        counts,
    }
    .into_response()
}

/// The breakers `/circuits` reports, as (name, state).
fn breakers(circuits: &Value) -> Vec<(String, String)> {
    let state = |v: &Value| v["state"].as_str().map_or_else(|| text(v), str::to_owned);
    match circuits {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), state(v))).collect(),
        Value::Array(list) => list.iter().map(|b| (text(&b["name"]), state(b))).collect(),
        _ => Vec::new(),
    }
}

/// Bookings per minute, polled by htmx every 5 seconds.
#[derive(Template, WebTemplate)]
#[template(path = "rate.html")]
pub struct RateFragment {
    t: Lang,
    per_minute: String,
    total: String,
    /// Bookings in each of the last minutes, oldest first, with a bar width in percent.
    bars: Vec<(String, u32)>,
}

/// How long readings are kept: a quarter of an hour.
const KEEP: Duration = Duration::from_secs(15 * 60);

impl Web {
    /// Reads the bookings counter and works out the rate over the last minute from the readings
    /// kept (a counter that went down is a restarted service: counted from its new start).
    async fn rate(&self, t: Lang) -> RateFragment {
        let now = Instant::now();
        let reading = self.backend.bookings_placed().await.ok();
        let readings: Vec<(Instant, f64)> = {
            let mut r = self.readings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(v) = reading {
                r.push_back((now, v));
            }
            while r.front().is_some_and(|(at, _)| now.duration_since(*at) > KEEP) {
                r.pop_front();
            }
            r.iter().copied().collect()
        };
        let minute = Duration::from_secs(60);
        let per_minute = match readings.first() {
            Some((first, _)) if now.duration_since(*first) >= Duration::from_secs(5) => {
                let span = now.duration_since(*first).min(minute);
                let n = increase(&readings, now - span, now);
                format!("{:.1}", n * 60.0 / span.as_secs_f64())
            }
            _ => "–".to_owned(),
        };
        let minutes: Vec<f64> = (0..10u32)
            .rev()
            .map(|m| {
                let (from, to) = (now.checked_sub(minute * (m + 1)), now.checked_sub(minute * m));
                match (from, to) {
                    (Some(from), Some(to)) => increase(&readings, from, to),
                    _ => 0.0,
                }
            })
            .collect();
        let most = minutes.iter().copied().fold(1.0, f64::max);
        RateFragment {
            t,
            per_minute,
            total: reading.map_or_else(|| "?".into(), |v| grouped(v as u64)),
            bars: minutes.iter().map(|n| (format!("{n:.0}"), (n / most * 100.0) as u32)).collect(),
        }
    }
}

/// How much the counter rose between the readings taken in `[from, to]` (a counter that went down
/// is a restarted service: counted from its new start).
fn increase(readings: &[(Instant, f64)], from: Instant, to: Instant) -> f64 {
    let window: Vec<f64> = readings.iter().filter(|(at, _)| *at >= from && *at <= to).map(|(_, v)| *v).collect();
    window.windows(2).map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] }).sum()
}

/// `GET /admin/rate`.
pub async fn rate(state: State, visit: Visit) -> Response {
    admin_only!(visit);
    state.0.rate(visit.lang).await.into_response()
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// `GET /admin/flights`.
pub async fn flights(state: State, visit: Visit, Query(q): Query<Done>) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let list = match Api::new(&state.0, &visit).get("/flights?limit=500").await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("flights"));
    page.links.push(("/admin/flights/new".into(), t.s("new_flight")));
    if q.done.is_some() {
        page.notes.push(t.s("done").to_owned());
    }
    let mut section =
        Section::new("", vec!["#", t.s("flight"), t.s("destination"), t.s("price"), t.s("seats_left"), t.s("status")])
            .numeric(&[3, 4]);
    for f in items(&list) {
        let id = int(&f["id"]);
        let name = text(&f["flightName"]);
        section.rows.push(Row {
            cells: vec![
                id.to_string(),
                name.clone(),
                text(&f["destination"]),
                won(int(&f["price"])),
                format!("{} / {}", int(&f["seatsLeft"]), int(&f["seat"])),
                status_text(t, f["status"].as_str().unwrap_or("")).to_owned(),
            ],
            actions: vec![
                Action::link(t.s("edit"), format!("/admin/flights/{id}"), format!("{} {name}", t.s("edit"))),
                Action::post(t.s("delete"), format!("/admin/flights/{id}/delete"), format!("{} {name}", t.s("delete"))),
            ],
            link: None,
        });
    }
    page.sections.push(section);
    page.into_response()
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FlightForm {
    flight_name: Option<String>,
    destination: Option<String>,
    price: Option<String>,
    seat: Option<String>,
    idempotency_key: Option<String>,
}

fn flight_form(visit: &Visit, title: &str, action: String, f: &FlightForm) -> FormPage {
    let t = visit.lang;
    let mut page = FormPage::new(visit, title, &action, t.s("save"));
    page.fields = vec![
        Field::text("flightName", t.s("flight"), f.flight_name.clone()).required().attrs("maxlength=\"100\""),
        Field::text("destination", t.s("destination"), f.destination.clone()).required().attrs("maxlength=\"100\""),
        Field::text("price", t.s("price_per_seat"), f.price.clone()).kind("number").attrs("min=\"1\"").required(),
        Field::text("seat", t.s("seats"), f.seat.clone()).kind("number").attrs("min=\"1\"").required(),
    ];
    page
}

fn flight_body(f: &FlightForm) -> Value {
    json!({
        "flightName": f.flight_name.as_deref().unwrap_or(""),
        "destination": f.destination.as_deref().unwrap_or(""),
        "price": f.price.as_deref().unwrap_or("").trim(),
        "seat": f.seat.as_deref().unwrap_or("").trim(),
    })
}

/// `GET /admin/flights/new`.
pub async fn new_flight(visit: Visit) -> Response {
    admin_only!(visit);
    flight_form(&visit, visit.lang.s("new_flight"), "/admin/flights".into(), &FlightForm::default())
        .keyed(None)
        .into_response()
}

/// `POST /admin/flights`: registers, with an idempotency key (a resubmitted form registers once).
pub async fn create_flight(state: State, visit: Visit, axum::Form(f): axum::Form<FlightForm>) -> Response {
    admin_only!(visit);
    let key = form_key(f.idempotency_key.as_deref());
    let answer = Api::new(&state.0, &visit).send(Method::POST, "/flights", Some(flight_body(&f)), Some(&key)).await;
    saved(&visit, answer, "/admin/flights?done=1", || {
        flight_form(&visit, visit.lang.s("new_flight"), "/admin/flights".into(), &f).keyed(None)
    })
}

/// `GET /admin/flights/{id}`.
pub async fn edit_flight(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    admin_only!(visit);
    match Api::new(&state.0, &visit).get(&format!("/flights/{id}")).await {
        Ok(f) => {
            let form = FlightForm {
                flight_name: Some(text(&f["flightName"])),
                destination: Some(text(&f["destination"])),
                price: Some(int(&f["price"]).to_string()),
                seat: Some(int(&f["seat"]).to_string()),
                idempotency_key: None,
            };
            editing(
                flight_form(&visit, visit.lang.s("edit_flight"), format!("/admin/flights/{id}"), &form),
                &visit,
                "flights",
                id,
            )
        }
        Err(p) => p.page(&visit),
    }
}

fn editing(mut page: FormPage, visit: &Visit, what: &str, id: i64) -> Response {
    page.danger = Some((format!("/admin/{what}/{id}/delete"), visit.lang.s("delete")));
    page.into_response()
}

/// `POST /admin/flights/{id}`: the change, refused on the form when the domain says no ("seat
/// cannot be reduced below the 12 seats already sold").
pub async fn change_flight(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<FlightForm>,
) -> Response {
    admin_only!(visit);
    let answer =
        Api::new(&state.0, &visit).send(Method::PATCH, &format!("/flights/{id}"), Some(flight_body(&f)), None).await;
    saved(&visit, answer, "/admin/flights?done=1", || {
        let mut page = flight_form(&visit, visit.lang.s("edit_flight"), format!("/admin/flights/{id}"), &f);
        page.danger = Some((format!("/admin/flights/{id}/delete"), visit.lang.s("delete")));
        page
    })
}

/// `POST /admin/flights/{id}/delete`.
pub async fn delete_flight(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    admin_only!(visit);
    match Api::new(&state.0, &visit).send(Method::DELETE, &format!("/flights/{id}"), None, None).await {
        Ok(_) => Redirect::to("/admin/flights?done=1").into_response(),
        Err(p) => p.page(&visit),
    }
}

/// After a create or change: on to `next`, or the form again (`form` builds it: a create form
/// with a fresh idempotency key, since the refused request did nothing) with the refusal at its
/// field.
fn saved(visit: &Visit, answer: Result<Value, Problem>, next: &str, form: impl FnOnce() -> FormPage) -> Response {
    match answer {
        Ok(_) => Redirect::to(next).into_response(),
        Err(p) if p.is_form_error() => {
            let mut page = form();
            let first = page.fields.first().map(|f| f.name).unwrap_or_default().to_owned();
            page.attach(&first, p.detail);
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        Err(p) => p.page(visit),
    }
}

/// `GET /admin/campsites`.
pub async fn campsites(state: State, visit: Visit, Query(q): Query<Done>) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let list = match Api::new(&state.0, &visit).get("/campsites?limit=500").await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("campsites"));
    page.links.push(("/admin/campsites/new".into(), t.s("new_campsite")));
    if q.done.is_some() {
        page.notes.push(t.s("done").to_owned());
    }
    let mut section =
        Section::new("", vec!["#", t.s("name"), t.s("location"), t.s("price_per_night"), t.s("capacity")])
            .numeric(&[3, 4]);
    for c in items(&list) {
        let id = int(&c["id"]);
        let name = text(&c["name"]);
        section.rows.push(Row {
            cells: vec![
                id.to_string(),
                name.clone(),
                text(&c["location"]),
                won(int(&c["pricePerNight"])),
                int(&c["capacity"]).to_string(),
            ],
            actions: vec![
                Action::link(t.s("edit"), format!("/admin/campsites/{id}"), format!("{} {name}", t.s("edit"))),
                Action::post(
                    t.s("delete"),
                    format!("/admin/campsites/{id}/delete"),
                    format!("{} {name}", t.s("delete")),
                ),
            ],
            link: None,
        });
    }
    page.sections.push(section);
    page.into_response()
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteForm {
    name: Option<String>,
    location: Option<String>,
    description: Option<String>,
    price_per_night: Option<String>,
    capacity: Option<String>,
    amenities: Option<String>,
    idempotency_key: Option<String>,
}

fn campsite_form(visit: &Visit, title: &str, action: String, c: &CampsiteForm) -> FormPage {
    let t = visit.lang;
    let mut page = FormPage::new(visit, title, &action, t.s("save"));
    page.fields = vec![
        Field::text("name", t.s("name"), c.name.clone()).required().attrs("maxlength=\"100\""),
        Field::text("location", t.s("location"), c.location.clone()).required().attrs("maxlength=\"100\""),
        Field::text("description", t.s("description"), c.description.clone()).multiline().attrs("maxlength=\"2000\""),
        Field::text("pricePerNight", t.s("price_per_night"), c.price_per_night.clone())
            .kind("number")
            .attrs("min=\"1\"")
            .required(),
        Field::text("capacity", t.s("capacity"), c.capacity.clone()).kind("number").attrs("min=\"1\"").required(),
        Field::text("amenities", t.s("amenities"), c.amenities.clone()),
    ];
    page
}

fn campsite_body(c: &CampsiteForm) -> Value {
    let amenities: Vec<&str> =
        c.amenities.as_deref().unwrap_or("").split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
    json!({
        "name": c.name.as_deref().unwrap_or(""),
        "location": c.location.as_deref().unwrap_or(""),
        "description": c.description.as_deref().unwrap_or(""),
        "pricePerNight": c.price_per_night.as_deref().unwrap_or("").trim(),
        "capacity": c.capacity.as_deref().unwrap_or("").trim(),
        "amenities": amenities,
    })
}

/// `GET /admin/campsites/new`.
pub async fn new_campsite(visit: Visit) -> Response {
    admin_only!(visit);
    campsite_form(&visit, visit.lang.s("new_campsite"), "/admin/campsites".into(), &CampsiteForm::default())
        .keyed(None)
        .into_response()
}

/// `POST /admin/campsites`.
pub async fn create_campsite(state: State, visit: Visit, axum::Form(c): axum::Form<CampsiteForm>) -> Response {
    admin_only!(visit);
    let key = form_key(c.idempotency_key.as_deref());
    let answer = Api::new(&state.0, &visit).send(Method::POST, "/campsites", Some(campsite_body(&c)), Some(&key)).await;
    saved(&visit, answer, "/admin/campsites?done=1", || {
        campsite_form(&visit, visit.lang.s("new_campsite"), "/admin/campsites".into(), &c).keyed(None)
    })
}

/// `GET /admin/campsites/{id}`.
pub async fn edit_campsite(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    admin_only!(visit);
    match Api::new(&state.0, &visit).get(&format!("/campsites/{id}")).await {
        Ok(c) => {
            let amenities: Vec<String> = items(&c["amenities"]).iter().map(text).collect();
            let form = CampsiteForm {
                name: Some(text(&c["name"])),
                location: Some(text(&c["location"])),
                description: Some(text(&c["description"])),
                price_per_night: Some(int(&c["pricePerNight"]).to_string()),
                capacity: Some(int(&c["capacity"]).to_string()),
                amenities: Some(amenities.join(", ")),
                idempotency_key: None,
            };
            let page = campsite_form(&visit, visit.lang.s("edit_campsite"), format!("/admin/campsites/{id}"), &form);
            editing(page, &visit, "campsites", id)
        }
        Err(p) => p.page(&visit),
    }
}

/// `POST /admin/campsites/{id}`.
pub async fn change_campsite(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(c): axum::Form<CampsiteForm>,
) -> Response {
    admin_only!(visit);
    let answer = Api::new(&state.0, &visit)
        .send(Method::PATCH, &format!("/campsites/{id}"), Some(campsite_body(&c)), None)
        .await;
    saved(&visit, answer, "/admin/campsites?done=1", || {
        let mut page = campsite_form(&visit, visit.lang.s("edit_campsite"), format!("/admin/campsites/{id}"), &c);
        page.danger = Some((format!("/admin/campsites/{id}/delete"), visit.lang.s("delete")));
        page
    })
}

/// `POST /admin/campsites/{id}/delete`.
pub async fn delete_campsite(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    admin_only!(visit);
    match Api::new(&state.0, &visit).send(Method::DELETE, &format!("/campsites/{id}"), None, None).await {
        Ok(_) => Redirect::to("/admin/campsites?done=1").into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `GET /admin/payments`.
pub async fn payments(state: State, visit: Visit, Query(q): Query<Done>) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let list = match Api::new(&state.0, &visit).get("/payments?limit=200").await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("payments"));
    if q.done.is_some() {
        page.notes.push(t.s("done").to_owned());
    }
    let mut section =
        Section::new("", vec!["#", t.s("reservation_no"), t.s("customer"), t.s("amount"), t.s("status"), t.s("when")])
            .numeric(&[3]);
    for p in items(&list) {
        let id = int(&p["id"]);
        let status = p["status"].as_str().unwrap_or("");
        let actions = if status == "APPROVED" {
            vec![Action::keyed(
                t.s("refund"),
                format!("/admin/payments/{id}/refund"),
                format!("{} #{id}", t.s("refund")),
            )]
        } else {
            Vec::new()
        };
        section.rows.push(Row {
            cells: vec![
                id.to_string(),
                int(&p["reservationId"]).to_string(),
                text(&p["phone"]),
                won(int(&p["amount"])),
                status_text(t, status).to_owned(),
                instant(t, &p["updatedAt"]),
            ],
            actions,
            link: None,
        });
    }
    page.sections.push(section);
    page.into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyForm {
    idempotency_key: Option<String>,
}

/// `POST /admin/payments/{id}/refund`: the payment service decides what a refund means for the
/// reservation (a confirmed booking's refund cancels it).
pub async fn refund(state: State, visit: Visit, Path(id): Path<i64>, axum::Form(f): axum::Form<KeyForm>) -> Response {
    admin_only!(visit);
    let key = form_key(f.idempotency_key.as_deref());
    let api = Api::new(&state.0, &visit);
    match api.send(Method::POST, &format!("/payments/{id}/refund"), Some(json!({})), Some(&key)).await {
        Ok(_) => Redirect::to("/admin/payments?done=1").into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `GET /admin/dead-letters`: every service's parked events.
pub async fn dead_letters(state: State, visit: Visit, Query(q): Query<Done>) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let api = Api::new(&state.0, &visit);
    let mut page = TablePage::new(&visit, t.s("dead_letters"));
    if q.done.is_some() {
        page.notes.push(t.s("done").to_owned());
    }
    let mut section =
        Section::new("", vec![t.s("service"), "#", t.s("event"), t.s("reason"), t.s("attempts"), t.s("when")])
            .numeric(&[4]);
    for service in SERVICES {
        // One service down hides only its own letters.
        let list = match api.get(&format!("/deadLetters/{service}?limit=100")).await {
            Ok(l) => l,
            Err(p) if p.status.is_server_error() => {
                page.notes.push(format!("{service}: {} ({})", t.s("unreachable"), p.detail));
                continue;
            }
            Err(p) => return p.page(&visit),
        };
        for d in items(&list) {
            let id = int(&d["id"]);
            section.rows.push(Row {
                cells: vec![
                    (*service).to_owned(),
                    id.to_string(),
                    format!("{} ({})", text(&d["eventType"]), text(&d["topic"])),
                    text(&d["error"]),
                    int(&d["attempts"]).to_string(),
                    instant(t, &d["parkedAt"]),
                ],
                actions: vec![Action::post(
                    t.s("replay"),
                    format!("/admin/dead-letters/{service}/{id}/replay"),
                    format!("{} {service} #{id}", t.s("replay")),
                )],
                link: None,
            });
        }
    }
    if section.rows.is_empty() {
        page.notes.push(t.s("none").to_owned());
    }
    page.sections.push(section);
    page.into_response()
}

/// `POST /admin/dead-letters/{service}/{id}/replay`.
pub async fn replay(state: State, visit: Visit, Path((service, id)): Path<(String, i64)>) -> Response {
    admin_only!(visit);
    if !SERVICES.contains(&service.as_str()) {
        return ErrorPage::shown_to(&visit, StatusCode::NOT_FOUND, "no such service");
    }
    let path = format!("/deadLetters/{service}/{id}/replay");
    match Api::new(&state.0, &visit).send(Method::POST, &path, Some(json!({})), None).await {
        Ok(_) => Redirect::to("/admin/dead-letters?done=1").into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `GET /admin/sagas`: bookings waiting for the inventory's answer past the deadline.
pub async fn sagas(state: State, visit: Visit, Query(q): Query<Done>) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let list = match Api::new(&state.0, &visit).get("/reservations?stuck=true&limit=200").await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("stuck_sagas"));
    if q.done.is_some() {
        page.notes.push(t.s("done").to_owned());
    }
    let mut section =
        Section::new("", vec![t.s("reservation_no"), t.s("customer"), t.s("amount"), t.s("status"), t.s("when")])
            .numeric(&[2]);
    for r in items(&list) {
        let id = int(&r["id"]);
        section.rows.push(Row {
            cells: vec![
                id.to_string(),
                text(&r["phone"]),
                won(int(&r["amount"])),
                status_text(t, r["status"].as_str().unwrap_or("")).to_owned(),
                instant(t, &r["updatedAt"]),
            ],
            actions: vec![
                Action::post(t.s("retry"), format!("/admin/sagas/{id}/retry"), format!("{} #{id}", t.s("retry"))),
                Action::post(
                    t.s("compensate"),
                    format!("/admin/sagas/{id}/compensate"),
                    format!("{} #{id}", t.s("compensate")),
                ),
            ],
            link: Some(format!("/my/reservations/{id}")),
        });
    }
    if section.rows.is_empty() {
        page.notes.push(t.s("none").to_owned());
    }
    page.sections.push(section);
    page.into_response()
}

/// `POST /admin/sagas/{id}/retry` and `…/compensate`.
pub async fn saga_action(state: State, visit: Visit, Path((id, action)): Path<(i64, String)>) -> Response {
    admin_only!(visit);
    if !matches!(action.as_str(), "retry" | "compensate") {
        return ErrorPage::shown_to(&visit, StatusCode::NOT_FOUND, "no such action");
    }
    let path = format!("/reservations/{id}/{action}");
    match Api::new(&state.0, &visit).send(Method::POST, &path, Some(json!({})), None).await {
        Ok(_) => Redirect::to("/admin/sagas?done=1").into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `GET /admin/audit`: the reconciliation audit, run now.
pub async fn audit(state: State, visit: Visit) -> Response {
    admin_only!(visit);
    let t = visit.lang;
    let api = Api::new(&state.0, &visit);
    let report = match crate::audit::audit(&api).await {
        Ok(r) => r,
        Err(e) => return ErrorPage::shown_to(&visit, StatusCode::SERVICE_UNAVAILABLE, &format!("{e:#}")),
    };
    let mut page = TablePage::new(&visit, t.s("audit"));
    page.notes.push(format!(
        "{}: {} · {}: {} · seat holds: {} · held nights: {}",
        t.s("reservations"),
        report.reservations,
        t.s("payments"),
        report.payments,
        report.seat_holds,
        report.held_nights
    ));
    if report.mismatches.is_empty() {
        page.notes.push(t.s("audit_clean").to_owned());
    }
    let mut section = Section::new(t.s("mismatches"), vec!["check", t.s("reservation_no"), "detail"]);
    for m in &report.mismatches {
        section.rows.push(Row {
            cells: vec![
                m.check.to_owned(),
                m.reservation_id.map(|i| i.to_string()).unwrap_or_default(),
                m.detail.clone(),
            ],
            actions: Vec::new(),
            link: None,
        });
    }
    page.sections.push(section);
    page.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakers_are_read_from_either_shape() {
        let named = breakers(&json!({ "payment": { "state": "closed" } }));
        assert_eq!(named, vec![("payment".to_owned(), "closed".to_owned())]);
        let listed = breakers(&json!([{ "name": "payment", "state": "open" }]));
        assert_eq!(listed, vec![("payment".to_owned(), "open".to_owned())]);
    }
}
