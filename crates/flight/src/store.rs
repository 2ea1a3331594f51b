//! The flight service's SQL adapter. Every seat change is one conditional `UPDATE` inside the
//! transaction that also records the inbox entry and the outgoing event, so concurrent holds can
//! never oversell (a `CHECK` constraint guards the same invariant once more).

use skycamp_contracts::flight::{self as ev, FlightChanged, FlightSnapshot, SeatsDecided};
use skycamp_contracts::hold::{self, Answer, HoldStatus, OnHold, OnRelease};
use skycamp_contracts::{flight_subject, reservation_subject, topics};
use skycamp_platform::db::{Db, Migration, Tx};
use skycamp_platform::idempotency::Idempotent;
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};
use sqlx::AssertSqlSafe;

use crate::domain::{ChangeError, Flight, FlightChange, HoldDecision, NewFlight, OUTSOLD, decide_hold};

/// Schema of the flight database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "flights",
        sql: "CREATE TABLE flights (id {id}, flight_name TEXT NOT NULL, destination TEXT NOT NULL,
                price BIGINT NOT NULL, seat BIGINT NOT NULL, seats_held BIGINT NOT NULL DEFAULT 0,
                deleted BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
                CHECK (seats_held >= 0 AND seats_held <= seat));
              CREATE TABLE seat_holds (reservation_id BIGINT PRIMARY KEY, flight_id BIGINT NOT NULL,
                seat_count BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT, updated_at TEXT NOT NULL)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
    skycamp_platform::idempotency::MIGRATION,
    skycamp_platform::idempotency::RECOVERY_MIGRATION,
];

const COLUMNS: &str = "id, flight_name, destination, price, seat, seats_held, deleted, version, created_at, updated_at";
type Row = (i64, String, String, i64, i64, i64, i64, i64, String, String);

fn to_flight(r: Row) -> Flight {
    let (id, name, destination, price, seat, seats_held, deleted, version, created_at, updated_at) = r;
    Flight { id, name, destination, price, seat, seats_held, deleted: deleted != 0, version, created_at, updated_at }
}

/// The snapshot other services see.
pub fn snapshot(f: &Flight) -> FlightSnapshot {
    FlightSnapshot {
        flight_id: f.id,
        flight_name: f.name.clone(),
        destination: f.destination.clone(),
        price: f.price,
        seat: f.seat,
        seats_left: f.seats_left(),
        deleted: f.deleted,
        version: f.version,
    }
}

/// What became of a hold request.
#[derive(Debug, PartialEq, Eq)]
pub enum HoldOutcome {
    /// This event was handled before; nothing changed.
    Duplicate,
    Decided(HoldDecision),
}

/// One reservation event's seat work, for [`FlightStore::apply_all`].
#[derive(Debug, Clone, Copy)]
pub enum SeatWork<'a> {
    /// A placed reservation: decide its hold.
    Hold { event_id: &'a str, reservation_id: i64, flight_id: i64, count: i64 },
    /// A cancelled or rejected one: return its seats.
    Release { event_id: &'a str, reservation_id: i64, flight_id: i64 },
}

impl SeatWork<'_> {
    fn flight_id(&self) -> i64 {
        match *self {
            Self::Hold { flight_id, .. } | Self::Release { flight_id, .. } => flight_id,
        }
    }
}

/// One reservation's seat hold as recorded.
#[derive(Debug)]
struct Hold {
    status: HoldStatus,
    count: i64,
    reason: Option<String>,
}

/// Flights and seat holds.
#[derive(Clone)]
pub struct FlightStore {
    db: Db,
    waker: Waker,
}

impl FlightStore {
    pub fn new(db: Db, waker: Waker) -> Self {
        Self { db, waker }
    }

