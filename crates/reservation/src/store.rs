//! The reservation service's SQL adapter: reservations with their saga steps, and the
//! `flightStatuses` read model. A saga transition, its timeline step, its outgoing event and (for
//! consumed events) the inbox entry are written in one transaction.

use skycamp_contracts::campsite::{CampsiteSnapshot, NightsDecided};
use skycamp_contracts::flight::FlightSnapshot;
use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::db::{Db, Migration, Tx};
use skycamp_platform::idempotency::Idempotent;
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{Envelope, inbox, time};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use crate::domain::{Outgoing, SagaInput, Status, Transition, already_there, decide};

/// The inbox name of the read-model consumer.
const VIEW: &str = "reservation-view";

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
#[derive(Debug, Clone, serde::Serialize)]
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

/// What applying a saga input did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The event was handled before.
    Duplicate,
    /// No such reservation.
    Missing,
    /// The input did not apply in the reservation's state; it was recorded.
    Ignored(Reservation),
    /// The reservation moved to a new state.
    Moved(Reservation),
}

const SELECT: &str =
    "SELECT id, kind, flight_id, seat_count, campsite_id, check_in, check_out, guests, unit_price, amount,
    phone, email, customer_name, status, payment_id, reason, created_at, updated_at FROM reservations";
type FlightRow = (i64, String, String, i64, i64, i64, i64, i64);

