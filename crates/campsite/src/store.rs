//! The campsite service's SQL adapter. A held night is a row whose primary key is
//! (campsite, date): a second booking of the same night cannot be inserted, whatever the
//! concurrency, on SQLite and PostgreSQL alike. A stay's nights go in together or not at all.

use skycamp_contracts::campsite::{self as ev, CampsiteChanged, CampsiteSnapshot, NightsDecided};
use skycamp_contracts::hold::{self, Answer, HoldStatus, OnHold, OnRelease};
use skycamp_contracts::{campsite_subject, reservation_subject, topics};
use skycamp_platform::clock::Clock;
use skycamp_platform::db::{Db, Migration, Tx};
use skycamp_platform::idempotency::Idempotent;
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};
use sqlx::AssertSqlSafe;

use crate::domain::{
    Campsite, CampsiteChange, ChangeError, HoldDecision, HoldRequest, Upcoming, check_change, check_delete,
    decide_hold, taken,
};

/// Schema of the campsite database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "campsites",
        sql: "CREATE TABLE campsites (id {id}, name TEXT NOT NULL, location TEXT NOT NULL, description TEXT NOT NULL,
                price_per_night BIGINT NOT NULL, capacity BIGINT NOT NULL, amenities TEXT NOT NULL,
                deleted BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
              CREATE TABLE campsite_nights (campsite_id BIGINT NOT NULL, night TEXT NOT NULL,
                reservation_id BIGINT NOT NULL, guests BIGINT NOT NULL, PRIMARY KEY (campsite_id, night));
              CREATE INDEX campsite_nights_reservation ON campsite_nights (reservation_id);
              CREATE TABLE night_holds (reservation_id BIGINT PRIMARY KEY, campsite_id BIGINT NOT NULL,
                check_in TEXT NOT NULL, check_out TEXT NOT NULL, guests BIGINT NOT NULL,
                status TEXT NOT NULL, reason TEXT, updated_at TEXT NOT NULL)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
    skycamp_platform::idempotency::MIGRATION,
    skycamp_platform::idempotency::RECOVERY_MIGRATION,
];

const SELECT: &str = "SELECT id, name, location, description, price_per_night, capacity, amenities, deleted, version, created_at, updated_at FROM campsites";
type Row = (i64, String, String, String, i64, i64, String, i64, i64, String, String);

fn to_campsite(r: Row) -> anyhow::Result<Campsite> {
    let (
        id,
        name,
        location,
        description,
        price_per_night,
        capacity,
        amenities,
        deleted,
        version,
        created_at,
        updated_at,
    ) = r;
    let amenities = serde_json::from_str(&amenities)
        .map_err(|e| anyhow::anyhow!("campsite {id} has unreadable amenities {amenities:?}: {e}"))?;
    Ok(Campsite {
        id,
        name,
        location,
        description,
        price_per_night,
        capacity,
        amenities,
        deleted: deleted != 0,
        version,
        created_at,
        updated_at,
    })
}

/// The snapshot other services see.
pub fn snapshot(c: &Campsite) -> CampsiteSnapshot {
    CampsiteSnapshot {
        campsite_id: c.id,
        name: c.name.clone(),
        location: c.location.clone(),
        description: c.description.clone(),
        price_per_night: c.price_per_night,
        capacity: c.capacity,
        amenities: c.amenities.clone(),
        deleted: c.deleted,
        version: c.version,
    }
}

/// What became of a hold request.
#[derive(Debug, PartialEq, Eq)]
pub enum HoldOutcome {
    /// This event was handled before, or asked for a hold already decided or released.
    Duplicate,
    Decided(HoldDecision),
}

/// Campsites and their nights.
#[derive(Clone)]
pub struct CampsiteStore {
    db: Db,
    waker: Waker,
    clock: Clock,
}

impl CampsiteStore {
    pub fn new(db: Db, waker: Waker, clock: Clock) -> Self {
        Self { db, waker, clock }
    }

