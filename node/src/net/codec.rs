//! The sync protocol's wire codec: one protobuf `SyncRequest` or
//! `SyncResponse` per stream, read with a hard size cap so a peer cannot make
//! us buffer more than one page.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use prost::Message;
use stoop_proto::v1 as pb;

use crate::core::envelope::MAX_ENVELOPE_BYTES;
use crate::core::sync::PAGE_LIMIT;

/// Protocol name of the sync request-response protocol.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/stoop/sync/1.0.0");
/// Largest sync request (ids wanted are bounded by this too).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest sync response: a full page of maximum-size envelopes plus framing.
pub const MAX_RESPONSE_BYTES: usize = PAGE_LIMIT as usize * (MAX_ENVELOPE_BYTES + 8) + 4096;

/// Codec for [`SYNC_PROTOCOL`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

async fn read_capped<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "sync message over the size cap"));
    }
    Ok(buf)
}

fn decode<M: Message + Default>(buf: &[u8]) -> io::Result<M> {
    M::decode(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = pb::SyncRequest;
    type Response = pb::SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Request> {
        decode(&read_capped(io, MAX_REQUEST_BYTES).await?)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Response> {
        decode(&read_capped(io, MAX_RESPONSE_BYTES).await?)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Self::Request,
    ) -> io::Result<()> {
        io.write_all(&req.encode_to_vec()).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Self::Response,
    ) -> io::Result<()> {
        io.write_all(&res.encode_to_vec()).await?;
        io.close().await
    }
}

/// Protocol name of sync v2's reconciliation rounds.
pub const RECONCILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/stoop/reconcile/1.0.0");
/// Protocol name of sync v2's fetch by id.
pub const FETCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/stoop/fetch/1.0.0");
/// Longest varint length prefix read: 5 bytes encode up to 2^35 - 1, far
/// over every cap, so a longer prefix is garbage.
const MAX_PREFIX_BYTES: usize = 5;

/// Codec for sync v2: each message is one unsigned-varint (LEB128) length
/// followed by that many bytes of protobuf, one message each way per
/// stream. The length is checked against the cap before anything is read
/// or allocated; decoding (with its own checks and named reasons) is left
/// to `net::reconcile`, so a broken message can be held against its sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct FramedCodec<const MAX_REQUEST: usize, const MAX_RESPONSE: usize>;

/// [`FramedCodec`] for [`RECONCILE_PROTOCOL`]: both ways at most
/// `reconcile::MAX_MESSAGE_BYTES`.
pub type ReconcileCodec =
    FramedCodec<{ crate::core::reconcile::MAX_MESSAGE_BYTES }, { crate::core::reconcile::MAX_MESSAGE_BYTES }>;
/// [`FramedCodec`] for [`FETCH_PROTOCOL`].
pub type FetchCodec = FramedCodec<
    { crate::core::reconcile::wire::MAX_FETCH_REQUEST_BYTES },
    { crate::core::reconcile::wire::MAX_FETCH_RESPONSE_BYTES },
>;

/// Reads one length-prefixed frame of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..MAX_PREFIX_BYTES {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            if len > max as u64 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "frame over the size cap"));
            }
            let mut buf = vec![0u8; len as usize];
            io.read_exact(&mut buf).await?;
            return Ok(buf);
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "length prefix too long"))
}

/// Writes one length-prefixed frame.
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let mut prefix = Vec::with_capacity(MAX_PREFIX_BYTES);
    prost::encoding::encode_varint(bytes.len() as u64, &mut prefix);
    io.write_all(&prefix).await?;
    io.write_all(bytes).await?;
    io.close().await
}

impl<const MAX_REQUEST: usize, const MAX_RESPONSE: usize> libp2p::request_response::Codec
    for FramedCodec<MAX_REQUEST, MAX_RESPONSE>
{
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io, MAX_REQUEST).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io, MAX_RESPONSE).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_the_cap_is_checked_before_reading() -> Result<(), Box<dyn std::error::Error>> {
        let mut wire = futures::io::Cursor::new(Vec::new());
        write_frame(&mut wire, &[7u8; 300]).await?;
        let bytes = wire.into_inner();
        assert_eq!(&bytes[..2], &[0xac, 0x02], "300 as a varint");
        assert_eq!(read_frame(&mut futures::io::Cursor::new(bytes.clone()), 300).await?, vec![7u8; 300]);
        let err = read_frame(&mut futures::io::Cursor::new(bytes[..2].to_vec()), 299).await;
        assert_eq!(err.map_err(|e| e.kind()), Err(io::ErrorKind::InvalidData), "refused from the prefix alone");
        let endless = vec![0xffu8; 16];
        assert!(read_frame(&mut futures::io::Cursor::new(endless), usize::MAX).await.is_err());
        Ok(())
    }
}
