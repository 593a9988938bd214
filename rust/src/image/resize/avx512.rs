//! Both LANCZOS passes with AVX-512 VNNI, 16 image rows (then 16 output columns) side by side.
//!
//! `vpdpbusd` multiplies 4 unsigned pixel bytes by 4 signed weight bytes and adds them into an
//! i32 lane. Here each lane is one image row: a block of 16 grey rows is transposed so that a
//! register holds the same 4 consecutive samples of all 16 rows, and one instruction with a
//! broadcast weight group advances 16 sums by 4 taps. No sum is ever reduced across lanes, and
//! windows are padded to 4 taps, not to a vector. The horizontal pass writes its results
//! already interleaved for the vertical pass (4 consecutive rows of each output column per
//! lane), which then runs the same kernel with 16 output columns per register. Where the
//! vertical pass shrinks strongly (wide, overlapping windows), a batch of neighbouring outputs
//! shares each load (`Batch`). Where the horizontal pass shrinks that strongly, the rows are
//! not transposed at all: strips of outputs weigh 64-pixel chunks of several rows with full
//! weight vectors and reduce each row's lanes at the end (`Strip`).

use super::{
    luma, taps, Batch, Groups, Pixels, Strip, BATCH, PRECISION_BITS, STRIP, STRIP_MIN_SCALE,
    STRIP_ROWS,
};
use std::arch::x86_64::*;

/// Rows (or columns) per register: one per 32-bit lane.
const LANES: usize = 16;
/// Bytes per register.
const VEC: usize = 64;

/// `lanczos_pixels` when both passes run, horizontal first.
pub(super) fn lanczos(pixels: &Pixels<'_>, out_w: usize, out_h: usize) -> Vec<u8> {
    let (width, height, c) = (pixels.width(), pixels.height(), pixels.channels());
    let (th, tv) = (taps(width, out_w), taps(height, out_h));
    // Grey rows padded to whole 16 x 16 tiles of groups; the padding is never weighted.
    let groups_w = width.div_ceil(VEC) * LANES;
    let row_stride = groups_w * 4;
    let mut rows = vec![0u8; LANES * row_stride];
    // The transposed block, for passes that filter groups (not strips).
    let strips = (width >= STRIP_MIN_SCALE * out_w).then(|| th.strips());
    let mut block = if strips.is_some() {
        Vec::new()
    } else {
        vec![0u8; groups_w * VEC]
    };
    // The horizontal result: per group of 4 rows, `chunks` registers of 16 output columns.
    let chunks = out_w.div_ceil(LANES);
    let group_bytes = chunks * VEC;
    let blocks = height.div_ceil(LANES);
    let mut mid = vec![0u8; blocks * 4 * group_bytes];
    let src = pixels.data();
    for b in 0..blocks {
        for (r, row) in rows.chunks_exact_mut(row_stride).enumerate() {
            let y = b * LANES + r;
            if y < height {
                luma::pillow_l_row(
                    &src[y * width * c..(y + 1) * width * c],
                    c,
                    &mut row[..width],
                );
            } else {
                row.fill(0);
            }
        }
        let at = b * 4 * group_bytes;
        if let Some(strips) = strips {
            apply_strips(&rows, row_stride, strips, &mut mid[at..], group_bytes);
            continue;
        }
        // SAFETY: the image kernels run only where `luma::avx512_enabled` found the features;
        // `rows` holds 16 rows of `row_stride` bytes, `block` as many groups of 64.
        unsafe {
            for tile in 0..groups_w / LANES {
                transpose16(
                    rows.as_ptr().add(tile * VEC),
                    row_stride,
                    block.as_mut_ptr().add(tile * LANES * VEC),
                );
            }
        }
        apply(&block, 1, &th.groups, &mut mid[at..], 4, 0, group_bytes);
    }
    let mut out = vec![0u8; out_h * chunks * LANES];
    apply(&mid, chunks, &tv.groups, &mut out, chunks * LANES, LANES, 4);
    if chunks * LANES != out_w {
        for yy in 1..out_h {
            out.copy_within(yy * chunks * LANES..yy * chunks * LANES + out_w, yy * out_w);
        }
        out.truncate(out_w * out_h);
    }
    out
}

