//! The review service's SQL adapter: stays (a projection of reservation events) and reviews.

use serde::Serialize;
use skycamp_contracts::review::{self as ev, ReviewEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::clock::Clock;
use skycamp_platform::db::{Db, Migration, is_unique_violation};
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};

use crate::domain::{NewReview, Refusal, Stay, eligible_stay};

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
    outbox::MIGRATION,
    inbox::MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
];

/// A review as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: i64,
    pub reservation_id: i64,
    pub campsite_id: i64,
    pub phone: String,
    pub rating: i64,
    pub text: String,
    pub created_at: String,
}

type Row = (i64, i64, i64, String, i64, String, String);
const SELECT: &str = "SELECT id, reservation_id, campsite_id, phone, rating, text, created_at FROM reviews";

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

    /// Records a stay's status from a reservation event, once per event.
    pub async fn record_stay(
        &self,
        event_id: &str,
        reservation_id: i64,
        campsite_id: i64,
        phone: &str,
        check_in: &str,
        status: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "review", event_id).await? {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO stays (reservation_id, campsite_id, phone, check_in, status) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (reservation_id) DO UPDATE SET status = excluded.status",
        )
        .bind(reservation_id)
        .bind(campsite_id)
        .bind(phone)
        .bind(check_in)
        .bind(status)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a review if the customer may; publishes `ReviewWritten`.
    pub async fn write(&self, new: &NewReview) -> anyhow::Result<Result<Review, Refusal>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<(i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT s.reservation_id, s.check_in, s.status, r.id FROM stays s LEFT JOIN reviews r ON r.reservation_id = s.reservation_id
             WHERE s.phone = $1 AND s.campsite_id = $2",
        )
        .bind(&new.phone)
        .bind(new.campsite_id)
        .fetch_all(&mut *tx)
        .await?;
        let stays: Vec<Stay> = rows
            .into_iter()
            .map(|(reservation_id, check_in, status, review)| Stay {
                reservation_id,
                check_in,
                confirmed: status == "CONFIRMED",
                reviewed: review.is_some(),
            })
            .collect();
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

    /// Reviews, newest first, optionally of one campsite and/or by one customer.
    pub async fn list(&self, campsite_id: Option<i64>, phone: Option<&str>) -> anyhow::Result<Vec<Review>> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE ($1 = 0 OR campsite_id = $1) AND ($2 = '' OR phone = $2) ORDER BY id DESC LIMIT 500"
        )))
        .bind(campsite_id.unwrap_or(0))
        .bind(phone.unwrap_or(""))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(to_review).collect())
    }

    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Review>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(to_review))
    }
}
