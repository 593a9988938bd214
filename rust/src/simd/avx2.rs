//! AVX2 kernel: nibble-lookup popcount (`vpshufb`) summed per 64-bit lane with
//! `vpsadbw`, over the interleaved layout (two 256-bit vectors per block word).

use std::arch::x86_64::*;

use super::layout::BLOCK;
use super::{Hit, ScanFn};

/// Per-byte popcount of `x` by two 16-entry table lookups.
#[inline(always)]
unsafe fn popcount_bytes(x: __m256i, lut: __m256i, low: __m256i) -> __m256i {
    let lo = _mm256_and_si256(x, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
}

#[inline(always)]
unsafe fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    let words = if W == 0 { query.len() } else { W };
    let lut = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let t = _mm256_set1_epi64x(thr as i64);
    let nblocks = blocks.len() / (words * BLOCK);
    for b in 0..nblocks {
        let p = blocks.as_ptr().add(b * words * BLOCK);
        // Lanes 0..4 and 4..8 of a block word are two vectors. A byte count grows by
        // at most 8 per word, so 31 words are summed as bytes before `vpsadbw` widens them.
        let mut acc_lo = zero;
        let mut acc_hi = zero;
        let mut w = 0;
        while w < words {
            let stop = (w + 31).min(words);
            let mut b_lo = zero;
            let mut b_hi = zero;
            while w < stop {
                let qv = _mm256_set1_epi64x(*query.get_unchecked(w) as i64);
                let a = _mm256_loadu_si256(p.add(w * BLOCK) as *const __m256i);
                let c = _mm256_loadu_si256(p.add(w * BLOCK + 4) as *const __m256i);
                b_lo = _mm256_add_epi8(b_lo, popcount_bytes(_mm256_xor_si256(a, qv), lut, low));
                b_hi = _mm256_add_epi8(b_hi, popcount_bytes(_mm256_xor_si256(c, qv), lut, low));
                w += 1;
            }
            acc_lo = _mm256_add_epi64(acc_lo, _mm256_sad_epu8(b_lo, zero));
            acc_hi = _mm256_add_epi64(acc_hi, _mm256_sad_epu8(b_hi, zero));
        }
        // Distances are small, so the signed 64-bit compare is exact.
        let over_lo = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(acc_lo, t)));
        let over_hi = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(acc_hi, t)));
        let mut keep = !(over_lo | (over_hi << 4)) & 0xff;
        if keep != 0 {
            let mut lanes = [0u64; BLOCK];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc_lo);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(4) as *mut __m256i, acc_hi);
            while keep != 0 {
                let lane = keep.trailing_zeros() as usize;
                hits.push(Hit {
                    slot: (b * BLOCK + lane) as u32,
                    distance: lanes[lane] as u32,
                });
                keep &= keep - 1;
            }
        }
    }
}

macro_rules! avx2_kernel {
    ($name:ident, $w:expr) => {
        #[target_feature(enable = "avx2")]
        unsafe fn $name(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
            scan_words::<$w>(query, blocks, thr, hits)
        }
    };
}

avx2_kernel!(scan1, 1);
avx2_kernel!(scan2, 2);
avx2_kernel!(scan4, 4);
avx2_kernel!(scan8, 8);
avx2_kernel!(scan_any, 0);

/// The AVX2 kernel for codes of `words` 64-bit words.
pub(crate) fn select(words: usize) -> ScanFn {
    match words {
        1 => scan1,
        2 => scan2,
        4 => scan4,
        8 => scan8,
        _ => scan_any,
    }
}