/// Filter interleaved data with `g`: `src` is `[group][chunk][lane][4 bytes]` (`chunks`
/// registers per group of 4 samples); the 16 results of output `xx` and chunk `ch` go to
/// `out[xx * xs + ch * cs + k * ks ..][..4]` for lanes `4k .. 4k + 4`.
fn apply(src: &[u8], chunks: usize, g: &Groups, out: &mut [u8], xs: usize, cs: usize, ks: usize) {
    let end = g
        .spans
        .iter()
        .map(|&(g0, n, _, _)| g0 + n)
        .max()
        .unwrap_or(0);
    assert!(end * chunks * VEC <= src.len(), "groups past the input");
    let last = g.spans.len().saturating_sub(1);
    assert!(
        last * xs + (chunks - 1) * cs + 3 * ks + 4 <= out.len(),
        "output too small"
    );
    let out = out.as_mut_ptr();
    // SAFETY: the bounds were checked above (a batch's groups are those of its outputs); the
    // CPU features were detected by the caller.
    unsafe {
        match &g.batches {
            Some(batches) => apply_batched(src, chunks, batches, out, xs, cs, ks),
            None => apply_planes(src, chunks, g, out, xs, cs, ks),
        }
    }
}

/// The horizontal pass of a block of 16 grey rows (`row_stride` bytes apart) with [`Strip`]s,
/// written to `out` as [`apply`] writes it from the transposed block: output `xx` of row `r` at
/// `out[(r / 4) * group_bytes + 4 * xx + r % 4]`. Like [`apply`], for callers that detected
/// AVX-512 VNNI.
fn apply_strips(
    rows: &[u8],
    row_stride: usize,
    strips: &[Strip],
    out: &mut [u8],
    group_bytes: usize,
) {
    assert!(rows.len() >= LANES * row_stride, "block too small");
    let outputs = strips.last().map_or(0, |s| s.first + s.size);
    assert!(
        outputs * 4 <= group_bytes && (LANES / 4 - 1) * group_bytes + outputs * 4 <= out.len(),
        "output too small"
    );
    for s in strips {
        assert!(
            s.size == 1 || s.size == STRIP,
            "strip of {} outputs",
            s.size
        );
        assert!(s.end * VEC <= row_stride, "chunks past the row");
        assert_eq!(s.weights.len(), (s.end - s.start) * 2 * s.size);
        assert!(s.top_start == s.top_end || (s.start <= s.top_start && s.top_end <= s.end));
        assert_eq!(s.top.len(), (s.top_end - s.top_start) * s.size);
        for rg in 0..LANES / STRIP_ROWS {
            let px = rows[rg * STRIP_ROWS * row_stride..].as_ptr();
            // SAFETY: the chunks read lie in rows `STRIP_ROWS * rg ..` of the block and the
            // weights hold them (checked above); the CPU features were detected by the caller.
            let sums = unsafe {
                match s.size {
                    1 => strip::<1>(px, row_stride, s),
                    _ => strip::<STRIP>(px, row_stride, s),
                }
            };
            for (k, four) in sums.iter().enumerate().take(s.size) {
                // Rows 4 rg .. 4 rg + 4 are group rg, consecutive bytes per output.
                let at = rg * group_bytes + 4 * (s.first + k);
                out[at..at + STRIP_ROWS].copy_from_slice(four);
            }
        }
    }
}

