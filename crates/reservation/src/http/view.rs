//! `GET /reservations/{id}`, `GET /reservations?phone=…` (history) and the saga timeline.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use skycamp_contracts::reservation::Booked;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use super::AppState;
use crate::domain::Reservation;
use crate::domain::{Phone, Status};

/// A reservation as the API shows it: the seed's fields, status and amounts, and what is booked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    id: i64,
    reservation_id: i64,
    /// `flight` or `campsite`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flight_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    campsite_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_in: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_out: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    guests: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nights: Option<i64>,
    /// Price per seat or per night.
    price: i64,
    amount: i64,
    phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
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
        let mut v = Self {
            id: r.id,
            reservation_id: r.id,
            kind: "flight",
            flight_id: None,
            count: None,
            campsite_id: None,
            check_in: None,
            check_out: None,
            guests: None,
            nights: None,
            price: r.unit_price,
            amount: r.amount,
            phone: r.phone,
            email: r.email,
            name: r.name,
            status: r.status.as_str(),
            reserve_status: if r.status.is_final() { "cancel" } else { "place" },
            payment_id: r.payment_id,
            reason: r.reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        match r.item {
            Booked::Flight { flight_id, count } => {
                v.flight_id = Some(flight_id);
                v.count = Some(count);
            }
            Booked::Campsite { campsite_id, check_in, check_out, guests } => {
                v.kind = "campsite";
                v.campsite_id = Some(campsite_id);
                v.nights = skycamp_contracts::reservation::nights(&check_in, &check_out).map(|n| n.len() as i64);
                v.check_in = Some(check_in);
                v.check_out = Some(check_out);
                v.guests = Some(guests);
            }
        }
        v
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    phone: Option<String>,
    status: Option<String>,
    /// Only reservations that have waited for the inventory answer past the deadline.
    stuck: Option<bool>,
}

/// `GET /reservations`: newest first, a page at a time, optionally one customer's or in one
/// status; `?stuck=true`: those waiting past the inventory deadline, oldest first.
#[utoipa::path(
get, path = "/reservations", tag = "reservation", params(ListQuery, skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Newest first; a customer's own unless an admin asks", body = [ReservationView])), security(("bearer" = ["customer", "admin"]))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose().map_err(|e| ApiError::unprocessable(e.to_string()))?;
    // A customer sees their own; only an admin sees everyone's, or the stuck ones.
    let phone = caller.whose(phone.map(|p| p.as_str().to_owned()))?;
    if q.stuck == Some(true) {
        caller.admin()?;
    }
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::unprocessable("status must be one of PENDING_PAYMENT, PAID, CONFIRMED, REJECTED, CANCELLED")
        })?),
    };
    let cursor = page.cursor_id()?;
    let found = if q.stuck == Some(true) {
        state.store.stuck(super::stuck::stuck_before(&state), cursor, page.fetch()).await?
    } else {
        state.store.list(phone.as_deref(), status, cursor, page.fetch()).await?
    };
    let views: Vec<ReservationView> = found.into_iter().map(ReservationView::from).collect();
    Ok(page.answer(views, |r| r.id.to_string()))
}

#[utoipa::path(
get, path = "/reservations/{id}", tag = "reservation", params(("id" = i64, Path, description = "The reservation")),
    responses((status = 200, body = ReservationView)), security(("bearer" = ["customer", "admin"]))
)]
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ReservationView>, ApiError> {
    yours(&state, &caller, id).await.map(|r| Json(r.into()))
}

/// `GET /reservations/{id}/timeline`: the saga's steps, oldest first, a page at a time.
#[utoipa::path(
get, path = "/reservations/{id}/timeline", tag = "reservation", params(("id" = i64, Path, description = "The reservation"), skycamp_platform::openapi::Paging),
    responses((status = 200, description = "The saga's steps, oldest first", body = [crate::domain::Step])), security(("bearer" = ["customer", "admin"]))
)]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    page: Page,
) -> Result<Response, ApiError> {
    yours(&state, &caller, id).await?;
    let steps = state.store.timeline(id, page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(steps, |s| s.id.to_string()))
}

/// The reservation when `caller` may see it (its customer or an admin): 401, 403 or 404 otherwise.
async fn yours(state: &AppState, caller: &Caller, id: i64) -> Result<Reservation, ApiError> {
    caller.signed_in()?;
    let r = found(state, id).await?;
    caller.act_for(&r.phone)?;
    Ok(r)
}

/// The reservation, or a 404 problem.
pub async fn found(state: &AppState, id: i64) -> Result<Reservation, ApiError> {
    state.store.get(id).await?.ok_or_else(|| ApiError::not_found(format!("reservation {id} not found")))
}
