//! SIGKILL the relay at random points while it mines and while it syncs: after each restart
//! every block it had acknowledged (shown by its API, or announced to a peer) is still there,
//! and its stored UTXO set equals the one rebuilt from its blocks.

mod common;

use std::time::Duration;

use common::*;
use tabcoin_core::protocol::Role;

/// A small deterministic generator for the kill times; the seed is printed so a failure can be
/// replayed with CRASH_SEED.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

fn seed() -> u64 {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        u64::from_le_bytes(bytes)
    });
    println!("CRASH_SEED={seed}");
    seed
}

/// The stored UTXO set equals the rebuilt one (checked offline, as a person would after a crash).
fn assert_consistent(datadir: &std::path::Path, round: usize) {
    let (ok, out, err) = cli(datadir, &["reindexutxo"]);
    assert!(ok, "round {round}: reindexutxo failed: {err}");
    assert!(out.contains("equals"), "round {round}: {out}");
}

fn assert_has_block(relay: &Relay, hash: &str, round: usize) {
    let (status, block) = relay.api(&format!("/api/block/{hash}"));
    assert_eq!(status, 200, "round {round}: acknowledged block {hash} was lost");
    assert_eq!(block["in_best_chain"], true, "round {round}: block {hash} left the best chain");
}

/// Kills per phase (mining, then syncing): 4 in every test run; `CRASH_ROUNDS=50` is the
/// 100-kill campaign of docs/RELIABILITY.md.
fn rounds() -> usize {
    std::env::var("CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_while_it_mines_and_while_it_syncs_loses_nothing_acknowledged() {
    let mut rng = SplitMix64(seed());
    let rounds = rounds();
    let miner_dir = TempDir::new("crash-miner");
    let syncer_dir = TempDir::new("crash-syncer");
    let peer_dir = TempDir::new("crash-peer");
    let (ok, out, err) = cli(miner_dir.path(), &["createwallet"]);
    assert!(ok, "{err}");
    let payee = out.rsplit(' ').next().unwrap().to_string();
    let mining = ["--miner", payee.as_str(), "--mine-when", "continuous"];

    // Mining: a native node follows the relay; kill the relay at random moments.
    let mut relay = Relay::start(miner_dir.path(), &mining);
    let port = relay.port();
    let follower = native_node(peer_dir.path(), Role::Wallet, &relay.ws_url(), None);
    for round in 0..rounds {
        tokio::time::sleep(rng.millis(100, 600)).await;
        let shown = relay.api("/api/tip").1["hash"].as_str().expect("the API shows a tip").to_string();
        let announced = tip(&follower).await;
        relay.kill();
        assert_consistent(miner_dir.path(), round);
        relay = Relay::start_on(miner_dir.path(), port, &mining);
        assert_has_block(&relay, &shown, round);
        if let Some(announced) = announced {
            assert_has_block(&relay, &announced, round);
        }
    }
    // Stop mining: the chain is what the syncing relay must fetch.
    relay.stop();
    let relay = Relay::start_on(miner_dir.path(), port, &[]);
    let (_, tip_json) = relay.api("/api/tip");
    let target_height = tip_json["height"].as_u64().unwrap();
    assert!(target_height > 100, "the miner made a chain worth syncing: {target_height}");
    let target = tip_json["hash"].as_str().unwrap().to_string();
    // After many kills the follower's reconnection waits have grown to their 60 s cap.
    wait_until(150, "the follower to catch up", || async { tip(&follower).await.as_deref() == Some(target.as_str()) })
        .await;
    follower.stop().await.unwrap();

    // Syncing: a second relay fetches the chain; kill it at random moments during its sync.
    let upstream = relay.ws_url();
    let peer = ["--peer", upstream.as_str()];
    let mut syncer = Relay::start(syncer_dir.path(), &peer);
    let syncer_port = syncer.port();
    for round in 0..rounds {
        tokio::time::sleep(rng.millis(50, 600)).await;
        let shown = syncer.api("/api/tip").1["hash"].as_str().map(String::from);
        syncer.kill();
        if shown.is_some() {
            assert_consistent(syncer_dir.path(), round);
        }
        syncer = Relay::start_on(syncer_dir.path(), syncer_port, &peer);
        if let Some(shown) = shown {
            assert_has_block(&syncer, &shown, round);
        }
    }
    let started = std::time::Instant::now();
    wait_until(120, "the syncing relay to finish", || async {
        syncer.api("/api/tip").1["hash"].as_str() == Some(target.as_str())
    })
    .await;
    println!("synced {target_height} blocks in {:?} after the kills", started.elapsed());
    syncer.kill();
    assert_consistent(syncer_dir.path(), rounds);
    println!("{} kills, nothing acknowledged lost, stored UTXO sets equal the rebuilt ones", 2 * rounds);
}