/// Pillow's 8-bit results of a strip of `B` outputs for [`STRIP_ROWS`] rows from `px`,
/// `stride` bytes apart, per output in the first `B` entries.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn strip<const B: usize>(
    px: *const u8,
    stride: usize,
    s: &Strip,
) -> [[u8; STRIP_ROWS]; STRIP] {
    debug_assert_eq!(s.size, B);
    let w = s.weights.as_ptr() as *const u8;
    let z = _mm512_setzero_si512();
    // STRIP_ROWS x B x 2 independent sums, each weight load used STRIP_ROWS times and each
    // pixel load 2 x B times.
    let mut lo = [[z; B]; STRIP_ROWS];
    let mut hi = [[z; B]; STRIP_ROWS];
    for c in s.start..s.end {
        let p: [__m512i; STRIP_ROWS] =
            std::array::from_fn(|r| _mm512_loadu_si512(px.add(r * stride + c * VEC) as *const _));
        let wc = w.add((c - s.start) * 2 * B * VEC);
        for k in 0..B {
            let w0 = _mm512_loadu_si512(wc.add(k * VEC) as *const _);
            let w1 = _mm512_loadu_si512(wc.add((B + k) * VEC) as *const _);
            for r in 0..STRIP_ROWS {
                lo[r][k] = _mm512_dpbusd_epi32(lo[r][k], p[r], w0);
                hi[r][k] = _mm512_dpbusd_epi32(hi[r][k], p[r], w1);
            }
        }
    }
    // b0 + 2^8 b1, then plane 2 where it is not zero.
    let mut sum = [[z; B]; STRIP_ROWS];
    for r in 0..STRIP_ROWS {
        for k in 0..B {
            sum[r][k] = _mm512_add_epi32(lo[r][k], _mm512_slli_epi32::<8>(hi[r][k]));
        }
    }
    if s.top_end > s.top_start {
        let mut top = [[z; B]; STRIP_ROWS];
        let w = s.top.as_ptr() as *const u8;
        for c in s.top_start..s.top_end {
            let p: [__m512i; STRIP_ROWS] = std::array::from_fn(|r| {
                _mm512_loadu_si512(px.add(r * stride + c * VEC) as *const _)
            });
            for k in 0..B {
                let w2 = _mm512_loadu_si512(w.add(((c - s.top_start) * B + k) * VEC) as *const _);
                for (t, &p) in top.iter_mut().zip(&p) {
                    t[k] = _mm512_dpbusd_epi32(t[k], p, w2);
                }
            }
        }
        for r in 0..STRIP_ROWS {
            for k in 0..B {
                sum[r][k] = _mm512_add_epi32(sum[r][k], _mm512_slli_epi32::<16>(top[r][k]));
            }
        }
    }
    // Row r, output k is register r B + k of the 8 (zeros past the strip's 4 B).
    let mut eight = [z; 8];
    for (i, e) in eight.iter_mut().enumerate().take(STRIP_ROWS * B) {
        *e = sum[i / B][i % B];
    }
    let bytes = sum8(eight);
    let mut out = [[0u8; STRIP_ROWS]; STRIP];
    for i in 0..STRIP_ROWS * B {
        out[i % B][i / B] = bytes[if i < 4 { 4 * i } else { 4 * (i - 4) + 1 }];
    }
    out
}

/// Pillow's rounding, `>> 22` and clip of the lane totals of 8 registers: `v[i]`'s at byte
/// `4 i` for `i < 4`, `4 (i - 4) + 1` after. A tree of shuffles and adds, about a third of
/// the work of reducing each register alone (wrapping i32 adds give the exact sums).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn sum8(v: [__m512i; 8]) -> [u8; 16] {
    // 128-bit lanes [a0 + a2, a1 + a3, b0 + b2, b1 + b3]: 8 partial sums each of a pair.
    let u: [__m512i; 4] = std::array::from_fn(|i| {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        _mm512_add_epi32(
            _mm512_shuffle_i64x2::<0x44>(a, b),
            _mm512_shuffle_i64x2::<0xEE>(a, b),
        )
    });
    // 128-bit lanes: 4 partial sums of each of v[4j .. 4j + 4].
    let q: [__m512i; 2] = std::array::from_fn(|j| {
        let (a, b) = (u[2 * j], u[2 * j + 1]);
        _mm512_add_epi32(
            _mm512_shuffle_i32x4::<0x88>(a, b),
            _mm512_shuffle_i32x4::<0xDD>(a, b),
        )
    });
    // Lane L: [a0 + a2, b0 + b2, a1 + a3, b1 + b3] of a = v[L]'s and b = v[4 + L]'s partial
    // sums; then dword 0 is the total of v[L], dword 1 that of v[4 + L].
    let t = _mm512_add_epi32(
        _mm512_unpacklo_epi32(q[0], q[1]),
        _mm512_unpackhi_epi32(q[0], q[1]),
    );
    let t = _mm512_add_epi32(t, _mm512_shuffle_epi32::<0b01_00_11_10>(t));
    let t = _mm512_add_epi32(t, _mm512_set1_epi32(1 << (PRECISION_BITS - 1)));
    let t = _mm512_max_epi32(
        _mm512_srai_epi32::<{ PRECISION_BITS }>(t),
        _mm512_setzero_si512(),
    );
    std::mem::transmute::<__m128i, [u8; 16]>(_mm512_cvtusepi32_epi8(t))
}

/// [`apply`] a [`Batch`] of outputs at a time.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn apply_batched(
    src: &[u8],
    chunks: usize,
    batches: &[Batch],
    out: *mut u8,
    xs: usize,
    cs: usize,
    ks: usize,
) {
    for ch in 0..chunks {
        for b in batches {
            let sums = match b.size {
                4 => batch::<4>(src, chunks, ch, b),
                5 => batch::<5>(src, chunks, ch, b),
                6 => batch::<6>(src, chunks, ch, b),
                7 => batch::<7>(src, chunks, ch, b),
                _ => batch::<BATCH>(src, chunks, ch, b),
            };
            for (k, &sum) in sums.iter().enumerate().take(b.size) {
                store(sum, out.add((b.first + k) * xs + ch * cs), ks);
            }
        }
    }
}

