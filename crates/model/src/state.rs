//! What the model remembers: the services' durable rows, the messages on their way, and the
//! little that lives only in a process's memory (open calls and open transactions).
//!
//! Everything is keyed by customer: each customer books once, so customer `c` owns reservation
//! `c + 1` and its payment. Keying by customer rather than by arrival order makes two
//! interleavings that end in the same rows the same state, which keeps the state space small.

use skycamp_contracts::hold::HoldStatus;
use skycamp_payment::domain::PaymentStatus;
use skycamp_reservation::domain::Status;

/// What a customer books.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// Seats on the one flight.
    Seats(u8),
    /// Nights `first..last` (check-out not included) at the one campsite.
    Nights { first: u8, last: u8 },
}

impl Item {
    /// What is held and paid for: seats, or nights.
    pub fn units(self) -> u8 {
        match self {
            Self::Seats(n) => n,
            Self::Nights { first, last } => last - first,
        }
    }
}

/// A consumer group: one per service that reacts to events, as in the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// The flight service: holds and releases seats.
    Flight,
    /// The campsite service: holds and releases nights.
    Campsite,
    /// The payment service: refunds or voids for reservations that did not go ahead.
    Payment,
    /// The mileage service: credits payments, takes refunds back.
    Mileage,
    /// The reservation service's `reservation-saga` group: inventory answers and refunds.
    Saga,
}

pub const GROUPS: [Group; 5] = [Group::Flight, Group::Campsite, Group::Payment, Group::Mileage, Group::Saga];

/// The events the sagas exchange (the platform's names, `docs/EVENTS.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    ReservationPlaced,
    ReservationConfirmed,
    ReservationRejected,
    ReservationCancelled,
    PaymentApproved,
    PaymentCancelled,
    SeatsReserved,
    SeatsRejected,
    SeatsReleased,
    NightsReserved,
    NightsRejected,
    NightsReleased,
}

pub const KINDS: usize = 12;

/// One event: its type, whose reservation it is about, and how many of the same type about the
/// same reservation went before it (an operator's retry publishes `ReservationPlaced` again, as
/// a new event with a new id). Together they are the event's id, which the inboxes record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event {
    pub kind: Kind,
    pub customer: u8,
    pub nth: u8,
}

/// A reservation row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reservation {
    pub status: Status,
    /// The payment id is recorded (set with `PaymentApproved`).
    pub paid_by: bool,
    /// The customer has asked to cancel (once).
    pub cancel_asked: bool,
}

/// A payment row (one per reservation: the unique key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Payment {
    pub amount: i64,
    pub status: PaymentStatus,
}

/// An inventory's record of one reservation's hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hold {
    pub status: HoldStatus,
    pub count: u8,
}

/// One mileage ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub customer: u8,
    /// The event that caused it (`PaymentApproved` or `PaymentCancelled`).
    pub cause: Kind,
    pub points: i64,
}

/// A synchronous exchange between the reservation service and the payment service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exchange {
    /// `POST /payments` for a booking.
    Charge,
    /// `POST /payments/{id}/refund` for a customer's cancel.
    Refund,
    /// The reconciler's look-up of a stale pending booking's payment.
    Lookup,
}

/// What payment answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reply {
    Approved,
    Declined,
    /// Any other answer (a conflict, a 5xx): the caller treats it as payment being unavailable.
    Unavailable,
    Refunded,
    RefundRefused,
    /// The look-up found an approved payment (true) or none, or one that is not approved.
    Found {
        approved: bool,
    },
}

/// Where an exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// The request is on its way to payment (it may still arrive after the caller gave up).
    Request,
    /// Payment has acted; the answer is on its way back.
    Reply(Reply),
    /// The request or the answer was lost; the caller will time out.
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Call {
    pub exchange: Exchange,
    pub customer: u8,
    pub leg: Leg,
    /// The caller is still waiting (in memory: a crash of the reservation service forgets it).
    pub waiting: bool,
}

/// What an inventory's hold transaction read before it writes (in memory until it commits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Open {
    pub group: Group,
    pub event: Event,
    /// The hold recorded for the reservation when the transaction read it.
    pub seen: Option<Hold>,
    /// The inventory's decision on what it read: reserved (true) or rejected.
    pub decided_reserved: bool,
}

