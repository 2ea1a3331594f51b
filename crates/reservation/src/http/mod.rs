//! The reservation API: book, cancel, history, timeline, and the `flightStatuses` and
//! `campsiteStatuses` read models.

mod book;
mod campsite_statuses;
mod cancel;
mod flight_statuses;
mod stuck;
mod view;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use skycamp_platform::clock::Clock;
use skycamp_platform::http::{ApiError, Json};
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::{BookingError, CancelError};
use crate::payment_client::{BreakerStatus, PaymentClient};
use crate::store::{CatalogueStore, ReservationStore};

/// Shared by the handlers; one allocation, so the copy axum hands each request is one reference
/// count.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(std::sync::Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the handlers use.
pub struct Shared {
    pub store: ReservationStore,
    /// The flight and campsite read models bookings are priced from.
    pub catalogue: CatalogueStore,
    pub payments: PaymentClient,
    pub clock: Clock,
    /// Longest stay a campsite booking may have.
    pub max_nights: i64,
    /// How long a paid reservation may wait for its inventory answer before it counts as stuck.
    pub inventory_deadline: std::time::Duration,
}

/// The reservation API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    view::list,
    view::one,
    view::timeline,
    book::place_or_cancel,
    cancel::cancel,
    stuck::retry,
    stuck::compensate,
    flight_statuses::list,
    flight_statuses::one,
    campsite_statuses::list,
    campsite_statuses::one,
    circuits
))]
pub struct Api;

/// Routes under `/reservations`, `/flightStatuses` and `/campsiteStatuses`. Booking and
/// cancelling honour `Idempotency-Key`.
pub fn router(state: AppState, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    let refuse_key = axum::middleware::from_fn(idempotency::refuse);
    let admin = axum::middleware::from_fn(skycamp_platform::auth::admin_only);
    let answers = state.catalogue.answers().clone();
    let from_memory = axum::middleware::from_fn_with_state(answers, skycamp_platform::answers::serve);
    Router::new()
        .route("/reservations", get(view::list).post(book::place_or_cancel).layer(idempotent.clone()))
        .route("/reservations/{id}", get(view::one))
        .route("/reservations/{id}/cancel", post(cancel::cancel).layer(idempotent))
        .route("/reservations/{id}/timeline", get(view::timeline))
        // Operator actions are safe to repeat as they are; a key on them is refused, not ignored.
        .route("/reservations/{id}/retry", post(stuck::retry).layer(refuse_key.clone()).layer(admin.clone()))
        .route("/reservations/{id}/compensate", post(stuck::compensate).layer(refuse_key).layer(admin.clone()))
        // The read models answer from memory until they change, with an ETag, and 304 to a
        // client that has the answer already.
        .route("/flightStatuses", get(flight_statuses::list).layer(from_memory.clone()))
        .route("/flightStatuses/{flight_id}", get(flight_statuses::one).layer(from_memory.clone()))
        .route("/campsiteStatuses", get(campsite_statuses::list).layer(from_memory.clone()))
        .route("/campsiteStatuses/{campsite_id}", get(campsite_statuses::one).layer(from_memory))
        .route("/circuits", get(circuits).layer(admin))
        .with_state(state)
}

/// Every booking refusal as problem+json, in one place.
impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        let detail = e.to_string();
        match e {
            BookingError::Invalid(invalid) => invalid.into(),
            BookingError::BothItems | BookingError::NoItem | BookingError::UnknownForm(_) => {
                ApiError::unprocessable(detail)
            }
            BookingError::NoSuchFlight(_) | BookingError::NoSuchCampsite(_) => ApiError::not_found(detail),
            BookingError::PaymentBusy { retry_after_secs } | BookingError::AwaitingPayment { retry_after_secs, .. } => {
                ApiError::unavailable(detail, retry_after_secs)
            }
            BookingError::Declined { .. } => ApiError::new(StatusCode::PAYMENT_REQUIRED, detail),
            BookingError::RejectedEarlier { .. } => ApiError::conflict(detail),
            BookingError::Internal(e) => e.into(),
        }
    }
}

/// Every cancel refusal as problem+json, in one place.
impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        let detail = e.to_string();
        match e {
            CancelError::NoReservation | CancelError::PartialCount { .. } => ApiError::unprocessable(detail),
            CancelError::NotFound(_) => ApiError::not_found(detail),
            CancelError::NotCancellable { .. }
            | CancelError::StayBegun { .. }
            | CancelError::RefundRefused(_)
            | CancelError::ChangedMeanwhile { .. } => ApiError::conflict(detail),
            CancelError::PaymentBusy { retry_after_secs } => ApiError::unavailable(detail, retry_after_secs),
            CancelError::Internal(e) => e.into(),
        }
    }
}

/// `GET /circuits`: the payment breaker's state and transitions.
#[utoipa::path(
get, path = "/circuits", tag = "operations",
    responses((status = 200, description = "The payment breaker", body = [BreakerStatus])), security(("bearer" = ["admin"]))
)]
async fn circuits(State(state): State<AppState>) -> Json<Vec<BreakerStatus>> {
    Json(vec![state.payments.status()])
}
