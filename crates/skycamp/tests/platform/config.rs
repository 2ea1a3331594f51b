//! A bad setting stops the process at start-up, with a message naming the variable to fix.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `skycamp args…` with `env` set; returns its exit success and standard error. A process
/// still running after 20 s started when it should not have: it is killed and counts as success.
fn run(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skycamp"))
        .args(args)
        .args(["--gateway-port=0", "--reservation-port=0", "--flight-port=0", "--payment-port=0"])
        .args(["--campsite-port=0", "--mileage-port=0", "--notification-port=0", "--review-port=0", "--account-port=0"])
        .env_remove("SKYCAMP_DATABASE_URL")
        .env_remove("SKYCAMP_KAFKA_BROKERS")
        .env_remove("SKYCAMP_INTERNAL_KEY")
        .env("SKYCAMP_DATA_DIR", dir.path())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (ok, std::fs::read_to_string(stderr).unwrap())
}

/// A valid internal key (32 bytes).
const KEY: &str = "0123456789abcdef0123456789abcdef";

/// Environment, arguments, and what standard error must say.
type Case = (&'static [(&'static str, &'static str)], &'static [&'static str], &'static str);

#[test]
fn bad_variables_are_named_and_nothing_starts() {
    let cases: &[Case] = &[
        (&[("SKYCAMP_PAYMENT_TIMEOUT_MS", "3s")], &["up"], "invalid SKYCAMP_PAYMENT_TIMEOUT_MS"),
        (&[("SKYCAMP_KAFKA_BROKERS", "localhost")], &["up"], "invalid SKYCAMP_KAFKA_BROKERS"),
        (&[("SKYCAMP_KAFKA_PARTITIONS", "0")], &["up"], "invalid SKYCAMP_KAFKA_PARTITIONS"),
        (&[("SKYCAMP_DATABASE_URL", "mysql://db/x")], &["up"], "invalid SKYCAMP_DATABASE_URL"),
        (
            &[("SKYCAMP_PAYMENT_URL", "http://a:8083,payment"), ("SKYCAMP_INTERNAL_KEY", KEY)],
            &["serve", "reservation"],
            "invalid SKYCAMP_PAYMENT_URL",
        ),
        (&[], &["serve", "payment"], "SKYCAMP_INTERNAL_KEY is not set"),
        (&[("SKYCAMP_INTERNAL_KEY", "too-short")], &["serve", "reservation"], "invalid SKYCAMP_INTERNAL_KEY"),
        (&[("SKYCAMP_BREAKER_WINDOW_MS", "10")], &["up"], "invalid SKYCAMP_BREAKER_WINDOW_MS"),
        (&[("SKYCAMP_HTTP_MAX_CONNECTIONS", "0")], &["up"], "invalid SKYCAMP_HTTP_MAX_CONNECTIONS"),
        (&[("SKYCAMP_BREAKER_FAILURE_RATE", "1.5")], &["up"], "invalid SKYCAMP_BREAKER_FAILURE_RATE"),
        (&[("SKYCAMP_INSTANCES", "2")], &["up", "--processes"], "invalid SKYCAMP_INSTANCES"),
        (&[], &["serve", "flight"], "`skycamp serve` will not run with authentication off"),
        (&[("SKYCAMP_AUTH", "off")], &["serve", "flight"], "or pass --insecure"),
        (&[("SKYCAMP_AUTH", "oidc")], &["up"], "SKYCAMP_AUTH=oidc needs SKYCAMP_AUTH_ISSUER"),
        (&[("SKYCAMP_AUTH", "ldap")], &["up"], "invalid SKYCAMP_AUTH"),
        (&[("SKYCAMP_TOKEN_KEYS", "c2hvcnQ")], &["up"], "invalid SKYCAMP_TOKEN_KEYS: key 1"),
        (&[("SKYCAMP_ADMIN_PASSWORD", "short")], &["up"], "invalid SKYCAMP_ADMIN_PASSWORD"),
        (&[("SKYCAMP_ADMIN_PASSWORD_HASH", "plain-text")], &["up"], "invalid SKYCAMP_ADMIN_PASSWORD_HASH"),
    ];
    for (env, args, expected) in cases {
        let (ok, stderr) = run(env, args);
        assert!(!ok, "{env:?} must stop skycamp {args:?}");
        assert!(stderr.contains(expected), "{env:?}: expected {expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_flag_on_the_command_line_is_blamed_as_a_flag() {
    let (ok, stderr) = run(&[], &["up", "--payment-timeout-ms=soon"]);
    assert!(!ok);
    assert!(stderr.contains("--payment-timeout-ms") && !stderr.contains("SKYCAMP_"), "{stderr}");
}

#[test]
fn a_bad_value_in_the_settings_file_is_blamed_on_its_variable_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skycamp.env");
    std::fs::write(&file, "SKYCAMP_MAX_NIGHTS=2\nSKYCAMP_PAYMENT_TIMEOUT_MS=3s\n").unwrap();
    let path = file.display().to_string();
    let (ok, stderr) = run(&[("SKYCAMP_CONFIG", &path)], &["up"]);
    assert!(!ok, "a bad settings file must stop skycamp");
    assert!(stderr.contains(&format!("invalid SKYCAMP_PAYMENT_TIMEOUT_MS (in {path})")), "{stderr}");
    // A value the parser takes but the start-up checks refuse is blamed on its variable too.
    std::fs::write(&file, "SKYCAMP_BREAKER_FAILURE_RATE=7\n").unwrap();
    let (ok, stderr) = run(&[("SKYCAMP_CONFIG", &path)], &["up"]);
    assert!(!ok && stderr.contains("invalid SKYCAMP_BREAKER_FAILURE_RATE"), "{stderr}");
}
