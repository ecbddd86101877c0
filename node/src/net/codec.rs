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
