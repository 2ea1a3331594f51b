//! `GET /campsiteStatuses?from=&to=`: every campsite with its info, rating and booked/free nights
//! in a date range, in one call, built only from events (the camping seed's CQRS view).

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use super::AppState;
use crate::store::CampsiteRow;

/// The longest range one call may ask for.
const MAX_RANGE_DAYS: i64 = 366;
/// The range when none is given: today and the next 13 nights.
const DEFAULT_RANGE_DAYS: i64 = 14;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One campsite with what is booked between `from` (inclusive) and `to` (exclusive).
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
        // Near the end of the calendar there may be no 14 days left to show.
        None => from
            .checked_add(time::Duration::days(DEFAULT_RANGE_DAYS))
            .ok_or_else(|| ApiError::unprocessable("from is too far ahead; give `to` as well"))?,
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

/// `GET /campsiteStatuses`, by campsite, 20 a page by default (each carries up to a year of nights).
#[utoipa::path(
get, path = "/campsiteStatuses", tag = "reservation", params(RangeQuery, skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Campsites with their nights in [from, to)", body = [CampsiteStatus])), security((), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
    page: Page<20, 100>,
) -> Result<Response, ApiError> {
    let (from, to) = range(&q, state.clock.today())?;
    let after = page.cursor_id()?.unwrap_or(0);
    let rows = state.catalogue.campsite_statuses(None, after, page.fetch(), &from.to_string(), &to.to_string()).await?;
    let statuses: Vec<CampsiteStatus> = rows.into_iter().map(|r| status(r, from, to)).collect();
    Ok(page.answer(statuses, |s| s.id.to_string()))
}

#[utoipa::path(
get, path = "/campsiteStatuses/{campsite_id}", tag = "reservation", params(("campsite_id" = i64, Path, description = "The campsite"), RangeQuery),
    responses((status = 200, body = CampsiteStatus)), security((), ("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Path(campsite_id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<CampsiteStatus>, ApiError> {
    let (from, to) = range(&q, state.clock.today())?;
    let row = state.catalogue.campsite_status(campsite_id, &from.to_string(), &to.to_string()).await?;
    let row = row.filter(|r| !r.campsite.deleted);
    row.map(|r| Json(status(r, from, to)))
        .ok_or_else(|| ApiError::not_found(format!("campsite {campsite_id} not found")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn today() -> time::Date {
        time::macros::date!(2026 - 11 - 22)
    }

    fn query(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery { from: from.map(str::to_owned), to: to.map(str::to_owned) }
    }

    #[test]
    fn a_range_at_the_end_of_the_calendar_is_refused_not_a_panic() {
        let err = range(&query(Some("9999-12-18"), None), today()).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        let (from, to) = range(&query(Some("9999-12-18"), Some("9999-12-31")), today()).unwrap();
        assert_eq!((to - from).whole_days(), 13);
    }

    #[test]
    fn the_default_range_is_fourteen_nights_from_today() {
        let (from, to) = range(&query(None, None), today()).unwrap();
        assert_eq!((from, (to - from).whole_days()), (today(), 14));
    }

    fn any_date() -> impl Strategy<Value = String> {
        prop_oneof![
            (-9999i32..=9999, 1u8..=12, 1u8..=31).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
            "\\PC{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn any_range_is_an_answer_never_a_panic(from in proptest::option::of(any_date()), to in proptest::option::of(any_date())) {
            if let Ok((f, t)) = range(&query(from.as_deref(), to.as_deref()), today()) {
                prop_assert!(f < t && (t - f).whole_days() <= MAX_RANGE_DAYS);
            }
        }
    }
}
