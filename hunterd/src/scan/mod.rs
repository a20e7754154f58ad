//! Mail-DNS scanning: MX, SPF (with its include tree), DMARC, DKIM and tenant hints for a domain.

pub mod model;

pub use model::*;
