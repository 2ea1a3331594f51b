//! `GET /messages?phone=…`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Query};
use skycamp_platform::paging::Page;

use crate::domain::Message;
use crate::store::NotificationStore;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    phone: Option<String>,
}

/// `GET /messages?phone=…` (that customer or an admin; a customer may leave the phone out): a
/// customer's messages, newest first, a page at a time.
#[utoipa::path(
get, path = "/messages", tag = "notification", params(ListQuery, skycamp_platform::openapi::Paging),
    responses((status = 200, description = "The customer's messages, newest first", body = [crate::domain::Message])), security(("bearer" = ["customer", "admin"]))
)]
pub async fn list(
    State(store): State<NotificationStore>,
    caller: Caller,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let raw = caller.whose(q.phone)?.ok_or_else(|| ApiError::unprocessable("phone is required"))?;
    let phone = Phone::parse(&raw).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let messages: Vec<Message> = store.list(phone.as_str(), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(messages, |m| m.id.to_string()))
}
