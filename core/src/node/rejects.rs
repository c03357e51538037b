//! Transactions found invalid for good, remembered by their witness hash so that a repeat is
//! refused without checking its signatures again.
//!
//! Keyed by the wtxid, not the txid: the txid leaves the signatures out, so a copy with a bad
//! signature shares the txid of the good one and must not get the good one refused.

use std::collections::{HashSet, VecDeque};

use crate::hash::Wtxid;

/// How many rejected transactions are remembered; the oldest is forgotten first.
pub(super) const MAX_RECENT_REJECTS: usize = 50_000;

/// A bounded set of wtxids, forgetting in the order they were added.
#[derive(Clone, Debug, Default)]
pub(super) struct RecentRejects {
    known: HashSet<Wtxid>,
    order: VecDeque<Wtxid>,
}

impl RecentRejects {
    pub(super) fn contains(&self, wtxid: &Wtxid) -> bool {
        self.known.contains(wtxid)
    }

    pub(super) fn insert(&mut self, wtxid: Wtxid) {
        if !self.known.insert(wtxid) {
            return;
        }
        self.order.push_back(wtxid);
        while self.order.len() > MAX_RECENT_REJECTS {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wtxid(n: u32) -> Wtxid {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        Wtxid(bytes)
    }

    #[test]
    fn the_oldest_is_forgotten_first_and_the_bound_holds() {
        let mut rejects = RecentRejects::default();
        for n in 0..MAX_RECENT_REJECTS as u32 + 10 {
            rejects.insert(wtxid(n));
            rejects.insert(wtxid(n));
        }
        assert_eq!(rejects.len(), MAX_RECENT_REJECTS);
        assert!(!rejects.contains(&wtxid(9)));
        assert!(rejects.contains(&wtxid(10)));
        assert!(rejects.contains(&wtxid(MAX_RECENT_REJECTS as u32 + 9)));
    }
}
