//! From the work queue to a scored lead: claim a domain, scan its DNS, detect its provider, score it,
//! store everything, tell clients.

pub mod changes;
pub mod engine;
pub mod registration;
pub mod rescan;
pub mod store;
pub mod submit;
pub mod worker;

pub use submit::Submitter;
