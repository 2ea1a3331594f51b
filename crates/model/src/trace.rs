//! Counterexamples, told step by step: each action, then the rows it left.

use std::fmt::Write;

use stateright::Path;

use crate::{Action, State};

/// One line per step: what happened, then the reservations, payments, inventory and mileage
/// after it.
pub fn explain(path: &Path<State, Action>) -> String {
    let steps = path.clone().into_vec();
    let mut out = String::new();
    let _ = writeln!(out, "{} steps from the empty system:", steps.len().saturating_sub(1));
    // Each state comes with the action taken from it; the next state is what it left.
    for (n, pair) in steps.windows(2).enumerate() {
        if let [(_, Some(action)), (after, _)] = pair {
            let _ = writeln!(out, "{:>3}. {action:?}", n + 1);
            let _ = writeln!(out, "     {}", summary(after));
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
