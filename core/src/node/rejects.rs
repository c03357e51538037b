//! Transactions found invalid for good, remembered by their witness hash so that a repeat is
//! refused without checking its signatures again.
//!
//! Keyed by the wtxid, not the txid: the txid leaves the signatures out, so a copy with a bad
//! signature shares the txid of the good one and must not get the good one refused.

use crate::hash::Wtxid;
use crate::recent::RecentSet;

/// How many rejected transactions are remembered; the least recently seen is forgotten first.
pub(super) const MAX_RECENT_REJECTS: usize = 50_000;

#[derive(Clone, Debug)]
pub(super) struct RecentRejects(RecentSet<Wtxid>);

impl Default for RecentRejects {
    fn default() -> Self {
        RecentRejects(RecentSet::new(MAX_RECENT_REJECTS))
    }
}

impl RecentRejects {
    /// Whether `wtxid` was rejected for good (a hit keeps it remembered longer).
    pub(super) fn seen_again(&mut self, wtxid: &Wtxid) -> bool {
        self.0.touch(wtxid)
    }

    pub(super) fn insert(&mut self, wtxid: Wtxid) {
        self.0.insert(wtxid);
    }
}
