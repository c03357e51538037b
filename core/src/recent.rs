//! A bounded set that forgets its least recently used member first: the memory of what was
//! found invalid (blocks, transactions), which a flood of new entries must not wipe whole.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// At most `capacity` members; inserting past it forgets the least recently inserted or
/// touched one.
#[derive(Clone, Debug)]
pub struct RecentSet<T> {
    capacity: usize,
    /// Each member with the tick of its last use.
    last_used: HashMap<T, u64>,
    /// Members in order of use, with the tick of that use; an entry whose tick is no longer
    /// its member's last is stale and skipped.
    order: VecDeque<(T, u64)>,
    tick: u64,
}

impl<T: Copy + Eq + Hash> RecentSet<T> {
    pub fn new(capacity: usize) -> RecentSet<T> {
        RecentSet { capacity: capacity.max(1), last_used: HashMap::new(), order: VecDeque::new(), tick: 0 }
    }

    pub fn contains(&self, item: &T) -> bool {
        self.last_used.contains_key(item)
    }

    pub fn len(&self) -> usize {
        self.last_used.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_used.is_empty()
    }

    /// Adds `item`, or marks it used now if present.
    pub fn insert(&mut self, item: T) {
        self.tick += 1;
        self.last_used.insert(item, self.tick);
        self.order.push_back((item, self.tick));
        while self.last_used.len() > self.capacity {
            let Some((oldest, tick)) = self.order.pop_front() else { break };
            if self.last_used.get(&oldest) == Some(&tick) {
                self.last_used.remove(&oldest);
            }
        }
        // Touches leave stale entries behind: drop them before they outgrow the members.
        if self.order.len() > 2 * self.capacity {
            let last_used = &self.last_used;
            self.order.retain(|(item, tick)| last_used.get(item) == Some(tick));
        }
    }

    /// Marks `item` used now, if present: `true` if it was.
    pub fn touch(&mut self, item: &T) -> bool {
        if self.contains(item) {
            self.insert(*item);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_is_forgotten_first() {
        let mut set = RecentSet::new(3);
        for n in [1, 2, 3] {
            set.insert(n);
        }
        assert!(set.touch(&1));
        set.insert(4);
        assert!(set.contains(&1) && !set.contains(&2) && set.contains(&3) && set.contains(&4));
        set.insert(5);
        assert!(!set.contains(&3));
        assert_eq!(set.len(), 3);
        assert!(!set.touch(&2));
    }

    proptest::proptest! {
        #[test]
        fn the_bound_holds_and_the_newest_stays(ops in proptest::collection::vec((0u8..40, proptest::bool::ANY), 1..400)) {
            let mut set = RecentSet::new(8);
            for (item, touch) in &ops {
                if *touch { set.touch(item); } else { set.insert(*item); }
                proptest::prop_assert!(set.len() <= 8);
                proptest::prop_assert!(set.order.len() <= 16 + 1);
            }
            if let Some((item, false)) = ops.last() {
                proptest::prop_assert!(set.contains(item));
            }
        }
    }
}
