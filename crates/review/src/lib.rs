//! The review service: campsite reviews by customers who stayed.
//!
//! Rule: a customer may review a campsite once per reservation, for a stay that is confirmed
//! (not cancelled) and over (its check-out day has come). A review of a stay that is cancelled
//! afterwards is withdrawn (`ReviewWithdrawn`: its rating and points are taken back). The service
//! learns of stays from reservation events, so it needs no call to the reservation service.
#![forbid(unsafe_code)]

pub mod domain;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_contracts::reservation::{self as rev, Booked, ReservationEvent};
use skycamp_contracts::topics;
use skycamp_platform::Envelope;
use skycamp_platform::clock::Clock;
use skycamp_platform::consumer::Handler;
use skycamp_platform::http::{ApiError, Json, Path, Query, lenient};
use skycamp_platform::idempotency::{self, Idempotent, Key};
use skycamp_platform::paging::Page;
use skycamp_platform::service::Context;

use crate::domain::{NewReview, Refusal};
use crate::store::{Review, ReviewStore, StayEvent};

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, clock: Clock) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = ReviewStore::new(ctx.db.clone(), waker, clock);
    ctx.spawn_consumer("review", &[topics::RESERVATION], Arc::new(Stays { store: store.clone() }));
    let idempotent = axum::middleware::from_fn_with_state(ctx.idempotency_keys(), idempotency::guard);
    Ok(Router::new()
        .route("/reviews", get(list).post(write).layer(idempotent))
        .route("/reviews/{id}", get(one))
        .with_state(store))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    campsite_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    reservation_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    rating: Option<i64>,
    text: Option<String>,
    phone: Option<String>,
}

impl TryFrom<ReviewBody> for NewReview {
    type Error = ApiError;

    fn try_from(b: ReviewBody) -> Result<Self, ApiError> {
        let required = |field: &str| ApiError::unprocessable(format!("{field} is required"));
        let phone = Phone::parse(&b.phone.ok_or_else(|| required("phone"))?)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        NewReview::parse(
            b.campsite_id.ok_or_else(|| required("campsiteId"))?,
            b.reservation_id,
            b.rating.ok_or_else(|| required("rating"))?,
            b.text.as_deref().unwrap_or_default(),
            phone.as_str(),
        )
        .map_err(|e| ApiError::unprocessable(e.0))
    }
}

/// `POST /reviews`. With an `Idempotency-Key`, a retry after the first attempt wrote the review
/// answers with that review.
async fn write(
    State(store): State<ReviewStore>,
    Key(key): Key,
    Json(body): Json<ReviewBody>,
) -> Result<Response, ApiError> {
    if let Some(id) = key.as_ref().and_then(Idempotent::resumed) {
        let review = store.get(id).await?.ok_or_else(|| ApiError::not_found(format!("review {id} was withdrawn")))?;
        return Ok(created(review));
    }
    let new = NewReview::try_from(body)?;
    match store.write(&new, key.as_ref()).await? {
        Ok(review) => Ok(created(review)),
        Err(r @ Refusal::AlreadyReviewed) => Err(ApiError::conflict(r.to_string())),
        Err(r) => Err(ApiError::new(StatusCode::FORBIDDEN, r.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    campsite_id: Option<i64>,
    phone: Option<String>,
}

/// `GET /reviews?campsiteId=…&phone=…`, newest first, a page at a time.
async fn list(State(store): State<ReviewStore>, Query(q): Query<ListQuery>, page: Page) -> Result<Response, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose().map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let reviews = store.list(q.campsite_id, phone.as_ref().map(Phone::as_str), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(reviews, |r| r.id.to_string()))
}

fn created(review: Review) -> Response {
    let location = format!("/reviews/{}", review.id);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(review)).into_response()
}

async fn one(State(store): State<ReviewStore>, Path(id): Path<i64>) -> Result<Json<Review>, ApiError> {
    store.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("review {id} not found")))
}

/// Keeps the stays projection current.
struct Stays {
    store: ReviewStore,
}

#[async_trait]
impl Handler for Stays {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let status = match event.kind.as_str() {
            rev::RESERVATION_CONFIRMED => "CONFIRMED",
            rev::RESERVATION_CANCELLED => "CANCELLED",
            _ => return Ok(()),
        };
        let r: ReservationEvent = event.payload()?;
        let Booked::Campsite { campsite_id, check_in, check_out, .. } = &r.item else { return Ok(()) };
        let stay = StayEvent {
            reservation_id: r.reservation_id,
            campsite_id: *campsite_id,
            phone: &r.phone,
            check_in,
            check_out,
            status,
        };
        self.store.record_stay(&event.id, &stay).await
    }
}
