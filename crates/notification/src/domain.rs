//! What a message says for each status change.

use serde::Serialize;
use skycamp_contracts::payment::PaymentEvent;
use skycamp_contracts::reservation::{Booked, ReservationEvent};

/// A message before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub phone: String,
    pub email: Option<String>,
    pub reservation_id: i64,
    /// `confirmed`, `rejected`, `cancelled` or `refunded`.
    pub topic: &'static str,
    pub text: String,
}

fn describe(item: &Booked) -> String {
    match item {
        Booked::Flight { flight_id, count } => format!("{count} seat(s) on flight {flight_id}"),
        Booked::Campsite { campsite_id, check_in, check_out, guests } => {
            format!("campsite {campsite_id} from {check_in} to {check_out} for {guests} guest(s)")
        }
    }
}

/// The message for a reservation event, if that event is a status change the customer hears of.
pub fn for_reservation(kind: &str, r: &ReservationEvent) -> Option<Draft> {
    let what = describe(&r.item);
    let why = r.reason.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
    let (topic, text) = match kind {
        "ReservationConfirmed" => {
            ("confirmed", format!("Reservation {} is confirmed: {what}. Paid {} KRW.", r.reservation_id, r.amount))
        }
        "ReservationRejected" => {
            ("rejected", format!("Reservation {} could not be completed: {what}{why}.", r.reservation_id))
        }
        "ReservationCancelled" => ("cancelled", format!("Reservation {} is cancelled: {what}{why}.", r.reservation_id)),
        _ => return None,
    };
    Some(Draft { phone: r.phone.clone(), email: r.email.clone(), reservation_id: r.reservation_id, topic, text })
}

/// The message for a refund.
pub fn for_refund(p: &PaymentEvent) -> Draft {
    Draft {
        phone: p.phone.clone(),
        email: None,
        reservation_id: p.reservation_id,
        topic: "refunded",
        text: format!("{} KRW for reservation {} has been refunded.", p.amount, p.reservation_id),
    }
}

/// A message as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: i64,
    pub phone: String,
    pub email: Option<String>,
    pub reservation_id: i64,
    pub topic: String,
    pub text: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stay() -> ReservationEvent {
        ReservationEvent {
            reservation_id: 7,
            phone: "01012345678".into(),
            amount: 100_000,
            item: Booked::Campsite {
                campsite_id: 2,
                check_in: "2026-12-01".into(),
                check_out: "2026-12-03".into(),
                guests: 3,
            },
            email: None,
            reason: Some("nights already booked: 2026-12-01".into()),
        }
    }

    #[test]
    fn each_status_change_has_its_own_message() {
        let confirmed = for_reservation("ReservationConfirmed", &stay()).unwrap();
        assert_eq!(confirmed.topic, "confirmed");
        assert_eq!(
            confirmed.text,
            "Reservation 7 is confirmed: campsite 2 from 2026-12-01 to 2026-12-03 for 3 guest(s). Paid 100000 KRW."
        );
        let rejected = for_reservation("ReservationRejected", &stay()).unwrap();
        assert!(rejected.text.ends_with("(nights already booked: 2026-12-01)."), "{}", rejected.text);
        assert_eq!(for_reservation("ReservationCancelled", &stay()).unwrap().topic, "cancelled");
    }

    #[test]
    fn placing_a_reservation_sends_nothing_yet() {
        assert_eq!(for_reservation("ReservationPlaced", &stay()), None);
    }
}
