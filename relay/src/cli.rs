//! The command line: the seed's verbs, plus where the data lives and which network to use.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tabcoin_core::Network;

/// The seed's default NODE_ID: the central node listened on port 3000.
pub const DEFAULT_NODE_ID: u16 = 3000;

#[derive(Parser, Debug)]
#[command(
    name = "tabcoin",
    version,
    about = "tabcoin's relay: the central node of a browser-native proof-of-work network"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Picks the data directory and the default port, as the seed's NODE_ID did.
    #[arg(long, env = "NODE_ID", default_value_t = DEFAULT_NODE_ID, global = true)]
    pub node_id: u16,
    /// Where the chain, the wallet and the RPC cookie live [default: ~/.tabcoin/<network>-<node id>].
    #[arg(long, global = true)]
    pub datadir: Option<PathBuf>,
    /// `seed` (the seed's scenario's network: coins spendable at once, no fee floor), `main`
    /// (meant to hold value: coinbases mature after 100 blocks, a fee floor and a dust
    /// threshold), or `test` (a trivial proof of work, for tests).
    #[arg(long, default_value = "seed", global = true)]
    pub network: Network,
}

impl Common {
    pub fn datadir(&self) -> PathBuf {
        match &self.datadir {
            Some(dir) => dir.clone(),
            None => {
                let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
                home.join(".tabcoin").join(format!("{}-{}", self.network, self.node_id))
            }
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Create the chain: its genesis block pays ADDRESS.
    Createblockchain {
        #[arg(long)]
        address: String,
    },
    /// Add a new address to the relay's wallet and print it.
    Createwallet,
    /// Print the wallet's addresses.
    Listaddresses,
    /// Print an address's balance (confirmed, and with the mempool).
    Getbalance {
        #[arg(long)]
        address: String,
    },
    /// Pay AMOUNT from one of the wallet's addresses; the change goes back to it.
    Send {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// In coins, e.g. `10` or `0.5`.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// In coins; `auto` pays the network's minimum for the payment's size (0 on the seed's
        /// and the test network).
        #[arg(long, default_value = "auto", allow_hyphen_values = true)]
        fee: String,
        /// Mine the block with this payment at once, its coinbase paying FROM (the seed's `-mine`).
        #[arg(long)]
        mine: bool,
    },
    /// Print every block of the best chain, newest first.
    Printchain,
    /// Rebuild the UTXO set from the blocks and report any difference from the stored one.
    Reindexutxo,
    /// Run the relay: serve the page, the WebSocket endpoint and the JSON API.
    Startnode(StartNode),
}

#[derive(Args, Debug, Clone)]
pub struct StartNode {
    /// Port for the page, the WebSocket endpoint and the API [default: the node id].
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on. Browsers allow Web Locks, WebCrypto and persistent storage only in
    /// secure contexts: localhost is one; to serve a LAN, bind its address with --tls-cert and
    /// --tls-key so that the page is served over https.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// PEM certificate chain: serve https and wss instead of http and ws.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Mine to ADDR (by --mine-when, as the seed's miner node).
    #[arg(long, value_name = "ADDR")]
    pub miner: Option<String>,
    /// Mine once the mempool holds this many transactions (the seed's 2), or `continuous`.
    #[arg(long, default_value = "2")]
    pub mine_when: String,
    /// Threads for the nonce search [default: all cores].
    #[arg(long)]
    pub mining_threads: Option<usize>,
    /// Another relay to peer with, e.g. ws://127.0.0.1:3001/ws (repeatable).
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,
    /// Keep and pass on gossiped relay addresses on private, loopback and link-local hosts
    /// (a LAN of relays, or several on one machine); by default only public ones.
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// Connections held at once from one address (every connection from it: peers, the page,
    /// the API); the total is the open-file limit less a reserve.
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_address: usize,
    /// The page's files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../www"))]
    pub www: PathBuf,
}
