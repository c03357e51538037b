#![no_main]

use std::sync::LazyLock;
use tabcoin_core::block::Block;
use tabcoin_core::params::ChainParams;

// Made once per process: the genesis is the same for every input, and deriving its key would
// otherwise take most of each execution.
static GENESIS: LazyLock<Option<Block>> = LazyLock::new(|| tabcoin_core::fuzz_checks::session_genesis(&ChainParams::test()));

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(genesis) = GENESIS.as_ref() {
        let _ = tabcoin_core::fuzz_checks::node_session(genesis, data);
    }
});
