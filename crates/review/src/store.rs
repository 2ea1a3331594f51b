//! The review service's SQL adapter: stays (a projection of reservation events) and reviews.

use skycamp_contracts::review::{self as ev, ReviewEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::clock::Clock;
use skycamp_platform::db::{Db, Migration, Tx, is_unique_violation};
use skycamp_platform::idempotency::Idempotent;
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};

use crate::domain::{NewReview, Refusal, Review, Stay, StayEvent, StayStatus, eligible_stay};

/// Schema of the review database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "reviews",
        sql: "CREATE TABLE stays (reservation_id BIGINT PRIMARY KEY, campsite_id BIGINT NOT NULL, phone TEXT NOT NULL,
                check_in TEXT NOT NULL, status TEXT NOT NULL);
              CREATE INDEX stays_phone_campsite ON stays (phone, campsite_id);
              CREATE TABLE reviews (id {id}, reservation_id BIGINT NOT NULL UNIQUE, campsite_id BIGINT NOT NULL,
                phone TEXT NOT NULL, rating BIGINT NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL);
              CREATE INDEX reviews_campsite ON reviews (campsite_id, id)",
    },
    Migration {
        version: 2,
        name: "reviews open at check-out and are withdrawn with a cancelled stay",
        sql: "ALTER TABLE stays ADD COLUMN check_out TEXT;
              ALTER TABLE reviews ADD COLUMN withdrawn_at TEXT",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
    skycamp_platform::idempotency::MIGRATION,
    skycamp_platform::idempotency::RECOVERY_MIGRATION,
];

type Row = (i64, i64, i64, String, i64, String, String);
/// Reviews still standing (not withdrawn).
const SELECT: &str =
    "SELECT id, reservation_id, campsite_id, phone, rating, text, created_at FROM reviews WHERE withdrawn_at IS NULL";

fn to_review(r: Row) -> Review {
    let (id, reservation_id, campsite_id, phone, rating, text, created_at) = r;
    Review { id, reservation_id, campsite_id, phone, rating, text, created_at }
}

/// Stays and reviews.
#[derive(Clone)]
pub struct ReviewStore {
    db: Db,
    waker: Waker,
    clock: Clock,
}

impl ReviewStore {
    pub fn new(db: Db, waker: Waker, clock: Clock) -> Self {
        Self { db, waker, clock }
    }

    /// Records a stay's status from a reservation event, once per event. A cancelled stay's
    /// review, if it has one, is withdrawn in the same transaction (`ReviewWithdrawn`).
    pub async fn record_stay(&self, event_id: &str, stay: &StayEvent<'_>) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "review", event_id).await? {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO stays (reservation_id, campsite_id, phone, check_in, check_out, status)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (reservation_id) DO UPDATE SET status = excluded.status, check_out = excluded.check_out",
        )
        .bind(stay.reservation_id)
        .bind(stay.campsite_id)
        .bind(stay.phone)
        .bind(stay.check_in)
        .bind(stay.check_out)
        .bind(stay.status.as_str())
        .execute(&mut *tx)
        .await?;
        if stay.withdraws_review() {
            self.withdraw(&mut tx, stay.reservation_id).await?;
        }
        self.waker.commit(tx).await
    }

    async fn withdraw(&self, tx: &mut Tx, reservation_id: i64) -> anyhow::Result<()> {
        let found: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} AND reservation_id = $1")))
            .bind(reservation_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(review) = found.map(to_review) else { return Ok(()) };
        sqlx::query("UPDATE reviews SET withdrawn_at = $1 WHERE id = $2")
            .bind(time::now_rfc3339())
            .bind(review.id)
            .execute(&mut **tx)
            .await?;
        let data = ReviewEvent {
            review_id: review.id,
            reservation_id,
            campsite_id: review.campsite_id,
            phone: review.phone.clone(),
            rating: review.rating,
        };
        outbox::emit(tx, topics::REVIEW, ev::REVIEW_WITHDRAWN, reservation_subject(reservation_id), &data).await?;
        tracing::info!(review_id = review.id, reservation_id, "review withdrawn with its cancelled stay");
        Ok(())
    }

    /// Writes a review if the customer may; publishes `ReviewWritten`. With a key, binds it to
    /// the review in the same transaction.
    pub async fn write(&self, new: &NewReview, key: Option<&Idempotent>) -> anyhow::Result<Result<Review, Refusal>> {
        let mut tx = self.db.begin().await?;
        // Stays recorded before check-out was known open the day after check-in at the latest.
        let rows: Vec<(i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT s.reservation_id, COALESCE(s.check_out, s.check_in), s.status, r.id
             FROM stays s LEFT JOIN reviews r ON r.reservation_id = s.reservation_id
             WHERE s.phone = $1 AND s.campsite_id = $2",
        )
        .bind(&new.phone)
        .bind(new.campsite_id)
        .fetch_all(&mut *tx)
        .await?;
        let stays = rows
            .into_iter()
            .map(|(reservation_id, check_out, status, review)| {
                Ok(Stay {
                    reservation_id,
                    check_out,
                    confirmed: StayStatus::stored(&status)? == StayStatus::Confirmed,
                    reviewed: review.is_some(),
                })
            })
            .collect::<anyhow::Result<Vec<Stay>>>()?;
        let reservation_id = match eligible_stay(&stays, new.reservation_id, &self.clock.today().to_string()) {
            Ok(id) => id,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = time::now_rfc3339();
        let inserted = sqlx::query_scalar(
            "INSERT INTO reviews (reservation_id, campsite_id, phone, rating, text, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(reservation_id)
        .bind(new.campsite_id)
        .bind(&new.phone)
        .bind(new.rating)
        .bind(&new.text)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => return Ok(Err(Refusal::AlreadyReviewed)),
            Err(e) => return Err(e.into()),
        };
        if let Some(key) = key {
            key.bind(&mut tx, id).await?;
        }
        let data = ReviewEvent {
            review_id: id,
            reservation_id,
            campsite_id: new.campsite_id,
            phone: new.phone.clone(),
            rating: new.rating,
        };
        outbox::emit(&mut tx, topics::REVIEW, ev::REVIEW_WRITTEN, reservation_subject(reservation_id), &data).await?;
        self.waker.commit(tx).await?;
        tracing::info!(review_id = id, reservation_id, campsite_id = new.campsite_id, "review written");
        Ok(Ok(Review {
            id,
            reservation_id,
            campsite_id: new.campsite_id,
            phone: new.phone.clone(),
            rating: new.rating,
            text: new.text.clone(),
            created_at: now,
        }))
    }

    /// Up to `limit` reviews, newest first (ids below `before`), optionally of one campsite
    /// and/or by one customer.
    pub async fn list(
        &self,
        campsite_id: Option<i64>,
        phone: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<Review>> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} AND ($1 = 0 OR campsite_id = $1) AND ($2 = '' OR phone = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
        )))
        .bind(campsite_id.unwrap_or(0))
        .bind(phone.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(to_review).collect())
    }

    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Review>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} AND id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(to_review))
    }
}
