//! The customer site: browse flights (live seat counts) and campsites (an availability calendar),
//! book and pay in one step and watch the booking confirm, my reservations with their saga
//! timelines, cancel, review, mileage with its ledger, messages.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, Problem, encode, int, items, text};
use crate::format::{date, grouped, instant, iso, today, won};
use crate::forms::Field;
use crate::page::{Chrome, Row, Section, TablePage};
use crate::session::Visit;
use crate::{Lang, State};

/// A reservation's, a flight's, a payment's status in the reader's language.
pub fn status_text(t: Lang, status: &str) -> &'static str {
    match status {
        "PENDING_PAYMENT" => t.s("st_pending"),
        "PAID" => t.s("st_paid"),
        "CONFIRMED" => t.s("st_confirmed"),
        "REJECTED" => t.s("st_rejected"),
        "CANCELLED" => t.s("st_cancelled"),
        "AVAILABLE" => t.s("available"),
        "SOLD_OUT" | "FULL" => t.s("st_sold_out"),
        "WITHDRAWN" => t.s("st_withdrawn"),
        "APPROVED" => t.s("st_approved"),
        "DECLINED" => t.s("st_declined"),
        "REFUNDED" => t.s("st_refunded"),
        _ => t.s("st_other"),
    }
}

pub struct FlightCard {
    pub id: i64,
    pub name: String,
    pub destination: String,
    pub price: String,
    pub seats: String,
    pub status: String,
    pub open: bool,
}

pub struct SiteCard {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub price: String,
    pub capacity: i64,
    pub rating: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    t: Lang,
    chrome: Chrome,
    title: String,
    admin_page: bool,
    flights: Vec<FlightCard>,
    campsites: Vec<SiteCard>,
}

fn flight_card(t: Lang, f: &Value) -> FlightCard {
    let status = f["status"].as_str().unwrap_or("");
    FlightCard {
        id: int(&f["flightId"]),
        name: text(&f["flightName"]),
        destination: text(&f["destination"]),
        price: won(int(&f["price"])),
        seats: format!("{} / {}", int(&f["seat"]), int(&f["totalSeats"])),
        status: status_text(t, status).to_owned(),
        open: status == "AVAILABLE",
    }
}

fn site_card(f: &Value) -> SiteCard {
    SiteCard {
        id: int(&f["campsiteId"]),
        name: text(&f["name"]),
        location: text(&f["location"]),
        price: won(int(&f["pricePerNight"])),
        capacity: int(&f["capacity"]),
        rating: f["rating"].as_f64().map_or_else(|| "–".to_owned(), |r| format!("★ {r:.1} ({})", int(&f["reviews"]))),
    }
}

/// `GET /`: every flight with its seats left, every campsite with its nights free this month.
pub async fn home(state: State, visit: Visit) -> Response {
    let api = Api::new(&state.0, &visit);
    let t = visit.lang;
    let (flights, sites) = tokio::join!(api.get("/flightStatuses?limit=200"), api.get("/campsiteStatuses?limit=200"));
    let (flights, sites) = match (flights, sites) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(p), _) | (_, Err(p)) => return p.page(&visit),
    };
    HomePage {
        t,
        chrome: Chrome::of(&visit),
        title: t.s("tagline").to_owned(),
        admin_page: false,
        flights: items(&flights).iter().map(|f| flight_card(t, f)).collect(),
        campsites: items(&sites).iter().map(site_card).collect(),
    }
    .into_response()
}

/// One month of a campsite's calendar.
pub struct Month {
    pub title: String,
    /// Weeks of seven days, Monday first; None pads before the first and after the last day.
    pub weeks: Vec<Vec<Option<Day>>>,
}

pub struct Day {
    pub day: u8,
    pub iso: String,
    pub booked: bool,
    pub past: bool,
}

