//! The payment API: approve (called by the reservation service), refund, look up.

mod approve;
mod refund;
mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::Config;
use crate::store::PaymentStore;

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    store: PaymentStore,
    config: Config,
}

/// Routes under `/payments`.
pub fn router(store: PaymentStore, config: Config) -> Router {
    Router::new()
        .route("/payments", get(view::list).post(approve::approve))
        .route("/payments/{id}", get(view::one))
        .route("/payments/{id}/refund", post(refund::refund))
        .with_state(AppState { store, config })
}