/// How many faults and outside actions are left to spend on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Process crashes (the reservation service, or an inventory service mid-transaction).
    pub crashes: u8,
    /// Events delivered again after they were handled (at-least-once delivery).
    pub redeliveries: u8,
    /// Synchronous calls lost or timed out.
    pub call_faults: u8,
    /// Operator actions: refund a payment, retry or compensate a stuck booking.
    pub operator: u8,
    /// A customer's retry of a booking with its `Idempotency-Key`.
    pub client_retries: u8,
}

/// The whole system at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Reservation service: one row per customer that has booked.
    pub reservations: Vec<Option<Reservation>>,
    /// Payment service: one row per reservation that has a payment.
    pub payments: Vec<Option<Payment>>,
    /// Flight service: seats held on the flight, and each reservation's hold.
    pub seats_held: i64,
    pub seat_holds: Vec<Option<Hold>>,
    /// Campsite service: booked nights as rows (night, customer), and each reservation's hold.
    pub night_rows: Vec<(u8, u8)>,
    pub night_holds: Vec<Option<Hold>>,
    /// Mileage service: the ledger, in the order it was written.
    pub ledger: Vec<Entry>,
    /// Events committed so far, per customer and type (the next event's `nth`).
    pub emitted: Vec<[u8; KINDS]>,
    /// Per consumer group: events committed and not yet handled (any may come next).
    pub pending: [Vec<Event>; 5],
    /// Per consumer group: events handled (the inbox).
    pub handled: [Vec<Event>; 5],
    /// Synchronous exchanges under way.
    pub calls: Vec<Call>,
    /// Inventory transactions that have read and not yet written.
    pub open: Vec<Open>,
    pub budget: Budget,
}

impl State {
    pub fn new(customers: usize, budget: Budget) -> Self {
        Self {
            reservations: vec![None; customers],
            payments: vec![None; customers],
            seats_held: 0,
            seat_holds: vec![None; customers],
            night_rows: Vec::new(),
            night_holds: vec![None; customers],
            ledger: Vec::new(),
            emitted: vec![[0; KINDS]; customers],
            pending: Default::default(),
            handled: Default::default(),
            calls: Vec::new(),
            open: Vec::new(),
            budget,
        }
    }

    pub fn group(g: Group) -> usize {
        g as usize
    }

    pub fn is_pending(&self, g: Group, e: Event) -> bool {
        self.pending[Self::group(g)].binary_search(&e).is_ok()
    }

    pub fn was_handled(&self, g: Group, e: Event) -> bool {
        self.handled[Self::group(g)].binary_search(&e).is_ok()
    }

    pub fn add_pending(&mut self, g: Group, e: Event) {
        insert_sorted(&mut self.pending[Self::group(g)], e);
    }

    pub fn take_pending(&mut self, g: Group, e: Event) {
        let list = &mut self.pending[Self::group(g)];
        if let Ok(i) = list.binary_search(&e) {
            list.remove(i);
        }
    }

    pub fn mark_handled(&mut self, g: Group, e: Event) {
        insert_sorted(&mut self.handled[Self::group(g)], e);
    }

    pub fn add_call(&mut self, call: Call) {
        let i = self.calls.binary_search(&call).unwrap_or_else(|i| i);
        self.calls.insert(i, call);
    }

    pub fn replace_call(&mut self, i: usize, call: Option<Call>) {
        self.calls.remove(i);
        if let Some(call) = call {
            self.add_call(call);
        }
    }

    pub fn add_open(&mut self, open: Open) {
        let i = self.open.partition_point(|o| (o.group, o.event) < (open.group, open.event));
        self.open.insert(i, open);
    }

    /// Nothing left for the system to do on its own: no event on its way, no call, no open
    /// transaction, and no booking waiting for its payment (the reconciler settles those).
    pub fn quiescent(&self) -> bool {
        self.pending.iter().all(Vec::is_empty)
            && self.calls.is_empty()
            && self.open.is_empty()
            && self.reservations.iter().flatten().all(|r| r.status != Status::PendingPayment)
    }
}

fn insert_sorted<T: Ord>(list: &mut Vec<T>, item: T) {
    if let Err(i) = list.binary_search(&item) {
        list.insert(i, item);
    }
}
