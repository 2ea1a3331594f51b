//! The notification API: a customer's messages.

mod list;

use axum::Router;
use axum::routing::get;

use crate::store::NotificationStore;

/// The notification API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list::list))]
pub struct Api;

/// Routes under `/messages`.
pub fn router(store: NotificationStore) -> Router {
    Router::new().route("/messages", get(list::list)).with_state(store)
}
