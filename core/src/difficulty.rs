//! The difficulty rule: which `bits` a block must carry, from its parent alone.
//!
//! tabcoin retargets every block with ASERT (the absolutely scheduled exponentially rising
//! targets of Bitcoin Cash's aserti3-2d), written in its relative form: each block's target is
//! its parent's, times `2^((solve_time - spacing) / half_life)`, where `solve_time` is the
//! parent's time minus the grandparent's. Summed over a chain the exponents telescope to
//! `(time of the parent - time of the anchor - spacing × blocks) / half_life`, so the target
//! depends only on the parent's timestamp and height, never on a window of earlier stamps.
//! That is what closes both timestamp attacks the old windowed retarget had:
//!
//! - a future-stamped block moves its child's target by at most
//!   `2^(max_future_block_secs / half_life)`, and the next honestly stamped block takes it back;
//! - the majority time warp (low stamps inside a period, a high one at its end) has nothing to
//!   work on: there is no period, and a low stamp only makes the next target harder.
//!
//! A solve time is capped at `max_solve_time_secs` (never floored): after a long pause the
//! next target eases by at most `2^(cap / half_life)` instead of letting the chain race to
//! catch up with the wall clock. The cap only ever makes a target harder than uncapped ASERT
//! would, so no timestamp choice gains from it.

use crate::params::ChainParams;
use crate::pow::{CompactTarget, Target};

/// How a network sets its difficulty.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DifficultyRule {
    /// Every block carries the network's `pow_limit` (the test networks).
    Fixed,
    /// Per-block ASERT toward `target_spacing_secs`.
    Asert {
        /// Seconds of schedule drift that double (or halve) the target.
        half_life_secs: u32,
        /// Longest solve time that counts (the pause cap).
        max_solve_time_secs: u32,
    },
}

/// What the next block's bits depend on: its parent's bits and time, and the time of the
/// parent's parent (none when the parent is the genesis block).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ParentTiming {
    pub bits: CompactTarget,
    pub time: u32,
    pub grandparent_time: Option<u32>,
}

/// Fixed-point precision of the exponent: 16 fractional bits, as aserti3-2d.
const FRACTION_BITS: u32 = 16;
/// Exponents beyond this many doublings either way saturate (at the limit, or at a target of 1).
const MAX_DOUBLINGS: i64 = 300;

/// `2^(frac / 65536) × 65536` for `0 <= frac < 65536`: aserti3-2d's cubic approximation, exact
/// at both ends and within 0.013 % between. Integer arithmetic only, so every node agrees.
fn pow2_fraction(frac: u64) -> u64 {
    let f = u128::from(frac);
    let poly = 195_766_423_245_049u128 * f + 971_821_376u128 * f * f + 5_127u128 * f * f * f + (1u128 << 47);
    (1u64 << FRACTION_BITS) + (poly >> 48) as u64
}

/// The bits a child of `parent` must carry on `params`' network.
pub fn next_bits(params: &ChainParams, parent: ParentTiming) -> CompactTarget {
    match params.difficulty {
        DifficultyRule::Fixed => params.pow_limit,
        DifficultyRule::Asert { half_life_secs, max_solve_time_secs } => {
            let Some(grandparent_time) = parent.grandparent_time else {
                // The genesis block's child: nothing has been timed yet.
                return parent.bits;
            };
            let solve_time = (i64::from(parent.time) - i64::from(grandparent_time)).min(i64::from(max_solve_time_secs));
            let drift = solve_time - i64::from(params.target_spacing_secs);
            let half_life = i64::from(half_life_secs.max(1));
            let exponent = (drift << FRACTION_BITS)
                .div_euclid(half_life)
                .clamp(-MAX_DOUBLINGS << FRACTION_BITS, MAX_DOUBLINGS << FRACTION_BITS);
            let doublings = exponent >> FRACTION_BITS;
            let fraction = (exponent & ((1 << FRACTION_BITS) - 1)) as u64;
            let limit = params.pow_limit_target();
            let previous = parent.bits.to_target().unwrap_or(limit);
            previous.times_pow2(pow2_fraction(fraction), doublings - i64::from(FRACTION_BITS), &limit).to_compact()
        }
    }
}

