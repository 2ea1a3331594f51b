//! The model check `.ci/run` runs (through the workspace's tests), at the bounds stated in each
//! test and in `docs/VERIFICATION.md`, and the planted bugs it must catch. Deeper runs:
//! `cargo run --release -p skycamp-model -- --help`.

use skycamp_model::{Bounds, Budget, Outcome, Plant, Sagas, Search, check, check_with};

const THREADS: usize = 2;

fn budget(crashes: u8, redeliveries: u8, call_faults: u8, operator: u8, client_retries: u8) -> Budget {
    Budget { crashes, redeliveries, call_faults, operator, client_retries }
}

fn holds(mut bounds: Bounds, budget: Budget) -> Outcome {
    bounds.budget = budget;
    let what = format!("{bounds:?}");
    // Depth first: a tenth of breadth first's memory and faster; a failure's counterexample is
    // longer than the shortest, which `skycamp-model` (breadth first) gives at the same bounds.
    let search = Search { threads: THREADS, depth_first: true, max_states: None };
    let outcome = check_with(Sagas::new(bounds), search);
    assert!(outcome.complete);
    println!(
        "{what}: {} distinct states, paths up to {} steps, {:.1?}",
        outcome.states, outcome.depth, outcome.elapsed
    );
    for (name, trace) in &outcome.failures {
        println!("FAILED: {name}\n{trace}");
    }
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures.iter().map(|f| f.0).collect::<Vec<_>>());
    outcome
}

#[test]
fn flight_bookings_keep_every_promise_through_crashes_lost_calls_and_client_retries() {
    let outcome = holds(Bounds::flight(), budget(1, 0, 1, 0, 1));
    assert!(outcome.unreached.is_empty(), "never reached: {:?}", outcome.unreached);
}

#[test]
fn flight_bookings_keep_every_promise_through_redelivery_crashes_and_lost_calls() {
    holds(Bounds::flight(), budget(1, 1, 1, 0, 0));
}

#[test]
fn flight_bookings_keep_every_promise_through_operator_refunds_retries_and_compensations() {
    holds(Bounds::flight(), budget(1, 0, 0, 1, 0));
}

#[test]
fn campsite_bookings_keep_every_promise_through_crashes_lost_calls_and_client_retries() {
    let outcome = holds(Bounds::campsite(), budget(1, 0, 1, 0, 1));
    assert!(outcome.unreached.is_empty(), "never reached: {:?}", outcome.unreached);
}

#[test]
fn campsite_bookings_keep_every_promise_through_redelivery_and_crashes() {
    holds(Bounds::campsite(), budget(1, 1, 0, 0, 0));
}

#[test]
fn campsite_bookings_keep_every_promise_through_operator_actions() {
    holds(Bounds::campsite(), budget(1, 0, 0, 1, 0));
}

/// Checks with a bug planted in the model's copy of the stores; the property must fail and the
/// counterexample is printed.
fn caught(bounds: Bounds, budget: Budget, plant: Plant, property: &str) -> String {
    let mut bounds = bounds;
    bounds.budget = budget;
    let outcome = check(Sagas::new(bounds).planted(plant), THREADS);
    let (_, trace) = outcome
        .failures
        .iter()
        .find(|(name, _)| *name == property)
        .unwrap_or_else(|| panic!("{plant:?} went unnoticed: {:?}", outcome.failures));
    println!("{plant:?} breaks \"{property}\":\n{trace}");
    trace.clone()
}

#[test]
fn a_consumer_that_skips_its_inbox_is_caught_crediting_mileage_twice() {
    let trace = caught(
        Bounds::flight(),
        budget(0, 1, 0, 0, 0),
        Plant { no_inbox: true, ..Plant::default() },
        "at quiescence, each customer's mileage is what its payments earned",
    );
    assert!(trace.contains("Redeliver(Mileage"), "the counterexample redelivers to mileage:\n{trace}");
}

#[test]
fn a_seat_update_without_its_condition_is_caught_overselling() {
    let trace = caught(
        Bounds::flight(),
        budget(0, 0, 0, 0, 0),
        Plant { unconditional_seat_update: true, ..Plant::default() },
        "seats held never exceed the flight's seats",
    );
    assert!(trace.contains("seats held 2"), "two seats held on a one-seat flight:\n{trace}");
}

#[test]
fn nights_without_their_key_are_caught_held_twice() {
    caught(
        Bounds::campsite(),
        budget(0, 0, 0, 0, 0),
        Plant { no_night_key: true, ..Plant::default() },
        "no night is held twice",
    );
}
