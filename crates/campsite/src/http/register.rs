//! `POST /campsites`: an admin registers a campsite.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_platform::http::{ApiError, Json, lenient};
use skycamp_platform::idempotency::{Idempotent, Key};

use super::view::CampsiteView;
use crate::domain::{self, Campsite, CampsiteChange, Invalid, MAX_CAPACITY, MAX_PRICE};
use crate::store::CampsiteStore;

/// `amenities` as a JSON list, or as one comma-separated string (HTTPie's `amenities=wifi,shower`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Amenities {
    List(Vec<String>),
    Text(String),
}

/// The body of `POST`, `PUT` and `PATCH /campsites`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteBody {
    name: Option<String>,
    location: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    price_per_night: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    capacity: Option<i64>,
    amenities: Option<Amenities>,
    /// Fields a campsite does not have; kept only to refuse a PATCH made of nothing else.
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: std::collections::BTreeMap<String, serde_json::Value>,
}

impl CampsiteBody {
    /// When the body names fields, but none a campsite has (a typo), what to answer.
    pub fn only_unknown_fields(&self) -> Option<Invalid> {
        let known = self.name.is_some()
            || self.location.is_some()
            || self.description.is_some()
            || self.price_per_night.is_some()
            || self.capacity.is_some()
            || self.amenities.is_some();
        let fields = "name, location, description, pricePerNight, capacity or amenities";
        Invalid::only_unknown(known, self.unknown.keys().map(String::as_str), fields)
    }
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

/// With an `Idempotency-Key`, a retry after the first attempt registered the campsite answers
/// with that campsite instead of registering a second one.
#[utoipa::path(
post, path = "/campsites", tag = "campsite", request_body = CampsiteBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer with the first campsite")),
    responses((status = 201, body = CampsiteView, headers(("location" = String)))), security(("bearer" = ["admin"]))
)]
pub async fn register(
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
