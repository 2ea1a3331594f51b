//! The booking and cancel sagas as a model for the [`stateright`] model checker.
//!
//! The model explores every interleaving, up to the bounds in [`Bounds`], of a few customers
//! booking and cancelling on one flight and one campsite, with the reservation, payment, flight,
//! campsite and mileage services as actors, a network that delivers events in any order and
//! again after they were handled, synchronous calls that are lost or time out, services that
//! crash and restart from their durable rows, and operators who refund, retry and compensate.
//!
//! Every decision is the platform's own code: the saga's transition function
//! ([`skycamp_reservation::domain::decide`]), the payment rules
//! ([`skycamp_payment::domain::decide_charge`], [`compensate`], [`refund_from`]), the hold
//! lifecycle ([`hold::on_hold`], [`hold::on_release`]), the flight's and the campsite's hold
//! decisions and the mileage postings. What the model adds is what the stores do with those
//! decisions (a conditional update, a primary key, an inbox row), written here as plain data
//! changes, so the checker can plant a bug in them ([`Plant`]). `docs/VERIFICATION.md` says what
//! is modelled and what is not.

mod properties;
mod state;
pub mod trace;

use skycamp_campsite::domain::{Campsite, decide_hold as decide_nights, taken};
use skycamp_contracts::hold::{self, Answer, HoldStatus, OnHold, OnRelease};
use skycamp_contracts::payment::Payment as PaymentRow;
use skycamp_flight::domain::{Flight, decide_hold as decide_seats};
use skycamp_mileage::domain::{Cause, Posting, Rules};
use skycamp_payment::domain::{
    Charge, ChargeDecision, Compensation, PaymentStatus, compensate, decide_charge, refund_from,
};
use skycamp_reservation::domain::{Outgoing, SagaInput, Status, Transition, decide};
use stateright::{Model, Property};

pub use state::{
    Budget, Call, Entry, Event, Exchange, GROUPS, Group, Hold, Item, Kind, Leg, Open, Payment, Reply, Reservation,
    State,
};

/// Price of a seat, and of a night, in KRW.
pub const SEAT_PRICE: i64 = 300_000;
pub const NIGHT_PRICE: i64 = 50_000;

/// One customer's plan: what they book, and whether their client sends an `Idempotency-Key`
/// (then a payment time-out leaves the booking pending for the client's retry or the
/// reconciler, instead of rejecting it).
#[derive(Clone, Copy, Debug)]
pub struct Customer {
    pub item: Item,
    pub keyed: bool,
    /// Whether the customer asks to cancel (once) after booking.
    pub cancels: bool,
}

/// How far the checker looks.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub customers: Vec<Customer>,
    /// Seats on the flight.
    pub seats: u8,
    /// Faults and outside actions available on each path.
    pub budget: Budget,
    /// Amounts above this are declined by the payment service.
    pub decline_above: i64,
}

impl Bounds {
    /// What `.ci/run` checks: two customers after the flight's one seat, one of them with an
    /// `Idempotency-Key`; one crash, one redelivery, one lost call, one operator action.
    pub fn flight() -> Self {
        Self {
            customers: vec![
                Customer { item: Item::Seats(1), keyed: false, cancels: true },
                Customer { item: Item::Seats(1), keyed: true, cancels: false },
            ],
            seats: 1,
            budget: Budget { crashes: 1, redeliveries: 1, call_faults: 1, operator: 1, client_retries: 1 },
            decline_above: 10_000_000,
        }
    }

    /// What `.ci/run` checks: two customers after overlapping stays at the campsite.
    pub fn campsite() -> Self {
        Self {
            customers: vec![
                Customer { item: Item::Nights { first: 0, last: 2 }, keyed: false, cancels: true },
                Customer { item: Item::Nights { first: 1, last: 3 }, keyed: true, cancels: false },
            ],
            seats: 1,
            budget: Budget { crashes: 1, redeliveries: 1, call_faults: 1, operator: 1, client_retries: 1 },
            decline_above: 10_000_000,
        }
    }
}

/// A bug to plant in the model's copy of the stores, to show that the checker finds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plant {
    /// Consumers do not look in their inbox: a redelivered event takes effect again.
    pub no_inbox: bool,
    /// The flight takes seats without `WHERE seats_held + n <= seat`.
    pub unconditional_seat_update: bool,
    /// Booked nights have no primary key (campsite, night).
    pub no_night_key: bool,
}

