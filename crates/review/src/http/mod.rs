//! The review API: write a review of a stay, read reviews.

mod view;
mod write;

use axum::Router;
use axum::routing::get;
use skycamp_platform::idempotency::{self, Keys};

use crate::store::ReviewStore;

/// The review API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(view::list, view::one, write::write))]
pub struct Api;

/// Routes under `/reviews`. Writing honours `Idempotency-Key`.
pub fn router(store: ReviewStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/reviews", get(view::list).post(write::write).layer(idempotent))
        .route("/reviews/{id}", get(view::one))
        .with_state(store)
}
