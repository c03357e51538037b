//! Chain parameters: what makes one tabcoin network differ from another.

use core::fmt;
use core::str::FromStr;

use crate::amount::{Amount, COIN};
use crate::difficulty::DifficultyRule;
use crate::hash::BlockHash;
use crate::pow::{CompactTarget, Target};

/// The named networks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Network {
    /// The network meant to hold value: a block every few seconds, coinbases mature after
    /// 100 blocks, a fee floor and a dust threshold.
    Main,
    /// The seed's scenario's network (what `./scripts/run.sh` starts): main's proof of work
    /// and difficulty under the seed's rules: coinbases and the genesis output spendable at
    /// once, no fee floor, no dust threshold. It holds nothing of value.
    Seed,
    /// A network for tests: a trivial target, always the same.
    Test,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Main => "main",
            Network::Seed => "seed",
            Network::Test => "test",
        })
    }
}

/// The network name is neither `main` nor `test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownNetwork(pub String);

impl fmt::Display for UnknownNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown network {:?} (use \"seed\", \"main\" or \"test\")", self.0)
    }
}

impl std::error::Error for UnknownNetwork {}

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Self, UnknownNetwork> {
        match s {
            "main" => Ok(Network::Main),
            "seed" => Ok(Network::Seed),
            "test" => Ok(Network::Test),
            other => Err(UnknownNetwork(other.to_string())),
        }
    }
}

/// Fee rate in base units per 1,000 bytes of encoded transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct FeeRate(pub u64);

impl FeeRate {
    /// The least fee a transaction of `bytes` must pay at this rate (rounded up).
    pub fn fee_for(&self, bytes: usize) -> Amount {
        let fee = (u128::from(self.0) * bytes as u128).div_ceil(1000);
        Amount::from_base_units(u64::try_from(fee).unwrap_or(u64::MAX))
    }

    /// The rate a fee pays for `bytes`, rounded down.
    pub fn of(fee: Amount, bytes: usize) -> FeeRate {
        let rate = u128::from(fee.base_units()) * 1000 / (bytes.max(1) as u128);
        FeeRate(u64::try_from(rate).unwrap_or(u64::MAX))
    }
}

/// Main's genesis block hash, in wire order (2026-12-04 00:00 UTC).
const MAIN_GENESIS: [u8; 32] = [
    0xc5, 0x8d, 0xb4, 0xfc, 0x70, 0x77, 0xc4, 0xbc, 0xfd, 0x8c, 0x22, 0x69, 0x07, 0x77, 0x3b, 0x0a, 0x2f, 0xd0, 0x62,
    0x82, 0x8a, 0x53, 0xcb, 0xbc, 0x97, 0x3b, 0x75, 0x53, 0x55, 0x01, 0x00, 0x00,
];

/// A network's fixed genesis block: its time, its nonce, and the hash the block built from
/// them must have (see [`crate::template::pinned_genesis`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedGenesis {
    pub time: u32,
    pub nonce: u32,
    pub hash: BlockHash,
}

/// Everything consensus and policy need to know about a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainParams {
    pub network: Network,
    /// First four bytes of every protocol message.
    pub magic: [u8; 4],
    /// The magics this network used under earlier consensus rules: a peer that still sends
    /// one is told to upgrade instead of being cut off without a word.
    pub retired_magics: &'static [[u8; 4]],
    /// The genesis block every node of this network starts from (main's); `None`: the first
    /// node makes one (`createblockchain`) and the others adopt the first they meet.
    pub pinned_genesis: Option<PinnedGenesis>,
    /// The generation of this network's consensus rules, kept with a stored chain: a chain
    /// stored under other rules is refused at load ([`crate::chain::LoadError::RulesChanged`]).
    pub rules: u32,
    /// First byte of every address.
    pub address_version: u8,
    pub initial_subsidy: Amount,
    /// Blocks between halvings of the subsidy.
    pub halving_interval: u32,
    /// The block interval the difficulty rule aims for.
    pub target_spacing_secs: u32,
    /// How each block's target follows from its parent ([`crate::difficulty`]).
    pub difficulty: DifficultyRule,
    /// The easiest target allowed, and the genesis block's.
    pub pow_limit: CompactTarget,
    /// A block's time may be at most this far ahead of the node's clock.
    pub max_future_block_secs: u32,
    /// Blocks before a coinbase output can be spent (0: at once, as in the seed).
    pub coinbase_maturity: u32,
    /// Mempool policy: the least fee rate accepted and relayed.
    pub min_relay_fee_rate: FeeRate,
    /// Mempool policy: the least amount an output may carry (less would cost more to spend
    /// than it is worth, and burden every node's UTXO set).
    pub dust_threshold: Amount,
    pub max_block_bytes: usize,
    /// Signature checks (inputs spending coins) a block may carry: a full block must check in
    /// a quarter of the block interval with core's own P-256 on one core (docs/BENCHMARKS.md),
    /// for every validator that falls back to it.
    pub max_block_signature_checks: usize,
    pub max_tx_bytes: usize,
    /// Mempool policy: total bytes held before evicting by fee rate.
    pub max_mempool_bytes: usize,
    /// Mempool policy: longest chain of unconfirmed transactions.
    pub max_mempool_chain_depth: u32,
}

impl ChainParams {
    pub fn for_network(network: Network) -> ChainParams {
        match network {
            Network::Main => ChainParams::main(),
            Network::Seed => ChainParams::seed(),
            Network::Test => ChainParams::test(),
        }
    }

