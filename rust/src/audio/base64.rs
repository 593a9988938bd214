//! URL-safe base64 without padding (`A-Z a-z 0-9 - _`), the alphabet of fpcalc's strings
//! (chromaprint.md 1.3, step 5).

use crate::error::{FingerprintError, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encode `data`; the result has ceil(4n/3) characters and no padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        // The standard alphabet's '+' and '/' are read too, so pasted strings decode.
        b'-' | b'+' => 62,
        b'_' | b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode URL-safe (or standard) base64; trailing `=` padding is accepted.
pub fn decode(text: &str) -> Result<Vec<u8>> {
    let bytes = text.trim_end().trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return Err(FingerprintError::Decode(format!(
            "base64 text of length {} is truncated",
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut v = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let d = value(c).ok_or_else(|| {
                FingerprintError::Decode(format!("invalid base64 character {:?}", c as char))
            })?;
            v |= d << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((v >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // chromaprint.md 1.3: bytes {55,0,0,2,65,0} -> "NwAAAkEA".
        assert_eq!(encode(&[55, 0, 0, 2, 65, 0]), "NwAAAkEA");
        assert_eq!(decode("NwAAAkEA").unwrap(), vec![55, 0, 0, 2, 65, 0]);
    }

    #[test]
    fn round_trip_all_lengths() {
        for n in 0..40usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 97 + 13) as u8).collect();
            let text = encode(&data);
            assert_eq!(text.len(), (4 * n).div_ceil(3));
            assert_eq!(decode(&text).unwrap(), data);
        }
    }

    #[test]
    fn rejects_bad_text() {
        assert!(decode("AB*D").is_err());
        assert!(decode("ABCDE").is_err());
    }
}
