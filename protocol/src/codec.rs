//! The one place that knows the wire encoding (bincode 2, serde mode).
//!
//! bincode is pinned to 2.x on purpose; to move to another format only this file changes.

use serde::{Serialize, de::DeserializeOwned};

/// A payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("could not encode message: {0}")]
    Encode(String),
    #[error("could not decode message: {0}")]
    Decode(String),
    #[error("message has {0} trailing bytes")]
    TrailingBytes(usize),
}

fn config() -> impl bincode::config::Config {
    // The limit is a second guard behind the frame-size check: no length field inside a payload can
    // make the decoder allocate more than a frame may hold.
    bincode::config::standard().with_limit::<{ crate::MAX_FRAME_LEN as usize }>()
}

/// Encodes a message into a payload.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a whole payload; bytes left over are an error (a sign of a mismatched peer).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, Request};

    #[test]
    fn a_request_survives_a_round_trip() {
        let msg = ClientMessage::Request { id: 7, body: Request::Status };
        let bytes = encode(&msg).unwrap();
        let back: ClientMessage = decode(&bytes).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        let garbage = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37];
        assert!(decode::<ClientMessage>(&garbage).is_err());
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&ClientMessage::Request { id: 1, body: Request::Ping }).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<ClientMessage>(&bytes), Err(CodecError::TrailingBytes(1))));
    }

    #[test]
    fn a_huge_inner_length_does_not_allocate() {
        // A string claiming u64::MAX bytes must be refused by the limit, not attempted.
        let mut bytes = vec![0u8, 1]; // variant Request, id 1
        bytes.extend_from_slice(&[0xff; 9]);
        assert!(decode::<ClientMessage>(&bytes).is_err());
    }
}