fn calendar(t: Lang, from: time::Date, days: i64, booked: &[Value]) -> Vec<Month> {
    let booked: std::collections::HashSet<&str> = booked.iter().filter_map(Value::as_str).collect();
    let mut months: Vec<Month> = Vec::new();
    let first = from.replace_day(1).unwrap_or(from);
    let last = from + time::Duration::days(days);
    let mut d = first;
    while d < last {
        if d.day() == 1 || months.is_empty() {
            let title = match t {
                Lang::Ko => format!("{}년 {}월", d.year(), u8::from(d.month())),
                Lang::En => format!("{} {}", d.month(), d.year()),
            };
            let pad = usize::from(d.weekday().number_days_from_monday());
            months.push(Month { title, weeks: vec![Vec::new()] });
            let week = months.last_mut().and_then(|m| m.weeks.last_mut());
            week.into_iter().for_each(|w| w.extend((0..pad).map(|_| None)));
        }
        let Some(month) = months.last_mut() else { break };
        if month.weeks.last().is_some_and(|w| w.len() == 7) {
            month.weeks.push(Vec::new());
        }
        let iso_day = iso(d);
        let day = Day { day: d.day(), booked: booked.contains(iso_day.as_str()), past: d < from, iso: iso_day };
        if let Some(w) = month.weeks.last_mut() {
            w.push(Some(day));
        }
        let next = d.next_day();
        if next.is_none_or(|n| n.day() == 1)
            && let Some(w) = month.weeks.last_mut()
        {
            w.resize_with(7, || None);
        }
        match next {
            Some(n) => d = n,
            None => break,
        }
    }
    if let Some(w) = months.last_mut().and_then(|m| m.weeks.last_mut()) {
        w.resize_with(7, || None);
    }
    months
}

pub struct ReviewLine {
    pub rating: String,
    pub text: String,
    pub when: String,
}

