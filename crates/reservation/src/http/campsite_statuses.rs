//! `GET /campsiteStatuses?from=&to=`: every campsite with its info, rating and booked/free nights
//! in a date range, in one call, built only from events (the camping seed's CQRS view).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use skycamp_platform::http::{ApiError, Json, Path, Query};

use super::AppState;
use crate::store::CampsiteRow;

/// The longest range one call may ask for.
const MAX_RANGE_DAYS: i64 = 366;
/// The range when none is given: today and the next 13 nights.
const DEFAULT_RANGE_DAYS: i64 = 14;

#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One campsite with what is booked between `from` (inclusive) and `to` (exclusive).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteStatus {
    id: i64,
    campsite_id: i64,
    name: String,
    location: String,
    description: String,
    price_per_night: i64,
    capacity: i64,
    amenities: Vec<String>,
    /// Average rating, one decimal; absent until the first review.
    rating: Option<f64>,
    reviews: i64,
    from: String,
    to: String,
    booked_nights: Vec<String>,
    available_nights: Vec<String>,
    /// `AVAILABLE` (every night free), `PARTLY_BOOKED` or `FULLY_BOOKED`.
    status: &'static str,
}

fn range(q: &RangeQuery, today: time::Date) -> Result<(time::Date, time::Date), ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let parse = |field: &str, v: &str| {
        time::Date::parse(v.trim(), &format)
            .map_err(|_| ApiError::unprocessable(format!("{field} must be an ISO date (YYYY-MM-DD)")))
    };
    let from = q.from.as_deref().map(|v| parse("from", v)).transpose()?.unwrap_or(today);
    let to = match q.to.as_deref() {
        Some(v) => parse("to", v)?,
        None => from + time::Duration::days(DEFAULT_RANGE_DAYS),
    };
    if to <= from {
        return Err(ApiError::unprocessable("to must be after from"));
    }
    if (to - from).whole_days() > MAX_RANGE_DAYS {
        return Err(ApiError::unprocessable(format!("a range may span at most {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

fn status(row: CampsiteRow, from: time::Date, to: time::Date) -> CampsiteStatus {
    let mut available = Vec::new();
    let mut night = from;
    while night < to {
        let n = night.to_string();
        if !row.booked.contains(&n) {
            available.push(n);
        }
        night = night.next_day().unwrap_or(to);
    }
    let status = match (row.booked.is_empty(), available.is_empty()) {
        (true, _) => "AVAILABLE",
        (false, true) => "FULLY_BOOKED",
        (false, false) => "PARTLY_BOOKED",
    };
    let c = row.campsite;
    let rating = (row.reviews > 0).then(|| (row.rating_sum as f64 / row.reviews as f64 * 10.0).round() / 10.0);
    CampsiteStatus {
        id: c.campsite_id,
        campsite_id: c.campsite_id,
        name: c.name,
        location: c.location,
        description: c.description,
        price_per_night: c.price_per_night,
        capacity: c.capacity,
        amenities: c.amenities,
        rating,
        reviews: row.reviews,
        from: from.to_string(),
        to: to.to_string(),
        booked_nights: row.booked,
        available_nights: available,
        status,
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<CampsiteStatus>>, ApiError> {
    let (from, to) = range(&q, state.clock.today())?;
    let rows = state.store.campsite_statuses(None, &from.to_string(), &to.to_string()).await?;
    Ok(Json(rows.into_iter().map(|r| status(r, from, to)).collect()))
}

pub async fn one(
    State(state): State<AppState>,
    Path(campsite_id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<CampsiteStatus>, ApiError> {
    let (from, to) = range(&q, state.clock.today())?;
    let rows = state.store.campsite_statuses(Some(campsite_id), &from.to_string(), &to.to_string()).await?;
    let row = rows.into_iter().find(|r| r.campsite.campsite_id == campsite_id && !r.campsite.deleted);
    row.map(|r| Json(status(r, from, to)))
        .ok_or_else(|| ApiError::not_found(format!("campsite {campsite_id} not found")))
}
