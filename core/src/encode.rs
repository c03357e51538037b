//! The consensus encoding: one trait for every type that goes on the wire or into a store,
//! and a bounds-checked reader. Decoding never panics, never allocates more than the input
//! could hold, and (through [`Encoding::from_bytes`]) rejects trailing bytes.

use core::fmt;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the value did.
    UnexpectedEnd { needed: usize, remaining: usize },
    /// Bytes were left after the value.
    TrailingBytes(usize),
    /// A CompactSize written in more bytes than its value needs.
    NonCanonicalLength,
    /// A list longer than its limit.
    TooMany { what: &'static str, count: u64, max: u64 },
    /// A field whose value is not allowed.
    Invalid { what: &'static str, reason: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnexpectedEnd { needed, remaining } => {
                write!(f, "input ended early: needed {needed} more bytes, {remaining} left")
            }
            DecodeError::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the end"),
            DecodeError::NonCanonicalLength => f.write_str("a length is encoded in more bytes than it needs"),
            DecodeError::TooMany { what, count, max } => {
                write!(f, "{count} {what} exceeds the limit of {max}")
            }
            DecodeError::Invalid { what, reason } => write!(f, "invalid {what}: {reason}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Most list items reserved before any of them decoded.
const MAX_PREALLOCATED_ITEMS: usize = 1024;

/// A cursor over input bytes; every read checks what is left first.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::UnexpectedEnd { needed: n, remaining });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Bitcoin's CompactSize, rejecting non-minimal forms so each value has one encoding.
    pub fn compact_size(&mut self) -> Result<u64, DecodeError> {
        let (value, min) = match self.u8()? {
            0xfd => (u64::from(self.u16()?), 0xfd),
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        if value < min {
            return Err(DecodeError::NonCanonicalLength);
        }
        Ok(value)
    }

    /// A list length at most `max`, and small enough that `count * min_item_bytes` fits in
    /// what is left: a lying length can not make the decoder allocate.
    pub fn list_len(&mut self, what: &'static str, max: usize, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let count = self.compact_size()?;
        if count > max as u64 {
            return Err(DecodeError::TooMany { what, count, max: max as u64 });
        }
        let count = count as usize;
        let needed = count.saturating_mul(min_item_bytes.max(1));
        if needed > self.remaining() {
            return Err(DecodeError::UnexpectedEnd { needed, remaining: self.remaining() });
        }
        Ok(count)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn var_bytes(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        let len = self.list_len(what, max, 1)?;
        Ok(self.take(len)?.to_vec())
    }

    /// A length-prefixed list of at most `max` items, each at least `min_item_bytes` long.
    pub fn list<T: Encoding>(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_bytes: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.list_len(what, max, min_item_bytes)?;
        // An item in memory can be larger than its smallest encoding: reserve a bounded amount
        // up front and let the vector grow as items actually decode.
        let mut items = Vec::with_capacity(count.min(MAX_PREALLOCATED_ITEMS));
        for _ in 0..count {
            items.push(T::decode_from(self)?);
        }
        Ok(items)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Writes Bitcoin's CompactSize.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Writes a length-prefixed list.
pub fn write_list<T: Encoding>(out: &mut Vec<u8>, items: &[T]) {
    write_compact_size(out, items.len() as u64);
    for item in items {
        item.encode_to(out);
    }
}

/// Writes length-prefixed bytes.
pub fn write_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_compact_size(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The consensus encoding of a value. The bytes are exact and documented in docs/PROTOCOL.md.
pub trait Encoding: Sized {
    /// Appends the encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Reads one value, leaving the reader after it.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }

    /// Decodes a value that must fill `bytes` exactly.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

impl Encoding for u32 {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
}

impl Encoding for u64 {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
}

impl Encoding for crate::Amount {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.base_units().encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(crate::Amount::from_base_units(r.u64()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compact_size_boundaries() {
        for (n, len) in
            [(0u64, 1), (0xfc, 1), (0xfd, 3), (0xffff, 3), (0x1_0000, 5), (0xffff_ffff, 5), (0x1_0000_0000, 9)]
        {
            let mut out = Vec::new();
            write_compact_size(&mut out, n);
            assert_eq!(out.len(), len, "length of {n}");
            let mut r = Reader::new(&out);
            assert_eq!(r.compact_size().unwrap(), n);
            r.finish().unwrap();
        }
    }

    #[test]
    fn non_minimal_compact_size_is_rejected() {
        assert_eq!(Reader::new(&[0xfd, 0x10, 0x00]).compact_size(), Err(DecodeError::NonCanonicalLength));
        assert_eq!(Reader::new(&[0xfe, 0xff, 0xff, 0, 0]).compact_size(), Err(DecodeError::NonCanonicalLength));
    }

    #[test]
    fn lying_length_does_not_allocate() {
        // Claims 2^32 items of 36 bytes each with 3 bytes left.
        let bytes = [0xfe, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = Reader::new(&bytes).list_len("inputs", usize::MAX, 36).unwrap_err();
        assert!(matches!(err, DecodeError::UnexpectedEnd { .. }));
        let err = Reader::new(&bytes).list_len("inputs", 100, 36).unwrap_err();
        assert!(matches!(err, DecodeError::TooMany { max: 100, .. }));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(u32::from_bytes(&[1, 0, 0, 0, 9]), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(u32::from_bytes(&[1, 0, 0, 0]), Ok(1));
    }

    proptest! {
        #[test]
        fn compact_size_round_trip(n in any::<u64>()) {
            let mut out = Vec::new();
            write_compact_size(&mut out, n);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.compact_size().unwrap(), n);
            prop_assert!(r.finish().is_ok());
        }
    }
}
