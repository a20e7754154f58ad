//! Mail-DNS scanning: MX, SPF (with its include tree), DMARC, DKIM and tenant hints for a domain.

pub mod dkim;
pub mod dmarc;
pub mod hints;
mod lookups;
pub mod model;
pub mod mx;
pub mod name;
mod records;
mod resolver;
mod scanner;
pub mod spf;

pub use model::*;
pub use scanner::{ScanError, Scanner};
