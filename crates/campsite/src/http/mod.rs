//! The campsite admin API: create, edit, delete; anyone lists.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use skycamp_platform::http::{ApiError, Json, Path, lenient};
use skycamp_platform::idempotency::{self, Idempotent, Key, Keys};
use skycamp_platform::paging::{Page, bad_cursor};

use crate::domain::{self, Campsite, CampsiteChange, ChangeError, Invalid, MAX_CAPACITY, MAX_PRICE};
use crate::store::CampsiteStore;

/// Routes under `/campsites`. Registering honours `Idempotency-Key`.
pub fn router(store: CampsiteStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/campsites", get(list).post(register).layer(idempotent))
        .route("/campsites/nights", get(nights))
        .route("/campsites/{id}", get(one).put(replace).patch(patch).delete(delete))
        .with_state(store)
}

/// `amenities` as a JSON list, or as one comma-separated string (HTTPie's `amenities=wifi,shower`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Amenities {
    List(Vec<String>),
    Text(String),
}

/// The body of `POST`, `PUT` and `PATCH /campsites`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CampsiteBody {
    name: Option<String>,
    location: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    price_per_night: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    capacity: Option<i64>,
    amenities: Option<Amenities>,
}

impl TryFrom<CampsiteBody> for CampsiteChange {
    type Error = Invalid;

    fn try_from(b: CampsiteBody) -> Result<Self, Invalid> {
        let amenities = b.amenities.map(|a| match a {
            Amenities::List(l) => l,
            Amenities::Text(t) => t.split(',').map(str::to_owned).filter(|s| !s.trim().is_empty()).collect(),
        });
        Ok(Self {
            name: b.name.as_deref().map(|v| domain::text("name", v, 1, 100)).transpose()?,
            location: b.location.as_deref().map(|v| domain::text("location", v, 1, 200)).transpose()?,
            description: b.description.as_deref().map(|v| domain::long_text("description", v, 0, 2000)).transpose()?,
            price_per_night: b
                .price_per_night
                .map(|v| domain::bounded("pricePerNight", v, 1..=MAX_PRICE))
                .transpose()?,
            capacity: b.capacity.map(|v| domain::bounded("capacity", v, 1..=MAX_CAPACITY)).transpose()?,
            amenities: amenities.as_deref().map(domain::amenities).transpose()?,
        })
    }
}

/// A campsite as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CampsiteView {
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

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::unprocessable(e.0)
    }
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::CapacityBelowBooked { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasUpcomingBookings { .. } => ApiError::conflict(e.to_string()),
    }
}

/// `GET /campsites`, by id, a page at a time.
async fn list(State(store): State<CampsiteStore>, page: Page) -> Result<Response, ApiError> {
    let sites: Vec<CampsiteView> =
        store.list(page.cursor_id()?, page.fetch()).await?.into_iter().map(CampsiteView::from).collect();
    Ok(page.answer(sites, |c| c.id.to_string()))
}

async fn one(State(store): State<CampsiteStore>, Path(id): Path<i64>) -> Result<Json<CampsiteView>, ApiError> {
    match store.get(id).await? {
        Some(c) if !c.deleted => Ok(Json(c.into())),
        _ => Err(ApiError::not_found(format!("campsite {id} not found"))),
    }
}

/// With an `Idempotency-Key`, a retry after the first attempt registered the campsite answers
/// with that campsite instead of registering a second one.
async fn register(
    State(store): State<CampsiteStore>,
    Key(key): Key,
    Json(body): Json<CampsiteBody>,
) -> Result<Response, ApiError> {
    if let Some(id) = key.as_ref().and_then(Idempotent::resumed) {
        let c = store.get(id).await?.ok_or_else(|| anyhow::anyhow!("campsite {id} of a key vanished"))?;
        return Ok(created(c));
    }
    let new = CampsiteChange::try_from(body)?;
    new.require_complete()?;
    let c = store.register(&new, key.as_ref()).await?;
    tracing::info!(campsite_id = c.id, "campsite registered");
    Ok(created(c))
}

fn created(c: Campsite) -> Response {
    let location = format!("/campsites/{}", c.id);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(CampsiteView::from(c))).into_response()
}

async fn replace(
    State(store): State<CampsiteStore>,
    Path(id): Path<i64>,
    Json(body): Json<CampsiteBody>,
) -> Result<Json<CampsiteView>, ApiError> {
    let mut change = CampsiteChange::try_from(body)?;
    change.require_complete()?;
    change.description.get_or_insert_default();
    change.amenities.get_or_insert_default();
    Ok(Json(store.change(id, &change).await?.map_err(change_error)?.into()))
}

async fn patch(
    State(store): State<CampsiteStore>,
    Path(id): Path<i64>,
    Json(body): Json<CampsiteBody>,
) -> Result<Json<CampsiteView>, ApiError> {
    let change = CampsiteChange::try_from(body)?;
    Ok(Json(store.change(id, &change).await?.map_err(change_error)?.into()))
}

async fn delete(State(store): State<CampsiteStore>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    store.delete(id).await?.map_err(change_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A held night, for audits.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NightView {
    campsite_id: i64,
    night: String,
    reservation_id: i64,
}

/// `GET /campsites/nights`: every night held (for the reconciliation audit), by campsite and
/// night, a page at a time. The cursor is `campsiteId/night`.
async fn nights(State(store): State<CampsiteStore>, page: Page) -> Result<Response, ApiError> {
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
