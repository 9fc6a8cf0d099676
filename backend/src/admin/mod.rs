//! The operator's API (`/api/admin/*`, with `--admin-token`): its credential (`auth`).

mod auth;

pub use auth::{Auth, Denied};
