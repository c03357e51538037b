//! Load under attack, small enough for every run: fifty hostile peers of five kinds (garbage,
//! slowloris, oversize frames, inv floods, tx floods) against the real relay while a fresh
//! wallet and miner sync a chain of signed payments and pay. The full campaign (1,000 peers)
//! is `cargo bench -p tabcoin-relay --bench load -- attack`.

mod common;

use std::sync::atomic::Ordering;

use common::hostile::{Attack, campaign};
use tabcoin_relay::daemon::HEADER_READ_TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_nodes_sync_and_pay_while_fifty_hostile_peers_attack() {
    // Longer than the header read timeout, so that slowloris peers meet it.
    let seconds = HEADER_READ_TIMEOUT.as_secs() + 12;
    let report = campaign(50, seconds, 300, 7).await;
    assert!(report.honest_done_under_attack, "the honest nodes finished only after the attack");
    let count = |attack: Attack, what: fn(&common::hostile::Tally) -> &std::sync::atomic::AtomicU64| {
        what(report.tally(attack)).load(Ordering::Relaxed)
    };
    for attack in Attack::ALL {
        assert!(count(attack, |t| &t.connections) > 0, "{attack:?} peers never connected");
    }
    // Garbage, oversize frames and unrequested transactions break the protocol: cut off, each
    // time, and more than once in the run.
    for attack in [Attack::Garbage, Attack::Oversize, Attack::TxFlood] {
        assert!(count(attack, |t| &t.cut_off) >= 10, "{attack:?} peers were not cut off");
    }
    // Slowloris connections are closed by the header read timeout, not held.
    let held = count(Attack::Slowloris, |t| &t.longest_held_ms);
    assert!(count(Attack::Slowloris, |t| &t.cut_off) >= 10, "slowloris peers were not cut off");
    assert!(
        held >= HEADER_READ_TIMEOUT.as_millis() as u64 && held < HEADER_READ_TIMEOUT.as_millis() as u64 + 3_000,
        "a slowloris connection was held {held} ms"
    );
    // Once the attackers are gone, the relay holds only the honest nodes.
    assert_eq!(report.peers_after, 2, "peers left after the attack");
    // Bounded memory: the relay's growth under attack stays within its per-peer buffers.
    let growth_mib = report.rss_max_kib.saturating_sub(report.rss_before_kib) / 1024;
    assert!(growth_mib < 256, "the relay grew by {growth_mib} MiB under attack");
}