    /// The default network. The genesis target needs about 2^23 hashes: a second or two for a
    /// tab's Web Workers, under a second natively; the difficulty rule then aims at 5-second
    /// blocks.
    pub fn main() -> ChainParams {
        ChainParams {
            network: Network::Main,
            // Rules 2 (per-block ASERT, a 60 s future limit): a new magic, so that nodes on the
            // first rules and nodes on these never mistake each other's messages.
            magic: [0xf4, 0xab, 0xc0, 0x2e],
            retired_magics: &[[0xf4, 0xab, 0xc0, 0x1e]],
            // Fixed: every node of main starts here, and a peer on another chain is refused (no
            // node adopts the first genesis it meets). Its output pays no key. Shown as
            // 0000015553753b97bccb538a8262d02f0a3b770769228cfdbcc47770fcb48dc5.
            pinned_genesis: Some(PinnedGenesis {
                time: 1_796_342_400,
                nonce: 5_635_421,
                hash: BlockHash(MAIN_GENESIS),
            }),
            rules: 2,
            // Addresses start with 'T'.
            address_version: 0x41,
            initial_subsidy: Amount::from_base_units(10 * COIN),
            halving_interval: 210_000,
            target_spacing_secs: 5,
            // A half-life of 72 blocks: a x4 change of hash rate is absorbed within about 350
            // blocks, and the most a future stamp can ease a target is 2^(60/360), 12 %.
            difficulty: DifficultyRule::Asert { half_life_secs: 360, max_solve_time_secs: 720 },
            pow_limit: CompactTarget(0x1e02_0000),
            // Twelve block intervals, as Bitcoin's 2 hours are twelve of its 10-minute ones,
            // and a sixth of the half-life: see `difficulty` for why it must stay small.
            max_future_block_secs: 60,
            // A coinbase spent before a reorganisation this deep could erase it can not erase
            // a payment built on it.
            coinbase_maturity: 100,
            // 1,000 base units per 1,000 bytes: a one-input payment pays about 0.0000025.
            min_relay_fee_rate: FeeRate(1_000),
            // Three times what spending an output costs at the floor (an input is 133 bytes).
            dust_threshold: Amount::from_base_units(400),
            max_block_bytes: 2_000_000,
            // 2,500 verifies at 428 µs each (core's P-256, one core of a 2-core CI machine):
            // 1.07 s, within a quarter of the 5 s block interval.
            max_block_signature_checks: 2_500,
            max_tx_bytes: 100_000,
            max_mempool_bytes: 20_000_000,
            max_mempool_chain_depth: 25,
        }
    }

    /// The seed's scenario's network: main's proof of work, difficulty and limits under the
    /// seed's rules (coinbases and the genesis output spendable at once, zero-fee payments,
    /// no dust threshold).
    pub fn seed() -> ChainParams {
        ChainParams {
            network: Network::Seed,
            magic: [0xf4, 0xab, 0xc0, 0x5e],
            retired_magics: &[],
            pinned_genesis: None,
            rules: 1,
            // Addresses start with 'S'.
            address_version: 0x3f,
            coinbase_maturity: 0,
            min_relay_fee_rate: FeeRate(0),
            dust_threshold: Amount::ZERO,
            ..ChainParams::main()
        }
    }

    /// The test network: any other hash meets the target, no retarget, short halvings.
    pub fn test() -> ChainParams {
        ChainParams {
            network: Network::Test,
            magic: [0xf4, 0xab, 0xc0, 0x7e],
            retired_magics: &[],
            pinned_genesis: None,
            rules: 1,
            // Addresses start with 'm' or 'n', as Bitcoin's test networks.
            address_version: 0x6f,
            halving_interval: 150,
            difficulty: DifficultyRule::Fixed,
            pow_limit: CompactTarget(0x207f_ffff),
            max_future_block_secs: 7200,
            coinbase_maturity: 0,
            min_relay_fee_rate: FeeRate(0),
            dust_threshold: Amount::ZERO,
            ..ChainParams::main()
        }
    }

    /// The subsidy of a block at `height`: halved every `halving_interval` blocks, zero after 64.
    pub fn subsidy(&self, height: u32) -> Amount {
        let halvings = height.checked_div(self.halving_interval).unwrap_or(0);
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_base_units(self.initial_subsidy.base_units() >> halvings)
    }

    pub fn pow_limit_target(&self) -> Target {
        // Both networks' limits are valid compact targets; a hand-made one that is not falls
        // back to the smallest target, which no block meets rather than any block.
        self.pow_limit.to_target().unwrap_or(Target::from_be_bytes([0; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves() {
        let p = ChainParams::test();
        assert_eq!(p.subsidy(0), Amount::from_coins(10).unwrap());
        assert_eq!(p.subsidy(149), Amount::from_coins(10).unwrap());
        assert_eq!(p.subsidy(150), Amount::from_base_units(5 * COIN));
        assert_eq!(p.subsidy(300), Amount::from_base_units(250_000_000));
        assert_eq!(p.subsidy(150 * 64), Amount::ZERO);
        assert_eq!(p.subsidy(u32::MAX), Amount::ZERO);
    }

    #[test]
    fn fee_rates() {
        assert_eq!(FeeRate(1000).fee_for(250), Amount::from_base_units(250));
        assert_eq!(FeeRate(1).fee_for(250), Amount::from_base_units(1));
        assert_eq!(FeeRate::of(Amount::from_base_units(500), 250), FeeRate(2000));
        assert_eq!("main".parse::<Network>(), Ok(Network::Main));
        assert_eq!("seed".parse::<Network>(), Ok(Network::Seed));
        assert!("mainnet".parse::<Network>().is_err());
    }
}
