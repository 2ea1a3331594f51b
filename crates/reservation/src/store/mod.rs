//! The reservation service's SQL adapter, along the same line as [`crate::events`]:
//!
//! - [`saga`]: reservations and their saga steps. A transition, its timeline step, its outgoing
//!   event and (for consumed events) the inbox entry are written in one transaction.
//! - [`catalogue`]: the `flightStatuses` and `campsiteStatuses` read models, built only from events.

mod catalogue;
mod saga;

pub use catalogue::{CHANGED as CATALOGUE_CHANGED, CampsiteRow, CatalogueStore, Change};
pub use saga::{Applied, Note, ReservationStore, SagaWrite};
use skycamp_platform::db::Migration;
use skycamp_platform::{inbox, outbox};

/// Schema of the reservation database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "reservations",
        sql: "CREATE TABLE reservations (id {id}, kind TEXT NOT NULL, flight_id BIGINT, seat_count BIGINT,
                campsite_id BIGINT, check_in TEXT, check_out TEXT, guests BIGINT,
                unit_price BIGINT NOT NULL, amount BIGINT NOT NULL, phone TEXT NOT NULL, email TEXT, customer_name TEXT,
                status TEXT NOT NULL, payment_id BIGINT, reason TEXT,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_ms BIGINT NOT NULL);
              CREATE INDEX reservations_phone ON reservations (phone, id);
              CREATE INDEX reservations_status ON reservations (status, created_ms);
              CREATE TABLE reservation_steps (id {id}, reservation_id BIGINT NOT NULL, step TEXT NOT NULL,
                status TEXT NOT NULL, detail TEXT, at TEXT NOT NULL);
              CREATE INDEX reservation_steps_reservation ON reservation_steps (reservation_id, id);
              CREATE TABLE flight_statuses (flight_id BIGINT PRIMARY KEY, flight_name TEXT NOT NULL,
                destination TEXT NOT NULL, price BIGINT NOT NULL, seat BIGINT NOT NULL,
                seats_left BIGINT NOT NULL, deleted BIGINT NOT NULL, version BIGINT NOT NULL);
              CREATE TABLE campsite_statuses (campsite_id BIGINT PRIMARY KEY, name TEXT NOT NULL, location TEXT NOT NULL,
                description TEXT NOT NULL, price_per_night BIGINT NOT NULL, capacity BIGINT NOT NULL,
                amenities TEXT NOT NULL, deleted BIGINT NOT NULL, version BIGINT NOT NULL);
              CREATE TABLE campsite_booked_nights (campsite_id BIGINT NOT NULL, night TEXT NOT NULL,
                reservation_id BIGINT NOT NULL, PRIMARY KEY (campsite_id, night));
              CREATE INDEX campsite_booked_nights_reservation ON campsite_booked_nights (reservation_id);
              CREATE TABLE campsite_ratings (campsite_id BIGINT PRIMARY KEY, reviews BIGINT NOT NULL, rating_sum BIGINT NOT NULL)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
    skycamp_platform::idempotency::MIGRATION,
    skycamp_platform::idempotency::RECOVERY_MIGRATION,
];
