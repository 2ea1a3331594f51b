//! `GET /mileages/{customer}`.

use axum::extract::State;
use axum::response::Response;
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Path};
use skycamp_platform::paging::Page;

use crate::store::MileageStore;

/// `GET /mileages/{customer}` (that customer or an admin): the balance, and the entries newest first, a page at a time.
#[utoipa::path(
get, path = "/mileages/{customer}", tag = "mileage",
    params(("customer" = String, Path, description = "The customer's phone"), skycamp_platform::openapi::Paging),
    responses((status = 200, description = "The balance and a page of entries, newest first", body = crate::domain::Ledger)), security(("bearer" = ["customer", "admin"]))
)]
pub async fn ledger(
    State(store): State<MileageStore>,
    caller: Caller,
    Path(customer): Path<String>,
    page: Page,
) -> Result<Response, ApiError> {
    caller.signed_in()?;
    let phone = Phone::parse(&customer).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    caller.act_for(phone.as_str())?;
    let mut ledger = store.ledger(phone.as_str(), page.cursor_id()?, page.fetch()).await?;
    let next = page.cut(&mut ledger.entries, |e| e.id.to_string());
    Ok(page.answer_with(ledger, next))
}
