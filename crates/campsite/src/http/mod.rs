//! The campsite admin API: create, edit, delete; anyone lists.

mod change;
mod register;
mod view;

use axum::Router;
use axum::routing::{get, post, put};
use skycamp_platform::auth::admin_only;
use skycamp_platform::http::ApiError;
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::ChangeError;
use crate::store::CampsiteStore;

/// The campsite API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    view::list,
    view::one,
    view::nights,
    register::register,
    change::replace,
    change::patch,
    change::delete
))]
pub struct Api;

/// Routes under `/campsites`. Registering honours `Idempotency-Key`.
pub fn router(store: CampsiteStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    let admin = axum::middleware::from_fn(admin_only);
    Router::new()
        .route("/campsites", get(view::list).merge(post(register::register).layer(idempotent).layer(admin.clone())))
        .route("/campsites/nights", get(view::nights).layer(admin.clone()))
        // Changes are the admin's.
        .route(
            "/campsites/{id}",
            get(view::one).merge(put(change::replace).patch(change::patch).delete(change::delete).layer(admin)),
        )
        .with_state(store)
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::CapacityBelowBooked { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasUpcomingBookings { .. } => ApiError::conflict(e.to_string()),
    }
}
