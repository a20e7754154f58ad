//! Length-prefixed frames: a big-endian `u32` length, then that many payload bytes.
//!
//! The length is checked against [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) before the payload buffer
//! is allocated, so a hostile peer cannot make us reserve gigabytes with four bytes.

use serde::{Serialize, de::DeserializeOwned};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{self, CodecError};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    #[error("peer stalled in the middle of a frame for {0:?}")]
    Stalled(std::time::Duration),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Reads one frame's payload, refusing frames over `max` bytes before allocating.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max: u32) -> Result<Vec<u8>, FrameError> {
    let mut len_buf = [0u8; 4];
    match reader.read_exact(&mut len_buf).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len_buf);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Like [`read_frame`], for a peer that may idle between frames but, once a frame has begun, must
/// deliver the rest within `deadline` (a stalled half-frame would otherwise hold its reader forever).
pub async fn read_frame_with_deadline<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: u32,
    deadline: std::time::Duration,
) -> Result<Vec<u8>, FrameError> {
    let mut len_buf = [0u8; 4];
    if reader.read(&mut len_buf[..1]).await? == 0 {
        return Err(FrameError::Closed);
    }
    tokio::time::timeout(deadline, async {
        reader.read_exact(&mut len_buf[1..]).await?;
        let len = u32::from_be_bytes(len_buf);
        if len > max {
            return Err(FrameError::TooLarge { len, max });
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload).await?;
        Ok(payload)
    })
    .await
    .map_err(|_| FrameError::Stalled(deadline))?
}

/// Writes one payload as a frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= crate::MAX_FRAME_LEN)
        .ok_or(FrameError::TooLarge { len: u32::MAX, max: crate::MAX_FRAME_LEN })?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    writer.write_all(&buf).await?;
    writer.flush().await?;
    Ok(())
}

/// Encodes and writes a message.
pub async fn send<W: AsyncWrite + Unpin, T: Serialize>(writer: &mut W, msg: &T) -> Result<(), FrameError> {
    let payload = codec::encode(msg)?;
    write_frame(writer, &payload).await
}

/// Reads and decodes a message.
pub async fn recv<R: AsyncRead + Unpin, T: DeserializeOwned>(reader: &mut R) -> Result<T, FrameError> {
    let payload = read_frame(reader, crate::MAX_FRAME_LEN).await?;
    Ok(codec::decode(&payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_before_reading_it() {
        let mut bytes: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = read_frame(&mut bytes, 1024).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 0x7fff_ffff, max: 1024 }));
    }

    #[tokio::test]
    async fn end_of_stream_between_frames_is_a_clean_close() {
        let mut bytes: &[u8] = &[];
        assert!(matches!(read_frame(&mut bytes, 1024).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_io_error() {
        let mut bytes: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(matches!(read_frame(&mut bytes, 1024).await, Err(FrameError::Io(_))));
    }

    #[tokio::test]
    async fn a_half_sent_frame_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0, 0]).await.unwrap();
        let err = read_frame_with_deadline(&mut server, 1024, std::time::Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, FrameError::Stalled(_)), "{err}");
    }

    #[tokio::test]
    async fn a_frame_with_deadline_reads_like_any_other() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").await.unwrap();
        let mut rd: &[u8] = &buf;
        let got = read_frame_with_deadline(&mut rd, 1024, std::time::Duration::from_secs(1)).await.unwrap();
        assert_eq!(got, b"abc");
    }

    #[tokio::test]
    async fn written_frames_read_back() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").await.unwrap();
        write_frame(&mut buf, b"").await.unwrap();
        let mut rd: &[u8] = &buf;
        assert_eq!(read_frame(&mut rd, 1024).await.unwrap(), b"hello");
        assert_eq!(read_frame(&mut rd, 1024).await.unwrap(), b"");
    }
}
