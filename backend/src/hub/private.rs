//! Private rooms: the passwords (Argon2id, kept as PHC strings with their salt) and the
//! limit on wrong guesses.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose, so they never run
//! under the hub's lock nor on a runtime worker: a join that needs one stops
//! ([`super::Handled::Read`]), its handler awaits [`super::Hub::read`], which runs it on the
//! blocking pool (at most [`HASHING_MAX`] at once), and the join goes on with what it
//! proved. Wrong guesses are
//! counted per connection before any hashing, so a brute force costs the server nothing
//! once it is refused.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use common::Password;

/// Argon2 runs at most this many at once, whatever the number of joins waiting.
pub const HASHING_MAX: usize = 2;

/// Wrong passwords a connection may try within [`WRONG_WINDOW`]; past that, `rate_limited`.
pub const WRONG_MAX: usize = 5;
pub const WRONG_WINDOW: Duration = Duration::from_secs(60);

/// CPU work a join needs done off the lock.
#[derive(Debug)]
pub(super) enum Work {
    /// Hash the password of a room being created.
    Hash(Password),
    /// Check a password against a private room's hash.
    Verify(Password, Arc<str>),
}

/// What [`Work`] found.
#[derive(Debug)]
pub(super) enum Worked {
    Hashed(Arc<str>),
    /// Whether the password matched, and the hash it was checked against.
    Verified(bool, Arc<str>),
}

impl Work {
    /// Runs the hash or the check: blocking, tens of milliseconds.
    pub(super) fn run(self) -> Worked {
        match self {
            Self::Hash(password) => Worked::Hashed(hash(&password).into()),
            Self::Verify(password, phc) => Worked::Verified(verify(&password, &phc), phc),
        }
    }
}

/// The PHC string of `password` with a fresh random salt, Argon2id with the crate's
/// default parameters (19 MiB, 2 passes: OWASP's recommendation).
pub fn hash(password: &Password) -> String {
    let mut salt = [0u8; 16];
    // The OS generator failing is not something a chat server can work around.
    getrandom::fill(&mut salt).expect("the operating system's random generator works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("the default parameters hash any password of at most 128 characters")
        .to_string()
}

/// Whether `password` is the one `phc` was made from. A stored string that does not parse
/// matches nothing.
pub fn verify(password: &Password, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok())
}

/// A connection's wrong passwords within the last [`WRONG_WINDOW`], at most [`WRONG_MAX`].
#[derive(Debug, Default)]
pub(super) struct WrongTries {
    at: VecDeque<Instant>,
}

impl WrongTries {
    /// Whether another try must be refused now.
    pub(super) fn limited(&mut self, now: Instant) -> bool {
        while self.at.front().is_some_and(|t| now.duration_since(*t) >= WRONG_WINDOW) {
            self.at.pop_front();
        }
        self.at.len() >= WRONG_MAX
    }

    pub(super) fn record(&mut self, now: Instant) {
        if self.at.len() >= WRONG_MAX {
            self.at.pop_front();
        }
        self.at.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_a_salted_phc_string_that_verifies_only_its_password() {
        let password = Password::parse("correct horse").unwrap();
        let (a, b) = (hash(&password), hash(&password));
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert!(!a.contains("correct horse"));
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify(&password, &a) && verify(&password, &b));
        assert!(!verify(&Password::parse("correct horsE").unwrap(), &a));
        assert!(!verify(&password, "not a phc string"));
    }

    #[test]
    fn wrong_tries_are_limited_within_the_window() {
        let mut tries = WrongTries::default();
        let t0 = Instant::now();
        for i in 0..WRONG_MAX {
            assert!(!tries.limited(t0), "try {i}");
            tries.record(t0);
        }
        assert!(tries.limited(t0 + Duration::from_secs(59)));
        assert!(!tries.limited(t0 + WRONG_WINDOW), "a minute later, again");
    }
}
