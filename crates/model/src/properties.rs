//! The promises, as properties the checker tests in every state it reaches.

use skycamp_contracts::hold::HoldStatus;
use skycamp_payment::domain::PaymentStatus;
use skycamp_reservation::domain::Status;
use stateright::Property;

use crate::{Group, Kind, Sagas, State};

pub const SEATS_WITHIN_CAPACITY: &str = "seats held never exceed the flight's seats";
pub const SEATS_MATCH_HOLDS: &str = "the flight's seats held are its holds' seats";
pub const NO_NIGHT_TWICE: &str = "no night is held twice";
pub const CONFIRMED_IS_PAID: &str = "no booking is confirmed without an approved, unrefunded payment";
pub const NO_ORPHAN_PAYMENT: &str = "no payment is approved for a reservation that does not exist";
pub const MILEAGE_NEVER_NEGATIVE: &str = "no customer's mileage goes below zero";
pub const MONEY_ADDS_UP: &str = "at quiescence, money captured minus refunded equals the confirmed bookings";
pub const MILEAGE_ADDS_UP: &str = "at quiescence, each customer's mileage is what its payments earned";
pub const SAGAS_FINISH: &str = "every saga reaches a final state";

pub fn all() -> Vec<Property<Sagas>> {
    type M = Sagas;
    vec![
        Property::always(SEATS_WITHIN_CAPACITY, |m: &M, s: &State| {
            (0..=i64::from(m.bounds.seats)).contains(&s.seats_held)
        }),
        Property::always(SEATS_MATCH_HOLDS, |_: &M, s: &State| {
            let held = s.seat_holds.iter().flatten().filter(|h| h.status == HoldStatus::Held);
            s.seats_held == held.map(|h| i64::from(h.count)).sum::<i64>()
        }),
        Property::always(NO_NIGHT_TWICE, |_: &M, s: &State| s.night_rows.windows(2).all(|w| w[0].0 != w[1].0)),
        Property::always(CONFIRMED_IS_PAID, confirmed_is_paid),
        Property::always(NO_ORPHAN_PAYMENT, |_: &M, s: &State| {
            s.payments.iter().zip(&s.reservations).all(|(p, r)| p.is_none() || r.is_some())
        }),
        Property::always(MILEAGE_NEVER_NEGATIVE, |m: &M, s: &State| m.customers().all(|c| balance(s, c) >= 0)),
        Property::always(MONEY_ADDS_UP, |m: &M, s: &State| !s.quiescent() || captured(s) == confirmed(m, s)),
        Property::always(MILEAGE_ADDS_UP, |m: &M, s: &State| {
            !s.quiescent() || m.customers().all(|c| balance(s, c) == earned(m, s, c))
        }),
        // Checked at the end of every path: the model is finite and every step uses something up
        // (an event, a call, a fault or an operator action), so every path ends.
        Property::eventually(SAGAS_FINISH, |m: &M, s: &State| {
            m.customers().all(|c| {
                s.reservations[c as usize]
                    .is_some_and(|r| matches!(r.status, Status::Confirmed | Status::Rejected | Status::Cancelled))
            })
        }),
        // Examples that show the model reaches what it is about (a property nobody can reach
        // proves nothing).
        Property::sometimes("a booking is confirmed", |_: &M, s: &State| {
            s.reservations.iter().flatten().any(|r| r.status == Status::Confirmed)
        }),
        Property::sometimes("a booking is cancelled and refunded", |_: &M, s: &State| {
            s.reservations.iter().zip(&s.payments).any(|(r, p)| {
                r.is_some_and(|r| r.status == Status::Cancelled)
                    && p.is_some_and(|p| p.status == PaymentStatus::Refunded)
            })
        }),
        Property::sometimes("a paid booking is rejected for want of inventory and refunded", |_: &M, s: &State| {
            s.seat_holds.iter().chain(&s.night_holds).zip(s.payments.iter().chain(&s.payments)).any(|(h, p)| {
                h.is_some_and(|h| h.status == HoldStatus::Rejected)
                    && p.is_some_and(|p| p.status == PaymentStatus::Refunded)
            })
        }),
        Property::sometimes("a charge that arrives after its booking was given up meets a void", |_: &M, s: &State| {
            s.payments.iter().flatten().any(|p| p.status == PaymentStatus::Declined)
        }),
    ]
}

/// A confirmed booking's payment is approved, or its refund's `PaymentCancelled` is still on its
/// way to the reservation service (a customer's cancel refunds first and cancels after, and an
/// operator's refund cancels the booking when its event arrives).
fn confirmed_is_paid(_: &Sagas, s: &State) -> bool {
    s.reservations.iter().zip(&s.payments).enumerate().all(|(c, (r, p))| match (r, p) {
        (Some(r), _) if r.status != Status::Confirmed => true,
        (None, _) => true,
        (Some(_), Some(p)) if p.status == PaymentStatus::Approved => true,
        (Some(_), Some(p)) if p.status == PaymentStatus::Refunded => s.pending[State::group(Group::Saga)]
            .iter()
            .any(|e| e.kind == Kind::PaymentCancelled && e.customer as usize == c),
        _ => false,
    })
}

/// Money kept: approved payments not refunded.
fn captured(s: &State) -> i64 {
    s.payments.iter().flatten().filter(|p| p.status == PaymentStatus::Approved).map(|p| p.amount).sum()
}

/// What the confirmed bookings cost.
fn confirmed(m: &Sagas, s: &State) -> i64 {
    m.customers()
        .filter(|&c| s.reservations[c as usize].is_some_and(|r| r.status == Status::Confirmed))
        .map(|c| m.amount(c))
        .sum()
}

fn balance(s: &State, c: u8) -> i64 {
    s.ledger.iter().filter(|e| e.customer == c).map(|e| e.points).sum()
}

/// What a customer's payments earn: the mileage rule on each payment it still has.
fn earned(m: &Sagas, s: &State, c: u8) -> i64 {
    match s.payments[c as usize] {
        Some(p) if p.status == PaymentStatus::Approved => m.rules.for_payment(p.amount),
        _ => 0,
    }
}
