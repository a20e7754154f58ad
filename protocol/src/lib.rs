//! The contract between `hunterd` and its clients.
//!
//! Everything on the wire is a length-prefixed frame (see [`frame`]) whose payload is encoded by
//! [`codec`] — the only module that knows which serialisation format is in use, so it can be
//! swapped without touching the message types.
//!
//! A connection starts with a handshake that never changes shape across versions ([`Hello`] /
//! [`Welcome`]), so that an old client and a new daemon can always tell each other which side
//! needs upgrading. After it, the client sends [`ClientMessage::Request`]s tagged with ids and the
//! daemon answers with [`ServerMessage::Response`]s carrying the same id, interleaved with pushed
//! [`ServerMessage::Event`]s for subscribers.

pub mod codec;
pub mod frame;
pub mod handshake;
pub mod leads;
pub mod messages;
pub mod paths;
pub mod referrals;
pub mod sync;

pub use handshake::{Hello, VersionVerdict, Welcome};
pub use leads::*;
pub use messages::*;
pub use referrals::*;

/// Bumped whenever a message type after the handshake changes shape.
pub const PROTOCOL_VERSION: u32 = 9;

/// The version of this build (both binaries are built from one workspace version).
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest frame either side accepts. Checked before any allocation.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;
