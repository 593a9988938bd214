//! AVX2 kernel: nibble-lookup popcount (`vpshufb`) summed per 64-bit lane with
//! `vpsadbw`, over the interleaved layout (two 256-bit vectors per block word).

use std::arch::x86_64::*;

use super::layout::BLOCK;
use super::ScanFn;

/// Per-byte popcount of `x` by two 16-entry table lookups.
#[inline(always)]
unsafe fn popcount_bytes(x: __m256i, lut: __m256i, low: __m256i) -> __m256i {
    let lo = _mm256_and_si256(x, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
}

#[inline(always)]
unsafe fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    let words = if W == 0 { query.len() } else { W };
    let lut = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    // Lanes 0..4 and 4..8 of a block word are two vectors; each byte count is at most 8,
    // so up to 31 words can be summed as bytes before `vpsadbw` widens them.
    let nblocks = out.len() / BLOCK;
    let mut min = _mm256_set1_epi32(-1);
    let mut p = blocks.as_ptr();
    let mut o = out.as_mut_ptr();
    // Gathers the low 32 bits of each 64-bit lane of (a, b) into 8 consecutive u32.
    let pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for _ in 0..nblocks {
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
                let b = _mm256_loadu_si256(p.add(w * BLOCK + 4) as *const __m256i);
                b_lo = _mm256_add_epi8(b_lo, popcount_bytes(_mm256_xor_si256(a, qv), lut, low));
                b_hi = _mm256_add_epi8(b_hi, popcount_bytes(_mm256_xor_si256(b, qv), lut, low));
                w += 1;
            }
            acc_lo = _mm256_add_epi64(acc_lo, _mm256_sad_epu8(b_lo, zero));
            acc_hi = _mm256_add_epi64(acc_hi, _mm256_sad_epu8(b_hi, zero));
        }
        // acc_lo = codes 0..4 as u64, acc_hi = codes 4..8; pack to eight u32.
        let lo = _mm256_permutevar8x32_epi32(acc_lo, pick);
        let hi = _mm256_permutevar8x32_epi32(acc_hi, pick);
        let d = _mm256_permute2x128_si256(lo, hi, 0x20);
        _mm256_storeu_si256(o as *mut __m256i, d);
        min = _mm256_min_epu32(min, d);
        p = p.add(words * BLOCK);
        o = o.add(BLOCK);
    }
    let m = _mm_min_epu32(
        _mm256_castsi256_si128(min),
        _mm256_extracti128_si256(min, 1),
    );
    let m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0b01_00_11_10));
    let m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0b10_11_00_01));
    _mm_cvtsi128_si32(m) as u32
}

macro_rules! avx2_kernel {
    ($name:ident, $w:expr) => {
        #[target_feature(enable = "avx2")]
        unsafe fn $name(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
            scan_words::<$w>(query, blocks, out)
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
