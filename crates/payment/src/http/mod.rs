//! The payment API: approve (called by the reservation service), refund, look up.

mod approve;
mod refund;
mod view;

use axum::Router;
use axum::routing::{get, post};
use skycamp_platform::idempotency::{self, Keys};
use skycamp_platform::internal::require_signature;

use crate::Config;
use crate::store::PaymentStore;

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    store: PaymentStore,
    config: Config,
}

/// Routes under `/payments`. The charge is internal: it must be signed by the reservation service.
pub fn router(store: PaymentStore, config: Config, keys: Keys) -> Router {
    let signed = axum::middleware::from_fn_with_state(config.internal_key.clone(), require_signature);
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/payments", get(view::list).merge(post(approve::approve).layer(signed)))
        .route("/payments/{id}", get(view::one))
        .route("/payments/{id}/refund", post(refund::refund).layer(idempotent))
        .with_state(AppState { store, config })
}
