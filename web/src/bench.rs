//! What the browser benchmark (`www/bench.html`) measures in a worker: the nonce search the
//! miners run, against plain double SHA-256 of the whole header as the baseline.

use tabcoin_core::hash::sha256d;
use tabcoin_core::header::HEADER_BYTES;
use wasm_bindgen::prelude::*;

/// Double SHA-256 of the 80-byte `header` with `count` nonces from `start`, each hashed whole
/// (no midstate). Returns a byte of the hashes so the work cannot be optimised away.
#[wasm_bindgen]
pub fn plain_double_sha256(header: &[u8], start: u32, count: u32) -> u8 {
    let mut bytes = [0u8; HEADER_BYTES];
    let len = header.len().min(HEADER_BYTES);
    bytes[..len].copy_from_slice(&header[..len]);
    let mut folded = 0u8;
    for nonce in start..start.saturating_add(count) {
        bytes[76..80].copy_from_slice(&nonce.to_le_bytes());
        folded ^= sha256d(&bytes)[31];
    }
    folded
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    #[wasm_bindgen_test]
    fn the_baseline_hashes_every_nonce() {
        let header = [5u8; 80];
        let mut bytes = header;
        bytes[76..80].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(plain_double_sha256(&header, 7, 1), sha256d(&bytes)[31]);
        assert_eq!(plain_double_sha256(&header, 7, 0), 0);
    }
}
