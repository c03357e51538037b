//! Proof of work: compact `bits`, targets, work, and the arithmetic of the difficulty rule.

use core::fmt;

use crypto_bigint::{CheckedAdd, NonZero, U256, U512};

use crate::hash::BlockHash;

/// A target in Bitcoin's compact `bits` form: a 1-byte size and a 3-byte mantissa.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CompactTarget(pub u32);

/// Why a compact target does not name a usable target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    Negative,
    Overflow,
    Zero,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetError::Negative => "the compact target has its sign bit set",
            TargetError::Overflow => "the compact target is larger than 256 bits",
            TargetError::Zero => "the compact target is zero",
        })
    }
}

impl std::error::Error for TargetError {}

/// A 256-bit target: a block's hash, read as a little-endian number, must not exceed it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Target(U256);

/// Expected number of hashes to find a block at some target: 2^256 / (target + 1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct Work(U256);

fn u256_from_be(bytes: &[u8; 32]) -> U256 {
    U256::from_be_slice(bytes)
}

fn u256_to_be(value: &U256) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(value.to_be_bytes().as_ref());
    out
}

/// The low 64 bits.
fn low_u64(value: &U256) -> u64 {
    let be = u256_to_be(value);
    let mut low = [0u8; 8];
    low.copy_from_slice(&be[24..]);
    u64::from_be_bytes(low)
}

impl CompactTarget {
    /// Expands to the full target, following Bitcoin's `SetCompact` and rejecting what it flags.
    pub fn to_target(self) -> Result<Target, TargetError> {
        let size = self.0 >> 24;
        let mantissa = self.0 & 0x007f_ffff;
        if mantissa != 0 && self.0 & 0x0080_0000 != 0 {
            return Err(TargetError::Negative);
        }
        if mantissa != 0 && (size > 34 || (mantissa > 0xff && size > 33) || (mantissa > 0xffff && size > 32)) {
            return Err(TargetError::Overflow);
        }
        let value = if size <= 3 {
            U256::from_u64(u64::from(mantissa >> (8 * (3 - size))))
        } else {
            // A zero mantissa skipped the overflow check above, so its size may be anything.
            U256::from_u64(u64::from(mantissa)).overflowing_shl_vartime(8 * (size - 3)).ok_or(TargetError::Overflow)?
        };
        if value == U256::ZERO {
            return Err(TargetError::Zero);
        }
        Ok(Target(value))
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl Target {
    pub fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Target(u256_from_be(&bytes))
    }

    pub fn to_be_bytes(&self) -> [u8; 32] {
        u256_to_be(&self.0)
    }

    /// The compact form, following Bitcoin's `GetCompact` (it rounds down to 3 bytes of mantissa).
    pub fn to_compact(&self) -> CompactTarget {
        let mut size = self.0.bit_width().div_ceil(8);
        let mut compact =
            if size <= 3 { low_u64(&self.0) << (8 * (3 - size)) } else { low_u64(&self.0.shr_vartime(8 * (size - 3))) }
                as u32;
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        CompactTarget(compact | (size << 24))
    }

    /// Whether `hash`, read as a little-endian 256-bit number, is at most this target.
    pub fn is_met_by(&self, hash: &BlockHash) -> bool {
        U256::from_le_slice(hash.as_bytes()) <= self.0
    }

    /// The work a block at this target proves.
    pub fn work(&self) -> Work {
        // 2^256 / (t + 1) = (~t / (t + 1)) + 1, which stays within 256 bits. Computed in 512
        // bits, where t + 1 never wraps.
        let divisor: U512 = self.0.resize::<{ U512::LIMBS }>().wrapping_add(&U512::ONE);
        match NonZero::new(divisor).into_option() {
            Some(d) => Work(wide_div(&self.0.not().resize(), &d).resize::<{ U256::LIMBS }>().wrapping_add(&U256::ONE)),
            None => Work(U256::ONE),
        }
    }

    /// This target times `factor × 2^shift` (a negative `shift` divides, rounding down),
    /// capped at `limit` and at least 1: the difficulty rule's step.
    pub fn times_pow2(&self, factor: u64, shift: i64, limit: &Target) -> Target {
        // The product is under 2^(256 + 64), in 512 bits. A left shift that would take it past
        // 256 bits is past any limit; any other fits.
        let product: U512 = self.0.resize::<{ U512::LIMBS }>().wrapping_mul(&U512::from_u64(factor));
        let limit_wide: U512 = limit.0.resize();
        let value = if shift >= 0 && i64::from(product.bit_width()) + shift > 256 {
            return *limit;
        } else if shift >= 0 {
            product.wrapping_shl_vartime(shift as u32)
        } else if shift > -512 {
            product.shr_vartime(shift.unsigned_abs() as u32)
        } else {
            U512::ZERO
        };
        if value > limit_wide {
            *limit
        } else if value == U512::ZERO {
            Target(U256::ONE)
        } else {
            Target(value.resize())
        }
    }
}

/// The one division of proof-of-work arithmetic. Variable time: targets are public.
fn wide_div(dividend: &U512, divisor: &NonZero<U512>) -> U512 {
    dividend.wrapping_div_vartime(divisor)
}

impl Work {
    pub const ZERO: Work = Work(U256::ZERO);

