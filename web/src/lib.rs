//! tabcoin-web: the browser shell around core's node. It keeps the chain in IndexedDB, carries
//! the node's frames over a WebSocket, drives its timer from a worker and runs its miners and
//! signature checks in Web Workers. No consensus or protocol logic lives here.

pub mod api;
pub mod bench;
pub mod ecdsa;
pub mod lock;
pub mod miner;
pub mod node;
pub mod sigcheck;
pub mod store;
pub mod vault;
pub mod wallet;
pub mod workers;

// The page's allocator: talc, smaller in wasm than the standard library's dlmalloc.
#[cfg(all(target_arch = "wasm32", target_os = "unknown", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// A panic is a bug: it is written to the console with its message and place, where the person
/// reporting it (and the end-to-end tests) can see it, instead of a bare "unreachable".
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("tabcoin panicked: {info}").into());
    }));
}
