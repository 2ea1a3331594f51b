//! The mileage API: a customer's balance and ledger.

mod ledger;

use axum::Router;
use axum::routing::get;

use crate::store::MileageStore;

/// The mileage API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(ledger::ledger))]
pub struct Api;

/// Routes under `/mileages`.
pub fn router(store: MileageStore) -> Router {
    Router::new().route("/mileages/{customer}", get(ledger::ledger)).with_state(store)
}
