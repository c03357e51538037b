//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the checks the fuzz
//! targets run, on the stable toolchain: every input the fuzzer kept, or that once crashed,
//! is checked on every test run.

use std::fs;
use std::path::Path;

use tabcoin_core::fuzz_checks;

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        check(&data);
        // Every prefix too: truncated input is the most common malformed input.
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
        replayed += 1;
    }
    assert!(replayed >= 2, "corpus {target} holds only {replayed} inputs");
}

#[test]
fn transaction_corpus() {
    replay("transaction", fuzz_checks::transaction);
}

#[test]
fn block_corpus() {
    replay("block", fuzz_checks::block);
}

#[test]
fn header_corpus() {
    replay("header", fuzz_checks::header);
}

#[test]
fn store_record_corpus() {
    replay("store_record", fuzz_checks::store_record);
}

#[test]
fn user_text_corpus() {
    replay("user_text", fuzz_checks::user_text);
}

#[test]
fn message_corpus() {
    replay("message", fuzz_checks::message);
}

#[test]
fn wallet_file_corpus() {
    replay("wallet_file", fuzz_checks::wallet_file);
}

#[test]
fn node_session_corpus() {
    let genesis = fuzz_checks::session_genesis(&tabcoin_core::params::ChainParams::test()).unwrap();
    replay("node_session", |data| {
        let _ = fuzz_checks::node_session(&genesis, data);
    });
    // The seeds reach the node's depths: the block a peer sends is connected, with its
    // signatures checked in place or as jobs.
    for seed in ["block", "block_as_jobs"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_session").join(seed);
        let data = fs::read(path).unwrap();
        assert_eq!(fuzz_checks::node_session(&genesis, &data), Some(1), "seed {seed}");
    }
    // The header path: headers checked in context and queued for their work, the blocks
    // fetched and connected.
    let data = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_session/headers_then_blocks"))
        .unwrap();
    assert_eq!(fuzz_checks::node_session(&genesis, &data), Some(3));
    // Before the handshake a block is refused: the peer is cut off, nothing is connected.
    let data =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_session/before_handshake")).unwrap();
    assert_eq!(fuzz_checks::node_session(&genesis, &data), Some(0));
}

#[test]
fn signature_jobs_corpus() {
    replay("signature_jobs", fuzz_checks::signature_jobs);
}
