//! The booking saga as a persisted state machine. Each input (an HTTP step or an event from
//! another service) moves a reservation at most one step and says which event to publish.
//!
//! ```text
//! PENDING_PAYMENT --approved--> PAID --seats/nights reserved--> CONFIRMED
//!        |                        |--seats/nights rejected--> REJECTED (refund)
//!        |--declined/unavailable/refunded--> REJECTED   PAID|CONFIRMED --cancel/refund--> CANCELLED
//! ```

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    PendingPayment,
    Paid,
    Confirmed,
    Rejected,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Paid => "PAID",
            Self::Confirmed => "CONFIRMED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::PendingPayment, Self::Paid, Self::Confirmed, Self::Rejected, Self::Cancelled]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// No input moves a reservation out of a final state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Cancelled)
    }

    /// Paid or confirmed reservations can be cancelled by the customer.
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Paid | Self::Confirmed)
    }
}

/// Something that happened to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaInput {
    PaymentApproved {
        payment_id: i64,
    },
    PaymentDeclined {
        reason: String,
    },
    /// Payment could not be reached or answered in time; nothing may stay charged.
    PaymentUnavailable {
        reason: String,
    },
    SeatsReserved,
    SeatsRejected {
        reason: String,
    },
    NightsReserved,
    NightsRejected {
        reason: String,
    },
    /// An operator gave up waiting for the inventory service; the payment is refunded.
    Abandoned {
        reason: String,
    },
    /// The customer cancelled, and the payment has been refunded.
    CancelRequested,
    /// The payment was refunded on the payment side.
    PaymentRefunded {
        reason: String,
    },
}

impl SagaInput {
    /// The step's name in the reservation's timeline.
    pub fn step(&self) -> &'static str {
        match self {
            Self::PaymentApproved { .. } => "payment approved",
            Self::PaymentDeclined { .. } => "payment declined",
            Self::PaymentUnavailable { .. } => "payment unavailable",
            Self::SeatsReserved => "seats reserved",
            Self::SeatsRejected { .. } => "seats rejected",
            Self::NightsReserved => "nights reserved",
            Self::NightsRejected { .. } => "nights rejected",
            Self::CancelRequested => "cancelled",
            Self::Abandoned { .. } => "compensated by operator",
            Self::PaymentRefunded { .. } => "cancelled",
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Self::PaymentDeclined { reason }
            | Self::PaymentUnavailable { reason }
            | Self::SeatsRejected { reason }
            | Self::NightsRejected { reason }
            | Self::Abandoned { reason }
            | Self::PaymentRefunded { reason } => Some(reason.clone()),
            Self::CancelRequested => Some("cancelled by customer".into()),
            Self::PaymentApproved { .. } | Self::SeatsReserved | Self::NightsReserved => None,
        }
    }
}

/// The event a transition publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    Placed,
    Confirmed,
    Rejected,
    Cancelled,
}

/// What an input does to a reservation in a given state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Move to `to`, publish `publish`, remember `reason` (if any).
    Move { to: Status, publish: Outgoing, reason: Option<String> },
    /// The input arrived too late or twice; record it and change nothing.
    Ignore,
}

/// True when `input` would lead where the reservation already is (it got there by another path,
/// e.g. a refund event that arrives after the customer's cancel): nothing to record.
pub fn already_there(at: Status, input: &SagaInput) -> bool {
    use SagaInput as I;
    use Status as S;
    matches!(
        (at, input),
        (S::Cancelled, I::CancelRequested | I::PaymentRefunded { .. })
            | (S::Confirmed, I::SeatsReserved | I::NightsReserved)
            | (S::Paid | S::Confirmed, I::PaymentApproved { .. })
            | (
                S::Rejected,
                I::SeatsRejected { .. }
                    | I::NightsRejected { .. }
                    | I::Abandoned { .. }
                    | I::PaymentDeclined { .. }
                    | I::PaymentUnavailable { .. }
            )
    )
}

