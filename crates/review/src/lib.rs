//! The review service: campsite reviews by customers who stayed.
//!
//! Rule: a customer may review a campsite once per reservation, for a stay that is confirmed
//! (not cancelled) and whose check-in day has come. The service learns of stays from reservation
//! events, so it needs no call to the reservation service.
#![forbid(unsafe_code)]

pub mod domain;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_contracts::reservation::{self as rev, Booked, ReservationEvent};
use skycamp_contracts::topics;
use skycamp_platform::Envelope;
use skycamp_platform::clock::Clock;
use skycamp_platform::consumer::Handler;
use skycamp_platform::http::{ApiError, Json, Path, Query, lenient};
use skycamp_platform::service::Context;

use crate::domain::{NewReview, Refusal};
use crate::store::{Review, ReviewStore};

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, clock: Clock) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = ReviewStore::new(ctx.db.clone(), waker, clock);
    ctx.spawn_consumer("review", &[topics::RESERVATION], Arc::new(Stays { store: store.clone() }));
    Ok(Router::new().route("/reviews", get(list).post(write)).route("/reviews/{id}", get(one)).with_state(store))
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

/// `POST /reviews`.
async fn write(
    State(store): State<ReviewStore>,
    Json(body): Json<ReviewBody>,
) -> Result<(StatusCode, Json<Review>), ApiError> {
    let new = NewReview::try_from(body)?;
    match store.write(&new).await? {
        Ok(review) => Ok((StatusCode::CREATED, Json(review))),
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

/// `GET /reviews?campsiteId=…&phone=…`, newest first.
async fn list(State(store): State<ReviewStore>, Query(q): Query<ListQuery>) -> Result<Json<Vec<Review>>, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose().map_err(|e| ApiError::unprocessable(e.to_string()))?;
    Ok(Json(store.list(q.campsite_id, phone.as_ref().map(Phone::as_str)).await?))
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
        let Booked::Campsite { campsite_id, check_in, .. } = &r.item else { return Ok(()) };
        self.store.record_stay(&event.id, r.reservation_id, *campsite_id, &r.phone, check_in, status).await
    }
}
