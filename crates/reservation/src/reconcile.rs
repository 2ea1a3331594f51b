//! Reconciliation: a reservation left in `PENDING_PAYMENT` (the process died during the payment
//! call) is settled with the payment service by reservation id. A completed charge is honoured
//! (`PAID`); otherwise the reservation is rejected, which voids any charge that comes late.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::SagaInput;
use crate::payment_client::{PaymentClient, PaymentError};
use crate::store::ReservationStore;

/// Settles stale `PENDING_PAYMENT` reservations every `every`, once they are `stale_after` old.
pub async fn run(
    store: ReservationStore,
    payments: PaymentClient,
    stale_after: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(e) = reconcile_once(&store, &payments, stale_after).await {
            tracing::warn!(error = %format!("{e:#}"), "reconciliation round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One round; returns how many reservations were settled.
pub async fn reconcile_once(
    store: &ReservationStore,
    payments: &PaymentClient,
    stale_after: Duration,
) -> anyhow::Result<usize> {
    let cutoff = store.clock().now_millis() - stale_after.as_millis() as i64;
    let stale = store.stale_pending(cutoff).await?;
    let mut settled = 0;
    for r in stale {
        let input = match payments.find_by_reservation(r.id).await {
            Ok(Some(p)) if p.status == "APPROVED" => SagaInput::PaymentApproved { payment_id: p.id },
            Ok(_) => SagaInput::PaymentUnavailable { reason: "reconciled: payment never completed".into() },
            Err(PaymentError::Declined(_) | PaymentError::Unavailable(_) | PaymentError::CircuitOpen) => {
                tracing::info!(reservation_id = r.id, "payment unreachable; reconciling later");
                return Ok(settled);
            }
        };
        store.apply(r.id, &input, None).await?;
        tracing::info!(reservation_id = r.id, step = input.step(), "reconciled pending reservation");
        settled += 1;
    }
    Ok(settled)
}

/// Logs, every `deadline` (at most 15 s), and counts in [`skycamp_platform::metrics::STUCK_SAGAS`]
/// the reservations that have waited for their inventory answer longer
/// than `deadline`, so nothing waits silently; operators act on them through
/// `GET /reservations?stuck=true`, `POST /reservations/{id}/retry` and `…/compensate`.
pub async fn watch_stuck(store: ReservationStore, deadline: Duration, shutdown: CancellationToken) {
    let every = deadline.min(Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let cutoff = store.clock().now_millis() - deadline.as_millis() as i64;
        match store.stuck(cutoff, None, 1000).await {
            Ok(stuck) => {
                for kind in ["flight", "campsite"] {
                    let n = stuck.iter().filter(|r| r.item.kind() == kind).count();
                    metrics::gauge!(skycamp_platform::metrics::STUCK_SAGAS, "kind" => kind).set(n as f64);
                }
                if !stuck.is_empty() {
                    let ids: Vec<i64> = stuck.iter().map(|r| r.id).collect();
                    tracing::error!(count = ids.len(), ?ids, "reservations stuck waiting for the inventory service");
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "checking for stuck reservations failed"),
        }
    }
}
