//! The payment service's SQL adapter. One payment row per reservation (a unique key), so a
//! retried approval, a late approval after a void, and a concurrent duplicate all meet the same row.

use skycamp_contracts::payment::{self as ev, Payment, PaymentEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::db::{Db, Migration, Tx, is_unique_violation};
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};

use crate::domain::{
    Charge, ChargeDecision, Compensation, PaymentStatus, RefundError, compensate, decide_charge, refund_from,
};

/// Schema of the payment database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "payments",
        sql: "CREATE TABLE payments (id {id}, reservation_id BIGINT NOT NULL UNIQUE, phone TEXT NOT NULL,
                amount BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
    skycamp_platform::idempotency::MIGRATION,
    skycamp_platform::idempotency::RECOVERY_MIGRATION,
];

const SELECT: &str = "SELECT id, reservation_id, phone, amount, status, reason, created_at, updated_at FROM payments";
type Row = (i64, i64, String, i64, String, Option<String>, String, String);

fn to_payment(r: Row) -> Payment {
    let (id, reservation_id, phone, amount, status, reason, created_at, updated_at) = r;
    Payment { id, reservation_id, phone, amount, status, reason, created_at, updated_at }
}

/// The answer to an approval request.
#[derive(Debug)]
pub enum Approval {
    /// A new payment was created (approved or declined).
    Created(Payment),
    /// The reservation already had this payment.
    Existing(Payment),
    /// The reservation already has a payment of a different amount.
    AmountMismatch(Payment),
}

/// Payments and refunds.
#[derive(Clone)]
pub struct PaymentStore {
    db: Db,
    waker: Waker,
}

impl PaymentStore {
    pub fn new(db: Db, waker: Waker) -> Self {
        Self { db, waker }
    }

    /// One payment by id.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Payment>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(to_payment))
    }

    /// Payments, newest first (ids below `before`, if given), optionally only a reservation's.
    pub async fn list(
        &self,
        reservation_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<Payment>> {
        let rows: Vec<Row> = match reservation_id {
            Some(rid) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE reservation_id = $1 AND id < $2 LIMIT $3")))
                    .bind(rid)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(self.db.pool())
                    .await?
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id < $1 ORDER BY id DESC LIMIT $2")))
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(self.db.pool())
                    .await?
            }
        };
        Ok(rows.into_iter().map(to_payment).collect())
    }

    async fn by_reservation(tx: &mut Tx, reservation_id: i64) -> anyhow::Result<Option<Payment>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE reservation_id = $1")))
            .bind(reservation_id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.map(to_payment))
    }

    /// Charges for a reservation once; a repeat returns the first answer.
    pub async fn approve(&self, charge: &Charge, decline_above: i64) -> anyhow::Result<Approval> {
        let mut tx = self.db.begin().await?;
        let existing = Self::by_reservation(&mut tx, charge.reservation_id).await?;
        let (status, reason) = match decide_charge(existing, charge, decline_above) {
            ChargeDecision::New(status, reason) => (status, reason),
            ChargeDecision::Repeat(payment) => return Ok(Approval::Existing(payment)),
            ChargeDecision::AmountMismatch(payment) => return Ok(Approval::AmountMismatch(payment)),
        };
        let inserted = self.insert(&mut tx, charge, status, reason.as_deref()).await;
        let payment = match inserted {
            Ok(p) => p,
            Err(e) if e.downcast_ref::<sqlx::Error>().is_some_and(is_unique_violation) => {
                drop(tx);
                return self.existing_after_race(charge).await;
            }
            Err(e) => return Err(e),
        };
        if status == PaymentStatus::Approved {
            self.emit(&mut tx, ev::PAYMENT_APPROVED, &payment, None).await?;
        }
        self.waker.commit(tx).await?;
        Ok(Approval::Created(payment))
    }

    async fn existing_after_race(&self, charge: &Charge) -> anyhow::Result<Approval> {
        let mut tx = self.db.begin().await?;
        let existing = Self::by_reservation(&mut tx, charge.reservation_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("payment for reservation {} vanished", charge.reservation_id))?;
        Ok(Approval::Existing(existing))
    }

    async fn insert(
        &self,
        tx: &mut Tx,
        charge: &Charge,
        status: PaymentStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<Payment> {
        let now = time::now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO payments (reservation_id, phone, amount, status, reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(charge.reservation_id)
        .bind(&charge.phone)
        .bind(charge.amount)
        .bind(status.as_str())
        .bind(reason)
        .bind(&now)
        .fetch_one(&mut **tx)
        .await?;
        Ok(Payment {
            id,
            reservation_id: charge.reservation_id,
            phone: charge.phone.clone(),
            amount: charge.amount,
            status: status.as_str().into(),
            reason: reason.map(str::to_owned),
            created_at: now.clone(),
            updated_at: now,
        })
    }

    /// Refunds a payment (idempotent: refunding a refunded payment changes nothing).
    pub async fn refund(&self, id: i64, reason: &str) -> anyhow::Result<Result<Payment, RefundError>> {
        let mut tx = self.db.begin().await?;
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(payment) = row.map(to_payment) else { return Ok(Err(RefundError::NotFound)) };
        let refunded = self.refund_in(&mut tx, payment, reason).await?;
        self.waker.commit(tx).await?;
        Ok(refunded)
    }

    async fn refund_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        reason: &str,
    ) -> anyhow::Result<Result<Payment, RefundError>> {
        match refund_from(PaymentStatus::stored(&payment.status)?) {
            Err(e) => Ok(Err(e)),
            Ok(false) => Ok(Ok(payment)),
            Ok(true) => {
                let now = time::now_rfc3339();
                sqlx::query(
                    "UPDATE payments SET status = $1, reason = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                )
                .bind(PaymentStatus::Refunded.as_str())
                .bind(reason)
                .bind(&now)
                .bind(payment.id)
                .bind(PaymentStatus::Approved.as_str())
                .execute(&mut **tx)
                .await?;
                payment.status = PaymentStatus::Refunded.as_str().into();
                payment.reason = Some(reason.to_owned());
                payment.updated_at = now;
                self.emit(tx, ev::PAYMENT_CANCELLED, &payment, Some(reason)).await?;
                Ok(Ok(payment))
            }
        }
    }

    /// Compensation for a reservation that did not go ahead: refunds its payment, or, if no
    /// payment exists yet, records a declined one so a late approval cannot charge. Once per event.
    pub async fn refund_or_void(&self, event_id: &str, charge: &Charge, reason: &str) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, "payment", event_id).await? {
            return Ok(());
        }
        let existing = Self::by_reservation(&mut tx, charge.reservation_id).await?;
        let status = existing.as_ref().map(|p| PaymentStatus::stored(&p.status)).transpose()?;
        match (compensate(status), existing) {
            (Compensation::Refund, Some(payment)) => {
                self.refund_in(&mut tx, payment, reason).await??;
            }
            (Compensation::Void, _) => {
                let void = format!("voided: {reason}");
                self.insert(&mut tx, charge, PaymentStatus::Declined, Some(&void)).await?;
            }
            _ => {}
        }
        self.waker.commit(tx).await
    }

    async fn emit(&self, tx: &mut Tx, kind: &str, p: &Payment, reason: Option<&str>) -> anyhow::Result<()> {
        let data = PaymentEvent {
            payment_id: p.id,
            reservation_id: p.reservation_id,
            phone: p.phone.clone(),
            amount: p.amount,
            reason: reason.map(str::to_owned),
        };
        outbox::emit(tx, topics::PAYMENT, kind, reservation_subject(p.reservation_id), &data).await
    }
}
