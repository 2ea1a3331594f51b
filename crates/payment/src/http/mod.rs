//! The payment API: approve (called by the reservation service), refund, look up.

mod approve;
mod refund;
mod view;

use axum::Router;
use axum::routing::{get, post};
use skycamp_platform::idempotency::{self, Keys};
use skycamp_platform::internal::{admin_or_signed, require_signature};

use crate::Config;
use crate::store::PaymentStore;

/// Shared by the handlers (behind an `Arc`: axum hands each request its own copy).
pub struct AppState {
    store: PaymentStore,
    config: Config,
}

/// The payment API's part of the OpenAPI document. The charge (`POST /payments`) is internal and
/// not part of it.
#[derive(utoipa::OpenApi)]
#[openapi(paths(view::list, view::one, refund::refund))]
pub struct Api;

/// Routes under `/payments`. The charge is internal: it must be signed by the reservation service.
pub fn router(store: PaymentStore, config: Config, keys: Keys) -> Router {
    let signed = axum::middleware::from_fn_with_state(config.internal_key.clone(), require_signature);
    let admin_or_signed = axum::middleware::from_fn_with_state(config.internal_key.clone(), admin_or_signed);
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/payments", get(view::list).layer(admin_or_signed.clone()).merge(post(approve::approve).layer(signed)))
        .route("/payments/{id}", get(view::one).layer(admin_or_signed.clone()))
        .route("/payments/{id}/refund", post(refund::refund).layer(idempotent).layer(admin_or_signed))
        .with_state(std::sync::Arc::new(AppState { store, config }))
}
