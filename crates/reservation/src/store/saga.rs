//! Reservations and their saga steps.

use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::clock::Clock;
use skycamp_platform::db::{Db, Tx};
use skycamp_platform::idempotency::Idempotent;
use skycamp_platform::metrics::{BOOKINGS, SAGA_SECONDS};
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{Envelope, inbox, time};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use crate::domain::{
    NewReservation, Outgoing, Reservation, SagaInput, Status, Step, Transition, already_there, decide,
};

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

impl Applied {
    /// What happened, for a log line: the outcome and the reservation's status, never its
    /// customer's phone, email or name.
    pub fn summary(&self) -> String {
        match self {
            Self::Duplicate => "duplicate".into(),
            Self::Missing => "no such reservation".into(),
            Self::Ignored(r) => format!("ignored in {}", r.status.as_str()),
            Self::Moved(r) => format!("moved to {}", r.status.as_str()),
        }
    }
}

/// A reservation's columns, as [`to_reservation`] reads them.
macro_rules! columns {
    () => {
        "id, kind, flight_id, seat_count, campsite_id, check_in, check_out, guests, unit_price, amount,
        phone, email, customer_name, status, payment_id, reason, created_at, updated_at"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM reservations");

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

/// Counts a committed move in the booking funnel and, at a saga's end, times the saga from the
/// booking's creation.
fn observe_move(r: &Reservation) {
    let kind = r.item.kind();
    let outcome = match r.status {
        Status::PendingPayment => return,
        Status::Paid => "paid",
        Status::Confirmed => "confirmed",
        Status::Rejected => "rejected",
        Status::Cancelled => "cancelled",
    };
    metrics::counter!(BOOKINGS, "kind" => kind, "outcome" => outcome).increment(1);
    if matches!(r.status, Status::Confirmed | Status::Rejected)
        && let Some(created) = time::parse_rfc3339_millis(&r.created_at)
    {
        let seconds = time::now_millis().saturating_sub(created).max(0) as f64 / 1000.0;
        metrics::histogram!(SAGA_SECONDS, "kind" => kind, "outcome" => outcome).record(seconds);
    }
}

/// A timeline note: the reservation, the step, its detail, and the (inbox, event id) it comes from.
pub type Note<'a> = (i64, &'a str, Option<&'a str>, (&'a str, &'a str));

/// One event's write, for [`ReservationStore::apply_all`].
#[derive(Debug, Clone, Copy)]
pub enum SagaWrite<'a> {
    /// A saga input for reservation `id` from `event` (inbox, event id), with an optional
    /// timeline note (step, detail) recorded with it.
    Input { id: i64, input: &'a SagaInput, event: (&'a str, &'a str), note: Option<(&'a str, &'a str)> },
    /// A timeline note only.
    Note(Note<'a>),
}

/// Reservations and their saga steps.
#[derive(Clone)]
pub struct ReservationStore {
    db: Db,
    waker: Waker,
    clock: Clock,
}

impl ReservationStore {
    /// `clock` stamps each reservation's creation, so deadlines measured from it (reconciliation,
    /// stuck sagas) follow the same clock tests move.
    pub fn new(db: Db, waker: Waker, clock: Clock) -> Self {
        Self { db, waker, clock }
    }

    /// The clock reservations are stamped with; deadlines are measured on it.
    pub fn clock(&self) -> &Clock {
        &self.clock
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
        let row: AnyRow = sqlx::query(concat!(
            "INSERT INTO reservations (kind, flight_id, seat_count, campsite_id, check_in, check_out, guests, unit_price,
               amount, phone, email, customer_name, status, created_at, updated_at, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PENDING_PAYMENT', $13, $13, $14) RETURNING ",
            columns!()
        ))
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
        .bind(self.clock.now_millis())
        .fetch_one(&mut *tx)
        .await?;
        let reservation = to_reservation(row)?;
        let id = reservation.id;
        Self::add_step(&mut tx, id, "requested", Status::PendingPayment, None).await?;
        if let Some(key) = key {
            key.bind(&mut tx, id).await?;
        }
        tx.commit().await?;
        metrics::counter!(BOOKINGS, "kind" => reservation.item.kind(), "outcome" => "placed").increment(1);
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
        let Some(applied) = self.apply_in(&mut tx, id, input, event, note).await? else { return Ok(None) };
        self.waker.commit(tx).await?;
        if let Applied::Moved(moved) = &applied {
            observe_move(moved);
        }
        Ok(Some(applied))
    }

    /// Applies the saga's writes of a batch of events, in order, in one transaction (one
    /// commit for all of them): the moves they make, in order, or None when a reservation
    /// changed concurrently (then nothing was written; apply them one at a time).
    pub async fn apply_all(&self, writes: &[SagaWrite<'_>]) -> anyhow::Result<Option<Vec<Applied>>> {
        if writes.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut tx = self.db.begin().await?;
        let mut moves = Vec::new();
        for write in writes {
            match *write {
                SagaWrite::Input { id, input, event, note } => {
                    let Some(applied) = self.apply_in(&mut tx, id, input, Some(event), note).await? else {
                        return Ok(None);
                    };
                    moves.push(applied);
                }
                SagaWrite::Note(note) => Self::note_in(&mut tx, note).await?,
            }
        }
        self.waker.commit(tx).await?;
        for applied in &moves {
            if let Applied::Moved(moved) = applied {
                observe_move(moved);
            }
        }
        Ok(Some(moves))
    }

    /// [`ReservationStore::apply_noting`] inside `tx`; None when the reservation changed
    /// concurrently (then `tx` must be rolled back).
    async fn apply_in(
        &self,
        tx: &mut Tx,
        id: i64,
        input: &SagaInput,
        event: Option<(&str, &str)>,
        note: Option<(&str, &str)>,
    ) -> anyhow::Result<Option<Applied>> {
        if let Some((consumer, event_id)) = event
            && !inbox::claim(tx, consumer, event_id).await?
        {
            return Ok(Some(Applied::Duplicate));
        }
        let Some(current) = Self::get_in(tx, id).await? else {
            return Ok(Some(Applied::Missing));
        };
        let before = current.status;
        let applied = match decide(current.status, input) {
            Transition::Ignore => {
                if !already_there(current.status, input) {
                    let detail = format!("ignored: reservation is {}", current.status.as_str());
                    Self::add_step(tx, id, input.step(), current.status, Some(&detail)).await?;
                }
                Applied::Ignored(current)
            }
            Transition::Move { to, publish, reason } => {
                let Some(moved) = self.move_to(tx, &current, to, input, reason).await? else {
                    return Ok(None);
                };
                self.emit(tx, &moved, publish).await?;
                Applied::Moved(moved)
            }
        };
        if let Some((step, detail)) = note {
            let status = match &applied {
                Applied::Moved(r) | Applied::Ignored(r) => r.status,
                Applied::Duplicate | Applied::Missing => before,
            };
            Self::add_step(tx, id, step, status, Some(detail)).await?;
        }
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
        let moved: Option<AnyRow> = sqlx::query(concat!(
            "UPDATE reservations SET status = $1, payment_id = $2, reason = $3, updated_at = $4
             WHERE id = $5 AND status = $6 RETURNING ",
            columns!()
        ))
        .bind(to.as_str())
        .bind(payment_id)
        .bind(reason.as_deref().or(current.reason.as_deref()))
        .bind(time::now_rfc3339())
        .bind(current.id)
        .bind(current.status.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(moved) = moved else { return Ok(None) };
        Self::add_step(tx, current.id, input.step(), to, reason.as_deref()).await?;
        to_reservation(moved).map(Some)
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

    /// Records steps that change no state (e.g. the refund of a rejected reservation), each once
    /// per event, all in one transaction.
    pub async fn note(&self, notes: &[Note<'_>]) -> anyhow::Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for &note in notes {
            Self::note_in(&mut tx, note).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One note inside `tx`, once per event.
    async fn note_in(tx: &mut Tx, (id, step, detail, event): Note<'_>) -> anyhow::Result<()> {
        if inbox::claim(tx, event.0, event.1).await?
            && let Some(r) = Self::get_in(tx, id).await?
        {
            Self::add_step(tx, id, step, r.status, detail).await?;
        }
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
}
