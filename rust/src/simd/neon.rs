//! NEON kernel (aarch64): `cnt` per byte over the interleaved layout, widened
//! pairwise to one 64-bit count per code.

use std::arch::aarch64::*;

use super::layout::BLOCK;
use super::ScanFn;

#[target_feature(enable = "neon")]
unsafe fn scan_any(query: &[u64], blocks: &[u64], out: &mut [u32]) -> u32 {
    let words = query.len();
    let mut min = u32::MAX;
    let mut p = blocks.as_ptr();
    for o in out.chunks_exact_mut(BLOCK) {
        // Four vectors of two lanes each; u16 per byte pair cannot overflow (<= 16 per word).
        let mut acc = [vdupq_n_u16(0); 4];
        for w in 0..words {
            let qv = vdupq_n_u64(*query.get_unchecked(w));
            for (v, a) in acc.iter_mut().enumerate() {
                let x = veorq_u64(vld1q_u64(p.add(w * BLOCK + 2 * v)), qv);
                *a = vpadalq_u8(*a, vcntq_u8(vreinterpretq_u8_u64(x)));
            }
        }
        for (v, a) in acc.iter().enumerate() {
            let per_lane = vpaddlq_u32(vpaddlq_u16(*a));
            let d0 = vgetq_lane_u64(per_lane, 0) as u32;
            let d1 = vgetq_lane_u64(per_lane, 1) as u32;
            o[2 * v] = d0;
            o[2 * v + 1] = d1;
            min = min.min(d0).min(d1);
        }
        p = p.add(words * BLOCK);
    }
    min
}

/// The NEON kernel for codes of `words` 64-bit words.
pub(crate) fn select(_words: usize) -> ScanFn {
    scan_any
}
