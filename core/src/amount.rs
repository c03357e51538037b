//! Amounts of coin in base units, with checked arithmetic and coin-string parsing.

use core::fmt;
use core::str::FromStr;

/// Base units in one coin.
pub const COIN: u64 = 100_000_000;

/// An amount of coin in base units (1 coin = 10^8 base units).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Amount(u64);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    /// No amount, and no sum of amounts in one transaction or block, may exceed this
    /// (Bitcoin's 21 million coins): a bound that keeps every sum far from u64 overflow.
    pub const MAX_MONEY: Amount = Amount(21_000_000 * COIN);

    pub const fn from_base_units(units: u64) -> Self {
        Amount(units)
    }

    /// `coins` whole coins; `None` on overflow.
    pub const fn from_coins(coins: u64) -> Option<Self> {
        match coins.checked_mul(COIN) {
            Some(units) => Some(Amount(units)),
            None => None,
        }
    }

    pub const fn base_units(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// Sum of amounts, `None` if it overflows u64.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(amounts: I) -> Option<Amount> {
        amounts.into_iter().try_fold(Amount::ZERO, Amount::checked_add)
    }

    /// Whether the amount is within [`Amount::MAX_MONEY`].
    pub fn is_valid_money(self) -> bool {
        self <= Amount::MAX_MONEY
    }
}

/// Formats as coins with up to eight decimals, trailing zeros dropped: `9.5`, `10`, `0.00000001`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / COIN;
        let frac = self.0 % COIN;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:08}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Why a coin string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseAmountError {
    Empty,
    /// A character other than digits and one decimal point.
    InvalidCharacter(char),
    /// More than eight decimals: finer than one base unit.
    TooPrecise,
    /// More than [`Amount::MAX_MONEY`].
    TooLarge,
}

impl fmt::Display for ParseAmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseAmountError::Empty => f.write_str("the amount is empty"),
            ParseAmountError::InvalidCharacter(c) => {
                write!(f, "{c:?} is not allowed in an amount (use digits and one '.')")
            }
            ParseAmountError::TooPrecise => {
                f.write_str("an amount has at most 8 decimals (1 coin = 100000000 base units)")
            }
            ParseAmountError::TooLarge => f.write_str("the amount is more than 21000000 coins"),
        }
    }
}

impl std::error::Error for ParseAmountError {}

/// Parses coins as people write them: `10`, `9.5`, `0.00000001`, `.5`.
impl FromStr for Amount {
    type Err = ParseAmountError;

    fn from_str(s: &str) -> Result<Self, ParseAmountError> {
        let s = s.trim();
        if s.is_empty() || s == "." {
            return Err(ParseAmountError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
            return Err(ParseAmountError::InvalidCharacter(c));
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if frac.contains('.') {
            return Err(ParseAmountError::InvalidCharacter('.'));
        }
        if frac.len() > 8 {
            return Err(ParseAmountError::TooPrecise);
        }
        let whole_units = if whole.is_empty() {
            0
        } else {
            // Longer than 20 digits can not fit in u64; the MAX_MONEY check catches the rest.
            whole.parse::<u64>().map_err(|_| ParseAmountError::TooLarge)?
        };
        let frac_units = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<8}");
            padded.parse::<u64>().map_err(|_| ParseAmountError::InvalidCharacter('.'))?
        };
        let units =
            whole_units.checked_mul(COIN).and_then(|u| u.checked_add(frac_units)).ok_or(ParseAmountError::TooLarge)?;
        let amount = Amount(units);
        if !amount.is_valid_money() {
            return Err(ParseAmountError::TooLarge);
        }
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_coin_strings() {
        assert_eq!("9.5".parse::<Amount>().unwrap().base_units(), 950_000_000);
        assert_eq!("10".parse::<Amount>().unwrap(), Amount::from_coins(10).unwrap());
        assert_eq!("0.00000001".parse::<Amount>().unwrap().base_units(), 1);
        assert_eq!(".5".parse::<Amount>().unwrap().base_units(), 50_000_000);
        assert_eq!("1.".parse::<Amount>().unwrap().base_units(), COIN);
    }

    #[test]
    fn rejects_bad_coin_strings() {
        assert_eq!("".parse::<Amount>(), Err(ParseAmountError::Empty));
        assert_eq!("-1".parse::<Amount>(), Err(ParseAmountError::InvalidCharacter('-')));
        assert_eq!("1e5".parse::<Amount>(), Err(ParseAmountError::InvalidCharacter('e')));
        assert_eq!("1.2.3".parse::<Amount>(), Err(ParseAmountError::InvalidCharacter('.')));
        assert_eq!("0.000000001".parse::<Amount>(), Err(ParseAmountError::TooPrecise));
        assert_eq!("21000001".parse::<Amount>(), Err(ParseAmountError::TooLarge));
        assert_eq!("99999999999999999999999".parse::<Amount>(), Err(ParseAmountError::TooLarge));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(Amount::from_base_units(950_000_000).to_string(), "9.5");
        assert_eq!(Amount::from_coins(10).unwrap().to_string(), "10");
        assert_eq!(Amount::from_base_units(1).to_string(), "0.00000001");
        assert_eq!(Amount::ZERO.to_string(), "0");
    }

    #[test]
    fn checked_arithmetic_catches_overflow() {
        let max = Amount::from_base_units(u64::MAX);
        assert_eq!(max.checked_add(Amount::from_base_units(1)), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_base_units(1)), None);
        assert_eq!(Amount::checked_sum([max, max]), None);
        assert_eq!(Amount::from_coins(u64::MAX), None);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(units in 0..=Amount::MAX_MONEY.base_units()) {
            let a = Amount::from_base_units(units);
            prop_assert_eq!(a.to_string().parse::<Amount>().unwrap(), a);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<Amount>();
        }
    }
}
