//! NEON kernel (aarch64): `cnt` per byte over the interleaved layout, widened
//! pairwise to one 64-bit count per code.

use std::arch::aarch64::*;

use super::layout::BLOCK;
use super::{Hit, ScanFn};

#[target_feature(enable = "neon")]
unsafe fn scan_any(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
    let words = query.len();
    let mut p = blocks.as_ptr();
    for b in 0..blocks.len() / (words * BLOCK) {
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
            for half in 0..2 {
                let d = if half == 0 {
                    vgetq_lane_u64(per_lane, 0)
                } else {
                    vgetq_lane_u64(per_lane, 1)
                } as u32;
                if d <= thr {
                    hits.push(Hit {
                        slot: (b * BLOCK + 2 * v + half) as u32,
                        distance: d,
                    });
                }
            }
        }
        p = p.add(words * BLOCK);
    }
}

/// The NEON kernel for codes of `words` 64-bit words.
pub(crate) fn select(_words: usize) -> ScanFn {
    scan_any
}
