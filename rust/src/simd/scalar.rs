//! Reference kernels: the oracle every SIMD path is tested against, and the
//! portable fallback.

use super::layout::BLOCK;
use super::Hit;

/// Hamming distance between two equal-length byte strings, one byte at a time.
pub fn distance(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Portable blocked scan (see [`super::ScanFn`]): plain `count_ones` on words.
///
/// # Safety
/// Safe for any input whose lengths match; `unsafe` only to share the kernel signature.
pub unsafe fn scan(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    scan_portable(query, blocks, thr, hits)
}

/// The blocked scan in plain Rust, inlined into the target-feature wrappers of `popcnt`.
#[inline(always)]
pub(crate) fn scan_portable(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    let words = query.len();
    for (b, blk) in blocks.chunks_exact(words * BLOCK).enumerate() {
        for lane in 0..BLOCK {
            let d: u32 = query
                .iter()
                .enumerate()
                .map(|(w, &q)| (q ^ blk[w * BLOCK + lane]).count_ones())
                .sum();
            if d <= thr {
                hits.push(Hit {
                    slot: (b * BLOCK + lane) as u32,
                    distance: d,
                });
            }
        }
    }
}
