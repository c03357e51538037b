//! Headers learnt from peers whose blocks are not stored yet: the context a header is checked
//! in before it is kept (its height, the bits the difficulty rule requires of it and the median
//! time past it must exceed: the same checks a block gets against its parent), who sent each,
//! and, per sender, the queue of blocks to fetch.
//!
//! A header costs nothing until its branch has more work than the active tip: only then are
//! its blocks queued for fetching (Bitcoin Core's headers presync, in spirit). Each sender's
//! headers are counted against a cap and forgotten when it goes, and each sender has a queue
//! of its own, so that what one peer announced never decides what is fetched from another.

use std::collections::{HashMap, VecDeque};

use crate::chain::ChainState;
use crate::difficulty::{self, ParentTiming};
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::pow::{CompactTarget, Work};
use crate::validation::median_time;

use super::PeerId;

/// Blocks whose time feeds the median-time-past rule.
const MEDIAN_TIME_SPAN: usize = 11;

/// A block header known from `headers`, not yet connected.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingHeader {
    pub(super) header: BlockHeader,
    pub(super) height: u32,
    /// The peer that sent it first (whose queue it is in, once queued).
    pub(super) source: PeerId,
    /// Work of the chain from genesis to it.
    pub(super) chain_work: Work,
    /// Queued for fetching: its branch had more work than the tip.
    pub(super) queued: bool,
}

/// What a child of some parent header must satisfy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct ChildContext {
    pub(super) height: u32,
    pub(super) bits: CompactTarget,
    /// The child's time must exceed it.
    pub(super) median_time_past: u32,
    /// Work of the chain up to the parent.
    pub(super) parent_work: Work,
}

/// The pending headers, by hash, and each sender's share and fetch queue.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingHeaders {
    headers: HashMap<BlockHash, PendingHeader>,
    /// How many pending headers each peer sent first.
    counts: HashMap<PeerId, usize>,
    /// Each peer's sent headers, in the order they came (stale entries skipped).
    sent: HashMap<PeerId, Vec<BlockHash>>,
    /// Blocks to fetch, by the peer whose headers named them, in chain order.
    queues: HashMap<PeerId, VecDeque<BlockHash>>,
    /// Pending headers whose blocks are queued (fetched or not yet).
    queued: usize,
}

impl PendingHeaders {
    pub(super) fn len(&self) -> usize {
        self.headers.len()
    }

    pub(super) fn contains(&self, hash: &BlockHash) -> bool {
        self.headers.contains_key(hash)
    }

    pub(super) fn get(&self, hash: &BlockHash) -> Option<&PendingHeader> {
        self.headers.get(hash)
    }

    /// Whether the block of `hash` is queued for fetching (its branch has more work than ours).
    pub(super) fn is_queued(&self, hash: &BlockHash) -> bool {
        self.headers.get(hash).is_some_and(|p| p.queued)
    }

    /// Pending headers `peer` sent first.
    pub(super) fn count_from(&self, peer: PeerId) -> usize {
        self.counts.get(&peer).copied().unwrap_or(0)
    }

    /// Pending headers on branches worth fetching: the blocks still to come.
    pub(super) fn to_fetch(&self) -> usize {
        self.queued
    }

    /// Blocks queued for fetching and not being fetched.
    pub(super) fn wanted(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    pub(super) fn insert(&mut self, hash: BlockHash, pending: PendingHeader) {
        if let Some(old) = self.headers.insert(hash, pending) {
            self.uncount(&old);
        }
        self.queued += usize::from(pending.queued);
        let count = {
            let count = self.counts.entry(pending.source).or_default();
            *count += 1;
            *count
        };
        let sent = self.sent.entry(pending.source).or_default();
        sent.push(hash);
        // Entries of headers since connected or re-sent go stale: drop them before they
        // outgrow the headers the peer still has pending.
        if sent.len() > 2 * count + 64 {
            let headers = &self.headers;
            sent.retain(|h| headers.get(h).is_some_and(|p| p.source == pending.source));
        }
    }

    pub(super) fn remove(&mut self, hash: &BlockHash) {
        if let Some(old) = self.headers.remove(hash) {
            self.uncount(&old);
        }
    }

    fn uncount(&mut self, old: &PendingHeader) {
        self.queued = self.queued.saturating_sub(usize::from(old.queued));
        let peer = old.source;
        if let Some(count) = self.counts.get_mut(&peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.counts.remove(&peer);
                self.sent.remove(&peer);
                self.queues.remove(&peer);
            }
        }
    }

    /// Queues for fetching the blocks of the branch ending at `best` (a pending header whose
    /// chain has more work than the active one): it and every pending ancestor, found by
    /// following `prev_blockhash`, not yet queued, oldest first, each in its sender's queue.
    /// Only ancestors of a header with the work count, whatever else a message carried; a
    /// header sent again after it was forgotten is queued even if its descendants are.
    pub(super) fn queue_branch(&mut self, best: BlockHash) {
        let mut branch = Vec::new();
        let mut cursor = best;
        while let Some(pending) = self.headers.get(&cursor) {
            branch.push(cursor);
            cursor = pending.header.prev_blockhash;
        }
        for hash in branch.into_iter().rev() {
            if let Some(pending) = self.headers.get_mut(&hash).filter(|p| !p.queued) {
                pending.queued = true;
                self.queued += 1;
                self.queues.entry(pending.source).or_default().push_back(hash);
            }
        }
    }

