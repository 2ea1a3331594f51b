//! `GET /messages?phone=…`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::http::{ApiError, Query};
use skycamp_platform::paging::Page;

use crate::domain::Message;
use crate::store::NotificationStore;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    phone: Option<String>,
}

/// `GET /messages?phone=…`: a customer's messages, newest first, a page at a time.
pub async fn list(
    State(store): State<NotificationStore>,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let raw = q.phone.ok_or_else(|| ApiError::unprocessable("phone is required"))?;
    let phone = Phone::parse(&raw).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let messages: Vec<Message> = store.list(phone.as_str(), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(messages, |m| m.id.to_string()))
}
