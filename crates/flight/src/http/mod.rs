//! The flight API: admins register and change flights (and see the holds), anyone lists them.

mod change;
mod register;
mod view;

use axum::Router;
use axum::routing::{get, post, put};
use skycamp_platform::auth::admin_only;
use skycamp_platform::http::ApiError;
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::ChangeError;
use crate::store::FlightStore;

/// The flight API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    view::list,
    view::one,
    view::holds,
    register::register,
    change::replace,
    change::patch,
    change::delete
))]
pub struct Api;

/// Routes under `/flights`. Registering honours `Idempotency-Key`.
pub fn router(store: FlightStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    let admin = axum::middleware::from_fn(admin_only);
    Router::new()
        .route("/flights", get(view::list).merge(post(register::register).layer(idempotent).layer(admin.clone())))
        .route("/flights/holds", get(view::holds).layer(admin.clone()))
        // Changes are the admin's.
        .route(
            "/flights/{id}",
            get(view::one).merge(put(change::replace).patch(change::patch).delete(change::delete).layer(admin)),
        )
        .with_state(store)
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::SeatsBelowHeld { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasHeldSeats { .. } => ApiError::conflict(e.to_string()),
    }
}
