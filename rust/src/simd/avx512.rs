//! AVX-512 VPOPCNTDQ kernel: one 512-bit load holds the same word of eight
//! codes, so XOR + VPOPCNTQ + ADD yields eight distances with no shuffles, and
//! one compare against the threshold decides whether any of them is kept.

use std::arch::x86_64::*;

use super::layout::BLOCK;
use super::{Hit, ScanFn, ScanManyFn};

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

/// `M` queries of `W` words over the same blocks: each block word is loaded once
/// and XORed with every query, so memory traffic per comparison falls M-fold and
/// the M independent sums keep the POPCNT unit busy. Hits are written with a
/// compress + store into space reserved up front: no call in the loop, so the
/// query registers are never spilled. `CHECK` stops a block after half the words
/// when no lane of any query can still be within its threshold (small radii).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `m` and `w` index several fixed-size register arrays
unsafe fn scan_many_words<const W: usize, const M: usize, const CHECK: bool>(
    queries: &[u64],
    thrs: &[u32],
    blocks: &[u64],
    hits: &mut [Vec<Hit>],
) {
    debug_assert!(queries.len() == W * M && thrs.len() == M && hits.len() == M);
    let half = if W >= 2 { W / 2 } else { W };
    let nblocks = blocks.len() / (W * BLOCK);
    let mut q = [[_mm512_setzero_si512(); W]; M];
    let mut t = [_mm512_setzero_si512(); M];
    let mut out = [std::ptr::null_mut::<u64>(); M];
    let mut len = [0usize; M];
    for m in 0..M {
        for w in 0..W {
            q[m][w] = _mm512_set1_epi64(queries[m * W + w] as i64);
        }
        t[m] = _mm512_set1_epi64(thrs[m] as i64);
        // Room for every slot plus one full vector store past the last hit.
        hits[m].reserve(nblocks * BLOCK + BLOCK);
        len[m] = hits[m].len();
        out[m] = hits[m].as_mut_ptr() as *mut u64;
    }
    let lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    let base = blocks.as_ptr();
    for b in 0..nblocks {
        let p = base.add(b * W * BLOCK);
        let mut d = [_mm512_setzero_si512(); W];
        for w in 0..W {
            d[w] = _mm512_loadu_si512(p.add(w * BLOCK) as *const _);
        }
        let mut acc = [_mm512_setzero_si512(); M];
        for m in 0..M {
            acc[m] = _mm512_popcnt_epi64(_mm512_xor_si512(d[0], q[m][0]));
            for w in 1..half {
                acc[m] =
                    _mm512_add_epi64(acc[m], _mm512_popcnt_epi64(_mm512_xor_si512(d[w], q[m][w])));
            }
        }
        if CHECK && half < W {
            let mut any: __mmask8 = 0;
            for m in 0..M {
                any |= _mm512_cmple_epu64_mask(acc[m], t[m]);
            }
            if any == 0 {
                continue;
            }
        }
        let mut any: __mmask8 = 0;
        let mut mask = [0 as __mmask8; M];
        for m in 0..M {
            for w in half..W {
                acc[m] =
                    _mm512_add_epi64(acc[m], _mm512_popcnt_epi64(_mm512_xor_si512(d[w], q[m][w])));
            }
            mask[m] = _mm512_cmple_epu64_mask(acc[m], t[m]);
            any |= mask[m];
        }
        if any != 0 {
            // A hit as one little-endian u64: slot in the low half, distance in the high half.
            let slots = _mm512_add_epi64(_mm512_set1_epi64((b * BLOCK) as i64), lanes);
            for m in 0..M {
                let packed = _mm512_or_si512(slots, _mm512_slli_epi64::<32>(acc[m]));
                let kept = _mm512_maskz_compress_epi64(mask[m], packed);
                _mm512_storeu_si512(out[m].add(len[m]) as *mut _, kept);
                len[m] += mask[m].count_ones() as usize;
            }
        }
    }
    for m in 0..M {
        // SAFETY: the first len[m] entries are initialised Hits (reserved above, written by
        // the stores, whose slack past len[m] stays within the reservation).
        hits[m].set_len(len[m]);
    }
}

macro_rules! avx512_many_kernel {
    ($name:ident, $w:expr, $m:expr) => {
        #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
        unsafe fn $name(queries: &[u64], thrs: &[u32], blocks: &[u64], hits: &mut [Vec<Hit>]) {
            // Stop early only where most blocks can be skipped: a threshold below the
            // expected distance of unrelated codes after half the words (half * 32 bits).
            let half = if $w >= 2 { $w / 2 } else { $w };
            if thrs.iter().all(|&t| (t as usize) < half * 32) {
                scan_many_words::<$w, $m, true>(queries, thrs, blocks, hits)
            } else {
                scan_many_words::<$w, $m, false>(queries, thrs, blocks, hits)
            }
        }
    };
}

avx512_many_kernel!(many1x8, 1, 8);
avx512_many_kernel!(many1x4, 1, 4);
avx512_many_kernel!(many1x2, 1, 2);
avx512_many_kernel!(many2x4, 2, 4);
avx512_many_kernel!(many2x2, 2, 2);
avx512_many_kernel!(many4x4, 4, 4);
avx512_many_kernel!(many4x2, 4, 2);
avx512_many_kernel!(many8x2, 8, 2);

/// The multi-query AVX-512 kernels for codes of `words` words, each with the
/// number of queries it takes at once, largest first (empty: one by one).
pub(crate) fn select_many(words: usize) -> &'static [(ScanManyFn, usize)] {
    match words {
        1 => &[(many1x8, 8), (many1x4, 4), (many1x2, 2)],
        2 => &[(many2x4, 4), (many2x2, 2)],
        4 => &[(many4x4, 4), (many4x2, 2)],
        8 => &[(many8x2, 2)],
        _ => &[],
    }
}

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
