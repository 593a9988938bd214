//! Reference kernels: the oracle every SIMD path is tested against, and the
//! portable fallback.

use super::layout::BLOCK;

/// Hamming distance between two equal-length byte strings, one byte at a time.
pub fn distance(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Portable blocked scan (see [`super::ScanFn`]): plain `count_ones` on words.
///
/// # Safety
/// Safe for any input whose lengths match; `unsafe` only to share the kernel signature.
pub unsafe fn scan(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    scan_portable(query, blocks, out)
}

/// The blocked scan in plain Rust, inlined into the target-feature wrappers of `popcnt`.
#[inline(always)]
pub(crate) fn scan_portable(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    let words = query.len();
    let mut min = u32::MAX;
    for (blk, o) in blocks
        .chunks_exact(words * BLOCK)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let mut d = [0u32; BLOCK];
        for (w, &q) in query.iter().enumerate() {
            let lanes = &blk[w * BLOCK..(w + 1) * BLOCK];
            for (dl, &c) in d.iter_mut().zip(lanes) {
                *dl += (q ^ c).count_ones();
            }
        }
        for (ol, dl) in o.iter_mut().zip(d) {
            *ol = dl;
            min = min.min(dl);
        }
    }
    min
}