    /// Up to `limit` campsites not deleted, by id, after id `after`.
    pub async fn list(&self, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<Campsite>> {
        let rows: Vec<Row> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE deleted = 0 AND id > $1 ORDER BY id LIMIT $2")))
                .bind(after.unwrap_or(0))
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?;
        rows.into_iter().map(to_campsite).collect()
    }

    /// One campsite, deleted or not.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Campsite>> {
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(to_campsite).transpose()
    }

    async fn get_in(tx: &mut Tx, id: i64) -> anyhow::Result<Option<Campsite>> {
        let row: Option<Row> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT} WHERE id = $1"))).bind(id).fetch_optional(&mut **tx).await?;
        row.map(to_campsite).transpose()
    }

    /// Nights booked from today on, and the most guests among them.
    pub async fn upcoming(&self, id: i64) -> anyhow::Result<Upcoming> {
        let mut tx = self.db.begin().await?;
        self.upcoming_in(&mut tx, id).await
    }

    async fn upcoming_in(&self, tx: &mut Tx, id: i64) -> anyhow::Result<Upcoming> {
        let (nights, most_guests): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(MAX(guests), 0) FROM campsite_nights WHERE campsite_id = $1 AND night >= $2",
        )
        .bind(id)
        .bind(self.clock.today().to_string())
        .fetch_one(&mut **tx)
        .await?;
        Ok(Upcoming { nights, most_guests })
    }

    /// Registers a campsite (`new` must be complete) and announces it; with a key, binds it to the
    /// campsite in the same transaction.
    pub async fn register(&self, new: &CampsiteChange, key: Option<&Idempotent>) -> anyhow::Result<Campsite> {
        let mut tx = self.db.begin().await?;
        let now = time::now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campsites (name, location, description, price_per_night, capacity, amenities, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(new.name.as_deref().unwrap_or_default())
        .bind(new.location.as_deref().unwrap_or_default())
        .bind(new.description.as_deref().unwrap_or_default())
        .bind(new.price_per_night.unwrap_or_default())
        .bind(new.capacity.unwrap_or_default())
        .bind(serde_json::to_string(&new.amenities.clone().unwrap_or_default())?)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = key {
            key.bind(&mut tx, id).await?;
        }
        let campsite = self.announce(&mut tx, id, ev::CAMPSITE_REGISTERED).await?;
        self.waker.commit(tx).await?;
        Ok(campsite)
    }

    /// Applies `change`; never in a way that breaks an upcoming booking.
    pub async fn change(&self, id: i64, change: &CampsiteChange) -> anyhow::Result<Result<Campsite, ChangeError>> {
        let mut tx = self.db.begin().await?;
        let Some(c) = Self::get_in(&mut tx, id).await?.filter(|c| !c.deleted) else {
            return Ok(Err(ChangeError::NotFound));
        };
        if let Err(e) = check_change(change, self.upcoming_in(&mut tx, id).await?) {
            return Ok(Err(e));
        }
        if !change.changes(&c) {
            return Ok(Ok(c));
        }
        sqlx::query(
            "UPDATE campsites SET name = $1, location = $2, description = $3, price_per_night = $4, capacity = $5,
               amenities = $6, version = version + 1, updated_at = $7 WHERE id = $8",
        )
        .bind(change.name.as_ref().unwrap_or(&c.name))
        .bind(change.location.as_ref().unwrap_or(&c.location))
        .bind(change.description.as_ref().unwrap_or(&c.description))
        .bind(change.price_per_night.unwrap_or(c.price_per_night))
        .bind(change.capacity.unwrap_or(c.capacity))
        .bind(serde_json::to_string(change.amenities.as_ref().unwrap_or(&c.amenities))?)
        .bind(time::now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let campsite = self.announce(&mut tx, id, ev::CAMPSITE_UPDATED).await?;
        self.waker.commit(tx).await?;
        Ok(Ok(campsite))
    }

    /// Withdraws a campsite; refused while nights from today on are booked.
    pub async fn delete(&self, id: i64) -> anyhow::Result<Result<(), ChangeError>> {
        let mut tx = self.db.begin().await?;
        if Self::get_in(&mut tx, id).await?.filter(|c| !c.deleted).is_none() {
            return Ok(Err(ChangeError::NotFound));
        }
        if let Err(e) = check_delete(self.upcoming_in(&mut tx, id).await?) {
            return Ok(Err(e));
        }
        sqlx::query("UPDATE campsites SET deleted = 1, version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(time::now_rfc3339())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.announce(&mut tx, id, ev::CAMPSITE_DELETED).await?;
        self.waker.commit(tx).await?;
        Ok(Ok(()))
    }

    /// Holds a stay's nights for a reservation, all or none, exactly once per reservation
    /// ([`hold::on_hold`]).
    pub async fn hold_nights(&self, event_id: &str, req: &HoldRequest) -> anyhow::Result<HoldOutcome> {
        let nights = req.nights();
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "campsite", event_id).await? {
            return Ok(HoldOutcome::Duplicate);
        }
        let recorded = Self::hold_of(&mut tx, req.reservation_id).await?;
        match hold::on_hold(recorded.as_ref().map(|(status, _)| *status)) {
            OnHold::Ignore => {}
            OnHold::Repeat(answer) => {
                let reason = recorded.and_then(|(_, reason)| reason);
                self.answer(&mut tx, answer, req, nights, reason).await?;
            }
            OnHold::Decide => {
                let campsite = Self::get_in(&mut tx, req.campsite_id).await?;
                let decision = decide_hold(campsite.as_ref(), req.guests, nights.len());
                if decision == HoldDecision::Reserved && !self.take_nights(&mut tx, req, &nights).await? {
                    // Some night is taken: undo all of them and decide again in a fresh transaction.
                    drop(tx);
                    return self.reject_taken(event_id, req, nights).await;
                }
                return self.decide(tx, req, nights, decision).await;
            }
        }
        self.waker.commit(tx).await?;
        Ok(HoldOutcome::Duplicate)
    }

    /// Records a rejection for nights found taken, unless another delivery got there first.
    async fn reject_taken(
        &self,
        event_id: &str,
        req: &HoldRequest,
        nights: Vec<String>,
    ) -> anyhow::Result<HoldOutcome> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "campsite", event_id).await?
            || Self::hold_of(&mut tx, req.reservation_id).await?.is_some()
        {
            return Ok(HoldOutcome::Duplicate);
        }
        let booked = self.taken_nights(&mut tx, req.campsite_id, &nights).await?;
        self.decide(tx, req, nights, taken(&booked)).await
    }

    /// Records `decision` and publishes it, in `tx`.
    async fn decide(
        &self,
        mut tx: Tx,
        req: &HoldRequest,
        nights: Vec<String>,
        decision: HoldDecision,
    ) -> anyhow::Result<HoldOutcome> {
        self.record_hold(&mut tx, req, decision.status(), decision.reason()).await?;
        self.answer(&mut tx, decision.answer(), req, nights, decision.reason().map(str::to_owned)).await?;
        self.waker.commit(tx).await?;
        Ok(HoldOutcome::Decided(decision))
    }

    /// Inserts every night of the stay; false when any of them is booked already.
    async fn take_nights(&self, tx: &mut Tx, req: &HoldRequest, nights: &[String]) -> anyhow::Result<bool> {
        let mut inserted = 0;
        for night in nights {
            inserted += sqlx::query(
                "INSERT INTO campsite_nights (campsite_id, night, reservation_id, guests) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (campsite_id, night) DO NOTHING",
            )
            .bind(req.campsite_id)
            .bind(night)
            .bind(req.reservation_id)
            .bind(req.guests)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        Ok(inserted == nights.len() as u64)
    }

    /// Publishes the answer about a reservation's nights.
    async fn answer(
        &self,
        tx: &mut Tx,
        answer: Answer,
        req: &HoldRequest,
        nights: Vec<String>,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let kind = match answer {
            Answer::Reserved => ev::NIGHTS_RESERVED,
            Answer::Rejected => ev::NIGHTS_REJECTED,
        };
        let data = NightsDecided { reservation_id: req.reservation_id, campsite_id: req.campsite_id, nights, reason };
        outbox::emit(tx, topics::CAMPSITE, kind, reservation_subject(req.reservation_id), &data).await
    }

    async fn taken_nights(&self, tx: &mut Tx, campsite_id: i64, nights: &[String]) -> anyhow::Result<Vec<String>> {
        let (Some(first), Some(last)) = (nights.first(), nights.last()) else { return Ok(vec![]) };
        Ok(sqlx::query_scalar(
            "SELECT night FROM campsite_nights WHERE campsite_id = $1 AND night >= $2 AND night <= $3 ORDER BY night",
        )
        .bind(campsite_id)
        .bind(first)
        .bind(last)
        .fetch_all(&mut **tx)
        .await?)
    }

    async fn record_hold(
        &self,
        tx: &mut Tx,
        req: &HoldRequest,
        status: HoldStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO night_holds (reservation_id, campsite_id, check_in, check_out, guests, status, reason, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(req.reservation_id)
        .bind(req.campsite_id)
        .bind(&req.check_in)
        .bind(&req.check_out)
        .bind(req.guests)
        .bind(status.as_str())
        .bind(reason)
        .bind(time::now_rfc3339())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Frees a reservation's nights, if it holds any ([`hold::on_release`]). Returns false for a
    /// duplicate.
    pub async fn release_nights(&self, event_id: &str, req: &HoldRequest) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "campsite", event_id).await? {
            return Ok(false);
        }
        let recorded = Self::hold_of(&mut tx, req.reservation_id).await?;
        match hold::on_release(recorded.map(|(status, _)| status)) {
            OnRelease::Nothing => {}
            OnRelease::Tombstone => {
                self.record_hold(&mut tx, req, HoldStatus::Released, Some(hold::RELEASED_BEFORE_DECIDED)).await?
            }
            OnRelease::Release => {
                let nights: Vec<String> =
                    sqlx::query_scalar("SELECT night FROM campsite_nights WHERE reservation_id = $1 ORDER BY night")
                        .bind(req.reservation_id)
                        .fetch_all(&mut *tx)
                        .await?;
                sqlx::query("DELETE FROM campsite_nights WHERE reservation_id = $1")
                    .bind(req.reservation_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE night_holds SET status = $1, updated_at = $2 WHERE reservation_id = $3")
                    .bind(HoldStatus::Released.as_str())
                    .bind(time::now_rfc3339())
                    .bind(req.reservation_id)
                    .execute(&mut *tx)
                    .await?;
                let data = NightsDecided {
                    reservation_id: req.reservation_id,
                    campsite_id: req.campsite_id,
                    nights,
                    reason: None,
                };
                let subject = reservation_subject(req.reservation_id);
                outbox::emit(&mut tx, topics::CAMPSITE, ev::NIGHTS_RELEASED, subject, &data).await?;
            }
        }
        self.waker.commit(tx).await?;
        Ok(true)
    }

    /// Up to `limit` held nights after (campsite, night) `after`, in that order: (campsite id,
    /// night, reservation id), for audits and tests.
    pub async fn held_nights(
        &self,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> anyhow::Result<Vec<(i64, String, i64)>> {
        let (site, night) = after.unwrap_or((i64::MIN, String::new()));
        Ok(sqlx::query_as(
            "SELECT campsite_id, night, reservation_id FROM campsite_nights
             WHERE campsite_id > $1 OR (campsite_id = $1 AND night > $2)
             ORDER BY campsite_id, night LIMIT $3",
        )
        .bind(site)
        .bind(night)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?)
    }

    async fn hold_of(tx: &mut Tx, reservation_id: i64) -> anyhow::Result<Option<(HoldStatus, Option<String>)>> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, reason FROM night_holds WHERE reservation_id = $1")
                .bind(reservation_id)
                .fetch_optional(&mut **tx)
                .await?;
        row.map(|(status, reason)| Ok((status.parse()?, reason))).transpose()
    }

    async fn announce(&self, tx: &mut Tx, id: i64, kind: &str) -> anyhow::Result<Campsite> {
        let c = Self::get_in(tx, id).await?.ok_or_else(|| anyhow::anyhow!("campsite {id} vanished"))?;
        let data = CampsiteChanged { campsite: snapshot(&c) };
        outbox::emit(tx, topics::CAMPSITE, kind, campsite_subject(id), &data).await?;
        Ok(c)
    }
}