/// Pillow's sums (rounding included) of a batch of `B` outputs for chunk `ch`, in the first
/// `B` of the returned registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn batch<const B: usize>(
    src: &[u8],
    chunks: usize,
    ch: usize,
    b: &Batch,
) -> [__m512i; BATCH] {
    debug_assert_eq!(b.size, B);
    let step = chunks * VEC;
    let px = src.as_ptr().add(b.start * step + ch * VEC);
    let w = b.weights.as_ptr();
    let z = _mm512_setzero_si512();
    // 2 x B independent sums: enough dot products in flight, each load used 2 x B times.
    let mut lo = [_mm512_set1_epi32(1 << (PRECISION_BITS - 1)); B];
    let mut hi = [z; B];
    for i in 0..b.end - b.start {
        let p = _mm512_loadu_si512(px.add(i * step) as *const _);
        let wt = |pl: usize, k: usize| _mm512_set1_epi32(*w.add((2 * i + pl) * B + k));
        for k in 0..B {
            lo[k] = _mm512_dpbusd_epi32(lo[k], p, wt(0, k));
            hi[k] = _mm512_dpbusd_epi32(hi[k], p, wt(1, k));
        }
    }
    // b0 + 2^8 b1: wrapping i32 adds give Pillow's exact sum, which fits.
    let mut sums = [z; BATCH];
    for k in 0..B {
        sums[k] = _mm512_add_epi32(lo[k], _mm512_slli_epi32::<8>(hi[k]));
    }
    sums
}

/// [`apply`] with the weights' three byte planes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn apply_planes(
    src: &[u8],
    chunks: usize,
    g: &Groups,
    out: *mut u8,
    xs: usize,
    cs: usize,
    ks: usize,
) {
    let step = chunks * VEC; // bytes from one group to the next
    let round = _mm512_set1_epi32(1 << (PRECISION_BITS - 1));
    for (xx, &(g0, n, top0, top1)) in g.spans.iter().enumerate() {
        let w = g.planes.as_ptr().add(xx * 3 * g.stride);
        let (w0, w1, w2) = (w, w.add(g.stride), w.add(2 * g.stride));
        for ch in 0..chunks {
            let px = src.as_ptr().add(g0 * step + ch * VEC);
            let load = |i: usize| _mm512_loadu_si512(px.add(i * step) as *const _);
            let bc = |p: *const i32, i: usize| _mm512_set1_epi32(*p.add(i));
            // Two sums per plane (even and odd groups) so consecutive dot products overlap.
            let z = _mm512_setzero_si512();
            let (mut a0, mut a1, mut b0, mut b1, mut c0, mut c1) = (round, z, z, z, z, z);
            let mut i = 0;
            while i + 2 <= n {
                let (p, q) = (load(i), load(i + 1));
                a0 = _mm512_dpbusd_epi32(a0, p, bc(w0, i));
                b0 = _mm512_dpbusd_epi32(b0, p, bc(w1, i));
                a1 = _mm512_dpbusd_epi32(a1, q, bc(w0, i + 1));
                b1 = _mm512_dpbusd_epi32(b1, q, bc(w1, i + 1));
                i += 2;
            }
            if i < n {
                let p = load(i);
                a0 = _mm512_dpbusd_epi32(a0, p, bc(w0, i));
                b0 = _mm512_dpbusd_epi32(b0, p, bc(w1, i));
            }
            let mut i = top0;
            while i + 2 <= top1 {
                c0 = _mm512_dpbusd_epi32(c0, load(i), bc(w2, i));
                c1 = _mm512_dpbusd_epi32(c1, load(i + 1), bc(w2, i + 1));
                i += 2;
            }
            if i < top1 {
                c0 = _mm512_dpbusd_epi32(c0, load(i), bc(w2, i));
            }
            // b0 + 2^8 b1 + 2^16 b2 (and Pillow's rounding, in `a0`): wrapping i32 adds give
            // Pillow's exact sum, which fits.
            let lo = _mm512_add_epi32(a0, a1);
            let mid = _mm512_slli_epi32::<8>(_mm512_add_epi32(b0, b1));
            let hi = _mm512_slli_epi32::<16>(_mm512_add_epi32(c0, c1));
            store(
                _mm512_add_epi32(_mm512_add_epi32(lo, mid), hi),
                out.add(xx * xs + ch * cs),
                ks,
            );
        }
    }
}

