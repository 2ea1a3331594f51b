//! Why a booking or a cancel is refused, in the domain's words. The HTTP layer maps each to a
//! problem+json answer in one place (`http/mod.rs`).

use thiserror::Error;

use super::Invalid;

/// Why `POST /reservations` does not answer 201.
#[derive(Debug, Error)]
pub enum BookingError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("book either a flightId or a campsiteId, not both")]
    BothItems,
    #[error("flightId or campsiteId is required")]
    NoItem,
    #[error("reserveStatus must be \"place\" or \"cancel\", not {0:?}")]
    UnknownForm(String),
    #[error("flight {0} not found")]
    NoSuchFlight(i64),
    #[error("campsite {0} not found")]
    NoSuchCampsite(i64),
    /// Payment cannot be reached and nothing was written or charged.
    #[error("{PAYMENT_BUSY}")]
    PaymentBusy { retry_after_secs: u64 },
    #[error("reservation {id} rejected: {reason}")]
    Declined { id: i64, reason: String },
    /// A keyed booking whose payment could not be reached: it waits for the client's retry.
    #[error(
        "payment is busy; reservation {id} waits for it. Retry with the same Idempotency-Key to complete it; \
         without a retry it is settled shortly: kept if the payment went through, rejected and never charged otherwise"
    )]
    AwaitingPayment { id: i64, retry_after_secs: u64 },
    /// A keyed booking's first attempt was rejected; the key cannot book again.
    #[error(
        "reservation {id} made under this Idempotency-Key was rejected ({reason}); nothing was charged. \
         Book again with a new Idempotency-Key"
    )]
    RejectedEarlier { id: i64, reason: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Why a cancel is refused.
#[derive(Debug, Error)]
pub enum CancelError {
    #[error("reservationId is required to cancel")]
    NoReservation,
    #[error("reservation {0} not found")]
    NotFound(i64),
    #[error("count {count} differs from the {booked} booked; a reservation is cancelled as a whole")]
    PartialCount { count: i64, booked: i64 },
    #[error("reservation {id} is {status}; only PAID or CONFIRMED reservations can be cancelled")]
    NotCancellable { id: i64, status: &'static str },
    #[error("the stay of reservation {id} began on {check_in}; a stay can be cancelled only before its check-in day")]
    StayBegun { id: i64, check_in: String },
    /// The refund could not be made; the reservation stands as it was.
    #[error("{PAYMENT_BUSY}")]
    PaymentBusy { retry_after_secs: u64 },
    #[error("{0}")]
    RefundRefused(String),
    #[error("reservation {id} became {status} meanwhile; its payment is refunded")]
    ChangedMeanwhile { id: i64, status: &'static str },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a client hears while payment cannot be reached.
const PAYMENT_BUSY: &str = "payment is busy, try again shortly; nothing was charged";
