//! Per-peer bounds on what a peer may send without being asked.

/// A token bucket, counted in thousandths of a token and refilled by the milliseconds passed,
/// so that integer arithmetic suffices and slow refill rates stay exact.
#[derive(Clone, Copy, Debug)]
pub(super) struct TokenBucket {
    capacity: u64,
    per_second: u64,
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    pub(super) fn full(capacity: u64, per_second: u64, now_ms: u64) -> TokenBucket {
        TokenBucket { capacity, per_second, milli_tokens: capacity.saturating_mul(1000), last_ms: now_ms }
    }

    /// Takes `count` tokens if there are that many; `false` (taking none) if not.
    pub(super) fn take(&mut self, count: u64, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let refill = elapsed.saturating_mul(self.per_second);
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(self.capacity.saturating_mul(1000));
        let cost = count.saturating_mul(1000);
        if self.milli_tokens >= cost {
            self.milli_tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// Inventory items a peer may announce: one full `inv` at once, then this many a second.
pub(super) const INV_ITEMS_BURST: u64 = 100_000;
pub(super) const INV_ITEMS_PER_SECOND: u64 = 10_000;
/// Transactions a peer may push without our `getdata` (the seed's wallet sent `tx` unasked).
pub(super) const UNREQUESTED_TX_BURST: u64 = 200;
pub(super) const UNREQUESTED_TX_PER_SECOND: u64 = 20;
/// Blocks a peer may push without our `getdata`: a miner announcing by `block` is fine, a
/// stream of them is not.
pub(super) const UNREQUESTED_BLOCK_BURST: u64 = 16;
pub(super) const UNREQUESTED_BLOCKS_PER_SECOND: u64 = 1;
/// Signature checks a peer's transactions may cost us: a burst as large as a full block's
/// inputs, then about a fifth of one core's P-256 rate (natively 5,300 a second). A
/// transaction past it is not checked (its sender is told to send it later).
pub(super) const SIGNATURE_CHECKS_BURST: u64 = 15_000;
pub(super) const SIGNATURE_CHECKS_PER_SECOND: u64 = 1_000;
/// `headers` messages a peer may send that answer no `getheaders` of ours (honest peers send
/// none; a few may cross with a reconnection).
pub(super) const UNREQUESTED_HEADERS_BURST: u64 = 8;
pub(super) const UNREQUESTED_HEADERS_PER_SECOND: u64 = 1;
/// `getheaders` a peer may send: each may cost us 2,000 headers (160 KB). A syncing peer asks
/// once per answer, so a burst covers a long sync's start and the rate its pace.
pub(super) const GETHEADERS_BURST: u64 = 100;
pub(super) const GETHEADERS_PER_SECOND: u64 = 10;
/// Transactions asked of one peer and not yet delivered: bounds what its `inv` can make us
/// request.
pub(super) const MAX_TXS_ASKED_PER_PEER: usize = 10_000;

/// What one peer has left to send unasked.
#[derive(Clone, Copy, Debug)]
pub(super) struct FloodGuard {
    pub(super) inv_items: TokenBucket,
    pub(super) unrequested_txs: TokenBucket,
    pub(super) unrequested_blocks: TokenBucket,
    pub(super) signature_checks: TokenBucket,
    pub(super) unrequested_headers: TokenBucket,
    pub(super) getheaders: TokenBucket,
}

impl FloodGuard {
    pub(super) fn new(now_ms: u64) -> FloodGuard {
        FloodGuard {
            inv_items: TokenBucket::full(INV_ITEMS_BURST, INV_ITEMS_PER_SECOND, now_ms),
            unrequested_txs: TokenBucket::full(UNREQUESTED_TX_BURST, UNREQUESTED_TX_PER_SECOND, now_ms),
            unrequested_blocks: TokenBucket::full(UNREQUESTED_BLOCK_BURST, UNREQUESTED_BLOCKS_PER_SECOND, now_ms),
            signature_checks: TokenBucket::full(SIGNATURE_CHECKS_BURST, SIGNATURE_CHECKS_PER_SECOND, now_ms),
            unrequested_headers: TokenBucket::full(UNREQUESTED_HEADERS_BURST, UNREQUESTED_HEADERS_PER_SECOND, now_ms),
            getheaders: TokenBucket::full(GETHEADERS_BURST, GETHEADERS_PER_SECOND, now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let mut bucket = TokenBucket::full(3, 2, 1_000);
        assert!(bucket.take(3, 1_000));
        assert!(!bucket.take(1, 1_000), "empty");
        assert!(!bucket.take(1, 1_499), "0.998 tokens after 499 ms at 2/s");
        assert!(bucket.take(1, 1_500), "one token after 500 ms at 2/s");
        assert!(bucket.take(3, 60_000), "refilled, but only up to its capacity");
        assert!(!bucket.take(1, 60_000));
    }

    #[test]
    fn a_failed_take_takes_nothing_and_time_never_runs_backwards() {
        let mut bucket = TokenBucket::full(10, 1, 5_000);
        assert!(!bucket.take(11, 5_000));
        assert!(bucket.take(10, 4_000), "a failed take left all 10; an earlier clock adds nothing");
        assert!(!bucket.take(1, 5_500));
        assert!(bucket.take(1, 6_000));
    }
}
