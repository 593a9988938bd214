//! Chromaprint's compressed fingerprint format, the one fpcalc prints (chromaprint.md 1.3):
//! a 4-byte header, XOR-delta items as gaps between set bits in 3-bit and 5-bit fields, base64.

use super::base64;
use crate::error::{FingerprintError, Result};

// Gaps of 7 or more are written as 7 in the 3-bit stream plus gap - 7 in the 5-bit stream.
const NORMAL_MAX: u8 = 7;
// Items fit the 24-bit count in the header.
const MAX_ITEMS: usize = (1 << 24) - 1;

/// Compress `items` to bytes, with `algorithm` in byte 0 (TEST2 = 1).
pub fn compress(items: &[u32], algorithm: u8) -> Result<Vec<u8>> {
    if items.len() > MAX_ITEMS {
        return Err(FingerprintError::invalid(format!(
            "a compressed fingerprint holds at most {MAX_ITEMS} items, got {}",
            items.len()
        )));
    }
    let mut normal = Vec::with_capacity(items.len() * 8);
    let mut exceptional = Vec::new();
    let mut prev = 0u32;
    for &item in items {
        let mut x = item ^ prev;
        prev = item;
        let mut last = 0u32;
        while x != 0 {
            // Bit positions count from 1 at the LSB.
            let pos = x.trailing_zeros() + 1;
            let gap = (pos - last) as u8;
            if gap >= NORMAL_MAX {
                normal.push(NORMAL_MAX);
                exceptional.push(gap - NORMAL_MAX);
            } else {
                normal.push(gap);
            }
            last = pos;
            x &= x - 1;
        }
        normal.push(0);
    }
    let n = items.len();
    let mut out = vec![algorithm, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    pack(&normal, 3, &mut out);
    pack(&exceptional, 5, &mut out);
    Ok(out)
}

/// Pack `bits`-wide values LSB-first into ceil(bits * len / 8) bytes.
fn pack(values: &[u8], bits: u32, out: &mut Vec<u8>) {
    let mut acc = 0u32;
    let mut have = 0u32;
    for &v in values {
        acc |= u32::from(v) << have;
        have += bits;
        while have >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            have -= 8;
        }
    }
    if have > 0 {
        out.push(acc as u8);
    }
}

/// Reads `bits`-wide LSB-first fields from bytes.
struct Unpacker<'a> {
    data: &'a [u8],
    bit: usize,
    bits: usize,
}

impl Unpacker<'_> {
    fn next(&mut self) -> Option<u8> {
        if self.bit + self.bits > self.data.len() * 8 {
            return None;
        }
        let byte = self.bit / 8;
        let lo = u16::from(self.data[byte]);
        let hi = u16::from(self.data.get(byte + 1).copied().unwrap_or(0));
        let v = ((lo | (hi << 8)) >> (self.bit % 8)) & ((1 << self.bits) - 1);
        self.bit += self.bits;
        Some(v as u8)
    }

    fn bytes_used(&self) -> usize {
        self.bit.div_ceil(8)
    }
}

/// Decompress bytes made by [`compress`]: returns (algorithm, items).
pub fn decompress(data: &[u8]) -> Result<(u8, Vec<u32>)> {
    let bad = |why: String| FingerprintError::Decode(format!("corrupt fingerprint: {why}"));
    if data.len() < 4 {
        return Err(bad(format!(
            "{} bytes is shorter than the header",
            data.len()
        )));
    }
    let algorithm = data[0];
    let n = (usize::from(data[1]) << 16) | (usize::from(data[2]) << 8) | usize::from(data[3]);
    let body = &data[4..];
    // Pass 1: the 3-bit stream, up to the n-th terminating zero.
    let mut normal = Vec::new();
    let mut three = Unpacker {
        data: body,
        bit: 0,
        bits: 3,
    };
    let mut ends = 0;
    while ends < n {
        let v = three
            .next()
            .ok_or_else(|| bad(format!("the bit stream ends after {ends} of {n} items")))?;
        if v == 0 {
            ends += 1;
        }
        normal.push(v);
    }
    let mut five = Unpacker {
        data: &body[three.bytes_used()..],
        bit: 0,
        bits: 5,
    };
    // Pass 2: rebuild each XOR delta from its gaps, then undo the delta coding.
    let mut items = Vec::with_capacity(n);
    let mut prev = 0u32;
    let mut x = 0u32;
    let mut pos = 0u32;
    for &v in &normal {
        if v == 0 {
            prev ^= x;
            items.push(prev);
            x = 0;
            pos = 0;
            continue;
        }
        let mut gap = u32::from(v);
        if v == NORMAL_MAX {
            let e = five
                .next()
                .ok_or_else(|| bad("the exceptional bit stream is truncated".into()))?;
            gap += u32::from(e);
        }
        pos += gap;
        if pos > 32 {
            return Err(bad(format!("bit position {pos} in item {}", items.len())));
        }
        x |= 1 << (pos - 1);
    }
    Ok((algorithm, items))
}

/// Compress and base64-encode, giving fpcalc's default output string.
pub fn encode(items: &[u32], algorithm: u8) -> Result<String> {
    Ok(base64::encode(&compress(items, algorithm)?))
}

/// Decode an fpcalc fingerprint string: returns (algorithm, items).
pub fn decode(text: &str) -> Result<(u8, Vec<u32>)> {
    decompress(&base64::decode(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upstream_vectors() {
        // chromaprint.md 1.3 (tests/test_api.cpp facts).
        assert_eq!(compress(&[1, 0], 55).unwrap(), vec![55, 0, 0, 2, 65, 0]);
        assert_eq!(encode(&[1, 0], 55).unwrap(), "NwAAAkEA");
        let silence = [627_964_279u32; 3];
        assert_eq!(encode(&silence, 1).unwrap(), "AQAAA0mUaEkSRZEGAA");
        assert_eq!(decode("AQAAA0mUaEkSRZEGAA").unwrap(), (1, silence.to_vec()));
    }

    #[test]
    fn empty_fingerprint() {
        assert_eq!(decode(&encode(&[], 1).unwrap()).unwrap(), (1, vec![]));
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let good = compress(&[0xdead_beef, 0x1234_5678, u32::MAX], 1).unwrap();
        for cut in 0..good.len() {
            let _ = decompress(&good[..cut]);
        }
        assert!(decompress(&good[..3]).is_err());
        assert!(decompress(&good[..5]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(any::<u32>(), 0..300), alg in any::<u8>()) {
            let text = encode(&items, alg).unwrap();
            prop_assert_eq!(decode(&text).unwrap(), (alg, items));
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decompress(&data);
        }
    }
}
