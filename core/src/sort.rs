//! Core's sorts, all through one instantiation of the standard library's sort.
//!
//! Every generic `sort_unstable_by` call is its own copy of the sort (quicksort, small-sort
//! networks, heapsort: 2–3 KB of wasm each, over 10 KB gzipped for core's dozen sorts in the
//! page). Here only a list of positions is sorted, by a comparison behind `&dyn`, and the items
//! are then moved into that order: one copy of the sort, plus a few swaps per item type.

use std::cmp::Ordering;

/// Sorts `items` by `compare`. Not stable: items that compare equal may come in any order.
pub(crate) fn sort_by<T>(items: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    let mut order = sorted_positions(items.len(), &|a, b| compare(&items[a], &items[b]));
    permute(items, &mut order);
}

/// Sorts `items` by the key `key` gives each. Not stable.
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` in their natural order. Not stable.
pub(crate) fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// The positions `0..len` in the order `compare` puts them.
pub(crate) fn sorted_positions(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_unstable_by(|&a, &b| compare(a, b));
    order
}

/// Rearranges `items` so that position `i` holds what was at `order[i]`, following each cycle
/// of the permutation with swaps; `order` is used up as the record of positions done.
fn permute<T>(items: &mut [T], order: &mut [usize]) {
    const DONE: usize = usize::MAX;
    for start in 0..order.len() {
        let mut at = start;
        // Each swap puts one item in its place and carries the start's item along the cycle;
        // the cycle closes where the start's item belongs.
        while order[at] != DONE {
            let from = order[at];
            order[at] = DONE;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_library_does(mut items in prop::collection::vec((0u8..8, any::<u16>()), 0..200)) {
            let mut expected = items.clone();
            expected.sort_unstable();
            sort(&mut items);
            prop_assert_eq!(items, expected);
        }

        #[test]
        fn sorts_by_a_key_and_by_a_comparison(mut items in prop::collection::vec(any::<(u8, u32)>(), 0..200)) {
            let mut by_key = items.clone();
            sort_by_key(&mut by_key, |(small, _)| *small);
            prop_assert!(by_key.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut multiset = by_key.clone();
            multiset.sort_unstable();
            let mut original = items.clone();
            original.sort_unstable();
            prop_assert_eq!(multiset, original);

            sort_by(&mut items, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            prop_assert!(items.windows(2).all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 <= w[1].0)));
        }
    }

    #[test]
    fn moves_items_that_cannot_be_copied() {
        let mut words: Vec<String> = ["pear", "fig", "banana", "apple", "cherries"].map(String::from).to_vec();
        sort_by_key(&mut words, String::len);
        assert_eq!(words, ["fig", "pear", "apple", "banana", "cherries"]);
    }
}
