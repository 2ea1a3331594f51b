//! The reservation service's SQL adapter: reservations with their saga steps, and the
//! `flightStatuses` read model. A saga transition, its timeline step, its outgoing event and (for
//! consumed events) the inbox entry are written in one transaction.

use skycamp_contracts::flight::FlightSnapshot;
use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::db::{Db, Migration, Tx};
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{Envelope, inbox, time};
use sqlx::AssertSqlSafe;

use crate::domain::{Outgoing, SagaInput, Status, Transition, decide};

/// Schema of the reservation database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "reservations",
        sql: "CREATE TABLE reservations (id {id}, kind TEXT NOT NULL, flight_id BIGINT NOT NULL,
                seat_count BIGINT NOT NULL, unit_price BIGINT NOT NULL, amount BIGINT NOT NULL,
                phone TEXT NOT NULL, status TEXT NOT NULL, payment_id BIGINT, reason TEXT,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_ms BIGINT NOT NULL);
              CREATE INDEX reservations_phone ON reservations (phone, id);
              CREATE INDEX reservations_status ON reservations (status, created_ms);
              CREATE TABLE reservation_steps (id {id}, reservation_id BIGINT NOT NULL, step TEXT NOT NULL,
                status TEXT NOT NULL, detail TEXT, at TEXT NOT NULL);
              CREATE INDEX reservation_steps_reservation ON reservation_steps (reservation_id, id);
              CREATE TABLE flight_statuses (flight_id BIGINT PRIMARY KEY, flight_name TEXT NOT NULL,
                destination TEXT NOT NULL, price BIGINT NOT NULL, seat BIGINT NOT NULL,
                seats_left BIGINT NOT NULL, deleted BIGINT NOT NULL, version BIGINT NOT NULL)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
];

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    pub kind: String,
    pub flight_id: i64,
    pub count: i64,
    pub unit_price: i64,
    pub amount: i64,
    pub phone: String,
    pub status: Status,
    pub payment_id: Option<i64>,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A validated booking, priced from the catalogue.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub flight_id: i64,
    pub count: i64,
    pub unit_price: i64,
    pub phone: String,
}

/// One step of a reservation's saga.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
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

const SELECT: &str = "SELECT id, kind, flight_id, seat_count, unit_price, amount, phone, status, payment_id, reason, created_at, updated_at FROM reservations";
type FlightRow = (i64, String, String, i64, i64, i64, i64, i64);
type Row = (i64, String, i64, i64, i64, i64, String, String, Option<i64>, Option<String>, String, String);

