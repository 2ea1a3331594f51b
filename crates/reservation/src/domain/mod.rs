//! Reservations: validated values, the booking saga as a state machine, and the rules a booking
//! request is checked against. No I/O here.

pub mod refusals;
pub mod reservation;
pub mod saga;
pub mod values;

pub use refusals::{BookingError, CancelError};
pub use reservation::{NewReservation, Reservation, Step};
pub use saga::{Outgoing, SagaInput, Status, Transition, already_there, decide};
pub use values::{Invalid, Phone, SeatCount, Stay};
