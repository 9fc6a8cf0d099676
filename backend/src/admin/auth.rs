//! The operator's credential: the `--admin-token`, compared in constant time with the
//! `Authorization: Bearer` of a request, and the wrong guesses of each address counted so
//! that guessing is slowed down to a few tries a minute.
//!
//! The map of guessers is bounded ([`GUESSERS_MAX`]): when it is full of addresses still
//! inside their window, a new guesser is refused outright (`429`) rather than the map
//! growing or an old guesser being forgotten early. The operator's own requests with the
//! right token are never refused for someone else's guesses, unless that someone shares
//! the operator's address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq as _;

/// The shortest admin token taken: a guessable one would give the server away.
pub const TOKEN_MIN: usize = 16;
/// Wrong tokens one address may send in [`WINDOW`] before it is refused until the window
/// ends.
pub const FAILURES_MAX: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses with recent wrong guesses remembered at most.
const GUESSERS_MAX: usize = 10_000;

/// Why a request is not the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or a wrong one (`401`).
    Wrong,
    /// Too many wrong tokens from this address lately (`429`).
    Slowed,
}

/// A cheap handle: the token and the wrong guesses, shared by every route that checks it.
#[derive(Debug, Clone)]
pub struct Auth {
    token: Arc<[u8]>,
    guesses: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
}

impl Auth {
    /// The operator's token, or why it cannot be one.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.chars().count() < TOKEN_MIN {
            return Err(format!(
                "the admin token (--admin-token or CHAT_ADMIN_TOKEN) must be at least {TOKEN_MIN} characters long"
            ));
        }
        Ok(Self { token: token.as_bytes().into(), guesses: Arc::default() })
    }

    /// Whether `headers` carry the token (no guess counted: see [`Auth::check`]).
    pub fn bearer_matches(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // Constant time over the token's length: the answer's time tells nothing of how
        // much of a guess was right (a length mismatch is told at once, as `ct_eq` does).
        bool::from(given.as_bytes().ct_eq(&self.token))
    }

    /// Whether a request from `ip` is the operator's; counts a wrong guess.
    pub fn check(&self, headers: &HeaderMap, ip: IpAddr) -> Result<(), Denied> {
        let now = Instant::now();
        let mut guesses = self.guesses.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(n, since)) = guesses.get(&ip) {
            if now.duration_since(since) >= WINDOW {
                guesses.remove(&ip);
            } else if n >= FAILURES_MAX {
                return Err(Denied::Slowed);
            }
        }
        if self.bearer_matches(headers) {
            return Ok(());
        }
        if guesses.len() >= GUESSERS_MAX && !guesses.contains_key(&ip) {
            guesses.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
            if guesses.len() >= GUESSERS_MAX {
                return Err(Denied::Slowed);
            }
        }
        let entry = guesses.entry(ip).or_insert((0, now));
        entry.0 += 1;
        Err(Denied::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn a_short_token_is_refused() {
        assert!(Auth::new("short").is_err());
        assert!(Auth::new("0123456789abcdef").is_ok());
    }

    #[test]
    fn wrong_guesses_are_slowed_down_per_address() {
        let auth = Auth::new("0123456789abcdef").unwrap();
        let (guesser, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert_eq!(auth.check(&bearer("0123456789abcdef"), guesser), Ok(()));
        for _ in 0..FAILURES_MAX {
            assert_eq!(auth.check(&bearer("0123456789abcdeX"), guesser), Err(Denied::Wrong));
        }
        assert_eq!(auth.check(&HeaderMap::new(), guesser), Err(Denied::Slowed));
        // Even the right token, from there, until the window ends; others are not held up.
        assert_eq!(auth.check(&bearer("0123456789abcdef"), guesser), Err(Denied::Slowed));
        assert_eq!(auth.check(&bearer("0123456789abcdef"), other), Ok(()));
    }
}
