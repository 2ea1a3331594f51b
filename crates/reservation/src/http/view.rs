//! `GET /reservations/{id}`, `GET /reservations?phone=…` (history) and the saga timeline.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use skycamp_platform::http::{ApiError, Json, Path, Query};

use super::AppState;
use crate::domain::{Phone, Status};
use crate::store::{Reservation, Step};

/// A reservation as the API shows it (the seed's fields plus status and amounts).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    id: i64,
    reservation_id: i64,
    kind: String,
    flight_id: i64,
    count: i64,
    /// Price per seat.
    price: i64,
    amount: i64,
    phone: String,
    status: &'static str,
    /// The seed's field: `place` while the booking stands, `cancel` once cancelled or rejected.
    reserve_status: &'static str,
    payment_id: Option<i64>,
    reason: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Reservation> for ReservationView {
    fn from(r: Reservation) -> Self {
        Self {
            id: r.id,
            reservation_id: r.id,
            kind: r.kind,
            flight_id: r.flight_id,
            count: r.count,
            price: r.unit_price,
            amount: r.amount,
            phone: r.phone,
            status: r.status.as_str(),
            reserve_status: if r.status.is_final() { "cancel" } else { "place" },
            payment_id: r.payment_id,
            reason: r.reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    phone: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ReservationView>>, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose()?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::unprocessable("status must be one of PENDING_PAYMENT, PAID, CONFIRMED, REJECTED, CANCELLED")
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let found = state.store.list(phone.as_ref().map(Phone::as_str), status, limit).await?;
    Ok(Json(found.into_iter().map(ReservationView::from).collect()))
}

pub async fn one(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<ReservationView>, ApiError> {
    found(&state, id).await.map(|r| Json(r.into()))
}

pub async fn timeline(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Vec<Step>>, ApiError> {
    found(&state, id).await?;
    Ok(Json(state.store.timeline(id).await?))
}

/// The reservation, or a 404 problem.
pub async fn found(state: &AppState, id: i64) -> Result<Reservation, ApiError> {
    state.store.get(id).await?.ok_or_else(|| ApiError::not_found(format!("reservation {id} not found")))
}