/// Pillow's `>> 22` and clip to 0..=255 of 16 sums (rounding included), stored as 4 groups of
/// 4 bytes `ks` apart from `o`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn store(sum: __m512i, o: *mut u8, ks: usize) {
    let v = _mm512_max_epi32(
        _mm512_srai_epi32::<{ PRECISION_BITS }>(sum),
        _mm512_setzero_si512(),
    );
    let bytes = _mm512_cvtusepi32_epi8(v);
    if ks == 4 {
        _mm_storeu_si128(o as *mut __m128i, bytes);
    } else {
        let d = |k: usize| o.add(k * ks) as *mut i32;
        d(0).write_unaligned(_mm_extract_epi32::<0>(bytes));
        d(1).write_unaligned(_mm_extract_epi32::<1>(bytes));
        d(2).write_unaligned(_mm_extract_epi32::<2>(bytes));
        d(3).write_unaligned(_mm_extract_epi32::<3>(bytes));
    }
}

/// Transpose a 16 x 16 tile of 32-bit groups: row `r` of the tile is the 64 bytes at
/// `src + r * stride`; register `j` of the result (at `dst + 64 j`) holds group `j` of every row.
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(src: *const u8, stride: usize, dst: *mut u8) {
    let r: [__m512i; 16] =
        std::array::from_fn(|i| _mm512_loadu_si512(src.add(i * stride) as *const _));
    // 32-bit, then 64-bit interleaves within 128-bit lanes: u[4q + j] holds, in lane L, column
    // 4L + j of rows 4q .. 4q + 4.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (q, j) = (i / 4, i % 4);
        let (a, b) = (t[4 * q + j / 2], t[4 * q + 2 + j / 2]);
        if j % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    // Then a 4 x 4 transpose of 128-bit lanes across u[j], u[4 + j], u[8 + j], u[12 + j].
    for j in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
        let v1 = _mm512_shuffle_i32x4::<0xEE>(u[j], u[4 + j]);
        let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
        let v3 = _mm512_shuffle_i32x4::<0xEE>(u[8 + j], u[12 + j]);
        let store = |c: usize, v: __m512i| _mm512_storeu_si512(dst.add(c * VEC) as *mut _, v);
        store(j, _mm512_shuffle_i32x4::<0x88>(v0, v2));
        store(4 + j, _mm512_shuffle_i32x4::<0xDD>(v0, v2));
        store(8 + j, _mm512_shuffle_i32x4::<0x88>(v1, v3));
        store(12 + j, _mm512_shuffle_i32x4::<0xDD>(v1, v3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum8_rounds_and_clips_each_total() {
        if !luma::avx512_enabled() {
            return;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as i32
        };
        // Lanes of +-2^21 around a bias in -2^26 .. 1.8 x 2^26 per register: totals from -2^30
        // to 1.8 x 2^30 (the clip to 255 starts at 2^30), so below, inside and above 0..=255.
        let mut seen = [0; 3];
        for _ in 0..500 {
            let v: [[i32; 16]; 8] = std::array::from_fn(|_| {
                let bias = ((next() as u32 as i64) * 7 / 160) as i32 - (1 << 26);
                std::array::from_fn(|_| bias + (next() >> 10))
            });
            // SAFETY: AVX-512 was detected; [i32; 16] and __m512i have the same size.
            let got = unsafe { sum8(v.map(|a| std::mem::transmute::<[i32; 16], __m512i>(a))) };
            for (i, lanes) in v.iter().enumerate() {
                let total = lanes.iter().sum::<i32>() + (1 << (PRECISION_BITS - 1));
                let at = if i < 4 { 4 * i } else { 4 * (i - 4) + 1 };
                let want = super::super::clip8(total);
                assert_eq!(got[at], want, "register {i}");
                seen[match want {
                    0 => 0,
                    255 => 2,
                    _ => 1,
                }] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    #[test]
    fn transpose16_transposes() {
        if !luma::avx512_enabled() {
            return;
        }
        let stride = 80;
        let src: Vec<u8> = (0..16 * stride).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut dst = vec![0u8; 16 * VEC];
        // SAFETY: AVX-512 was detected; both buffers hold the 16 rows read and written.
        unsafe { transpose16(src.as_ptr(), stride, dst.as_mut_ptr()) };
        for j in 0..16 {
            for r in 0..16 {
                assert_eq!(
                    dst[j * VEC + 4 * r..][..4],
                    src[r * stride + 4 * j..][..4],
                    "{j} {r}"
                );
            }
        }
    }
}
