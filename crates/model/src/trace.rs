//! Counterexamples, told step by step: each action, then the rows it left.

use std::fmt::Write;

use stateright::Model;
use stateright::Path;

use crate::{Action, Sagas, State};

/// One line per step: what happened, then the reservations, payments, inventory and mileage
/// after it.
pub fn explain(model: &Sagas, path: &Path<State, Action>) -> String {
    let mut out = String::new();
    let steps = path.clone().into_vec();
    let _ = writeln!(out, "{} steps from the empty system:", steps.len().saturating_sub(1));
    let mut at = model.init_states().remove(0);
    for (n, (state, action)) in steps.into_iter().enumerate() {
        let Some(action) = action else {
            at = state;
            continue;
        };
        let _ = writeln!(out, "{:>3}. {action:?}", n + 1);
        if let Some(next) = model.next_state(&at, action) {
            let _ = writeln!(out, "     {}", summary(&next));
            at = next;
        }
    }
    out
}

/// The rows that carry the promises, in one line.
pub fn summary(s: &State) -> String {
    let reservations: Vec<String> = s
        .reservations
        .iter()
        .enumerate()
        .filter_map(|(c, r)| r.map(|r| format!("r{}={}", c + 1, r.status.as_str())))
        .collect();
    let payments: Vec<String> = s
        .payments
        .iter()
        .enumerate()
        .filter_map(|(c, p)| p.map(|p| format!("p{}={} {}", c + 1, p.status.as_str(), p.amount)))
        .collect();
    let nights: Vec<String> = s.night_rows.iter().map(|(n, c)| format!("{n}:r{}", c + 1)).collect();
    let ledger: Vec<String> = s.ledger.iter().map(|e| format!("c{}{:+}", e.customer, e.points)).collect();
    format!(
        "[{}] [{}] seats held {} nights [{}] mileage [{}] in flight {}",
        reservations.join(" "),
        payments.join(" "),
        s.seats_held,
        nights.join(" "),
        ledger.join(" "),
        s.pending.iter().map(Vec::len).sum::<usize>() + s.calls.len()
    )
}
