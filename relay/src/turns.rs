//! The order in which the node's task takes its inputs: its own (CLI verbs, API questions,
//! found nonces) first, then the peers' in turn, each peer with something waiting taking up
//! to [`TURN_BYTES`] of frames (at least one input) per round. Taken in arrival order instead,
//! a flood from many peers would put an honest peer's every request behind all of theirs; in
//! turn, it waits one round, and its many small requests (a sync's `getdata`s) go in one turn.

use std::collections::{HashMap, VecDeque};

use tabcoin_core::node::PeerId;

use crate::runtime::{Input, MIN_FRAME_CHARGE, frame_charge};

/// Frame bytes a peer may have taken in one turn before the next peer's turn.
pub const TURN_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub struct Turns {
    own: VecDeque<Input>,
    by_peer: HashMap<PeerId, VecDeque<Input>>,
    /// Peers with inputs waiting, in the order of their next turn; the front one's turn is on.
    next: VecDeque<PeerId>,
    /// Bytes taken in the turn that is on.
    taken: usize,
}

/// What an input counts for in a turn.
fn cost(input: &Input) -> usize {
    match input {
        Input::Frame { bytes, .. } => frame_charge(bytes.len()),
        _ => MIN_FRAME_CHARGE,
    }
}

impl Turns {
    pub fn is_empty(&self) -> bool {
        self.own.is_empty() && self.next.is_empty()
    }

    pub fn push(&mut self, input: Input) {
        let peer = match &input {
            Input::Connected { peer, .. } | Input::Frame { peer, .. } | Input::Closed { peer } => *peer,
            _ => {
                self.own.push_back(input);
                return;
            }
        };
        let waiting = self.by_peer.entry(peer).or_default();
        if waiting.is_empty() {
            self.next.push_back(peer);
        }
        waiting.push_back(input);
    }

    pub fn pop(&mut self) -> Option<Input> {
        if let Some(input) = self.own.pop_front() {
            return Some(input);
        }
        loop {
            let peer = *self.next.front()?;
            let Some(waiting) = self.by_peer.get_mut(&peer) else {
                self.end_turn(false);
                continue;
            };
            let Some(input) = waiting.pop_front() else {
                self.by_peer.remove(&peer);
                self.end_turn(false);
                continue;
            };
            self.taken += cost(&input);
            if waiting.is_empty() {
                self.by_peer.remove(&peer);
                self.end_turn(false);
            } else if self.taken >= TURN_BYTES {
                self.end_turn(true);
            }
            return Some(input);
        }
    }

    /// Ends the front peer's turn, sending it to the back if it has more waiting.
    fn end_turn(&mut self, more: bool) {
        self.taken = 0;
        if let Some(peer) = self.next.pop_front()
            && more
        {
            self.next.push_back(peer);
        }
    }

    /// The node cut `peer` off: the frames it still has waiting are dropped unread (giving
    /// back their share of the budget); its connection and closing stay, in order.
    pub fn drop_frames(&mut self, peer: PeerId) {
        if let Some(waiting) = self.by_peer.get_mut(&peer) {
            waiting.retain(|input| !matches!(input, Input::Frame { .. }));
            if waiting.is_empty() {
                self.by_peer.remove(&peer);
                if self.next.front() == Some(&peer) {
                    self.taken = 0;
                }
                self.next.retain(|p| *p != peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PeerIds;

    async fn frame(ids: &PeerIds, peer: PeerId, byte: u8, len: usize) -> Input {
        let budget = ids.reserve(len).await.expect("room in the budget");
        Input::Frame { peer, bytes: vec![byte; len], budget }
    }

    fn describe(input: Option<Input>) -> Option<(PeerId, Option<u8>)> {
        match input? {
            Input::Frame { peer, bytes, .. } => Some((peer, bytes.first().copied())),
            Input::Closed { peer } => Some((peer, None)),
            _ => Some((0, None)),
        }
    }

    #[tokio::test]
    async fn peers_take_turns_of_bytes_and_keep_their_own_order() {
        let ids = PeerIds::default();
        let mut turns = Turns::default();
        // Peer 1 floods with frames of 40,000 bytes, two to a turn; peer 2 sends two small
        // frames and closes, after all of peer 1's.
        for byte in 0..5 {
            turns.push(frame(&ids, 1, byte, 40_000).await);
        }
        turns.push(frame(&ids, 2, 100, 60).await);
        turns.push(frame(&ids, 2, 101, 60).await);
        turns.push(Input::Closed { peer: 2 });
        assert_eq!(describe(turns.pop()), Some((1, Some(0))));
        assert_eq!(describe(turns.pop()), Some((1, Some(1))));
        assert_eq!(describe(turns.pop()), Some((2, Some(100))), "peer 2 waited one turn, not five frames");
        assert_eq!(describe(turns.pop()), Some((2, Some(101))), "its small frames go in one turn");
        assert_eq!(describe(turns.pop()), Some((2, None)), "and its closing after them");
        for byte in 2..5 {
            assert_eq!(describe(turns.pop()), Some((1, Some(byte))));
        }
        assert!(turns.pop().is_none() && turns.is_empty());
    }

    #[tokio::test]
    async fn the_nodes_own_inputs_go_first_and_a_cut_off_peers_frames_are_dropped() {
        let ids = PeerIds::default();
        let mut turns = Turns::default();
        turns.push(frame(&ids, 1, 1, 1).await);
        turns.push(frame(&ids, 1, 2, 1).await);
        turns.push(Input::Closed { peer: 1 });
        turns.push(frame(&ids, 3, 9, 1).await);
        turns.push(Input::NonceSpaceExhausted { job: 7 });
        assert!(matches!(turns.pop(), Some(Input::NonceSpaceExhausted { job: 7 })));
        turns.drop_frames(1);
        assert_eq!(describe(turns.pop()), Some((1, None)), "only peer 1's closing is left");
        assert_eq!(describe(turns.pop()), Some((3, Some(9))));
        assert!(turns.is_empty());
        // Frames dropped unread gave their share back: the whole budget is free again.
        let whole = crate::runtime::MAX_WAITING_FRAME_BYTES;
        assert!(ids.reserve(whole).await.is_some());
    }
}