/// The saga's transition function.
pub fn decide(from: Status, input: &SagaInput) -> Transition {
    use SagaInput as I;
    use Status as S;
    let to = match (from, input) {
        (S::PendingPayment, I::PaymentApproved { .. }) => (S::Paid, Outgoing::Placed),
        // A refund made on the payment side before the approval reached the booking (an
        // operator refunded it, or the booking waits for the reconciler): the money is gone, so
        // the booking may not go ahead when the approval arrives after it.
        (S::PendingPayment, I::PaymentDeclined { .. } | I::PaymentUnavailable { .. } | I::PaymentRefunded { .. }) => {
            (S::Rejected, Outgoing::Rejected)
        }
        (S::Paid, I::SeatsReserved | I::NightsReserved) => (S::Confirmed, Outgoing::Confirmed),
        (S::Paid, I::SeatsRejected { .. } | I::NightsRejected { .. } | I::Abandoned { .. }) => {
            (S::Rejected, Outgoing::Rejected)
        }
        (S::Paid | S::Confirmed, I::CancelRequested | I::PaymentRefunded { .. }) => (S::Cancelled, Outgoing::Cancelled),
        _ => return Transition::Ignore,
    };
    Transition::Move { to: to.0, publish: to.1, reason: input.reason() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SagaInput as I;
    use Status as S;

    fn moves(from: Status, input: SagaInput) -> (Status, Outgoing) {
        match decide(from, &input) {
            Transition::Move { to, publish, .. } => (to, publish),
            Transition::Ignore => panic!("{from:?} + {input:?} should move"),
        }
    }

    fn why(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn an_approved_payment_places_the_reservation() {
        assert_eq!(moves(S::PendingPayment, I::PaymentApproved { payment_id: 1 }), (S::Paid, Outgoing::Placed));
    }

    #[test]
    fn a_declined_or_unreachable_payment_rejects_it() {
        assert_eq!(
            moves(S::PendingPayment, I::PaymentDeclined { reason: why("limit") }),
            (S::Rejected, Outgoing::Rejected)
        );
        assert_eq!(
            moves(S::PendingPayment, I::PaymentUnavailable { reason: why("timeout") }),
            (S::Rejected, Outgoing::Rejected)
        );
    }

    #[test]
    fn a_refund_that_comes_before_the_approval_rejects_the_booking_for_good() {
        // Found by the model checker (docs/VERIFICATION.md): an operator refunded a payment while
        // its booking was still PENDING_PAYMENT; the refund was ignored, the approval then
        // arrived, and the booking was confirmed with its money given back.
        let refunded = I::PaymentRefunded { reason: why("refunded by operator") };
        assert_eq!(moves(S::PendingPayment, refunded), (S::Rejected, Outgoing::Rejected));
        assert_eq!(decide(S::Rejected, &I::PaymentApproved { payment_id: 1 }), Transition::Ignore);
    }

    #[test]
    fn reserved_seats_confirm_a_paid_reservation() {
        assert_eq!(moves(S::Paid, I::SeatsReserved), (S::Confirmed, Outgoing::Confirmed));
    }

    #[test]
    fn reserved_nights_confirm_a_paid_stay_and_taken_nights_reject_it() {
        assert_eq!(moves(S::Paid, I::NightsReserved), (S::Confirmed, Outgoing::Confirmed));
        let t = decide(S::Paid, &I::NightsRejected { reason: why("nights already booked: 2026-12-01") });
        assert_eq!(
            t,
            Transition::Move {
                to: S::Rejected,
                publish: Outgoing::Rejected,
                reason: Some(why("nights already booked: 2026-12-01"))
            }
        );
    }

    #[test]
    fn rejected_seats_reject_a_paid_reservation_with_the_reason() {
        let t = decide(S::Paid, &I::SeatsRejected { reason: why("not enough seats left") });
        assert_eq!(
            t,
            Transition::Move {
                to: S::Rejected,
                publish: Outgoing::Rejected,
                reason: Some(why("not enough seats left"))
            }
        );
    }

    #[test]
    fn an_operator_may_give_up_only_on_a_booking_still_waiting_for_inventory() {
        assert_eq!(moves(S::Paid, I::Abandoned { reason: why("no answer") }), (S::Rejected, Outgoing::Rejected));
        assert_eq!(decide(S::Confirmed, &I::Abandoned { reason: why("no answer") }), Transition::Ignore);
        assert_eq!(decide(S::PendingPayment, &I::Abandoned { reason: why("no answer") }), Transition::Ignore);
    }

    #[test]
    fn cancelling_a_paid_or_confirmed_booking_cancels_it() {
        assert_eq!(moves(S::Paid, I::CancelRequested), (S::Cancelled, Outgoing::Cancelled));
        assert_eq!(moves(S::Confirmed, I::CancelRequested), (S::Cancelled, Outgoing::Cancelled));
    }

    #[test]
    fn a_refund_on_the_payment_side_cancels_the_booking() {
        assert_eq!(
            moves(S::Confirmed, I::PaymentRefunded { reason: why("operator") }),
            (S::Cancelled, Outgoing::Cancelled)
        );
        assert_eq!(moves(S::Paid, I::PaymentRefunded { reason: why("operator") }), (S::Cancelled, Outgoing::Cancelled));
    }

    #[test]
    fn final_states_ignore_every_input() {
        let inputs = [
            I::PaymentApproved { payment_id: 1 },
            I::PaymentDeclined { reason: why("x") },
            I::PaymentUnavailable { reason: why("x") },
            I::SeatsReserved,
            I::SeatsRejected { reason: why("x") },
            I::NightsReserved,
            I::NightsRejected { reason: why("x") },
            I::CancelRequested,
            I::Abandoned { reason: why("x") },
            I::PaymentRefunded { reason: why("x") },
        ];
        for from in [S::Rejected, S::Cancelled] {
            for input in &inputs {
                assert_eq!(decide(from, input), Transition::Ignore, "{from:?} + {input:?}");
            }
        }
    }

    #[test]
    fn an_input_that_leads_where_the_reservation_already_is_is_recognised() {
        assert!(already_there(S::Cancelled, &I::PaymentRefunded { reason: why("x") }));
        assert!(already_there(S::Cancelled, &I::CancelRequested));
        assert!(already_there(S::Confirmed, &I::SeatsReserved));
        assert!(!already_there(S::Rejected, &I::SeatsReserved), "a late reservation of seats is worth a note");
        assert!(!already_there(S::Cancelled, &I::SeatsReserved));
    }

    #[test]
    fn out_of_order_inputs_are_ignored() {
        assert_eq!(decide(S::PendingPayment, &I::SeatsReserved), Transition::Ignore);
        assert_eq!(decide(S::PendingPayment, &I::CancelRequested), Transition::Ignore);
        assert_eq!(decide(S::Confirmed, &I::SeatsRejected { reason: why("x") }), Transition::Ignore);
        assert_eq!(decide(S::Confirmed, &I::PaymentApproved { payment_id: 1 }), Transition::Ignore);
        assert_eq!(decide(S::Paid, &I::PaymentDeclined { reason: why("x") }), Transition::Ignore);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [S::PendingPayment, S::Paid, S::Confirmed, S::Rejected, S::Cancelled] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("place"), None);
    }
}
