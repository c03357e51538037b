//! Headers learnt from peers whose blocks are not stored yet, and the context a header is
//! checked in before it is kept: its height, the bits the difficulty rule requires of it and
//! the median time past it must exceed, the same checks a block gets against its parent.

use std::collections::HashMap;

use crate::chain::ChainState;
use crate::difficulty::{self, ParentTiming};
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::pow::CompactTarget;
use crate::validation::median_time;

use super::PeerId;

/// Blocks whose time feeds the median-time-past rule.
const MEDIAN_TIME_SPAN: usize = 11;

/// A block header known from `headers`, not yet connected.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingHeader {
    pub(super) header: BlockHeader,
    pub(super) height: u32,
    pub(super) source: PeerId,
}

/// What a child of some parent header must satisfy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct ChildContext {
    pub(super) height: u32,
    pub(super) bits: CompactTarget,
    /// The child's time must exceed it.
    pub(super) median_time_past: u32,
}

/// The pending headers, by hash.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingHeaders {
    headers: HashMap<BlockHash, PendingHeader>,
}

impl PendingHeaders {
    pub(super) fn len(&self) -> usize {
        self.headers.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    pub(super) fn contains(&self, hash: &BlockHash) -> bool {
        self.headers.contains_key(hash)
    }

    pub(super) fn get(&self, hash: &BlockHash) -> Option<&PendingHeader> {
        self.headers.get(hash)
    }

    pub(super) fn insert(&mut self, hash: BlockHash, pending: PendingHeader) {
        self.headers.insert(hash, pending);
    }

    pub(super) fn remove(&mut self, hash: &BlockHash) {
        self.headers.remove(hash);
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
        let lookup = |hash: &BlockHash| -> Option<(BlockHeader, u32)> {
            if let Some(info) = chain.block_info(hash) {
                return Some((info.header, info.height));
            }
            self.headers
                .get(hash)
                .or_else(|| batch.iter().rev().find(|(h, _)| h == hash).map(|(_, p)| p))
                .map(|p| (p.header, p.height))
        };
        let (parent_header, parent_height) = lookup(&parent)?;
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        times.push(parent_header.time);
        let mut cursor = (parent_header, parent_height);
        while times.len() < MEDIAN_TIME_SPAN && cursor.1 > 0 {
            let Some(ancestor) = lookup(&cursor.0.prev_blockhash) else { break };
            times.push(ancestor.0.time);
            cursor = ancestor;
        }
        let grandparent_time = if parent_height == 0 { None } else { times.get(1).copied() };
        let timing = ParentTiming { bits: parent_header.bits, time: parent_header.time, grandparent_time };
        Some(ChildContext {
            height: parent_height.saturating_add(1),
            bits: difficulty::next_bits(chain.params(), timing),
            median_time_past: median_time(&times),
        })
    }
}
