//! How many connections the relay holds: every accepted connection takes a slot under a cap in
//! all (the open-file limit, raised as far as the system allows, less a reserve) and a cap per
//! source address, and gives it back when it closes. Without them one client's thousand idle
//! connections made the page, the API and `/ws` unreachable under the usual open-file limit.
//!
//! A connection must also complete its first request within [`FIRST_REQUEST_TIMEOUT`]
//! (axum-server's `first_request_timeout`, after the TLS handshake's own deadline; the RPC
//! applies it to its request line); a WebSocket then has the node's handshake and ping
//! timeouts.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a new connection may take to send its first complete request.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors kept for everything but peers' connections: the store, the RPC, logs, the
/// miner and checker threads' needs.
const RESERVED_DESCRIPTORS: u64 = 64;
/// Refusals are logged at most this often (a flood of them would flood the log).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Connection caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    pub per_source: usize,
}

impl Limits {
    /// The caps for an open-file limit of `descriptors`: all of it but a reserve, and
    /// `per_source` from one address.
    pub fn for_descriptors(descriptors: u64, per_source: usize) -> Limits {
        let total = usize::try_from(descriptors.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX).max(1);
        Limits { total, per_source: per_source.clamp(1, total) }
    }
}

/// Raises the process's open-file limit as far as the system allows; returns it.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("could not raise the open-file limit: {e}");
            rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).unwrap_or(1_024)
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
    refused_since_log: u64,
    last_log: Option<Instant>,
}

/// The connections held, by source.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    counts: Mutex<Counts>,
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate { limits, counts: Mutex::new(Counts::default()) })
    }

    /// A slot for a connection from `source`, if the caps allow.
    fn admit(self: &Arc<Gate>, source: IpAddr) -> Option<Slot> {
        let source = source_group(source);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if counts.total >= self.limits.total || from_source >= self.limits.per_source {
            counts.refused_since_log += 1;
            let now = Instant::now();
            if counts.last_log.is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_INTERVAL) {
                tracing::warn!(
                    "refused {} connection(s) over the caps (the last from {source}: {from_source} held from it, {} in all; caps {} per address, {} in all)",
                    counts.refused_since_log,
                    counts.total,
                    self.limits.per_source,
                    self.limits.total
                );
                counts.refused_since_log = 0;
                counts.last_log = Some(now);
            }
            return None;
        }
        counts.total += 1;
        *counts.by_source.entry(source).or_default() += 1;
        Some(Slot { gate: Arc::clone(self), source })
    }

    fn release(&self, source: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.by_source.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.by_source.remove(&source);
            }
        }
    }

    /// Connections held now.
    pub fn held(&self) -> usize {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).total
    }
}

/// Where a connection counts against the per-address cap: its IPv4 address, or the /64 of its
/// IPv6 address (one subscriber is handed a whole /64, and could otherwise open the cap's
/// worth of connections from each of its addresses).
fn source_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// A connection's place under the caps, given back when the connection is dropped.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release(self.source);
    }
}

/// An acceptor that admits connections under the caps, around `inner` (plain TCP, or TLS over
/// it): one over a cap is closed at once.
#[derive(Clone)]
pub struct GuardedAcceptor<A> {
    inner: A,
    gate: Arc<Gate>,
}

impl<A> GuardedAcceptor<A> {
    pub fn new(inner: A, gate: Arc<Gate>) -> Self {
        GuardedAcceptor { inner, gate }
    }
}

type Accepted<S, V> = Pin<Box<dyn Future<Output = io::Result<(Guarded<S>, V)>> + Send>>;

impl<A, S> Accept<TcpStream, S> for GuardedAcceptor<A>
where
    A: Accept<TcpStream, S> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
    S: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = A::Service;
    type Future = Accepted<A::Stream, A::Service>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = match stream.peer_addr() {
            Ok(remote) => self.gate.admit(remote.ip()),
            Err(_) => None,
        };
        let Some(slot) = slot else {
            return Box::pin(std::future::ready(Err(io::Error::other("over the connection caps"))));
        };
        let accepting = self.inner.accept(stream, service);
        Box::pin(async move {
            // The TLS handshake has its own deadline (axum-server's, 10 s).
            let (stream, service) = accepting.await?;
            Ok((Guarded { inner: stream, _slot: slot }, service))
        })
    }
}

/// A connection's stream, holding its slot under the caps while it lives.
pub struct Guarded<S> {
    inner: S,
    _slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_descriptors_and_slots_are_given_back() {
        assert_eq!(Limits::for_descriptors(1_024, 256), Limits { total: 960, per_source: 256 });
        assert_eq!(Limits::for_descriptors(100, 256), Limits { total: 36, per_source: 36 });
        let gate = Gate::new(Limits { total: 3, per_source: 2 });
        let a: IpAddr = "198.51.99.1".parse().unwrap();
        let b: IpAddr = "198.51.99.2".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "two per address");
        let _third = gate.admit(b).unwrap();
        assert!(gate.admit(b).is_none(), "three in all");
        drop(first);
        assert_eq!(gate.held(), 2);
        assert!(gate.admit(a).is_some(), "a slot given back is free again");

        // One IPv6 /64 is one source, however many of its addresses connect.
        let gate = Gate::new(Limits { total: 10, per_source: 2 });
        let in_64 = |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        let _one = gate.admit(in_64(1)).unwrap();
        let _two = gate.admit(in_64(2)).unwrap();
        assert!(gate.admit(in_64(3)).is_none());
        assert!(gate.admit(IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1))).is_some());
        // An IPv4 client seen through a v4-mapped address counts as that IPv4 address.
        let _v4 = gate.admit("198.51.99.9".parse().unwrap()).unwrap();
        let _mapped = gate.admit("::ffff:198.51.99.9".parse().unwrap()).unwrap();
        assert!(gate.admit("198.51.99.9".parse().unwrap()).is_none());
    }
}
