//! AVX-512 VPOPCNTDQ kernel: one 512-bit load holds the same word of eight
//! codes, so XOR + VPOPCNTQ + ADD yields eight distances with no shuffles.

use std::arch::x86_64::*;

use super::layout::BLOCK;
use super::ScanFn;

#[inline(always)]
#[allow(clippy::needless_range_loop)] // `w` indexes the query registers and the block words
unsafe fn scan_words<const W: usize>(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    let words = if W == 0 { query.len() } else { W };
    let mut q = [_mm512_setzero_si512(); 8];
    let fixed = W != 0;
    if fixed {
        for (w, qv) in q.iter_mut().enumerate().take(words) {
            *qv = _mm512_set1_epi64(query[w] as i64);
        }
    }
    let nblocks = out.len() / BLOCK;
    let mut min = _mm256_set1_epi32(-1);
    let mut p = blocks.as_ptr();
    let mut o = out.as_mut_ptr();
    for _ in 0..nblocks {
        let mut acc = _mm512_setzero_si512();
        for w in 0..words {
            let qv = if fixed {
                q[w]
            } else {
                _mm512_set1_epi64(*query.get_unchecked(w) as i64)
            };
            let x = _mm512_xor_si512(_mm512_loadu_si512(p.add(w * BLOCK) as *const _), qv);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
        }
        let d = _mm512_cvtepi64_epi32(acc);
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

macro_rules! avx512_kernel {
    ($name:ident, $w:expr) => {
        #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,avx2")]
        unsafe fn $name(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
            scan_words::<$w>(query, blocks, out)
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
