//! The handshake. Its two structs are frozen: every version of Hunter sends and understands exactly
//! these shapes, so version skew is always reported as a clear sentence, never as a decode error.

use serde::{Deserialize, Serialize};

/// Identifies the protocol in the first frame, so a stray connection is told apart from a client.
pub const MAGIC: [u8; 4] = *b"HNTR";

/// First frame, client → daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 4],
    pub protocol: u32,
    pub build_version: String,
    /// Program name for the daemon's logs, e.g. `hunter-tui`.
    pub client: String,
}

/// First frame, daemon → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub build_version: String,
    pub accepted: bool,
    /// When refused: the sentence to show the user.
    pub reason: Option<String>,
}

impl Hello {
    pub fn new(client: &str) -> Self {
        Hello {
            magic: MAGIC,
            protocol: crate::PROTOCOL_VERSION,
            build_version: crate::BUILD_VERSION.to_string(),
            client: client.to_string(),
        }
    }
}

/// How two protocol numbers relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionVerdict {
    Compatible,
    /// The client speaks an older protocol than the daemon.
    ClientOlder,
    /// The daemon speaks an older protocol than the client.
    DaemonOlder,
}

impl VersionVerdict {
    pub fn between(client_protocol: u32, daemon_protocol: u32) -> Self {
        use std::cmp::Ordering::*;
        match client_protocol.cmp(&daemon_protocol) {
            Equal => VersionVerdict::Compatible,
            Less => VersionVerdict::ClientOlder,
            Greater => VersionVerdict::DaemonOlder,
        }
    }
}

/// The one line both sides print when versions do not match: which side is older and what to do.
pub fn mismatch_message(
    client: &str,
    client_build: &str,
    client_protocol: u32,
    daemon_build: &str,
    daemon_protocol: u32,
) -> String {
    match VersionVerdict::between(client_protocol, daemon_protocol) {
        VersionVerdict::Compatible => String::new(),
        VersionVerdict::ClientOlder => format!(
            "{client} {client_build} (protocol {client_protocol}) is older than hunterd {daemon_build} \
             (protocol {daemon_protocol}): upgrade {client} to {daemon_build}"
        ),
        VersionVerdict::DaemonOlder => format!(
            "hunterd {daemon_build} (protocol {daemon_protocol}) is older than {client} {client_build} \
             (protocol {client_protocol}): upgrade hunterd to {client_build} and restart it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_client_is_told_to_upgrade_itself() {
        let msg = mismatch_message("hunter-tui", "0.1.0", 1, "0.2.0", 2);
        assert_eq!(
            msg,
            "hunter-tui 0.1.0 (protocol 1) is older than hunterd 0.2.0 (protocol 2): upgrade hunter-tui to 0.2.0"
        );
    }

    #[test]
    fn an_older_daemon_is_named_as_the_side_to_upgrade() {
        let msg = mismatch_message("hunter-tui", "0.3.0", 3, "0.2.0", 2);
        assert!(msg.starts_with("hunterd 0.2.0 (protocol 2) is older than hunter-tui 0.3.0"));
        assert!(msg.ends_with("upgrade hunterd to 0.3.0 and restart it"));
    }

    #[test]
    fn the_handshake_shape_is_frozen() {
        // These bytes are what every Hunter version sends; changing them breaks version reporting.
        let hello = Hello { magic: MAGIC, protocol: 1, build_version: "0.1.0".into(), client: "t".into() };
        let bytes = crate::codec::encode(&hello).unwrap();
        assert_eq!(bytes, [b'H', b'N', b'T', b'R', 1, 5, b'0', b'.', b'1', b'.', b'0', 1, b't']);
    }
}