    /// Up to `limit` flights not deleted, by id, after id `after`.
    pub async fn list(&self, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<Flight>> {
        let sql = format!("SELECT {COLUMNS} FROM flights WHERE deleted = 0 AND id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<Row> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(after.unwrap_or(0)).bind(limit).fetch_all(self.db.pool()).await?;
        Ok(rows.into_iter().map(to_flight).collect())
    }

    /// One flight, deleted or not.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Flight>> {
        let sql = format!("SELECT {COLUMNS} FROM flights WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(self.db.pool()).await?;
        Ok(row.map(to_flight))
    }

    async fn get_in(tx: &mut Tx, id: i64) -> anyhow::Result<Option<Flight>> {
        let sql = format!("SELECT {COLUMNS} FROM flights WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await?;
        Ok(row.map(to_flight))
    }

    /// Registers a flight and announces it; with a key, binds it to the flight in the same transaction.
    pub async fn register(&self, new: &NewFlight, key: Option<&Idempotent>) -> anyhow::Result<Flight> {
        let mut tx = self.db.begin().await?;
        let now = time::now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO flights (flight_name, destination, price, seat, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(new.destination.as_str())
        .bind(new.price.get())
        .bind(new.seat.get())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = key {
            key.bind(&mut tx, id).await?;
        }
        let flight = self.announce(&mut tx, id, ev::FLIGHT_REGISTERED).await?;
        self.waker.commit(tx).await?;
        Ok(flight)
    }

    /// Applies `change`; refused when the flight is missing or seats would drop below those held.
    pub async fn change(&self, id: i64, change: &FlightChange) -> anyhow::Result<Result<Flight, ChangeError>> {
        let mut tx = self.db.begin().await?;
        let Some(current) = Self::get_in(&mut tx, id).await?.filter(|f| !f.deleted) else {
            return Ok(Err(ChangeError::NotFound));
        };
        if let Err(e) = current.check_change(change) {
            return Ok(Err(e));
        }
        if !change.changes(&current) {
            return Ok(Ok(current));
        }
        let seat = change.seat.map_or(current.seat, |s| s.get());
        let updated = sqlx::query(
            "UPDATE flights SET flight_name = $1, destination = $2, price = $3, seat = $4,
               version = version + 1, updated_at = $5
             WHERE id = $6 AND deleted = 0 AND seats_held <= $4",
        )
        .bind(change.name.as_ref().map_or(current.name.as_str(), |n| n.as_str()))
        .bind(change.destination.as_ref().map_or(current.destination.as_str(), |d| d.as_str()))
        .bind(change.price.map_or(current.price, |p| p.get()))
        .bind(seat)
        .bind(time::now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Seats were held between our read and the update (possible on PostgreSQL).
            let held = Self::get_in(&mut tx, id).await?.map_or(0, |f| f.seats_held);
            return Ok(Err(ChangeError::SeatsBelowHeld { held }));
        }
        let flight = self.announce(&mut tx, id, ev::FLIGHT_UPDATED).await?;
        self.waker.commit(tx).await?;
        Ok(Ok(flight))
    }

    /// Withdraws a flight; refused while seats are held.
    pub async fn delete(&self, id: i64) -> anyhow::Result<Result<(), ChangeError>> {
        let mut tx = self.db.begin().await?;
        let Some(current) = Self::get_in(&mut tx, id).await?.filter(|f| !f.deleted) else {
            return Ok(Err(ChangeError::NotFound));
        };
        if let Err(e) = current.check_delete() {
            return Ok(Err(e));
        }
        let updated = sqlx::query(
            "UPDATE flights SET deleted = 1, version = version + 1, updated_at = $1
             WHERE id = $2 AND deleted = 0 AND seats_held = 0",
        )
        .bind(time::now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let held = Self::get_in(&mut tx, id).await?.map_or(0, |f| f.seats_held);
            return Ok(Err(ChangeError::HasHeldSeats { held }));
        }
        self.announce(&mut tx, id, ev::FLIGHT_DELETED).await?;
        self.waker.commit(tx).await?;
        Ok(Ok(()))
    }

    /// Does the seat work of a batch of reservation events in one transaction (one commit for
    /// all of them); what each hold came to, in the order given (None for a release).
    ///
    /// The work is done in flight order (a stable sort: one reservation's events, all on one
    /// flight, keep theirs), so two instances' batches on PostgreSQL lock flights in the same
    /// order and never deadlock each other.
    pub async fn apply_all(&self, work: &[SeatWork<'_>]) -> anyhow::Result<Vec<Option<HoldOutcome>>> {
        let mut order: Vec<usize> = (0..work.len()).collect();
        order.sort_by_key(|&i| work[i].flight_id());
        let mut outcomes: Vec<Option<HoldOutcome>> = work.iter().map(|_| None).collect();
        let mut tx = self.db.begin().await?;
        for i in order {
            outcomes[i] = match work[i] {
                SeatWork::Hold { event_id, reservation_id, flight_id, count } => {
                    Some(self.hold_in(&mut tx, event_id, reservation_id, flight_id, count).await?)
                }
                SeatWork::Release { event_id, reservation_id, flight_id } => {
                    self.release_in(&mut tx, event_id, reservation_id, flight_id).await?;
                    None
                }
            };
        }
        self.waker.commit(tx).await?;
        Ok(outcomes)
    }

    /// Decides a hold of `count` seats for a reservation inside `tx`, exactly once per
    /// reservation ([`hold::on_hold`]).
    async fn hold_in(
        &self,
        tx: &mut Tx,
        event_id: &str,
        reservation_id: i64,
        flight_id: i64,
        count: i64,
    ) -> anyhow::Result<HoldOutcome> {
        if !inbox::claim(tx, "flight", event_id).await? {
            return Ok(HoldOutcome::Duplicate);
        }
        let recorded = Self::hold_of(tx, reservation_id).await?;
        Ok(match hold::on_hold(recorded.as_ref().map(|h| h.status)) {
            OnHold::Ignore => HoldOutcome::Duplicate,
            OnHold::Repeat(answer) => {
                let (count, reason) = recorded.map_or((count, None), |h| (h.count, h.reason));
                self.answer(tx, answer, reservation_id, flight_id, count, reason).await?;
                HoldOutcome::Duplicate
            }
            OnHold::Decide => {
                let mut decision = decide_hold(Self::get_in(tx, flight_id).await?.as_ref(), count);
                if decision == HoldDecision::Reserved && !self.take_seats(tx, flight_id, count).await? {
                    decision = OUTSOLD;
                }
                let reason = decision.reason().map(str::to_owned);
                self.record_hold(tx, reservation_id, flight_id, count, decision.status(), reason.as_deref()).await?;
                self.answer(tx, decision.answer(), reservation_id, flight_id, count, reason).await?;
                HoldOutcome::Decided(decision)
            }
        })
    }

    /// Returns a reservation's seats inside `tx`, if it holds any ([`hold::on_release`]).
    /// Returns false for a duplicate.
    async fn release_in(
        &self,
        tx: &mut Tx,
        event_id: &str,
        reservation_id: i64,
        flight_id: i64,
    ) -> anyhow::Result<bool> {
        if !inbox::claim(tx, "flight", event_id).await? {
            return Ok(false);
        }
        let recorded = Self::hold_of(tx, reservation_id).await?;
        match hold::on_release(recorded.as_ref().map(|h| h.status)) {
            OnRelease::Nothing => {}
            OnRelease::Tombstone => {
                let why = Some(hold::RELEASED_BEFORE_DECIDED);
                self.record_hold(tx, reservation_id, flight_id, 0, HoldStatus::Released, why).await?;
            }
            OnRelease::Release => {
                let count = recorded.map_or(0, |h| h.count);
                let now = time::now_rfc3339();
                sqlx::query("UPDATE seat_holds SET status = $1, updated_at = $2 WHERE reservation_id = $3")
                    .bind(HoldStatus::Released.as_str())
                    .bind(&now)
                    .bind(reservation_id)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "UPDATE flights SET seats_held = seats_held - $1, version = version + 1, updated_at = $2 WHERE id = $3",
                )
                .bind(count)
                .bind(&now)
                .bind(flight_id)
                .execute(&mut **tx)
                .await?;
                let flight = Self::get_in(tx, flight_id).await?;
                let data = SeatsDecided {
                    reservation_id,
                    flight_id,
                    count,
                    reason: None,
                    flight: flight.as_ref().map(snapshot),
                };
                self.emit(tx, ev::SEATS_RELEASED, reservation_subject(reservation_id), &data).await?;
            }
        }
        Ok(true)
    }

    /// Takes `count` seats if they are still free; the conditional update is the authority
    /// against overselling, whatever the concurrency.
    async fn take_seats(&self, tx: &mut Tx, flight_id: i64, count: i64) -> anyhow::Result<bool> {
        let taken = sqlx::query(
            "UPDATE flights SET seats_held = seats_held + $1, version = version + 1, updated_at = $2
             WHERE id = $3 AND deleted = 0 AND $1 > 0 AND seats_held + $1 <= seat",
        )
        .bind(count)
        .bind(time::now_rfc3339())
        .bind(flight_id)
        .execute(&mut **tx)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn record_hold(
        &self,
        tx: &mut Tx,
        reservation_id: i64,
        flight_id: i64,
        count: i64,
        status: HoldStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO seat_holds (reservation_id, flight_id, seat_count, status, reason, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(reservation_id)
        .bind(flight_id)
        .bind(count)
        .bind(status.as_str())
        .bind(reason)
        .bind(time::now_rfc3339())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Publishes the answer about a reservation's seats, with the flight as it now stands.
    async fn answer(
        &self,
        tx: &mut Tx,
        answer: Answer,
        reservation_id: i64,
        flight_id: i64,
        count: i64,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let kind = match answer {
            Answer::Reserved => ev::SEATS_RESERVED,
            Answer::Rejected => ev::SEATS_REJECTED,
        };
        let flight = Self::get_in(tx, flight_id).await?;
        let data = SeatsDecided { reservation_id, flight_id, count, reason, flight: flight.as_ref().map(snapshot) };
        self.emit(tx, kind, reservation_subject(reservation_id), &data).await
    }

    /// Up to `limit` seat holds after reservation `after`, by reservation (for audits and
    /// tests): (reservation id, flight id, count).
    pub async fn holds(&self, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<(i64, i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT reservation_id, flight_id, seat_count FROM seat_holds WHERE status = $1 AND reservation_id > $2
             ORDER BY reservation_id LIMIT $3",
        )
        .bind(HoldStatus::Held.as_str())
        .bind(after.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?)
    }

    async fn hold_of(tx: &mut Tx, reservation_id: i64) -> anyhow::Result<Option<Hold>> {
        let row: Option<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT status, seat_count, reason FROM seat_holds WHERE reservation_id = $1")
                .bind(reservation_id)
                .fetch_optional(&mut **tx)
                .await?;
        row.map(|(status, count, reason)| Ok(Hold { status: status.parse()?, count, reason })).transpose()
    }

    async fn announce(&self, tx: &mut Tx, id: i64, kind: &str) -> anyhow::Result<Flight> {
        let flight = Self::get_in(tx, id).await?.ok_or_else(|| anyhow::anyhow!("flight {id} vanished"))?;
        self.emit(tx, kind, flight_subject(id), &FlightChanged { flight: snapshot(&flight) }).await?;
        Ok(flight)
    }

    async fn emit<T: serde::Serialize>(
        &self,
        tx: &mut Tx,
        kind: &str,
        subject: String,
        data: &T,
    ) -> anyhow::Result<()> {
        outbox::emit(tx, topics::FLIGHT, kind, subject, data).await
    }
}