/// The target as an `f64` (for simulations and figures; consensus never uses it).
pub fn target_as_f64(target: &Target) -> f64 {
    target.to_be_bytes().iter().fold(0.0, |acc, byte| acc * 256.0 + f64::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asert_params() -> ChainParams {
        ChainParams::main()
    }

    fn timing(bits: u32, grandparent: u32, parent: u32) -> ParentTiming {
        ParentTiming { bits: CompactTarget(bits), time: parent, grandparent_time: Some(grandparent) }
    }

    fn ratio(after: CompactTarget, before: CompactTarget) -> f64 {
        target_as_f64(&after.to_target().unwrap()) / target_as_f64(&before.to_target().unwrap())
    }

    #[test]
    fn the_fraction_polynomial_is_exact_at_its_ends_and_close_between() {
        assert_eq!(pow2_fraction(0), 65536);
        for frac in (0..65536u64).step_by(997).chain([65535]) {
            let exact = 2f64.powf(frac as f64 / 65536.0) * 65536.0;
            let approx = pow2_fraction(frac) as f64;
            assert!((approx - exact).abs() / exact < 0.00015, "frac {frac}: {approx} against {exact}");
        }
    }

    #[test]
    fn a_block_on_time_keeps_the_target() {
        let p = asert_params();
        let start = CompactTarget(0x1d00ffff);
        let spacing = p.target_spacing_secs;
        assert_eq!(next_bits(&p, timing(start.0, 1000, 1000 + spacing)), start);
    }

    #[test]
    fn one_half_life_late_doubles_the_target_and_early_halves_it() {
        let p = asert_params();
        let DifficultyRule::Asert { half_life_secs, .. } = p.difficulty else { panic!("main uses ASERT") };
        let start = CompactTarget(0x1c00ffff);
        let late = next_bits(&p, timing(start.0, 1000, 1000 + p.target_spacing_secs + half_life_secs));
        assert!((ratio(late, start) - 2.0).abs() < 1e-4, "{}", ratio(late, start));
        // A solve time one half-life shorter than the spacing (a stamp before its parent's).
        let early = next_bits(&p, timing(start.0, 1000 + half_life_secs, 1000 + p.target_spacing_secs));
        assert!((ratio(early, start) - 0.5).abs() < 1e-4, "{}", ratio(early, start));
    }

    #[test]
    fn a_future_stamp_moves_one_target_by_a_bounded_factor() {
        let p = asert_params();
        let DifficultyRule::Asert { half_life_secs, .. } = p.difficulty else { panic!("main uses ASERT") };
        let start = CompactTarget(0x1c00ffff);
        let honest = next_bits(&p, timing(start.0, 1000, 1005));
        let stamped = next_bits(&p, timing(start.0, 1000, 1005 + p.max_future_block_secs));
        let bound = 2f64.powf(f64::from(p.max_future_block_secs) / f64::from(half_life_secs));
        let gained = ratio(stamped, honest);
        assert!(gained <= bound * 1.0002 && gained > 1.0, "{gained} against {bound}");
        // The honest child of the stamped block (stamped at the real time) takes it back.
        let back = next_bits(
            &p,
            ParentTiming { bits: stamped, time: 1010, grandparent_time: Some(1005 + p.max_future_block_secs) },
        );
        let after_two_honest = next_bits(&p, ParentTiming { bits: honest, time: 1010, grandparent_time: Some(1005) });
        assert!((ratio(back, after_two_honest) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn a_long_pause_eases_by_at_most_the_cap() {
        let p = asert_params();
        let DifficultyRule::Asert { half_life_secs, max_solve_time_secs } = p.difficulty else {
            panic!("main uses ASERT")
        };
        let start = CompactTarget(0x1c00ffff);
        let day = next_bits(&p, timing(start.0, 1000, 1000 + 86_400));
        let capped = next_bits(&p, timing(start.0, 1000, 1000 + max_solve_time_secs));
        assert_eq!(day, capped);
        let bound = 2f64.powf(f64::from(max_solve_time_secs - p.target_spacing_secs) / f64::from(half_life_secs));
        assert!((ratio(day, start) - bound).abs() / bound < 1e-3);
    }

    #[test]
    fn extremes_saturate_at_the_limit_and_at_one() {
        let p = asert_params();
        assert_eq!(next_bits(&p, timing(p.pow_limit.0, 0, u32::MAX)), p.pow_limit);
        let floor = next_bits(&p, timing(0x1c00ffff, u32::MAX, 0));
        assert_eq!(
            floor.to_target().unwrap(),
            Target::from_be_bytes({
                let mut one = [0u8; 32];
                one[31] = 1;
                one
            })
        );
        // The genesis block's child carries the genesis bits.
        let genesis = ParentTiming { bits: p.pow_limit, time: 5, grandparent_time: None };
        assert_eq!(next_bits(&p, genesis), p.pow_limit);
    }

    #[test]
    fn fixed_networks_always_use_the_limit() {
        let p = ChainParams::test();
        assert_eq!(next_bits(&p, timing(0x1d00ffff, 0, 1_000_000)), p.pow_limit);
    }

    proptest::proptest! {
        #[test]
        fn any_timing_gives_a_valid_target_within_the_limit(
            bits in 0x1900_0000u32..0x1e02_0000,
            grandparent in proptest::prelude::any::<u32>(),
            parent in proptest::prelude::any::<u32>(),
        ) {
            let p = asert_params();
            if CompactTarget(bits).to_target().is_ok() {
                let next = next_bits(&p, timing(bits, grandparent, parent));
                let target = next.to_target().expect("a valid compact target");
                proptest::prop_assert!(target <= p.pow_limit_target());
            }
        }
    }
}