    pub fn checked_add(&self, other: &Work) -> Option<Work> {
        self.0.checked_add(&other.0).into_option().map(Work)
    }

    pub fn to_be_bytes(&self) -> [u8; 32] {
        u256_to_be(&self.0)
    }

    pub fn from_be_bytes(bytes: [u8; 32]) -> Work {
        Work(u256_from_be(&bytes))
    }
}

/// Shown as hex without leading zeros, as Bitcoin shows chain work.
impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = crate::hash::to_hex(&self.to_be_bytes());
        let trimmed = hex.trim_start_matches('0');
        f.write_str(if trimmed.is_empty() { "0" } else { trimmed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::to_hex;

    fn target_hex(bits: u32) -> String {
        to_hex(&CompactTarget(bits).to_target().unwrap().to_be_bytes())
    }

    #[test]
    fn bitcoin_genesis_bits_expand() {
        assert_eq!(target_hex(0x1d00ffff), "00000000ffff0000000000000000000000000000000000000000000000000000");
    }

    #[test]
    fn bitcoin_block_100000_bits_expand() {
        assert_eq!(target_hex(0x1b04864c), "000000000004864c000000000000000000000000000000000000000000000000");
    }

    #[test]
    fn compact_round_trips_for_normalised_values() {
        for bits in [0x1d00ffffu32, 0x1b04864c, 0x207fffff, 0x1e020000, 0x03123456, 0x04123456, 0x02008000] {
            let target = CompactTarget(bits).to_target().unwrap();
            assert_eq!(target.to_compact(), CompactTarget(bits), "bits {bits:08x}");
        }
    }

    #[test]
    fn bad_compact_targets_are_rejected() {
        // A zero mantissa with a size too large to shift by: an error, not a panic.
        assert!(CompactTarget(0x23000000).to_target().is_err());
        assert!(CompactTarget(0xff000000).to_target().is_err());
        assert_eq!(CompactTarget(0x04923456).to_target(), Err(TargetError::Negative));
        assert_eq!(CompactTarget(0xff123456).to_target(), Err(TargetError::Overflow));
        assert_eq!(CompactTarget(0x21010000).to_target(), Err(TargetError::Overflow));
        assert_eq!(CompactTarget(0x00000000).to_target(), Err(TargetError::Zero));
        // The mantissa is shifted out entirely: zero.
        assert_eq!(CompactTarget(0x01003456).to_target(), Err(TargetError::Zero));
    }

    proptest::proptest! {
        #[test]
        fn any_bits_expand_without_panicking(bits in proptest::prelude::any::<u32>()) {
            if let Ok(target) = CompactTarget(bits).to_target() {
                let _ = (target.to_compact(), target.work());
            }
        }
    }

    #[test]
    fn work_of_bitcoin_difficulty_one() {
        // Difficulty 1 proves 2^256 / (0xffff * 2^208 + 1) = 0x100010001 hashes.
        let work = CompactTarget(0x1d00ffff).to_target().unwrap().work();
        assert_eq!(work.to_string(), "100010001");
        let easy = CompactTarget(0x207fffff).to_target().unwrap().work();
        assert_eq!(easy.to_string(), "2");
    }

    #[test]
    fn stepping_by_powers_of_two_is_clamped_by_the_limit_and_one() {
        let limit = CompactTarget(0x207fffff).to_target().unwrap();
        let t = CompactTarget(0x1d00ffff).to_target().unwrap();
        // × 4 (65536 × 2^2 / 2^16) and / 4.
        assert_eq!(t.times_pow2(65536, 2 - 16, &limit).to_compact(), CompactTarget(0x1d03fffc));
        assert_eq!(t.times_pow2(65536, -2 - 16, &limit).to_compact(), CompactTarget(0x1c3fffc0));
        assert_eq!(limit.times_pow2(65536 * 4, -16, &limit), limit);
        assert_eq!(t.times_pow2(u64::MAX, 190, &limit), limit);
        assert_eq!(t.times_pow2(u64::MAX, 1000, &limit), limit);
        let one = Target::from_be_bytes({
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        });
        assert_eq!(t.times_pow2(65536, -400, &limit), one);
        assert_eq!(t.times_pow2(1, -10_000, &limit), one);
    }

    #[test]
    fn hash_meets_target_compares_as_little_endian_number() {
        let target = CompactTarget(0x1d00ffff).to_target().unwrap();
        let genesis: BlockHash = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f".parse().unwrap();
        assert!(target.is_met_by(&genesis));
        let too_big: BlockHash = "0000000100000000000000000000000000000000000000000000000000000000".parse().unwrap();
        assert!(!target.is_met_by(&too_big));
    }
}
