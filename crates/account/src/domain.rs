//! The rules of accounts and sign-in (no I/O).

use std::time::Duration;

use skycamp_contracts::Invalid;
use skycamp_contracts::customer::Phone;

/// The built-in admin's user name.
pub const ADMIN: &str = "admin";

/// Failed sign-ins in a row that a login may have before it is locked.
pub const FREE_FAILURES: i64 = 5;

/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// How long a login is locked after `failures` failed sign-ins in a row: nothing for the first
/// [`FREE_FAILURES`], then 1 s, doubling with every further failure, up to [`MAX_LOCK`].
pub fn lock_after(failures: i64) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(u32::MAX).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_LOCK)
}

/// A password a customer chooses: 8 to 128 characters.
pub fn check_password(password: &str) -> Result<(), Invalid> {
    match password.chars().count() {
        0..8 => Err(Invalid("password must be at least 8 characters".into())),
        129.. => Err(Invalid("password must be at most 128 characters".into())),
        _ => Ok(()),
    }
}

/// Who signs in: the admin, or a customer by phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Admin,
    Customer(Phone),
}

impl Login {
    /// `admin`, or a phone number; anything else cannot be an account.
    pub fn parse(username: &str) -> Option<Self> {
        if username == ADMIN {
            return Some(Self::Admin);
        }
        Phone::parse(username).ok().map(Self::Customer)
    }

    /// The key failures are counted under (also for logins that have no account).
    pub fn key(&self) -> &str {
        match self {
            Self::Admin => ADMIN,
            Self::Customer(p) => p.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_after_five_failures_and_double_up_to_fifteen_minutes() {
        assert_eq!(lock_after(4), Duration::ZERO);
        assert_eq!(lock_after(5), Duration::from_secs(1));
        assert_eq!(lock_after(6), Duration::from_secs(2));
        assert_eq!(lock_after(10), Duration::from_secs(32));
        assert_eq!(lock_after(100), MAX_LOCK);
        assert_eq!(lock_after(i64::MAX), MAX_LOCK);
    }

    #[test]
    fn passwords_are_eight_to_128_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"가".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_login_is_the_admin_or_a_phone() {
        assert_eq!(Login::parse("admin"), Some(Login::Admin));
        assert_eq!(Login::parse("010-1234-5678").unwrap().key(), "01012345678");
        assert_eq!(Login::parse("root"), None);
    }
}
