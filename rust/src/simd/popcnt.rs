//! The portable blocked scan compiled with the x86 `popcnt` instruction,
//! unrolled for the common widths (1, 2, 4, 8 words = 64 to 512 bits).

use super::layout::BLOCK;
use super::ScanFn;

/// Blocked scan for exactly `W` words per code; the query lives in registers.
#[inline(always)]
fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    let q: [u64; W] = query.try_into().unwrap();
    let mut min = u32::MAX;
    for (blk, o) in blocks
        .chunks_exact(W * BLOCK)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        for (lane, ol) in o.iter_mut().enumerate() {
            let mut d = 0;
            for (w, qw) in q.iter().enumerate() {
                d += (qw ^ blk[w * BLOCK + lane]).count_ones();
            }
            *ol = d;
            min = min.min(d);
        }
    }
    min
}

macro_rules! popcnt_kernel {
    ($name:ident, $body:expr) => {
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = "popcnt"))]
        unsafe fn $name(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
            $body(query, blocks, out)
        }
    };
}

popcnt_kernel!(scan1, scan_words::<1>);
popcnt_kernel!(scan2, scan_words::<2>);
popcnt_kernel!(scan4, scan_words::<4>);
popcnt_kernel!(scan8, scan_words::<8>);
popcnt_kernel!(scan_any, super::scalar::scan_portable);

/// The popcount kernel for codes of `words` 64-bit words.
pub(crate) fn select(words: usize) -> ScanFn {
    match words {
        1 => scan1,
        2 => scan2,
        4 => scan4,
        8 => scan8,
        _ => scan_any,
    }
}
