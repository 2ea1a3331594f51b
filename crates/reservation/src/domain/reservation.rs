//! A reservation as the service keeps it, and one step of its saga.

use skycamp_contracts::reservation::Booked;

use super::Status;

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    /// What is booked: seats on a flight, or a stay at a campsite.
    pub item: Booked,
    /// Price per seat or per night.
    pub unit_price: i64,
    pub amount: i64,
    pub phone: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub status: Status,
    pub payment_id: Option<i64>,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A validated booking, priced from the catalogue.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub item: Booked,
    pub unit_price: i64,
    /// Units charged: seats, or nights.
    pub units: i64,
    pub phone: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// One step of a reservation's saga.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Step {
    /// Orders the steps (and pages through them); not shown.
    #[serde(skip)]
    pub id: i64,
    pub step: String,
    /// The reservation's status after the step.
    pub status: String,
    pub detail: Option<String>,
    pub at: String,
}
