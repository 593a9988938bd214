//! Exact Hamming search over binary codes: one index kind per file.

pub mod dedup;
pub mod flat;
pub mod ids;
pub mod index;
pub mod join;
pub mod mih;
pub mod persist;
pub mod pool;
pub mod scan;
pub mod store;
pub mod topk;

pub use dedup::{find_duplicates, find_duplicates_with, Pairs};
pub use flat::{FlatIndex, Knn, Ranges};
pub use index::{Index, Method};

use crate::error::{FingerprintError, Result};

/// Narrowest code width accepted, in bits.
pub const MIN_BITS: usize = 8;
/// Widest code width accepted, in bits.
pub const MAX_BITS: usize = 4096;

/// Check a code width in bits and return it in bytes.
pub fn code_len_for_bits(bits: usize) -> Result<usize> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(FingerprintError::invalid(format!(
            "bits must be a multiple of 8 between {MIN_BITS} and {MAX_BITS}, got {bits}"
        )));
    }
    Ok(bits / 8)
}
