//! One WebSocket connection: binary frames in go to the node's task, frames the node sends
//! go out; inbound ones come through the HTTP server, outbound ones are dialled here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tabcoin_core::node::Direction;
use tabcoin_core::protocol::{ENVELOPE_BYTES, MAX_PAYLOAD_BYTES};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use crate::runtime::{Input, MAX_QUEUED_FRAMES, PeerIds, PeerLink, frame_charge};

/// The largest WebSocket message and frame accepted: one protocol message, no more.
pub const MAX_WS_MESSAGE: usize = ENVELOPE_BYTES + MAX_PAYLOAD_BYTES;
/// Small buffers: most peers are idle most of the time, and 10,000 of them must fit in memory.
pub const READ_BUFFER: usize = 4 * 1024;
pub const WRITE_BUFFER: usize = 16 * 1024;
/// A write buffer may hold one whole message beyond the usual buffering, and no more.
pub const MAX_WRITE_BUFFER: usize = MAX_WS_MESSAGE + WRITE_BUFFER;
/// Bytes of frames one peer may have waiting for the node's task outside the shared budget:
/// a turn's worth ([`crate::turns::TURN_BYTES`]).
const FREE_WAITING_BYTES: usize = crate::turns::TURN_BYTES;
/// A peer that does not take a frame in this time is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a received WebSocket message means here.
pub enum Incoming {
    Frame(Vec<u8>),
    Close,
    /// Control frames: the WebSocket library answers pings itself.
    Ignore,
}

/// The two WebSocket libraries' message types, seen the same way.
pub trait WsMessage: Sized {
    fn binary(bytes: Vec<u8>) -> Self;
    fn classify(self) -> Incoming;
}

impl WsMessage for axum::extract::ws::Message {
    fn binary(bytes: Vec<u8>) -> Self {
        axum::extract::ws::Message::Binary(bytes.into())
    }
    fn classify(self) -> Incoming {
        use axum::extract::ws::Message;
        match self {
            Message::Binary(bytes) => Incoming::Frame(bytes.to_vec()),
            // Not a protocol message: the node refuses it as malformed.
            Message::Text(text) => Incoming::Frame(text.as_bytes().to_vec()),
            Message::Close(_) => Incoming::Close,
            Message::Ping(_) | Message::Pong(_) => Incoming::Ignore,
        }
    }
}

impl WsMessage for tungstenite::Message {
    fn binary(bytes: Vec<u8>) -> Self {
        tungstenite::Message::Binary(bytes.into())
    }
    fn classify(self) -> Incoming {
        use tungstenite::Message;
        match self {
            Message::Binary(bytes) => Incoming::Frame(bytes.to_vec()),
            Message::Text(text) => Incoming::Frame(text.as_bytes().to_vec()),
            Message::Close(_) => Incoming::Close,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Incoming::Ignore,
        }
    }
}

/// Runs one connection until either side closes it.
pub async fn run_connection<S, M, E>(
    socket: S,
    direction: Direction,
    address: String,
    ids: &PeerIds,
    inputs: &mpsc::Sender<Input>,
) where
    S: Stream<Item = Result<M, E>> + Sink<M> + Unpin,
    M: WsMessage,
{
    let peer = ids.next();
    let (frames_tx, mut frames) = mpsc::channel::<Vec<u8>>(MAX_QUEUED_FRAMES);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let link = PeerLink { frames: frames_tx, queued_bytes: Arc::clone(&queued_bytes) };
    if inputs.send(Input::Connected { peer, direction, address, link }).await.is_err() {
        return;
    }
    let (mut sink, mut stream) = socket.split();
    // Reading and writing go on side by side: a reader waiting for its turn at the node's task
    // must not hold back what the node sends this peer.
    let reading = async {
        let own_allowance = Arc::new(tokio::sync::Semaphore::new(FREE_WAITING_BYTES));
        loop {
            let bytes = match stream.next().await.map(|m| m.map(WsMessage::classify)) {
                Some(Ok(Incoming::Frame(bytes))) => bytes,
                Some(Ok(Incoming::Ignore)) => continue,
                Some(Ok(Incoming::Close) | Err(_)) | None => return,
            };
            // A peer's first [`FREE_WAITING_BYTES`] of waiting frames are its own allowance,
            // so that every peer gets its turn however many flood; beyond it, frames wait for
            // a share of the shared budget, and while they wait this peer is not read:
            // back-pressure, not a growing queue.
            let charge = u32::try_from(frame_charge(bytes.len())).unwrap_or(u32::MAX);
            let budget = match Arc::clone(&own_allowance).try_acquire_many_owned(charge) {
                Ok(free) => free,
                Err(_) => match ids.reserve(bytes.len()).await {
                    Some(share) => share,
                    None => return,
                },
            };
            if inputs.send(Input::Frame { peer, bytes, budget }).await.is_err() {
                return;
            }
        }
    };
    let writing = async {
        while let Some(frame) = frames.recv().await {
            queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
            match tokio::time::timeout(WRITE_TIMEOUT, sink.send(M::binary(frame))).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        // The node dropped the link: close.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
    };
    tokio::select! {
        () = reading => {}
        () = writing => {}
    }
    let _ = inputs.send(Input::Closed { peer }).await;
}

/// The WebSocket limits for outbound connections (inbound ones get the same in the server).
pub fn client_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// Keeps a connection to another relay: dials, runs it, and dials again after it ends, waiting
/// longer after each failure (up to a minute).
pub async fn dial_forever(url: String, ids: Arc<PeerIds>, inputs: mpsc::Sender<Input>) {
    let mut backoff = Duration::from_secs(1);
    // Until the node's task is gone.
    while !inputs.is_closed() {
        // `true`: no Nagle, as on the server side.
        let dial = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(client_config()), true);
        match tokio::time::timeout(DIAL_TIMEOUT, dial).await {
            Ok(Ok((socket, _))) => {
                tracing::info!(%url, "Connected to peer relay");
                let started = Instant::now();
                run_connection(socket, Direction::Outbound, url.clone(), &ids, &inputs).await;
                if started.elapsed() > MAX_BACKOFF {
                    backoff = Duration::from_secs(1);
                }
                tracing::info!(%url, "Connection to peer relay ended; dialling again in {backoff:?}");
            }
            Ok(Err(error)) => tracing::warn!(%url, "Cannot reach peer relay: {error}; again in {backoff:?}"),
            Err(_) => tracing::warn!(%url, "Peer relay did not answer in time; again in {backoff:?}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
