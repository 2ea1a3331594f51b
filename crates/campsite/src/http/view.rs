//! `GET /campsites`, `/campsites/{id}` and `/campsites/nights`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use skycamp_platform::http::{ApiError, Json, Path};
use skycamp_platform::paging::{Page, bad_cursor};

use crate::domain::Campsite;
use crate::store::CampsiteStore;

/// A campsite as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteView {
    id: i64,
    campsite_id: i64,
    name: String,
    location: String,
    description: String,
    price_per_night: i64,
    capacity: i64,
    amenities: Vec<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl From<Campsite> for CampsiteView {
    fn from(c: Campsite) -> Self {
        Self {
            id: c.id,
            campsite_id: c.id,
            name: c.name,
            location: c.location,
            description: c.description,
            price_per_night: c.price_per_night,
            capacity: c.capacity,
            amenities: c.amenities,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `GET /campsites`, by id, a page at a time.
#[utoipa::path(
get, path = "/campsites", tag = "campsite", params(skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Campsites by id, a page at a time", body = [CampsiteView])), security((), ("bearer" = []))
)]
pub async fn list(State(store): State<CampsiteStore>, page: Page) -> Result<Response, ApiError> {
    let sites: Vec<CampsiteView> =
        store.list(page.cursor_id()?, page.fetch()).await?.into_iter().map(CampsiteView::from).collect();
    Ok(page.answer(sites, |c| c.id.to_string()))
}

#[utoipa::path(
get, path = "/campsites/{id}", tag = "campsite", params(("id" = i64, Path, description = "The campsite")),
    responses((status = 200, body = CampsiteView)), security((), ("bearer" = []))
)]
pub async fn one(State(store): State<CampsiteStore>, Path(id): Path<i64>) -> Result<Json<CampsiteView>, ApiError> {
    match store.get(id).await? {
        Some(c) if !c.deleted => Ok(Json(c.into())),
        _ => Err(ApiError::not_found(format!("campsite {id} not found"))),
    }
}

/// A held night, for audits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NightView {
    campsite_id: i64,
    night: String,
    reservation_id: i64,
}

/// `GET /campsites/nights`: every night held (for the reconciliation audit), by campsite and
/// night, a page at a time. The cursor is `campsiteId/night`.
#[utoipa::path(
get, path = "/campsites/nights", tag = "campsite", params(skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Every night held, by campsite and night", body = [NightView])), security(("bearer" = ["admin"]))
)]
pub async fn nights(State(store): State<CampsiteStore>, page: Page) -> Result<Response, ApiError> {
    let after = match page.cursor.as_deref() {
        None => None,
        Some(c) => {
            let (site, night) = c.split_once('/').ok_or_else(|| bad_cursor(c))?;
            Some((site.parse::<i64>().map_err(|_| bad_cursor(c))?, night.to_owned()))
        }
    };
    let held: Vec<NightView> = store
        .held_nights(after, page.fetch())
        .await?
        .into_iter()
        .map(|(campsite_id, night, reservation_id)| NightView { campsite_id, night, reservation_id })
        .collect();
    Ok(page.answer(held, |n| format!("{}/{}", n.campsite_id, n.night)))
}
