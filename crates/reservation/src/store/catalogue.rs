//! The read models customers browse: `flightStatuses` (flights with live seat counts) and
//! `campsiteStatuses` (campsites with ratings and booked nights). Each is kept by the
//! `reservation-view` consumer from the newest snapshot events; nothing else writes them.

use skycamp_contracts::campsite::{CampsiteSnapshot, NightsDecided};
use skycamp_contracts::flight::FlightSnapshot;
use skycamp_platform::answers::Answers;
use skycamp_platform::db::{Db, Tx};
use skycamp_platform::inbox;

/// The inbox name of the read-model consumer.
const VIEW: &str = "reservation-view";
/// The PostgreSQL notification channel on which instances tell each other the models changed.
pub const CHANGED: &str = "skycamp_reservation_catalogue";

type FlightRow = (i64, String, String, i64, i64, i64, i64, i64);

/// One row of the campsite read model, before a date range is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampsiteRow {
    pub campsite: CampsiteSnapshot,
    pub reviews: i64,
    pub rating_sum: i64,
    /// Booked nights within the asked range (ISO dates).
    pub booked: Vec<String>,
}

/// One change to the read models, from one event.
#[derive(Debug, Clone)]
pub enum Change {
    Flight(FlightSnapshot),
    Campsite(CampsiteSnapshot),
    /// A reservation's nights, booked (`true`) or free again.
    Nights(NightsDecided, bool),
    /// A review's rating added (`sign` 1) or withdrawn (`sign` -1).
    Rating {
        campsite_id: i64,
        rating: i64,
        sign: i64,
    },
}

/// The flight and campsite read models, and their finished answers in memory (dropped on every
/// change, here and, through PostgreSQL notifications, on every other instance).
#[derive(Clone)]
pub struct CatalogueStore {
    db: Db,
    answers: Answers,
}

impl CatalogueStore {
    pub fn new(db: Db, answers: Answers) -> Self {
        Self { db, answers }
    }

    /// The models' answers kept in memory.
    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    /// Applies `changes` (each with the id of the event it comes from; one already applied is
    /// skipped) in one transaction, then drops every answer computed before it. The consumer
    /// hands over a whole batch of events at once, so a burst of seat changes costs one commit.
    pub async fn apply(&self, changes: &[(&str, Change)]) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        let mut applied = 0;
        for (event_id, change) in changes {
            if !inbox::claim(&mut tx, VIEW, event_id).await? {
                continue;
            }
            applied += 1;
            match change {
                Change::Flight(f) => Self::upsert_flight(&mut tx, f).await?,
                Change::Campsite(c) => Self::upsert_campsite(&mut tx, c).await?,
                Change::Nights(d, held) => Self::mark_nights(&mut tx, d, *held).await?,
                Change::Rating { campsite_id, rating, sign } => {
                    Self::add_rating(&mut tx, *campsite_id, *rating, *sign).await?
                }
            }
        }
        if applied == 0 {
            return Ok(());
        }
        self.db.notify(&mut tx, CHANGED).await?;
        tx.commit().await?;
        self.answers.changed();
        Ok(())
    }

    /// Keeps the newest snapshot of a flight in the read model (older or repeated ones change nothing).
    async fn upsert_flight(tx: &mut Tx, f: &FlightSnapshot) -> anyhow::Result<()> {
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
        .execute(&mut **tx)
        .await?;
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

    /// Keeps the newest snapshot of a campsite (older or repeated ones change nothing).
    async fn upsert_campsite(tx: &mut Tx, c: &CampsiteSnapshot) -> anyhow::Result<()> {
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
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks a reservation's nights booked (`held`) or free again in the read model.
    async fn mark_nights(tx: &mut Tx, d: &NightsDecided, held: bool) -> anyhow::Result<()> {
        if held {
            for night in &d.nights {
                sqlx::query(
                    "INSERT INTO campsite_booked_nights (campsite_id, night, reservation_id) VALUES ($1, $2, $3)
                     ON CONFLICT (campsite_id, night) DO NOTHING",
                )
                .bind(d.campsite_id)
                .bind(night)
                .bind(d.reservation_id)
                .execute(&mut **tx)
                .await?;
            }
        } else {
            sqlx::query("DELETE FROM campsite_booked_nights WHERE reservation_id = $1")
                .bind(d.reservation_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Adds a review's rating to its campsite's average (`sign` 1), or takes a withdrawn one
    /// out of it (`sign` -1).
    async fn add_rating(tx: &mut Tx, campsite_id: i64, rating: i64, sign: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO campsite_ratings (campsite_id, reviews, rating_sum) VALUES ($1, $2, $3)
             ON CONFLICT (campsite_id) DO UPDATE SET reviews = campsite_ratings.reviews + excluded.reviews,
               rating_sum = campsite_ratings.rating_sum + excluded.rating_sum",
        )
        .bind(campsite_id)
        .bind(sign)
        .bind(sign * rating)
        .execute(&mut **tx)
        .await?;
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
        rows.into_iter()
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
                        amenities: serde_json::from_str(&amenities).map_err(|e| {
                            anyhow::anyhow!("campsite {id} has unreadable amenities {amenities:?}: {e}")
                        })?,
                        deleted: deleted != 0,
                        version,
                    };
                    let booked = booked.iter().filter(|(c, _)| *c == id).map(|(_, n)| n.clone()).collect();
                    Ok(CampsiteRow { campsite, reviews, rating_sum, booked })
                },
            )
            .collect()
    }
}

type CampsiteStatusRow = (i64, String, String, String, i64, i64, String, i64, i64, i64, i64);
