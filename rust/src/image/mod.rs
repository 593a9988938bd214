//! Perceptual image hashes: imagehash's aHash, dHash, pHash, wHash and Meta's PDQ.
//!
//! Every hash starts from [`Pixels`], a borrowed 8-bit image of 1 to 4 channels, and returns an
//! [`ImageHash`]. [`decode`] turns files into pixels; [`hash_pixels`] dispatches on [`Algorithm`].

pub mod ahash;
pub mod dct;
pub mod decode;
pub mod dhash;
pub mod haar;
pub mod jarosz;
pub mod jpeg;
pub mod local;
pub mod luma;
pub mod pdq;
pub mod phash;
pub mod resize;
pub mod robust;
pub mod trim;
pub mod whash;

use crate::error::{FingerprintError, Result};

/// A borrowed, row-major, interleaved 8-bit image: 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels.
#[derive(Clone, Copy, Debug)]
pub struct Pixels<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    channels: usize,
}

impl<'a> Pixels<'a> {
    /// Wrap `data`, checking that it holds exactly `width * height * channels` bytes.
    pub fn new(data: &'a [u8], width: usize, height: usize, channels: usize) -> Result<Self> {
        if !(1..=4).contains(&channels) {
            return Err(FingerprintError::invalid(format!(
                "images must have 1 to 4 channels, got {channels}"
            )));
        }
        if width == 0 || height == 0 {
            return Err(FingerprintError::invalid(format!(
                "image is empty ({width}x{height})"
            )));
        }
        let expected = width
            .checked_mul(height)
            .and_then(|n| n.checked_mul(channels))
            .ok_or_else(|| FingerprintError::invalid("image dimensions overflow"))?;
        if data.len() != expected {
            return Err(FingerprintError::invalid(format!(
                "{width}x{height}x{channels} image needs {expected} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self {
            data,
            width,
            height,
            channels,
        })
    }

    /// The interleaved bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Channels per pixel (1 to 4).
    pub fn channels(&self) -> usize {
        self.channels
    }
}

/// The hash families this module computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// imagehash `average_hash`.
    AHash,
    /// imagehash `dhash` (horizontal gradient).
    DHash,
    /// imagehash `phash` (DCT, DC term kept).
    PHash,
    /// imagehash `whash` (Haar, max-level LL removed).
    WHash,
    /// Meta's PDQ, 256 bits plus quality.
    Pdq,
}

impl Algorithm {
    /// Parse the lowercase name used by the Python API (`"ahash"`, ..., `"pdq"`).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "ahash" => Self::AHash,
            "dhash" => Self::DHash,
            "phash" => Self::PHash,
            "whash" => Self::WHash,
            "pdq" => Self::Pdq,
            _ => {
                return Err(FingerprintError::invalid(format!(
                    "unknown algorithm {name:?}; expected ahash, dhash, phash, whash or pdq"
                )))
            }
        })
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AHash => "ahash",
            Self::DHash => "dhash",
            Self::PHash => "phash",
            Self::WHash => "whash",
            Self::Pdq => "pdq",
        }
    }

    /// Bits in a hash of side `hash_size` (PDQ is always 256).
    pub fn bits(self, hash_size: usize) -> usize {
        match self {
            Self::Pdq => 256,
            _ => hash_size * hash_size,
        }
    }

    /// The smallest image side the hash works from: a decoder may downscale to no less than this.
    pub fn working_size(self, hash_size: usize) -> usize {
        match self {
            Self::AHash | Self::DHash => hash_size + 1,
            Self::PHash => hash_size * 4,
            // wHash resizes to the largest power of two not above the short side: needs full scale.
            Self::WHash => usize::MAX,
            // PDQ blurs with a box of ceil(side / 128) and samples 64x64; from a short side of 256
            // up, each 64x64 sample still averages several decoded pixels, and Meta's C++ tool
            // itself hashes a 512x512 nearest-neighbour resize. Exactness is not promised here
            // (Meta's rule for other decoders: within 10 bits of the C++ reference at quality
            // >= 80), and `exact=True` decodes at full scale like `pdqhash` on Pillow's pixels.
            Self::Pdq => 256,
        }
    }
}

/// A computed hash: bits packed big-endian (the first bit of the family's hex is the most
/// significant bit of byte 0, left-padded with zeros), plus PDQ's quality.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageHash {
    /// Packed bits, `ceil(nbits / 8)` bytes, big-endian.
    pub bytes: Vec<u8>,
    /// Number of meaningful bits.
    pub nbits: usize,
    /// PDQ quality 0..=100; `None` for the imagehash family.
    pub quality: Option<u8>,
}

impl ImageHash {
    /// Pack `bits` (first element = most significant bit, as imagehash's hex reads them).
    pub fn from_msb_first(bits: &[bool]) -> Self {
        let nbits = bits.len();
        let nbytes = nbits.div_ceil(8);
        let mut bytes = vec![0u8; nbytes];
        // Left-pad so the last bit is the least significant bit of the last byte.
        let pad = nbytes * 8 - nbits;
        for (i, &b) in bits.iter().enumerate() {
            if b {
                let k = pad + i;
                bytes[k / 8] |= 0x80 >> (k % 8);
            }
        }
        Self {
            bytes,
            nbits,
            quality: None,
        }
    }

    /// Lowercase hex of the big integer, `ceil(nbits / 4)` digits (imagehash and PDQ convention).
    pub fn to_hex(&self) -> String {
        let full: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let digits = self.nbits.div_ceil(4);
        full[full.len() - digits..].to_string()
    }
}

/// Hash `pixels` with `algorithm`; `hash_size` is ignored by PDQ.
pub fn hash_pixels(
    algorithm: Algorithm,
    pixels: &Pixels<'_>,
    hash_size: usize,
) -> Result<ImageHash> {
    match algorithm {
        Algorithm::AHash => ahash::hash(pixels, hash_size),
        Algorithm::DHash => dhash::hash(pixels, hash_size),
        Algorithm::PHash => phash::hash(pixels, hash_size),
        Algorithm::WHash => whash::hash(pixels, hash_size),
        Algorithm::Pdq => Ok(pdq::hash(pixels).into_image_hash()),
    }
}

/// Reject the hash sizes imagehash rejects (it needs at least 2x2 bits).
pub(crate) fn check_hash_size(hash_size: usize) -> Result<()> {
    if !(2..=256).contains(&hash_size) {
        return Err(FingerprintError::invalid(format!(
            "hash_size must be between 2 and 256, got {hash_size}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_padded_like_imagehash() {
        // imagehash tests/test_hex_conversions.py: bits 1001 1110 0011 1100 -> "9e3c".
        let bits: Vec<bool> = "1001111000111100".chars().map(|c| c == '1').collect();
        let h = ImageHash::from_msb_first(&bits);
        assert_eq!(h.to_hex(), "9e3c");
        assert_eq!(h.bytes, vec![0x9e, 0x3c]);
        // 25 bits: 7 hex digits, 4 bytes, left-padded.
        let mut bits = vec![false; 25];
        bits[0] = true;
        let h = ImageHash::from_msb_first(&bits);
        assert_eq!(h.to_hex(), "1000000");
        assert_eq!(h.bytes, vec![1, 0, 0, 0]);
    }

    #[test]
    fn pixels_checks_sizes() {
        assert!(Pixels::new(&[0; 12], 2, 2, 3).is_ok());
        assert!(Pixels::new(&[0; 11], 2, 2, 3).is_err());
        assert!(Pixels::new(&[0; 10], 2, 1, 5).is_err());
        assert!(Pixels::new(&[], 0, 1, 1).is_err());
    }
}
