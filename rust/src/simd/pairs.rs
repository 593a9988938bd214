//! Random-access distance kernels: pairs of row-major code runs (the bucket
//! join of `search::join`) and gathers of scattered codes (MIH verification).
//!
//! They are plain Rust compiled twice, with and without the x86 `popcnt`
//! instruction (without it, `count_ones` is a dozen-instruction bit trick), and
//! chosen once at run time.

use std::sync::OnceLock;

use super::layout::BLOCK;

/// `(i, j, distance)` of every pair within `r` between run `a` and run `b`
/// (row-major, `words` per code); with `same` (a == b) only pairs `i < j`.
pub type CrossFn =
    fn(a: &[u64], b: &[u64], words: usize, r: u32, same: bool, out: &mut Vec<(u32, u32, u32)>);

/// Distances from `q` to the codes at `positions` of an interleaved `blocks` array.
pub type GatherFn = fn(q: &[u64], blocks: &[u64], positions: &[u32], out: &mut Vec<u32>);

/// Rows ahead of use that a gather prefetches.
const AHEAD: usize = 16;

#[inline(always)]
fn dist<const W: usize>(a: &[u64], b: &[u64]) -> u32 {
    let mut d = 0;
    for w in 0..W {
        d += (a[w] ^ b[w]).count_ones();
    }
    d
}

#[inline(always)]
fn cross_w<const W: usize>(
    a: &[u64],
    b: &[u64],
    r: u32,
    same: bool,
    out: &mut Vec<(u32, u32, u32)>,
) {
    for (i, ca) in a.chunks_exact(W).enumerate() {
        let qa: [u64; W] = ca.try_into().unwrap();
        let skip = if same { i + 1 } else { 0 };
        for (j, cb) in b.chunks_exact(W).enumerate().skip(skip) {
            let d = dist::<W>(&qa, cb);
            if d <= r {
                out.push((i as u32, j as u32, d));
            }
        }
    }
}

#[inline(always)]
fn cross_any(
    a: &[u64],
    b: &[u64],
    words: usize,
    r: u32,
    same: bool,
    out: &mut Vec<(u32, u32, u32)>,
) {
    match words {
        1 => cross_w::<1>(a, b, r, same, out),
        2 => cross_w::<2>(a, b, r, same, out),
        4 => cross_w::<4>(a, b, r, same, out),
        8 => cross_w::<8>(a, b, r, same, out),
        _ => {
            for (i, ca) in a.chunks_exact(words).enumerate() {
                let skip = if same { i + 1 } else { 0 };
                for (j, cb) in b.chunks_exact(words).enumerate().skip(skip) {
                    let d: u32 = ca.iter().zip(cb).map(|(x, y)| (x ^ y).count_ones()).sum();
                    if d <= r {
                        out.push((i as u32, j as u32, d));
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn gather_any(q: &[u64], blocks: &[u64], positions: &[u32], out: &mut Vec<u32>) {
    let words = q.len();
    let base = |p: u32| (p as usize / BLOCK) * BLOCK * words + p as usize % BLOCK;
    for (i, &p) in positions.iter().enumerate() {
        if let Some(&ahead) = positions.get(i + AHEAD) {
            let b = base(ahead);
            for w in 0..words {
                super::prefetch(blocks.as_ptr().wrapping_add(b + w * BLOCK));
            }
        }
        let b = base(p);
        let mut d = 0;
        for (w, &qw) in q.iter().enumerate() {
            d += (qw ^ blocks[b + w * BLOCK]).count_ones();
        }
        out.push(d);
    }
}

fn cross_portable(
    a: &[u64],
    b: &[u64],
    words: usize,
    r: u32,
    same: bool,
    out: &mut Vec<(u32, u32, u32)>,
) {
    cross_any(a, b, words, r, same, out)
}

fn gather_portable(q: &[u64], blocks: &[u64], positions: &[u32], out: &mut Vec<u32>) {
    gather_any(q, blocks, positions, out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "popcnt")]
    unsafe fn cross(
        a: &[u64],
        b: &[u64],
        words: usize,
        r: u32,
        same: bool,
        out: &mut Vec<(u32, u32, u32)>,
    ) {
        super::cross_any(a, b, words, r, same, out)
    }

    #[target_feature(enable = "popcnt")]
    unsafe fn gather(q: &[u64], blocks: &[u64], positions: &[u32], out: &mut Vec<u32>) {
        super::gather_any(q, blocks, positions, out)
    }

    pub fn cross_popcnt(
        a: &[u64],
        b: &[u64],
        words: usize,
        r: u32,
        same: bool,
        out: &mut Vec<(u32, u32, u32)>,
    ) {
        // SAFETY: only selected after `is_x86_feature_detected!("popcnt")`.
        unsafe { cross(a, b, words, r, same, out) }
    }

    pub fn gather_popcnt(q: &[u64], blocks: &[u64], positions: &[u32], out: &mut Vec<u32>) {
        // SAFETY: only selected after `is_x86_feature_detected!("popcnt")`.
        unsafe { gather(q, blocks, positions, out) }
    }
}

fn use_popcnt() -> bool {
    super::Level::best() != super::Level::Scalar && super::Level::Popcnt.is_available()
}

/// The pair kernel for this CPU.
pub fn cross() -> CrossFn {
    static F: OnceLock<CrossFn> = OnceLock::new();
    *F.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if use_popcnt() {
            return x86::cross_popcnt;
        }
        let _ = use_popcnt;
        cross_portable
    })
}

/// The gather kernel for this CPU.
pub fn gather() -> GatherFn {
    static F: OnceLock<GatherFn> = OnceLock::new();
    *F.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if use_popcnt() {
            return x86::gather_popcnt;
        }
        gather_portable
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{layout, scalar};

    #[test]
    fn kernels_match_the_scalar_reference() {
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0x0f0f) as u8
        };
        for code_len in [1usize, 8, 9, 16, 32, 64, 100] {
            let words = layout::words_for(code_len);
            let n = 37;
            let codes: Vec<u8> = (0..n * code_len).map(|_| next()).collect();
            let packed: Vec<u64> = codes
                .chunks(code_len)
                .flat_map(|c| layout::pack_query(c, words))
                .collect();
            let blocks = layout::pack(&codes, code_len);
            for f in [cross_portable as CrossFn, cross()] {
                for same in [true, false] {
                    let mut out = Vec::new();
                    f(&packed, &packed, words, 20, same, &mut out);
                    let mut expect = Vec::new();
                    for i in 0..n {
                        for j in if same { i + 1 } else { 0 }..n {
                            let d = scalar::distance(
                                &codes[i * code_len..][..code_len],
                                &codes[j * code_len..][..code_len],
                            );
                            if d <= 20 {
                                expect.push((i as u32, j as u32, d));
                            }
                        }
                    }
                    assert_eq!(out, expect, "width {code_len}");
                }
            }
            let positions: Vec<u32> = (0..n as u32).rev().collect();
            for f in [gather_portable as GatherFn, gather()] {
                let mut out = Vec::new();
                f(&packed[..words], &blocks, &positions, &mut out);
                let expect: Vec<u32> = positions
                    .iter()
                    .map(|&p| {
                        scalar::distance(
                            &codes[..code_len],
                            &codes[p as usize * code_len..][..code_len],
                        )
                    })
                    .collect();
                assert_eq!(out, expect);
            }
        }
    }
}