/// The model: the bounds, the planted bugs (none for the real check), and the mileage rules.
pub struct Sagas {
    pub bounds: Bounds,
    pub plant: Plant,
    pub rules: Rules,
}

impl Sagas {
    pub fn new(bounds: Bounds) -> Self {
        Self { bounds, plant: Plant::default(), rules: Rules::default() }
    }

    pub fn planted(mut self, plant: Plant) -> Self {
        self.plant = plant;
        self
    }

    fn customers(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.bounds.customers.len()).map(|c| c as u8)
    }

    fn item(&self, c: u8) -> Item {
        self.bounds.customers[c as usize].item
    }

    /// What a customer's booking costs.
    pub fn amount(&self, c: u8) -> i64 {
        let item = self.item(c);
        let price = if matches!(item, Item::Seats(_)) { SEAT_PRICE } else { NIGHT_PRICE };
        price * i64::from(item.units())
    }

    /// Which consumer groups receive an event (the platform's subscriptions).
    fn groups(&self, kind: Kind, c: u8) -> &'static [Group] {
        let inventory = match self.item(c) {
            Item::Seats(_) => Group::Flight,
            Item::Nights { .. } => Group::Campsite,
        };
        match (kind, inventory) {
            (Kind::ReservationPlaced, Group::Flight) => &[Group::Flight],
            (Kind::ReservationPlaced, _) => &[Group::Campsite],
            (Kind::ReservationRejected | Kind::ReservationCancelled, Group::Flight) => &[Group::Flight, Group::Payment],
            (Kind::ReservationRejected | Kind::ReservationCancelled, _) => &[Group::Campsite, Group::Payment],
            (Kind::PaymentApproved, _) => &[Group::Mileage],
            (Kind::PaymentCancelled, _) => &[Group::Mileage, Group::Saga],
            (Kind::SeatsReserved | Kind::SeatsRejected | Kind::NightsReserved | Kind::NightsRejected, _) => {
                &[Group::Saga]
            }
            // The notification, review and timeline consumers move no money or inventory.
            (Kind::ReservationConfirmed | Kind::SeatsReleased | Kind::NightsReleased, _) => &[],
        }
    }

    /// Commits an event: it goes to every group that subscribes to it.
    fn emit(&self, s: &mut State, kind: Kind, c: u8) {
        let nth = &mut s.emitted[c as usize][kind as usize];
        let event = Event { kind, customer: c, nth: *nth };
        *nth += 1;
        for &g in self.groups(kind, c) {
            s.add_pending(g, event);
        }
    }

    /// The reservation service applies a saga input (`ReservationStore::apply`): the real
    /// transition function decides; the move and its event commit together.
    fn apply(&self, s: &mut State, c: u8, input: &SagaInput) {
        let Some(r) = s.reservations[c as usize].as_mut() else { return };
        if let Transition::Move { to, publish, .. } = decide(r.status, input) {
            r.status = to;
            if matches!(input, SagaInput::PaymentApproved { .. }) {
                r.paid_by = true;
            }
            let kind = match publish {
                Outgoing::Placed => Kind::ReservationPlaced,
                Outgoing::Confirmed => Kind::ReservationConfirmed,
                Outgoing::Rejected => Kind::ReservationRejected,
                Outgoing::Cancelled => Kind::ReservationCancelled,
            };
            self.emit(s, kind, c);
        }
    }

    fn payment_row(&self, c: u8, p: &Payment) -> PaymentRow {
        PaymentRow {
            id: i64::from(c) + 1,
            reservation_id: i64::from(c) + 1,
            phone: String::new(),
            amount: p.amount,
            status: p.status.as_str().to_owned(),
            reason: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// The payment service refunds a payment (`PaymentStore::refund_in`); Err when it cannot.
    fn refund(&self, s: &mut State, c: u8) -> Result<(), ()> {
        let Some(p) = s.payments[c as usize].as_mut() else { return Err(()) };
        match refund_from(p.status) {
            Ok(true) => {
                p.status = PaymentStatus::Refunded;
                self.emit(s, Kind::PaymentCancelled, c);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(_) => Err(()),
        }
    }

    /// The payment service serves a request; returns its answer.
    fn serve(&self, s: &mut State, call: Call) -> Reply {
        let c = call.customer;
        match call.exchange {
            Exchange::Charge => {
                let charge = Charge::parse(i64::from(c) + 1, self.amount(c), "010-0000-0000")
                    .expect("the model's charges are well formed");
                let existing = s.payments[c as usize].map(|p| self.payment_row(c, &p));
                match decide_charge(existing, &charge, self.bounds.decline_above) {
                    ChargeDecision::New(status, _) => {
                        s.payments[c as usize] = Some(Payment { amount: charge.amount, status });
                        if status == PaymentStatus::Approved {
                            self.emit(s, Kind::PaymentApproved, c);
                            Reply::Approved
                        } else {
                            Reply::Declined
                        }
                    }
                    ChargeDecision::Repeat(p) if p.status == PaymentStatus::Approved.as_str() => Reply::Approved,
                    ChargeDecision::Repeat(_) => Reply::Declined,
                    ChargeDecision::AmountMismatch(_) => Reply::Unavailable,
                }
            }
            Exchange::Refund => match self.refund(s, c) {
                Ok(()) => Reply::Refunded,
                Err(()) => Reply::RefundRefused,
            },
            Exchange::Lookup => {
                Reply::Found { approved: s.payments[c as usize].is_some_and(|p| p.status == PaymentStatus::Approved) }
            }
        }
    }

    /// The caller gets payment's answer.
    fn answered(&self, s: &mut State, call: Call, reply: Reply) {
        let c = call.customer;
        let payment_id = i64::from(c) + 1;
        match (call.exchange, reply) {
            (Exchange::Charge, Reply::Approved) => self.apply(s, c, &SagaInput::PaymentApproved { payment_id }),
            (Exchange::Charge, Reply::Declined) => {
                self.apply(s, c, &SagaInput::PaymentDeclined { reason: "declined".into() });
            }
            (Exchange::Charge, _) => self.charge_failed(s, c),
            (Exchange::Refund, Reply::Refunded) => self.apply(s, c, &SagaInput::CancelRequested),
            // The cancel is refused; the booking stands.
            (Exchange::Refund, _) => {}
            (Exchange::Lookup, Reply::Found { approved: true }) => {
                self.apply(s, c, &SagaInput::PaymentApproved { payment_id });
            }
            (Exchange::Lookup, _) => self.apply(
                s,
                c,
                &SagaInput::PaymentUnavailable { reason: "reconciled: payment never completed".into() },
            ),
        }
    }

    /// A charge that got no usable answer: rejected at once, unless the client sent an
    /// `Idempotency-Key` (then it stays pending for the retry or the reconciler).
    fn charge_failed(&self, s: &mut State, c: u8) {
        if !self.bounds.customers[c as usize].keyed {
            self.apply(s, c, &SagaInput::PaymentUnavailable { reason: "payment unavailable".into() });
        }
    }

    fn flight(&self, seats_held: i64) -> Flight {
        Flight {
            id: 1,
            name: String::new(),
            destination: String::new(),
            price: SEAT_PRICE,
            seat: i64::from(self.bounds.seats),
            seats_held,
            deleted: false,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn campsite(&self) -> Campsite {
        Campsite {
            id: 1,
            name: String::new(),
            location: String::new(),
            description: String::new(),
            price_per_night: NIGHT_PRICE,
            capacity: 4,
            amenities: Vec::new(),
            deleted: false,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn holds(s: &State, g: Group) -> &Vec<Option<Hold>> {
        if g == Group::Flight { &s.seat_holds } else { &s.night_holds }
    }

    fn holds_mut(s: &mut State, g: Group) -> &mut Vec<Option<Hold>> {
        if g == Group::Flight { &mut s.seat_holds } else { &mut s.night_holds }
    }

    /// An inventory's hold transaction reads: the recorded hold, and the inventory's decision.
    fn read_hold(&self, s: &State, g: Group, e: Event) -> Open {
        let c = e.customer;
        let seen = Self::holds(s, g)[c as usize];
        let decided_reserved = match self.item(c) {
            Item::Seats(n) => decide_seats(Some(&self.flight(s.seats_held)), i64::from(n)).answer() == Answer::Reserved,
            nights @ Item::Nights { .. } => {
                decide_nights(Some(&self.campsite()), 2, usize::from(nights.units())).answer() == Answer::Reserved
            }
        };
        Open { group: g, event: e, seen, decided_reserved }
    }

    /// The hold transaction writes (`FlightStore::hold_in` / `hold_nights`). When another transaction has
    /// recorded a hold for the reservation meanwhile, it fails on the key and rolls back: the
    /// event stays pending and is tried again.
    fn commit_hold(&self, s: &mut State, open: Open) {
        let (g, e, c) = (open.group, open.event, open.event.customer);
        if self.claimed(s, g, e) {
            return;
        }
        let recorded = Self::holds(s, g)[c as usize];
        if open.seen.is_none() && recorded.is_some() {
            return;
        }
        let (reserved, rejected) = match g {
            Group::Flight => (Kind::SeatsReserved, Kind::SeatsRejected),
            _ => (Kind::NightsReserved, Kind::NightsRejected),
        };
        match hold::on_hold(open.seen.map(|h| h.status)) {
            OnHold::Ignore => {}
            OnHold::Repeat(answer) => {
                self.emit(s, if answer == Answer::Reserved { reserved } else { rejected }, c);
            }
            OnHold::Decide => {
                let held = open.decided_reserved && self.take(s, c);
                let status = if held { HoldStatus::Held } else { HoldStatus::Rejected };
                Self::holds_mut(s, g)[c as usize] = Some(Hold { status, count: self.item(c).units() });
                self.emit(s, if held { reserved } else { rejected }, c);
            }
        }
        s.mark_handled(g, e);
        s.take_pending(g, e);
    }

    /// Takes the inventory: the flight's conditional update, or the campsite's night rows under
    /// their primary key. False when it does not fit.
    fn take(&self, s: &mut State, c: u8) -> bool {
        match self.item(c) {
            Item::Seats(n) => {
                let n = i64::from(n);
                if !self.plant.unconditional_seat_update && s.seats_held + n > i64::from(self.bounds.seats) {
                    return false;
                }
                s.seats_held += n;
                true
            }
            Item::Nights { first, last } => {
                let booked: Vec<String> = (first..last)
                    .filter(|n| s.night_rows.iter().any(|(night, _)| night == n))
                    .map(|n| format!("night {n}"))
                    .collect();
                if !booked.is_empty() && !self.plant.no_night_key {
                    // The primary key refused a night: the platform's decision then (a rejection
                    // naming the nights taken).
                    return taken(&booked).answer() == Answer::Reserved;
                }
                for night in first..last {
                    let i = s.night_rows.partition_point(|r| *r < (night, c));
                    s.night_rows.insert(i, (night, c));
                }
                true
            }
        }
    }

    /// The inbox: true when the group has handled the event already (the effect is skipped and
    /// the offset moves on). The caller records the event as handled when its effect commits.
    fn claimed(&self, s: &mut State, g: Group, e: Event) -> bool {
        if s.was_handled(g, e) && !self.plant.no_inbox {
            s.take_pending(g, e);
            return true;
        }
        false
    }

    /// A group handles an event in one transaction (all but the inventories' holds).
    fn deliver(&self, s: &mut State, g: Group, e: Event) {
        if self.claimed(s, g, e) {
            return;
        }
        let c = e.customer;
        match (g, e.kind) {
            (Group::Flight | Group::Campsite, _) => self.release(s, g, c),
            (Group::Payment, _) => {
                // `refund_or_void`: refund an approved payment, void a missing one.
                let status = s.payments[c as usize].map(|p| p.status);
                match compensate(status) {
                    Compensation::Refund => {
                        let _ = self.refund(s, c);
                    }
                    Compensation::Void => {
                        s.payments[c as usize] =
                            Some(Payment { amount: self.amount(c), status: PaymentStatus::Declined });
                    }
                    Compensation::Nothing => {}
                }
            }
            (Group::Mileage, kind) => {
                let customer = format!("customer {c}");
                let reservation_id = i64::from(c) + 1;
                let cause = match kind {
                    Kind::PaymentApproved => {
                        Cause::Payment { customer, reservation_id, points: self.rules.for_payment(self.amount(c)) }
                    }
                    _ => Cause::Refund { customer, reservation_id },
                };
                // As `MileageStore::record`: what the entry it takes back earned (the first its
                // payment made), and whether the entry that takes it back is there already.
                let first = |of: Kind| s.ledger.iter().find(|e| e.customer == c && e.cause == of).map(|e| e.points);
                let earned = cause.takes_back().and_then(|_| first(Kind::PaymentApproved));
                let taken_back = cause.taken_back_by().is_some() && first(Kind::PaymentCancelled).is_some();
                let posting = cause.posting(earned, taken_back);
                if posting != Posting::Nothing {
                    s.ledger.push(Entry { customer: c, cause: kind, points: posting.points() });
                }
            }
            (Group::Saga, kind) => {
                let input = match kind {
                    Kind::SeatsReserved => SagaInput::SeatsReserved,
                    Kind::NightsReserved => SagaInput::NightsReserved,
                    Kind::SeatsRejected => SagaInput::SeatsRejected { reason: "not enough seats left".into() },
                    Kind::NightsRejected => SagaInput::NightsRejected { reason: "nights already booked".into() },
                    _ => SagaInput::PaymentRefunded { reason: "payment refunded".into() },
                };
                self.apply(s, c, &input);
            }
        }
        s.mark_handled(g, e);
        s.take_pending(g, e);
    }

    /// An inventory releases a reservation's hold (`FlightStore::release_in` / `release_nights`).
    fn release(&self, s: &mut State, g: Group, c: u8) {
        let recorded = Self::holds(s, g)[c as usize];
        match hold::on_release(recorded.map(|h| h.status)) {
            OnRelease::Nothing => {}
            OnRelease::Tombstone => {
                Self::holds_mut(s, g)[c as usize] = Some(Hold { status: HoldStatus::Released, count: 0 });
            }
            OnRelease::Release => {
                let hold = recorded.expect("a hold to release");
                if g == Group::Flight {
                    s.seats_held -= i64::from(hold.count);
                } else {
                    s.night_rows.retain(|(_, owner)| *owner != c);
                }
                Self::holds_mut(s, g)[c as usize] = Some(Hold { status: HoldStatus::Released, ..hold });
                self.emit(s, if g == Group::Flight { Kind::SeatsReleased } else { Kind::NightsReleased }, c);
            }
        }
    }
}

/// The services that keep something in memory between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Its callers waiting for payment's answers.
    Reservation,
    /// Its open hold transactions.
    Inventory,
}

/// One step of the system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A customer books (`POST /reservations`): a pending reservation, then the charge call.
    Book(u8),
    /// The customer's client retries the booking with its `Idempotency-Key`.
    RetryBooking(u8),
    /// A customer cancels: refund first, then the booking.
    Cancel(u8),
    /// The reconciler looks up a pending booking's payment.
    Reconcile(u8),
    /// Payment serves a call's request.
    Serve(Call),
    /// The caller receives a call's answer (or, having given up, nobody does).
    Answer(Call),
    /// A call loses its request or its answer.
    Lose(Call),
    /// The caller stops waiting for a call.
    TimeOut(Call),
    /// A group handles an event.
    Deliver(Group, Event),
    /// A group gets an event it has handled again.
    Redeliver(Group, Event),
    /// An inventory's hold transaction reads.
    ReadHold(Group, Event),
    /// An open hold transaction writes and commits.
    CommitHold(Group, Event),
    /// A service crashes and restarts: what it kept in memory is gone.
    Crash(Service),
    /// An operator refunds a payment on the payment side (`POST /payments/{id}/refund`).
    OperatorRefund(u8),
    /// An operator asks the inventory again about a booking still `PAID` (`…/retry`).
    OperatorRetry(u8),
    /// An operator gives up on a booking still `PAID` (`…/compensate`).
    OperatorCompensate(u8),
}

impl Model for Sagas {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State::new(self.bounds.customers.len(), self.bounds.budget)]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let b = s.budget;
        for c in self.customers() {
            let r = s.reservations[c as usize];
            let waiting = |x: Exchange| s.calls.iter().any(|k| k.customer == c && k.exchange == x && k.waiting);
            let in_flight = |x: Exchange| s.calls.iter().any(|k| k.customer == c && k.exchange == x);
            match r {
                None => actions.push(Action::Book(c)),
                Some(r) => {
                    if r.status == Status::PendingPayment {
                        if b.client_retries > 0 && self.bounds.customers[c as usize].keyed && !waiting(Exchange::Charge)
                        {
                            actions.push(Action::RetryBooking(c));
                        }
                        // The reconciler takes bookings pending for longer than the call's time-out:
                        // their caller has given up (or crashed), though its request may yet arrive.
                        if !in_flight(Exchange::Lookup) && !waiting(Exchange::Charge) {
                            actions.push(Action::Reconcile(c));
                        }
                    }
                    if self.bounds.customers[c as usize].cancels && r.status.is_cancellable() && !r.cancel_asked {
                        actions.push(Action::Cancel(c));
                    }
                    if b.operator > 0 && r.status == Status::Paid {
                        actions.push(Action::OperatorRetry(c));
                        actions.push(Action::OperatorCompensate(c));
                    }
                }
            }
            if b.operator > 0 && s.payments[c as usize].is_some_and(|p| p.status == PaymentStatus::Approved) {
                actions.push(Action::OperatorRefund(c));
            }
        }
        for &call in &s.calls {
            match call.leg {
                Leg::Request => actions.push(Action::Serve(call)),
                Leg::Reply(_) => actions.push(Action::Answer(call)),
                Leg::Lost => {}
            }
            if b.call_faults > 0 && call.leg != Leg::Lost {
                actions.push(Action::Lose(call));
            }
            // A caller gives up on a lost call for sure; on any other only as a fault.
            if call.waiting && (call.leg == Leg::Lost || b.call_faults > 0) {
                actions.push(Action::TimeOut(call));
            }
        }
        for g in GROUPS {
            for &e in &s.pending[State::group(g)] {
                let two_phase = matches!(g, Group::Flight | Group::Campsite) && e.kind == Kind::ReservationPlaced;
                if !two_phase {
                    actions.push(Action::Deliver(g, e));
                } else if !s.open.iter().any(|o| o.group == g && o.event == e) {
                    actions.push(Action::ReadHold(g, e));
                }
            }
            if b.redeliveries > 0 {
                for &e in &s.handled[State::group(g)] {
                    if !s.is_pending(g, e) {
                        actions.push(Action::Redeliver(g, e));
                    }
                }
            }
        }
        actions.extend(s.open.iter().map(|o| Action::CommitHold(o.group, o.event)));
        if b.crashes > 0 {
            if s.calls.iter().any(|c| c.waiting) {
                actions.push(Action::Crash(Service::Reservation));
            }
            if !s.open.is_empty() {
                actions.push(Action::Crash(Service::Inventory));
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        match action {
            Action::Book(c) => {
                s.reservations[c as usize] =
                    Some(Reservation { status: Status::PendingPayment, paid_by: false, cancel_asked: false });
                s.add_call(Call { exchange: Exchange::Charge, customer: c, leg: Leg::Request, waiting: true });
            }
            Action::RetryBooking(c) => {
                s.budget.client_retries -= 1;
                s.add_call(Call { exchange: Exchange::Charge, customer: c, leg: Leg::Request, waiting: true });
            }
            Action::Cancel(c) => {
                s.reservations[c as usize].as_mut()?.cancel_asked = true;
                s.add_call(Call { exchange: Exchange::Refund, customer: c, leg: Leg::Request, waiting: true });
            }
            Action::Reconcile(c) => {
                s.add_call(Call { exchange: Exchange::Lookup, customer: c, leg: Leg::Request, waiting: true });
            }
            Action::Serve(call) => {
                let i = s.calls.iter().position(|k| *k == call)?;
                let reply = self.serve(&mut s, call);
                let next = call.waiting.then_some(Call { leg: Leg::Reply(reply), ..call });
                s.replace_call(i, next);
            }
            Action::Answer(call) => {
                let i = s.calls.iter().position(|k| *k == call)?;
                s.replace_call(i, None);
                if let (true, Leg::Reply(reply)) = (call.waiting, call.leg) {
                    self.answered(&mut s, call, reply);
                }
            }
            Action::Lose(call) => {
                s.budget.call_faults -= 1;
                let i = s.calls.iter().position(|k| *k == call)?;
                s.replace_call(i, call.waiting.then_some(Call { leg: Leg::Lost, ..call }));
            }
            Action::TimeOut(call) => {
                if call.leg != Leg::Lost {
                    s.budget.call_faults -= 1;
                }
                let i = s.calls.iter().position(|k| *k == call)?;
                // A request still on its way may yet be served; an answer now goes to nobody.
                s.replace_call(i, (call.leg == Leg::Request).then_some(Call { waiting: false, ..call }));
                if call.exchange == Exchange::Charge {
                    self.charge_failed(&mut s, call.customer);
                }
            }
            Action::Deliver(g, e) => self.deliver(&mut s, g, e),
            Action::Redeliver(g, e) => {
                s.budget.redeliveries -= 1;
                s.add_pending(g, e);
            }
            Action::ReadHold(g, e) => {
                let open = self.read_hold(&s, g, e);
                s.add_open(open);
            }
            Action::CommitHold(g, e) => {
                let i = s.open.iter().position(|o| o.group == g && o.event == e)?;
                let open = s.open.remove(i);
                self.commit_hold(&mut s, open);
            }
            Action::Crash(Service::Reservation) => {
                s.budget.crashes -= 1;
                let calls = std::mem::take(&mut s.calls);
                for call in calls {
                    // Requests already sent may still arrive; their answers go to nobody.
                    if call.leg == Leg::Request {
                        s.add_call(Call { waiting: false, ..call });
                    }
                }
            }
            Action::Crash(Service::Inventory) => {
                s.budget.crashes -= 1;
                s.open.clear();
            }
            Action::OperatorRefund(c) => {
                s.budget.operator -= 1;
                self.refund(&mut s, c).ok()?;
            }
            Action::OperatorRetry(c) => {
                s.budget.operator -= 1;
                self.emit(&mut s, Kind::ReservationPlaced, c);
            }
            Action::OperatorCompensate(c) => {
                s.budget.operator -= 1;
                self.apply(&mut s, c, &SagaInput::Abandoned { reason: "compensated by operator".into() });
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

/// What one check found.
#[derive(Debug)]
pub struct Outcome {
    /// Distinct states visited.
    pub states: usize,
    /// Longest path explored, in steps.
    pub depth: usize,
    pub elapsed: std::time::Duration,
    /// Every state within the bounds was visited (false when stopped at `max_states`).
    pub complete: bool,
    /// Properties that failed, each with its counterexample told step by step.
    pub failures: Vec<(&'static str, String)>,
    /// `sometimes` properties never reached (the model would be too narrow to mean anything).
    pub unreached: Vec<&'static str>,
}

/// How to explore.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub threads: usize,
    /// Depth first: keeps only the visited states' fingerprints, not a queue of whole states
    /// (breadth first finds the shortest counterexamples, but needs ~250 bytes per state).
    pub depth_first: bool,
    /// Stop after generating this many states (the outcome is then incomplete).
    pub max_states: Option<usize>,
}

/// Explores every state within the model's bounds, breadth first, on `threads` threads.
pub fn check(model: Sagas, threads: usize) -> Outcome {
    check_with(model, Search { threads, depth_first: false, max_states: None })
}

/// Explores the model's states as `search` says.
pub fn check_with(model: Sagas, search: Search) -> Outcome {
    use stateright::Checker;
    let started = std::time::Instant::now();
    let builder = model.checker().threads(search.threads.max(1));
    let builder = match search.max_states {
        Some(n) => builder.target_state_count(n),
        None => builder,
    };
    if search.depth_first {
        outcome(builder.spawn_dfs().join(), search, started)
    } else {
        outcome(builder.spawn_bfs().join(), search, started)
    }
}

fn outcome(checker: impl stateright::Checker<Sagas>, search: Search, started: std::time::Instant) -> Outcome {
    use stateright::Expectation;
    let complete = search.max_states.is_none_or(|n| checker.state_count() < n);
    let model = checker.model();
    let mut failures = Vec::new();
    let mut unreached = Vec::new();
    for property in model.properties() {
        let found = checker.discovery(property.name);
        match (property.expectation, found) {
            (Expectation::Always | Expectation::Eventually, Some(path)) => {
                failures.push((property.name, trace::explain(&path)));
            }
            (Expectation::Sometimes, None) => unreached.push(property.name),
            _ => {}
        }
    }
    Outcome {
        states: checker.unique_state_count(),
        depth: checker.max_depth(),
        elapsed: started.elapsed(),
        complete,
        failures,
        unreached,
    }
}
