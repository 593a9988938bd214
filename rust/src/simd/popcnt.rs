//! The portable blocked scan compiled with the x86 `popcnt` instruction,
//! unrolled for the common widths (1, 2, 4, 8 words = 64 to 512 bits).

use super::layout::BLOCK;
use super::{Hit, ScanFn};

/// Blocked scan for exactly `W` words per code; the query lives in registers.
#[inline(always)]
fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    let q: [u64; W] = query.try_into().unwrap();
    for (b, blk) in blocks.chunks_exact(W * BLOCK).enumerate() {
        for lane in 0..BLOCK {
            let mut d = 0;
            for (w, qw) in q.iter().enumerate() {
                d += (qw ^ blk[w * BLOCK + lane]).count_ones();
            }
            if d <= thr {
                hits.push(Hit {
                    slot: (b * BLOCK + lane) as u32,
                    distance: d,
                });
            }
        }
    }
}

macro_rules! popcnt_kernel {
    ($name:ident, $body:expr) => {
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = "popcnt"))]
        unsafe fn $name(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
            $body(query, blocks, thr, hits)
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
