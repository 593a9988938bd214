//! AVX-512 VPOPCNTDQ kernel: one 512-bit load holds the same word of eight
//! codes, so XOR + VPOPCNTQ + ADD yields eight distances with no shuffles, and
//! one compare against the threshold decides whether any of them is kept.

use std::arch::x86_64::*;

use super::layout::BLOCK;
use super::{Hit, ScanFn};

/// Push the lanes of `acc` selected by `mask` as hits of block `b`.
#[inline(always)]
unsafe fn push_lanes(acc: __m512i, mut mask: __mmask8, b: usize, hits: &mut Vec<Hit>) {
    let mut lanes = [0u64; BLOCK];
    _mm512_storeu_si512(lanes.as_mut_ptr() as *mut _, acc);
    while mask != 0 {
        let lane = mask.trailing_zeros() as usize;
        hits.push(Hit {
            slot: (b * BLOCK + lane) as u32,
            distance: lanes[lane] as u32,
        });
        mask &= mask - 1;
    }
}

/// `W` words per code (`W == 0`: read the width from the query).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `w` indexes both the query registers and the block words
unsafe fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    let words = if W == 0 { query.len() } else { W };
    // Check after half the words whether any lane can still be within `thr`.
    let half = if words >= 2 { words / 2 } else { words };
    let mut q = [_mm512_setzero_si512(); 8];
    if W != 0 {
        for w in 0..words {
            q[w] = _mm512_set1_epi64(query[w] as i64);
        }
    }
    let t = _mm512_set1_epi64(thr as i64);
    let nblocks = blocks.len() / (words * BLOCK);
    let base = blocks.as_ptr();
    // No closures here: they would not inherit this function's target features.
    macro_rules! word {
        ($p:expr, $w:expr) => {{
            let qv = if W != 0 {
                q[$w]
            } else {
                _mm512_set1_epi64(*query.get_unchecked($w) as i64)
            };
            _mm512_popcnt_epi64(_mm512_xor_si512(
                _mm512_loadu_si512($p.add($w * BLOCK) as *const _),
                qv,
            ))
        }};
    }
    for b in 0..nblocks {
        let p = base.add(b * words * BLOCK);
        let mut acc = word!(p, 0);
        for w in 1..half {
            acc = _mm512_add_epi64(acc, word!(p, w));
        }
        if half < words {
            if _mm512_cmple_epu64_mask(acc, t) == 0 {
                continue;
            }
            for w in half..words {
                acc = _mm512_add_epi64(acc, word!(p, w));
            }
        }
        let mask = _mm512_cmple_epu64_mask(acc, t);
        if mask != 0 {
            push_lanes(acc, mask, b, hits);
        }
    }
}

macro_rules! avx512_kernel {
    ($name:ident, $w:expr) => {
        #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
        unsafe fn $name(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
            scan_words::<$w>(query, blocks, thr, hits)
        }
    };
}

avx512_kernel!(scan1, 1);
avx512_kernel!(scan2, 2);
avx512_kernel!(scan4, 4);
avx512_kernel!(scan8, 8);
avx512_kernel!(scan_any, 0);

/// The AVX-512 kernel for codes of `words` 64-bit words.
pub(crate) fn select(words: usize) -> ScanFn {
    match words {
        1 => scan1,
        2 => scan2,
        4 => scan4,
        8 => scan8,
        _ => scan_any,
    }
}