fn to_reservation(row: AnyRow) -> anyhow::Result<Reservation> {
    let id: i64 = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let status =
        Status::parse(&status).ok_or_else(|| anyhow::anyhow!("reservation {id} has unknown status {status}"))?;
    let kind: String = row.try_get("kind")?;
    let item = match kind.as_str() {
        "flight" => Booked::Flight { flight_id: row.try_get("flight_id")?, count: row.try_get("seat_count")? },
        "campsite" => Booked::Campsite {
            campsite_id: row.try_get("campsite_id")?,
            check_in: row.try_get("check_in")?,
            check_out: row.try_get("check_out")?,
            guests: row.try_get("guests")?,
        },
        other => anyhow::bail!("reservation {id} has unknown kind {other}"),
    };
    Ok(Reservation {
        id,
        item,
        unit_price: row.try_get("unit_price")?,
        amount: row.try_get("amount")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        name: row.try_get("customer_name")?,
        status,
        payment_id: row.try_get("payment_id")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reservations, their steps and the flight read model.
#[derive(Clone)]
pub struct ReservationStore {
    db: Db,
    waker: Waker,
}

impl ReservationStore {
    pub fn new(db: Db, waker: Waker) -> Self {
        Self { db, waker }
    }

    /// Stores a booking as `PENDING_PAYMENT`, before payment is asked; with a key, binds the key
    /// to the new reservation in the same transaction (the key's recovery point).
    pub async fn create_pending(&self, new: &NewReservation, key: Option<&Idempotent>) -> anyhow::Result<Reservation> {
        let mut tx = self.db.begin().await?;
        let now = time::now_rfc3339();
        let (kind, flight_id, count, campsite_id, check_in, check_out, guests) = match &new.item {
            Booked::Flight { flight_id, count } => ("flight", Some(*flight_id), Some(*count), None, None, None, None),
            Booked::Campsite { campsite_id, check_in, check_out, guests } => (
                "campsite",
                None,
                None,
                Some(*campsite_id),
                Some(check_in.as_str()),
                Some(check_out.as_str()),
                Some(*guests),
            ),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO reservations (kind, flight_id, seat_count, campsite_id, check_in, check_out, guests, unit_price,
               amount, phone, email, customer_name, status, created_at, updated_at, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PENDING_PAYMENT', $13, $13, $14) RETURNING id",
        )
        .bind(kind)
        .bind(flight_id)
        .bind(count)
        .bind(campsite_id)
        .bind(check_in)
        .bind(check_out)
        .bind(guests)
        .bind(new.unit_price)
        .bind(new.units * new.unit_price)
        .bind(&new.phone)
        .bind(&new.email)
        .bind(&new.name)
        .bind(&now)
        .bind(time::now_millis())
        .fetch_one(&mut *tx)
        .await?;
        Self::add_step(&mut tx, id, "requested", Status::PendingPayment, None).await?;
        if let Some(key) = key {
            key.bind(&mut tx, id).await?;
        }
        let reservation =
            Self::get_in(&mut tx, id).await?.ok_or_else(|| anyhow::anyhow!("reservation {id} vanished"))?;
        tx.commit().await?;
        Ok(reservation)
    }

    /// One reservation.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Reservation>> {
        let row: Option<AnyRow> = sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(to_reservation).transpose()
    }

    async fn get_in(tx: &mut Tx, id: i64) -> anyhow::Result<Option<Reservation>> {
        let row: Option<AnyRow> =
            sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE id = $1"))).bind(id).fetch_optional(&mut **tx).await?;
        row.map(to_reservation).transpose()
    }

    /// Up to `limit` reservations newest first (ids below `before`, if given), optionally one
    /// customer's and/or in one status.
    pub async fn list(
        &self,
        phone: Option<&str>,
        status: Option<Status>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<Reservation>> {
        let sql = format!(
            "{SELECT} WHERE ($1 = '' OR phone = $1) AND ($2 = '' OR status = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<AnyRow> = sqlx::query(AssertSqlSafe(sql))
            .bind(phone.unwrap_or(""))
            .bind(status.map_or("", Status::as_str))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(to_reservation).collect()
    }

    /// Up to `limit` `PAID` reservations (waiting for the inventory answer) created before
    /// `created_before_ms`, oldest first, after id `after`.
    pub async fn stuck(
        &self,
        created_before_ms: i64,
        after: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<Reservation>> {
        let rows: Vec<AnyRow> = sqlx::query(AssertSqlSafe(format!(
            "{SELECT} WHERE status = 'PAID' AND created_ms < $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(created_before_ms)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(to_reservation).collect()
    }

    /// Whether reservation `id` is `PAID` (waiting for its inventory answer) and was created
    /// before `created_before_ms`.
    pub async fn is_stuck(&self, id: i64, created_before_ms: i64) -> anyhow::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM reservations WHERE id = $1 AND status = 'PAID' AND created_ms < $2")
                .bind(id)
                .bind(created_before_ms)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(found.is_some())
    }

    /// Publishes `ReservationPlaced` again for a reservation still waiting for its inventory
    /// answer (an operator's retry); false when it is not waiting.
    pub async fn ask_inventory_again(&self, id: i64) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let Some(r) = Self::get_in(&mut tx, id).await?.filter(|r| r.status == Status::Paid) else { return Ok(false) };
        Self::add_step(&mut tx, id, "retried by operator", r.status, None).await?;
        self.emit(&mut tx, &r, Outgoing::Placed).await?;
        self.waker.commit(tx).await?;
        Ok(true)
    }

    /// `PENDING_PAYMENT` reservations created before `created_before_ms`.
    pub async fn stale_pending(&self, created_before_ms: i64) -> anyhow::Result<Vec<Reservation>> {
        let rows: Vec<AnyRow> = sqlx::query(AssertSqlSafe(format!(
            "{SELECT} WHERE status = 'PENDING_PAYMENT' AND created_ms < $1 ORDER BY id LIMIT 100"
        )))
        .bind(created_before_ms)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(to_reservation).collect()
    }

    /// Applies a saga input; `event` is `(consumer, event id)` when the input came as an event.
    pub async fn apply(&self, id: i64, input: &SagaInput, event: Option<(&str, &str)>) -> anyhow::Result<Applied> {
        self.apply_noting(id, input, event, None).await
    }

    /// Applies a saga input and, in the same transaction and whether or not it moved the
    /// reservation, records `note` (step, detail) — so what the timeline shows does not depend on
    /// which of two racing paths got there first.
    pub async fn apply_noting(
        &self,
        id: i64,
        input: &SagaInput,
        event: Option<(&str, &str)>,
        note: Option<(&str, &str)>,
    ) -> anyhow::Result<Applied> {
        // On PostgreSQL another transaction may move the reservation between our read and our
        // conditional update; then we read again and decide again.
        for _ in 0..5 {
            if let Some(applied) = self.try_apply(id, input, event, note).await? {
                return Ok(applied);
            }
        }
        anyhow::bail!("reservation {id} kept changing under us; giving up for now")
    }

    /// One attempt; None when the reservation changed concurrently (nothing was written).
    async fn try_apply(
        &self,
        id: i64,
        input: &SagaInput,
        event: Option<(&str, &str)>,
        note: Option<(&str, &str)>,
    ) -> anyhow::Result<Option<Applied>> {
        let mut tx = self.db.begin().await?;
        if let Some((consumer, event_id)) = event
            && !inbox::claim(&mut tx, consumer, event_id).await?
        {
            return Ok(Some(Applied::Duplicate));
        }
        let Some(current) = Self::get_in(&mut tx, id).await? else {
            tx.commit().await?;
            return Ok(Some(Applied::Missing));
        };
        let before = current.status;
        let applied = match decide(current.status, input) {
            Transition::Ignore => {
                if !already_there(current.status, input) {
                    let detail = format!("ignored: reservation is {}", current.status.as_str());
                    Self::add_step(&mut tx, id, input.step(), current.status, Some(&detail)).await?;
                }
                Applied::Ignored(current)
            }
            Transition::Move { to, publish, reason } => {
                let Some(moved) = self.move_to(&mut tx, &current, to, input, reason).await? else {
                    return Ok(None);
                };
                self.emit(&mut tx, &moved, publish).await?;
                Applied::Moved(moved)
            }
        };
        if let Some((step, detail)) = note {
            let status = match &applied {
                Applied::Moved(r) | Applied::Ignored(r) => r.status,
                Applied::Duplicate | Applied::Missing => before,
            };
            Self::add_step(&mut tx, id, step, status, Some(detail)).await?;
        }
        self.waker.commit(tx).await?;
        Ok(Some(applied))
    }

    async fn move_to(
        &self,
        tx: &mut Tx,
        current: &Reservation,
        to: Status,
        input: &SagaInput,
        reason: Option<String>,
    ) -> anyhow::Result<Option<Reservation>> {
        let payment_id = match input {
            SagaInput::PaymentApproved { payment_id } => Some(*payment_id),
            _ => current.payment_id,
        };
        let changed = sqlx::query(
            "UPDATE reservations SET status = $1, payment_id = $2, reason = $3, updated_at = $4 WHERE id = $5 AND status = $6",
        )
        .bind(to.as_str())
        .bind(payment_id)
        .bind(reason.as_deref().or(current.reason.as_deref()))
        .bind(time::now_rfc3339())
        .bind(current.id)
        .bind(current.status.as_str())
        .execute(&mut **tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        Self::add_step(tx, current.id, input.step(), to, reason.as_deref()).await?;
        Self::get_in(tx, current.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("reservation {} vanished", current.id))
            .map(Some)
    }

    async fn emit(&self, tx: &mut Tx, r: &Reservation, publish: Outgoing) -> anyhow::Result<()> {
        let kind = match publish {
            Outgoing::Placed => ev::RESERVATION_PLACED,
            Outgoing::Confirmed => ev::RESERVATION_CONFIRMED,
            Outgoing::Rejected => ev::RESERVATION_REJECTED,
            Outgoing::Cancelled => ev::RESERVATION_CANCELLED,
        };
        let data = ReservationEvent {
            reservation_id: r.id,
            phone: r.phone.clone(),
            amount: r.amount,
            item: r.item.clone(),
            email: r.email.clone(),
            reason: r.reason.clone(),
        };
        let envelope = Envelope::new(topics::RESERVATION, kind, reservation_subject(r.id), serde_json::to_value(data)?);
        outbox::enqueue(tx, topics::RESERVATION, &envelope).await
    }

    async fn add_step(tx: &mut Tx, id: i64, step: &str, status: Status, detail: Option<&str>) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO reservation_steps (reservation_id, step, status, detail, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(step)
        .bind(status.as_str())
        .bind(detail)
        .bind(time::now_rfc3339())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records a step that changes no state (e.g. the refund of a rejected reservation), once per event.
    pub async fn note(&self, id: i64, step: &str, detail: Option<&str>, event: (&str, &str)) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, event.0, event.1).await? {
            return Ok(());
        }
        if let Some(r) = Self::get_in(&mut tx, id).await? {
            Self::add_step(&mut tx, id, step, r.status, detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` steps of a reservation after step `after`, oldest first.
    pub async fn timeline(&self, id: i64, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<Step>> {
        let rows: Vec<(i64, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, step, status, detail, at FROM reservation_steps WHERE reservation_id = $1 AND id > $2
             ORDER BY id LIMIT $3",
        )
        .bind(id)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(|(id, step, status, detail, at)| Step { id, step, status, detail, at }).collect())
    }

    /// Keeps the newest snapshot of a flight in the read model (older or repeated ones change nothing).
    pub async fn upsert_flight(&self, event_id: &str, f: &FlightSnapshot) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, VIEW, event_id).await? {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO flight_statuses (flight_id, flight_name, destination, price, seat, seats_left, deleted, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (flight_id) DO UPDATE SET flight_name = excluded.flight_name,
               destination = excluded.destination, price = excluded.price, seat = excluded.seat,
               seats_left = excluded.seats_left, deleted = excluded.deleted, version = excluded.version
             WHERE flight_statuses.version < excluded.version",
        )
        .bind(f.flight_id)
        .bind(&f.flight_name)
        .bind(&f.destination)
        .bind(f.price)
        .bind(f.seat)
        .bind(f.seats_left)
        .bind(i64::from(f.deleted))
        .bind(f.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One flight of the read model, withdrawn or not.
    pub async fn flight_status(&self, flight_id: i64) -> anyhow::Result<Option<FlightSnapshot>> {
        Ok(self.flight_statuses(Some(flight_id), 0, 1).await?.into_iter().find(|f| f.flight_id == flight_id))
    }

    /// The read model: one flight when `only` is given (withdrawn ones too); else up to `limit`
    /// flights not withdrawn, by id, after id `after`.
    pub async fn flight_statuses(
        &self,
        only: Option<i64>,
        after: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<FlightSnapshot>> {
        let rows: Vec<FlightRow> = sqlx::query_as(
            "SELECT flight_id, flight_name, destination, price, seat, seats_left, deleted, version FROM flight_statuses
             WHERE ($1 = 0 AND deleted = 0 AND flight_id > $2) OR flight_id = $1 ORDER BY flight_id LIMIT $3",
        )
        .bind(only.unwrap_or(0))
        .bind(after)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(flight_id, flight_name, destination, price, seat, seats_left, deleted, version)| FlightSnapshot {
                flight_id,
                flight_name,
                destination,
                price,
                seat,
                seats_left,
                deleted: deleted != 0,
                version,
            })
            .collect())
    }
}

/// One row of the campsite read model, before a date range is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampsiteRow {
    pub campsite: CampsiteSnapshot,
    pub reviews: i64,
    pub rating_sum: i64,
    /// Booked nights within the asked range (ISO dates).
    pub booked: Vec<String>,
}

impl ReservationStore {
    /// Keeps the newest snapshot of a campsite (older or repeated ones change nothing).
    pub async fn upsert_campsite(&self, event_id: &str, c: &CampsiteSnapshot) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, VIEW, event_id).await? {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO campsite_statuses (campsite_id, name, location, description, price_per_night, capacity, amenities, deleted, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (campsite_id) DO UPDATE SET name = excluded.name, location = excluded.location,
               description = excluded.description, price_per_night = excluded.price_per_night,
               capacity = excluded.capacity, amenities = excluded.amenities, deleted = excluded.deleted,
               version = excluded.version
             WHERE campsite_statuses.version < excluded.version",
        )
        .bind(c.campsite_id)
        .bind(&c.name)
        .bind(&c.location)
        .bind(&c.description)
        .bind(c.price_per_night)
        .bind(c.capacity)
        .bind(serde_json::to_string(&c.amenities)?)
        .bind(i64::from(c.deleted))
        .bind(c.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a reservation's nights booked (`held`) or free again in the read model.
    pub async fn mark_nights(&self, event_id: &str, d: &NightsDecided, held: bool) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, VIEW, event_id).await? {
            return Ok(());
        }
        if held {
            for night in &d.nights {
                sqlx::query(
                    "INSERT INTO campsite_booked_nights (campsite_id, night, reservation_id) VALUES ($1, $2, $3)
                     ON CONFLICT (campsite_id, night) DO NOTHING",
                )
                .bind(d.campsite_id)
                .bind(night)
                .bind(d.reservation_id)
                .execute(&mut *tx)
                .await?;
            }
        } else {
            sqlx::query("DELETE FROM campsite_booked_nights WHERE reservation_id = $1")
                .bind(d.reservation_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds a review's rating to its campsite's average (`sign` 1), or takes a withdrawn one
    /// out of it (`sign` -1).
    pub async fn add_rating(&self, event_id: &str, campsite_id: i64, rating: i64, sign: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, VIEW, event_id).await? {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO campsite_ratings (campsite_id, reviews, rating_sum) VALUES ($1, $2, $3)
             ON CONFLICT (campsite_id) DO UPDATE SET reviews = campsite_ratings.reviews + excluded.reviews,
               rating_sum = campsite_ratings.rating_sum + excluded.rating_sum",
        )
        .bind(campsite_id)
        .bind(sign)
        .bind(sign * rating)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One campsite of the read model (withdrawn or not) with its booked nights in `[from, to)`.
    pub async fn campsite_status(&self, campsite_id: i64, from: &str, to: &str) -> anyhow::Result<Option<CampsiteRow>> {
        let rows = self.campsite_statuses(Some(campsite_id), 0, 1, from, to).await?;
        Ok(rows.into_iter().find(|r| r.campsite.campsite_id == campsite_id))
    }

    /// The campsite read model with booked nights in `[from, to)`: one campsite when `only` is
    /// given (withdrawn ones too); else up to `limit` campsites not withdrawn, by id, after `after`.
    pub async fn campsite_statuses(
        &self,
        only: Option<i64>,
        after: i64,
        limit: i64,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Vec<CampsiteRow>> {
        let rows: Vec<CampsiteStatusRow> = sqlx::query_as(
            "SELECT c.campsite_id, c.name, c.location, c.description, c.price_per_night, c.capacity, c.amenities,
                    c.deleted, c.version, COALESCE(r.reviews, 0), COALESCE(r.rating_sum, 0)
             FROM campsite_statuses c LEFT JOIN campsite_ratings r ON r.campsite_id = c.campsite_id
             WHERE ($1 = 0 AND c.deleted = 0 AND c.campsite_id > $2) OR c.campsite_id = $1
             ORDER BY c.campsite_id LIMIT $3",
        )
        .bind(only.unwrap_or(0))
        .bind(after)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
            return Ok(Vec::new());
        };
        // The booked nights of the campsites on this page only.
        let booked: Vec<(i64, String)> = sqlx::query_as(
            "SELECT campsite_id, night FROM campsite_booked_nights WHERE campsite_id >= $1 AND campsite_id <= $2
               AND night >= $3 AND night < $4 ORDER BY campsite_id, night",
        )
        .bind(first)
        .bind(last)
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    name,
                    location,
                    description,
                    price_per_night,
                    capacity,
                    amenities,
                    deleted,
                    version,
                    reviews,
                    rating_sum,
                )| {
                    let campsite = CampsiteSnapshot {
                        campsite_id: id,
                        name,
                        location,
                        description,
                        price_per_night,
                        capacity,
                        amenities: serde_json::from_str(&amenities).unwrap_or_default(),
                        deleted: deleted != 0,
                        version,
                    };
                    let booked = booked.iter().filter(|(c, _)| *c == id).map(|(_, n)| n.clone()).collect();
                    CampsiteRow { campsite, reviews, rating_sum, booked }
                },
            )
            .collect())
    }
}

type CampsiteStatusRow = (i64, String, String, String, i64, i64, String, i64, i64, i64, i64);