    /// Forgets headers that will not be fetched: not queued, and at least `depth` below the
    /// active tip (losing sides of old forks), or all unqueued ones past the global cap's
    /// use (`keep_queued_room`). Returns how many went.
    pub(super) fn prune_unqueued(&mut self, tip_height: u32, depth: u32, over_cap: bool) -> usize {
        let stale: Vec<BlockHash> = self
            .headers
            .iter()
            .filter(|(_, p)| !p.queued && (over_cap || p.height.saturating_add(depth) < tip_height))
            .map(|(hash, _)| *hash)
            .collect();
        for hash in &stale {
            self.remove(hash);
        }
        stale.len()
    }

    /// Puts a queued block back in its sender's queue (at the front: blocks a peer failed to
    /// deliver, or that must be fetched again, come before the rest).
    pub(super) fn requeue(&mut self, hash: BlockHash, front: bool) {
        let Some(pending) = self.headers.get(&hash).filter(|p| p.queued) else { return };
        let queue = self.queues.entry(pending.source).or_default();
        if front {
            queue.push_front(hash);
        } else {
            queue.push_back(hash);
        }
    }

    /// The peers with blocks queued.
    pub(super) fn queue_owners(&self) -> Vec<PeerId> {
        let mut owners: Vec<PeerId> = self.queues.iter().filter(|(_, q)| !q.is_empty()).map(|(p, _)| *p).collect();
        owners.sort_unstable();
        owners
    }

    /// The next block of `owner`'s queue.
    pub(super) fn pop_wanted(&mut self, owner: PeerId) -> Option<BlockHash> {
        self.queues.get_mut(&owner)?.pop_front()
    }

    /// Puts back blocks taken from `owner`'s queue and not requested, in their order.
    pub(super) fn unpop_wanted(&mut self, owner: PeerId, hashes: Vec<BlockHash>) {
        let queue = self.queues.entry(owner).or_default();
        for hash in hashes.into_iter().rev() {
            queue.push_front(hash);
        }
    }

    /// Forgets the headers `peer` sent, but for those `keep` hands to another peer (one fetching
    /// the block, say), which become that peer's.
    pub(super) fn forget_peer(&mut self, peer: PeerId, keep: impl Fn(&BlockHash) -> Option<PeerId>) {
        let sent = self.sent.remove(&peer).unwrap_or_default();
        self.queues.remove(&peer);
        self.counts.remove(&peer);
        for hash in sent {
            let Some(pending) = self.headers.get(&hash).copied().filter(|p| p.source == peer) else { continue };
            self.queued = self.queued.saturating_sub(usize::from(pending.queued));
            match keep(&hash) {
                Some(heir) => {
                    self.headers.remove(&hash);
                    // The heir is fetching it: if that fails, `requeue` puts it in the heir's queue.
                    self.insert(hash, PendingHeader { source: heir, ..pending });
                }
                None => {
                    self.headers.remove(&hash);
                }
            }
        }
    }

    /// The context of a child of `parent`, found among the chain's blocks, these pending
    /// headers and `batch` (headers of the message being read, not kept yet); `None` if the
    /// parent is in none of them.
    pub(super) fn child_context(
        &self,
        chain: &ChainState,
        batch: &[(BlockHash, PendingHeader)],
        parent: BlockHash,
    ) -> Option<ChildContext> {
        let lookup = |hash: &BlockHash| -> Option<(BlockHeader, u32, Work)> {
            if let Some(info) = chain.block_info(hash) {
                return Some((info.header, info.height, info.chain_work));
            }
            self.headers
                .get(hash)
                .or_else(|| batch.iter().rev().find(|(h, _)| h == hash).map(|(_, p)| p))
                .map(|p| (p.header, p.height, p.chain_work))
        };
        let (parent_header, parent_height, parent_work) = lookup(&parent)?;
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        times.push(parent_header.time);
        let mut cursor = (parent_header, parent_height);
        while times.len() < MEDIAN_TIME_SPAN && cursor.1 > 0 {
            // An ancestor missing (a hole left by a peer's forgotten headers): the context can
            // not be told, and the header is treated as not connected rather than misjudged.
            let (header, height, _) = lookup(&cursor.0.prev_blockhash)?;
            times.push(header.time);
            cursor = (header, height);
        }
        let grandparent_time = if parent_height == 0 { None } else { times.get(1).copied() };
        let timing = ParentTiming { bits: parent_header.bits, time: parent_header.time, grandparent_time };
        Some(ChildContext {
            height: parent_height.saturating_add(1),
            bits: difficulty::next_bits(chain.params(), timing),
            median_time_past: median_time(&times),
            parent_work,
        })
    }
}
