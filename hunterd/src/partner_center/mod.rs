//! Partner Center referrals: a person signs in once (device code), the daemon syncs referrals on a
//! schedule, ties each to a company by domain, and lets scoring and the lead views show it. Hunter
//! works fully with the feature off or Partner Center down: only this job fails, with a clear status.
//!
//! - `token.rs`: the saved sign-in (owner-only file, atomic writes).
//! - `auth.rs`: device-code sign-in and access tokens from the refresh token (`oauth2` crate).
//! - `client.rs`: the Referrals API: paging, retries, lenient errors.
//! - `referral.rs`: reading a referral, its kind and its company domain (pure).
//! - `sync.rs`: one sync run and how referrals are stored.
//! - `inbox.rs`: the referral inbox (every referral, linked or not) and manual links.
//! - `command.rs`: `hunterd auth partner-center` and `hunterd auth status`.

pub mod auth;
pub mod client;
pub mod command;
pub mod inbox;
pub mod referral;
pub mod sync;
pub mod token;

pub use sync::{JOB_NAME, Syncer};