fn to_reservation(r: Row) -> anyhow::Result<Reservation> {
    let (id, kind, flight_id, count, unit_price, amount, phone, status, payment_id, reason, created_at, updated_at) = r;
    let status =
        Status::parse(&status).ok_or_else(|| anyhow::anyhow!("reservation {id} has unknown status {status}"))?;
    Ok(Reservation {
        id,
        kind,
        flight_id,
        count,
        unit_price,
        amount,
        phone,
        status,
        payment_id,
        reason,
        created_at,
        updated_at,
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

    /// Stores a booking as `PENDING_PAYMENT`, before payment is asked.
    pub async fn create_pending(&self, new: &NewReservation) -> anyhow::Result<Reservation> {
        let mut tx = self.db.begin().await?;
        let now = time::now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO reservations (kind, flight_id, seat_count, unit_price, amount, phone, status, created_at, updated_at, created_ms)
             VALUES ('flight', $1, $2, $3, $4, $5, 'PENDING_PAYMENT', $6, $6, $7) RETURNING id",
        )
        .bind(new.flight_id)
        .bind(new.count)
        .bind(new.unit_price)
        .bind(new.count * new.unit_price)
        .bind(&new.phone)
        .bind(&now)
        .bind(time::now_millis())
        .fetch_one(&mut *tx)
        .await?;
        Self::add_step(&mut tx, id, "requested", Status::PendingPayment, None).await?;
        let reservation =
            Self::get_in(&mut tx, id).await?.ok_or_else(|| anyhow::anyhow!("reservation {id} vanished"))?;
        tx.commit().await?;
        Ok(reservation)
    }

    /// One reservation.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Reservation>> {
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(to_reservation).transpose()
    }

    async fn get_in(tx: &mut Tx, id: i64) -> anyhow::Result<Option<Reservation>> {
        let row: Option<Row> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE id = $1"))).bind(id).fetch_optional(&mut **tx).await?;
        row.map(to_reservation).transpose()
    }

    /// Reservations newest first, optionally one customer's and/or in one status.
    pub async fn list(
        &self,
        phone: Option<&str>,
        status: Option<Status>,
        limit: i64,
    ) -> anyhow::Result<Vec<Reservation>> {
        let sql =
            format!("{SELECT} WHERE ($1 = '' OR phone = $1) AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3");
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(phone.unwrap_or(""))
            .bind(status.map_or("", Status::as_str))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(to_reservation).collect()
    }

    /// `PENDING_PAYMENT` reservations created before `created_before_ms`.
    pub async fn stale_pending(&self, created_before_ms: i64) -> anyhow::Result<Vec<Reservation>> {
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "{SELECT} WHERE status = 'PENDING_PAYMENT' AND created_ms < $1 ORDER BY id LIMIT 100"
        )))
        .bind(created_before_ms)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(to_reservation).collect()
    }

    /// Applies a saga input; `event` is `(consumer, event id)` when the input came as an event.
    pub async fn apply(&self, id: i64, input: &SagaInput, event: Option<(&str, &str)>) -> anyhow::Result<Applied> {
        let mut tx = self.db.begin().await?;
        if let Some((consumer, event_id)) = event
            && !inbox::claim(&mut tx, consumer, event_id).await?
        {
            return Ok(Applied::Duplicate);
        }
        let Some(current) = Self::get_in(&mut tx, id).await? else {
            tx.commit().await?;
            return Ok(Applied::Missing);
        };
        let applied = match decide(current.status, input) {
            Transition::Ignore => {
                let note = format!("ignored: reservation is {}", current.status.as_str());
                Self::add_step(&mut tx, id, input.step(), current.status, Some(&note)).await?;
                Applied::Ignored(current)
            }
            Transition::Move { to, publish, reason } => {
                let moved = self.move_to(&mut tx, &current, to, input, reason).await?;
                self.emit(&mut tx, &moved, publish).await?;
                Applied::Moved(moved)
            }
        };
        tx.commit().await?;
        self.waker.wake();
        Ok(applied)
    }

    async fn move_to(
        &self,
        tx: &mut Tx,
        current: &Reservation,
        to: Status,
        input: &SagaInput,
        reason: Option<String>,
    ) -> anyhow::Result<Reservation> {
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
        anyhow::ensure!(changed.rows_affected() == 1, "reservation {} changed concurrently; retry", current.id);
        Self::add_step(tx, current.id, input.step(), to, reason.as_deref()).await?;
        Self::get_in(tx, current.id).await?.ok_or_else(|| anyhow::anyhow!("reservation {} vanished", current.id))
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
            item: Booked::Flight { flight_id: r.flight_id, count: r.count },
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

    /// Every step of a reservation, oldest first.
    pub async fn timeline(&self, id: i64) -> anyhow::Result<Vec<Step>> {
        let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT step, status, detail, at FROM reservation_steps WHERE reservation_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(|(step, status, detail, at)| Step { step, status, detail, at }).collect())
    }

    /// Keeps the newest snapshot of a flight in the read model (older or repeated ones change nothing).
    pub async fn upsert_flight(&self, event_id: &str, f: &FlightSnapshot) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "reservation-view", event_id).await? {
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

    /// The read model: every flight not withdrawn, or one flight (withdrawn ones too).
    pub async fn flight_statuses(&self, flight_id: Option<i64>) -> anyhow::Result<Vec<FlightSnapshot>> {
        let rows: Vec<FlightRow> = sqlx::query_as(
            "SELECT flight_id, flight_name, destination, price, seat, seats_left, deleted, version FROM flight_statuses
             WHERE ($1 = 0 AND deleted = 0) OR flight_id = $1 ORDER BY flight_id",
        )
        .bind(flight_id.unwrap_or(0))
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