/// A flight's or a campsite's page with its booking form.
#[derive(Template, WebTemplate)]
#[template(path = "book.html")]
pub struct BookPage {
    t: Lang,
    chrome: Chrome,
    title: String,
    admin_page: bool,
    facts: Vec<(&'static str, String)>,
    months: Vec<Month>,
    weekdays: Vec<&'static str>,
    reviews: Option<Vec<ReviewLine>>,
    action: String,
    open: bool,
    fields: Vec<Field>,
    hidden: Vec<(&'static str, String)>,
    form_error: Option<String>,
}

impl BookPage {
    fn attach(&mut self, detail: String) {
        if let Some(unplaced) = crate::forms::attach(&mut self.fields, None, detail) {
            self.form_error = Some(unplaced);
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BookForm {
    count: Option<String>,
    check_in: Option<String>,
    check_out: Option<String>,
    guests: Option<String>,
    idempotency_key: Option<String>,
}

async fn flight_page(api: &Api<'_>, visit: &Visit, id: i64, form: &BookForm) -> Result<BookPage, Problem> {
    let t = visit.lang;
    let f = api.get(&format!("/flightStatuses/{id}")).await?;
    let card = flight_card(t, &f);
    let count = Field::text("count", t.s("count"), Some(form.count.clone().unwrap_or_else(|| "1".into())))
        .kind("number")
        .attrs("min=\"1\" max=\"10\" inputmode=\"numeric\"")
        .required();
    Ok(BookPage {
        t,
        chrome: Chrome::of(visit),
        title: format!("{} · {}", card.name, card.destination),
        admin_page: false,
        facts: vec![
            (t.s("destination"), card.destination),
            (t.s("price_per_seat"), card.price),
            (t.s("seats_left"), card.seats),
            (t.s("status"), card.status),
        ],
        months: Vec::new(),
        weekdays: Vec::new(),
        reviews: None,
        action: format!("/book/flights/{id}"),
        open: card.open,
        fields: vec![count],
        hidden: vec![("idempotencyKey", crate::api::form_key(form.idempotency_key.as_deref()))],
        form_error: None,
    })
}

/// `GET /book/flights/{id}`.
pub async fn flight(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    match flight_page(&Api::new(&state.0, &visit), &visit, id, &BookForm::default()).await {
        Ok(page) => page.into_response(),
        Err(p) => p.page(&visit),
    }
}

const CALENDAR_DAYS: i64 = 56;

async fn campsite_page(api: &Api<'_>, visit: &Visit, id: i64, form: &BookForm) -> Result<BookPage, Problem> {
    let t = visit.lang;
    let from = today();
    let to = from + time::Duration::days(CALENDAR_DAYS);
    let path = format!("/campsiteStatuses/{id}?from={}&to={}", iso(from), iso(to));
    let reviews_path = format!("/reviews?campsiteId={id}&limit=20");
    let (site, reviews) = tokio::join!(api.get(&path), api.get(&reviews_path));
    let site = site?;
    let reviews = reviews.unwrap_or(Value::Null);
    let card = site_card(&site);
    let amenities: Vec<String> = items(&site["amenities"]).iter().map(text).collect();
    let value = |v: &Option<String>, default: String| Some(v.clone().unwrap_or(default));
    let fields = vec![
        Field::text("checkIn", t.s("check_in"), value(&form.check_in, iso(from))).kind("date").required(),
        Field::text("checkOut", t.s("check_out"), value(&form.check_out, iso(from.next_day().unwrap_or(from))))
            .kind("date")
            .required(),
        Field::text("guests", t.s("guests"), value(&form.guests, "2".into()))
            .kind("number")
            .attrs("min=\"1\" inputmode=\"numeric\"")
            .required(),
    ];
    Ok(BookPage {
        t,
        chrome: Chrome::of(visit),
        title: card.name.clone(),
        admin_page: false,
        facts: vec![
            (t.s("location"), card.location),
            (t.s("description"), text(&site["description"])),
            (t.s("price_per_night"), card.price),
            (t.s("capacity"), card.capacity.to_string()),
            (t.s("amenities_list"), amenities.join(", ")),
            (t.s("rating"), card.rating),
        ],
        months: calendar(t, from, CALENDAR_DAYS, items(&site["bookedNights"])),
        weekdays: match t {
            Lang::Ko => vec!["월", "화", "수", "목", "금", "토", "일"],
            Lang::En => vec!["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        },
        reviews: Some(
            items(&reviews)
                .iter()
                .map(|r| ReviewLine {
                    rating: "★".repeat(usize::try_from(int(&r["rating"]).clamp(0, 5)).unwrap_or(0)),
                    text: text(&r["text"]),
                    when: instant(t, &r["createdAt"]),
                })
                .collect(),
        ),
        action: format!("/book/campsites/{id}"),
        open: site["status"].as_str() != Some("WITHDRAWN"),
        fields,
        hidden: vec![("idempotencyKey", crate::api::form_key(form.idempotency_key.as_deref()))],
        form_error: None,
    })
}

/// `GET /book/campsites/{id}`.
pub async fn campsite(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    match campsite_page(&Api::new(&state.0, &visit), &visit, id, &BookForm::default()).await {
        Ok(page) => page.into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `POST /book/flights/{id}`: book and pay at once, then the reservation's page.
pub async fn book_flight(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<BookForm>,
) -> Response {
    let body =
        |phone: &str| json!({ "flightId": id, "count": form.count.as_deref().unwrap_or("").trim(), "phone": phone });
    book(&state.0, &visit, &form, body, Item::Flight(id)).await
}

/// `POST /book/campsites/{id}`.
pub async fn book_campsite(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<BookForm>,
) -> Response {
    let body = |phone: &str| {
        json!({
            "campsiteId": id,
            "checkIn": form.check_in.as_deref().unwrap_or(""),
            "checkOut": form.check_out.as_deref().unwrap_or(""),
            "guests": form.guests.as_deref().unwrap_or("").trim(),
            "phone": phone,
        })
    };
    book(&state.0, &visit, &form, body, Item::Campsite(id)).await
}

/// What a booking form books.
#[derive(Clone, Copy)]
enum Item {
    Flight(i64),
    Campsite(i64),
}

async fn book(web: &crate::Web, visit: &Visit, form: &BookForm, body: impl Fn(&str) -> Value, item: Item) -> Response {
    let Some(phone) = visit.phone.clone() else { return visit.to_sign_in() };
    let api = Api::new(web, visit);
    let key = crate::api::form_key(form.idempotency_key.as_deref());
    match api.send(Method::POST, "/reservations", Some(body(&phone)), Some(&key)).await {
        Ok(r) => Redirect::to(&format!("/my/reservations/{}", int(&r["id"]))).into_response(),
        Err(p) if p.is_form_error() => match match item {
            Item::Flight(id) => flight_page(&api, visit, id, form).await,
            Item::Campsite(id) => campsite_page(&api, visit, id, form).await,
        } {
            Ok(mut again) => {
                // A refused booking did nothing: the corrected form is a new request.
                again.hidden = vec![("idempotencyKey", crate::api::new_key())];
                again.attach(p.detail);
                (StatusCode::UNPROCESSABLE_ENTITY, again).into_response()
            }
            Err(p) => p.page(visit),
        },
        Err(p) => p.page(visit),
    }
}

/// A reservation in words: "KE123 · 2 seats", "Pine Hill · 2026-12-05 → 2026-12-07 (2 nights)".
fn describe(t: Lang, r: &Value, names: &Names) -> String {
    if r["kind"] == "campsite" {
        let id = int(&r["campsiteId"]);
        let name = names.get(&("campsite".into(), id)).cloned().unwrap_or_else(|| format!("#{id}"));
        format!(
            "{name} · {} → {} ({} {})",
            date(t, r["checkIn"].as_str().unwrap_or("")),
            date(t, r["checkOut"].as_str().unwrap_or("")),
            int(&r["nights"]),
            t.s("nights")
        )
    } else {
        let id = int(&r["flightId"]);
        let name = names.get(&("flight".into(), id)).cloned().unwrap_or_else(|| format!("#{id}"));
        format!("{name} · {} {}", int(&r["count"]), t.s("seats_unit"))
    }
}

type Names = std::collections::HashMap<(String, i64), String>;

/// Names of flights and campsites, for describing reservations.
async fn names(api: &Api<'_>) -> Names {
    let (flights, sites) = tokio::join!(api.get("/flightStatuses?limit=1000"), api.get("/campsiteStatuses?limit=1000"));
    let mut out = Names::new();
    for f in flights.as_ref().map(items).unwrap_or_default() {
        let name = format!("{} {}", text(&f["flightName"]), text(&f["destination"]));
        out.insert(("flight".into(), int(&f["flightId"])), name);
    }
    for s in sites.as_ref().map(items).unwrap_or_default() {
        out.insert(("campsite".into(), int(&s["campsiteId"])), text(&s["name"]));
    }
    out
}

/// `GET /my/reservations`.
pub async fn reservations(state: State, visit: Visit) -> Response {
    let Some(phone) = visit.phone.clone() else { return visit.to_sign_in() };
    let t = visit.lang;
    let api = Api::new(&state.0, &visit);
    let path = format!("/reservations?phone={}&limit=100", encode(&phone));
    let (list, names) = tokio::join!(api.get(&path), names(&api));
    let list = match list {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("my_reservations"));
    let mut section =
        Section::new("", vec![t.s("reservation_no"), t.s("item"), t.s("amount"), t.s("status")]).numeric(&[2]);
    for r in items(&list) {
        let id = int(&r["id"]);
        section.rows.push(Row {
            cells: vec![
                format!("{id}"),
                describe(t, r, &names),
                won(int(&r["amount"])),
                status_text(t, r["status"].as_str().unwrap_or("")).to_owned(),
            ],
            actions: Vec::new(),
            link: Some(format!("/my/reservations/{id}")),
        });
    }
    if section.rows.is_empty() {
        page.notes.push(t.s("no_reservations").to_owned());
    }
    page.sections.push(section);
    page.into_response()
}

/// A reservation's status, polled by htmx until it is final.
#[derive(Template, WebTemplate)]
#[template(path = "status.html")]
pub struct StatusFragment {
    t: Lang,
    id: i64,
    status: String,
    text: &'static str,
    polling: bool,
    /// When the status has just become final: the whole timeline, to replace the page's
    /// (`hx-swap-oob`).
    timeline: Option<Vec<Step>>,
}

impl StatusFragment {
    fn of(t: Lang, id: i64, status: &str) -> Self {
        Self {
            t,
            id,
            status: status.to_ascii_lowercase(),
            text: status_text(t, status),
            polling: matches!(status, "PENDING_PAYMENT" | "PAID"),
            timeline: None,
        }
    }
}

/// One step of a saga's timeline: when, what, the status after it, and why.
type Step = (String, String, String, String);

fn steps(t: Lang, timeline: &Value) -> Vec<Step> {
    items(timeline)
        .iter()
        .map(|s| {
            (
                instant(t, &s["at"]),
                text(&s["step"]),
                status_text(t, s["status"].as_str().unwrap_or("")).to_owned(),
                text(&s["detail"]),
            )
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "reservation.html")]
pub struct ReservationPage {
    t: Lang,
    chrome: Chrome,
    title: String,
    admin_page: bool,
    id: i64,
    facts: Vec<(&'static str, String)>,
    status_html: String,
    timeline: Vec<Step>,
    cancel_key: Option<String>,
    review: Option<Vec<Field>>,
    review_hidden: Vec<(&'static str, String)>,
    review_error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn reservation_page(api: &Api<'_>, visit: &Visit, id: i64) -> Result<ReservationPage, Problem> {
    let t = visit.lang;
    let r = api.get(&format!("/reservations/{id}")).await?;
    let path = format!("/reservations/{id}/timeline?limit=100");
    let (timeline, names) = tokio::join!(api.get(&path), names(api));
    let timeline = timeline?;
    let status = r["status"].as_str().unwrap_or("");
    let mut facts = vec![(t.s("item"), describe(t, &r, &names)), (t.s("amount"), won(int(&r["amount"])))];
    if r["kind"] == "flight" {
        facts.push((t.s("price_per_seat"), won(int(&r["price"]))));
    } else {
        facts.push((t.s("price_per_night"), won(int(&r["price"]))));
        facts.push((t.s("guests"), int(&r["guests"]).to_string()));
    }
    facts.push((t.s("phone"), text(&r["phone"])));
    let steps = steps(t, &timeline);
    let can_review = r["kind"] == "campsite" && status == "CONFIRMED";
    Ok(ReservationPage {
        t,
        chrome: Chrome::of(visit),
        title: format!("{} {id}", t.s("reservation")),
        admin_page: false,
        id,
        facts,
        status_html: StatusFragment::of(t, id, status).render().unwrap_or_default(),
        timeline: steps,
        cancel_key: matches!(status, "PAID" | "CONFIRMED").then(crate::api::new_key),
        review: can_review.then(|| {
            vec![
                Field::text("rating", t.s("rating"), Some("5".into()))
                    .kind("number")
                    .attrs("min=\"1\" max=\"5\" inputmode=\"numeric\"")
                    .required(),
                Field::text("text", t.s("review_text"), None).multiline().attrs("maxlength=\"2000\""),
            ]
        }),
        review_hidden: vec![("idempotencyKey", crate::api::new_key())],
        review_error: None,
        notice: None,
    })
}

/// `GET /my/reservations/{id}`: another customer's is refused by the reservation service (403).
pub async fn reservation(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> Response {
    if !visit.signed_in() || visit.phone.is_none() && !visit.admin() {
        return visit.to_sign_in();
    }
    match reservation_page(&Api::new(&state.0, &visit), &visit, id).await {
        Ok(mut page) => {
            page.notice = q.done.map(|_| visit.lang.s("done"));
            page.into_response()
        }
        Err(p) => p.page(&visit),
    }
}

/// `GET /my/reservations/{id}/status`: the status fragment htmx polls; once the status is
/// final it brings the whole timeline along, so the page shows how it got there.
pub async fn status(state: State, visit: Visit, Path(id): Path<i64>) -> Response {
    let api = Api::new(&state.0, &visit);
    match api.get(&format!("/reservations/{id}")).await {
        Ok(r) => {
            let mut fragment = StatusFragment::of(visit.lang, id, r["status"].as_str().unwrap_or(""));
            if !fragment.polling {
                let timeline = api.get(&format!("/reservations/{id}/timeline?limit=100")).await;
                fragment.timeline = timeline.ok().map(|t| steps(visit.lang, &t));
            }
            fragment.into_response()
        }
        Err(p) => (p.status, p.detail).into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyedForm {
    idempotency_key: Option<String>,
    rating: Option<String>,
    text: Option<String>,
}

/// `POST /my/reservations/{id}/cancel`: refunds and returns the seats or nights.
pub async fn cancel(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<KeyedForm>,
) -> Response {
    let api = Api::new(&state.0, &visit);
    let key = crate::api::form_key(form.idempotency_key.as_deref());
    match api.send(Method::POST, &format!("/reservations/{id}/cancel"), Some(json!({})), Some(&key)).await {
        Ok(_) => Redirect::to(&format!("/my/reservations/{id}?done=1")).into_response(),
        Err(p) => p.page(&visit),
    }
}

/// `POST /my/reservations/{id}/review`: a review of a stay that is over earns mileage.
pub async fn review(
    state: State,
    visit: Visit,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<KeyedForm>,
) -> Response {
    let api = Api::new(&state.0, &visit);
    let r = match api.get(&format!("/reservations/{id}")).await {
        Ok(r) => r,
        Err(p) => return p.page(&visit),
    };
    let body = json!({
        "campsiteId": int(&r["campsiteId"]),
        "reservationId": id,
        "rating": form.rating.as_deref().unwrap_or("").trim(),
        "text": form.text.as_deref().unwrap_or(""),
        "phone": text(&r["phone"]),
    });
    let key = crate::api::form_key(form.idempotency_key.as_deref());
    match api.send(Method::POST, "/reviews", Some(body), Some(&key)).await {
        Ok(_) => Redirect::to(&format!("/my/reservations/{id}?done=1")).into_response(),
        Err(p) if p.is_form_error() => match reservation_page(&api, &visit, id).await {
            Ok(mut page) => {
                if let Some(fields) = page.review.as_mut() {
                    fields[0].value = form.rating.clone().unwrap_or_default();
                    fields[1].value = form.text.clone().unwrap_or_default();
                    page.review_error = crate::forms::attach(fields, None, p.detail);
                }
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(p) => p.page(&visit),
        },
        Err(p) => p.page(&visit),
    }
}

/// `GET /my/mileage`: the balance and every entry that made it.
pub async fn mileage(state: State, visit: Visit) -> Response {
    let Some(phone) = visit.phone.clone() else { return visit.to_sign_in() };
    let t = visit.lang;
    let ledger = match Api::new(&state.0, &visit).get(&format!("/mileages/{}?limit=200", encode(&phone))).await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("mileage"));
    let balance = int(&ledger["balance"]);
    page.notes.push(format!("{}: {} {}", t.s("balance"), grouped(balance.unsigned_abs()), t.s("points")));
    let mut section =
        Section::new(t.s("ledger"), vec![t.s("when"), t.s("cause"), t.s("reservation_no"), t.s("change")])
            .numeric(&[3]);
    for e in items(&ledger["entries"]) {
        let points = int(&e["points"]);
        section.rows.push(Row {
            cells: vec![
                instant(t, &e["createdAt"]),
                text(&e["cause"]),
                e["reservationId"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
                format!("{}{}", if points >= 0 { "+" } else { "-" }, grouped(points.unsigned_abs())),
            ],
            actions: Vec::new(),
            link: None,
        });
    }
    if section.rows.is_empty() {
        page.notes.push(t.s("no_entries").to_owned());
    }
    page.sections.push(section);
    page.into_response()
}

/// `GET /my/messages`: what the platform told the customer, newest first.
pub async fn messages(state: State, visit: Visit) -> Response {
    let Some(phone) = visit.phone.clone() else { return visit.to_sign_in() };
    let t = visit.lang;
    let list = match Api::new(&state.0, &visit).get(&format!("/messages?phone={}&limit=100", encode(&phone))).await {
        Ok(l) => l,
        Err(p) => return p.page(&visit),
    };
    let mut page = TablePage::new(&visit, t.s("messages"));
    let mut section = Section::new("", vec![t.s("when"), t.s("reservation_no"), t.s("message")]);
    for m in items(&list) {
        section.rows.push(Row {
            cells: vec![instant(t, &m["createdAt"]), int(&m["reservationId"]).to_string(), text(&m["text"])],
            actions: Vec::new(),
            link: None,
        });
    }
    if section.rows.is_empty() {
        page.notes.push(t.s("no_entries").to_owned());
    }
    page.sections.push(section);
    page.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_month_is_whole_weeks_starting_monday() {
        let from = time::macros::date!(2026 - 12 - 07);
        let months = calendar(Lang::En, from, 30, &[json!("2026-12-09")]);
        assert_eq!(months.len(), 2);
        assert_eq!(months[0].title, "December 2026");
        assert!(months.iter().all(|m| m.weeks.iter().all(|w| w.len() == 7)));
        // 1 December 2026 is a Tuesday: one empty cell before it.
        assert!(months[0].weeks[0][0].is_none());
        assert_eq!(months[0].weeks[0][1].as_ref().unwrap().day, 1);
        let all: Vec<&Day> = months[0].weeks.iter().flatten().flatten().collect();
        assert!(all.iter().find(|d| d.iso == "2026-12-09").unwrap().booked);
        assert!(all.iter().find(|d| d.iso == "2026-12-06").unwrap().past);
        assert!(!all.iter().find(|d| d.iso == "2026-12-10").unwrap().booked);
        assert_eq!(months[1].title, "January 2027");
    }
}
