//! Nonce search on N threads: each takes its own slice of the 2^32 nonces and checks between
//! chunks whether its job is still the current one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tabcoin_core::mining::{NonceSearch, SearchOutcome};
use tabcoin_core::node::MiningJob;
use tokio::sync::mpsc;

use crate::runtime::Input;

/// Nonces tried between checks for a newer job: a few milliseconds of work.
const CHUNK: u64 = 1 << 16;

pub struct Miner {
    threads: usize,
    /// The job the threads should be working on; 0 = none.
    current: Arc<AtomicU64>,
    inputs: mpsc::Sender<Input>,
}

impl Miner {
    pub fn new(threads: usize, inputs: mpsc::Sender<Input>) -> Miner {
        Miner { threads: threads.max(1), current: Arc::new(AtomicU64::new(0)), inputs }
    }

    pub fn start(&self, job: MiningJob) {
        let Ok(search) = NonceSearch::new(&job.header) else {
            tracing::warn!(job = job.id, "mining job with an invalid target ignored");
            return;
        };
        self.current.store(job.id, Ordering::SeqCst);
        let slice = (1u64 << 32) / self.threads as u64;
        let unfinished = Arc::new(AtomicUsize::new(self.threads));
        for index in 0..self.threads {
            let start = slice * index as u64;
            let end = if index + 1 == self.threads { 1u64 << 32 } else { start + slice };
            let search = search.clone();
            let current = Arc::clone(&self.current);
            let unfinished = Arc::clone(&unfinished);
            let inputs = self.inputs.clone();
            let id = job.id;
            std::thread::spawn(move || {
                let mut next = start;
                while next < end {
                    if current.load(Ordering::Relaxed) != id {
                        return;
                    }
                    let count = CHUNK.min(end - next);
                    if let SearchOutcome::Found { nonce, .. } = search.search(next as u32, count) {
                        current.store(0, Ordering::SeqCst);
                        let _ = inputs.blocking_send(Input::NonceFound { job: id, nonce });
                        return;
                    }
                    next += count;
                }
                // The last thread to finish its slice without a find reports the job spent.
                if unfinished.fetch_sub(1, Ordering::SeqCst) == 1 && current.load(Ordering::SeqCst) == id {
                    let _ = inputs.blocking_send(Input::NonceSpaceExhausted { job: id });
                }
            });
        }
    }

    pub fn stop(&self) {
        self.current.store(0, Ordering::SeqCst);
    }
}
