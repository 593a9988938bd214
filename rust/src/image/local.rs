//! Content-anchored local codes: difference-of-Gaussian keypoints (Lowe 2004, "Distinctive
//! image features from scale-invariant keypoints", sections 3-4) on a grey picture resized to a
//! short side of [`WORK_SIDE`], each with a 64-bit code of a square patch whose side is
//! proportional to the keypoint's scale (the 64 lowest frequencies of a 16x16 DCT, thresholded
//! at their median, as pHash/PDQ do for whole pictures).
//!
//! A crop or resize moves and scales the content; keypoints move with it, so a patch hashed in
//! the original is found again in the copy. Positions and scales are in units of the picture's
//! short side, so a query's keypoints relate to an indexed image's by `q = s * p + t`.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::error::{FingerprintError, Result};

/// Short side (pixels) the picture is resized to before detection.
pub const WORK_SIDE: usize = 192;
/// Scales per octave and the blur of each octave's first image (Lowe 2004, section 3.3).
const LEVELS: usize = 3;
const SIGMA0: f32 = 1.6;
/// Octaves: scales up to 1.6 * 2^(12.5/3) = 29 px (a 6-sigma patch of 173 px); a fifth
/// octave's patches would not fit in 192 px.
const OCTAVES: usize = 4;
/// Smallest |DoG| (grey levels) tested: OpenCV's SIFT pre-threshold, half its contrast
/// threshold 0.04 / 3 levels on a 0..1 scale (0.5 * 0.04 / 3 * 255 = 1.7). Weaker extrema are
/// noise or flat areas, and skipping them early is most of the detector's speed.
const MIN_RESPONSE: f32 = 1.7;
/// Edge rejection: principal-curvature ratio below 10 (Lowe 2004, section 4.1).
const EDGE_RATIO: f32 = 10.0;
/// Patch side in keypoint scales: 6 sigma, +-3 sigma, the support of the blob's Gaussian.
/// Measured on the shared photos against 8 sigma: a smaller patch fits inside a crop more
/// often (60% crops: 4.9 instead of 4.6 indexed patches inside, on average) and its code is
/// as stable.
pub const PATCH_SIGMAS: f32 = 6.0;
/// Samples per patch side; the code keeps the 64 lowest of its 16x16 DCT frequencies.
const SAMPLES: usize = 16;

/// One keypoint with its code; x, y and scale are in units of the picture's short side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalCode {
    /// 64 bits, big-endian: bit k of the code is coefficient k of [`frequencies`] above the median.
    pub code: [u8; 8],
    /// Column of the keypoint centre / short side.
    pub x: f32,
    /// Row of the keypoint centre / short side.
    pub y: f32,
    /// Keypoint scale (sigma) / short side; the hashed patch is `PATCH_SIGMAS` times as wide.
    pub scale: f32,
    /// |DoG| at the keypoint, in grey levels (larger is more stable).
    pub response: f32,
}

/// A row-major float image (`data` may be longer than `w * h`: a reused buffer).
struct Plane {
    data: Vec<f32>,
    w: usize,
    h: usize,
}

impl Plane {
    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// Bilinear sample at (x, y), clamped to the image.
    fn sample(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x1, y0) * fx;
        let bottom = self.at(x0, y1) * (1.0 - fx) + self.at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Resize along one axis with a triangle filter widened by the reduction factor (no aliasing
/// when shrinking, bilinear when enlarging). `src` holds `lines` lines of `n_in` samples: rows
/// of a row-major picture when `along_rows` is false, else its columns (then `lines` is the width).
#[inline(always)]
fn resize_axis(
    src: &[f32],
    n_in: usize,
    n_out: usize,
    lines: usize,
    along_rows: bool,
    mut out: Vec<f32>,
) -> Vec<f32> {
    let scale = n_in as f32 / n_out as f32;
    let support = scale.max(1.0);
    // Normalised (first input, weights) per output sample.
    let taps: Vec<(usize, Vec<f32>)> = (0..n_out)
        .map(|o| {
            let centre = (o as f32 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil().max(0.0) as usize).min(n_in - 1);
            let mut w: Vec<f32> = (lo..=hi)
                .map(|i| (1.0 - (i as f32 - centre).abs() / support).max(0.0))
                .collect();
            let total: f32 = w.iter().sum();
            if total > 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
                (lo, w)
            } else {
                (
                    centre.round().clamp(0.0, (n_in - 1) as f32) as usize,
                    vec![1.0],
                )
            }
        })
        .collect();
    // `out` comes from the pool: at least as long after the first pictures (nothing to zero
    // but the sums below), its values beyond `n_out * lines` unused.
    let n = n_out * lines;
    if out.len() < n {
        out.resize(n, 0.0);
    }
    let full = &mut out;
    let out = &mut full[..n];
    if along_rows {
        out.fill(0.0);
        // Output row o is a weighted sum of whole input rows: contiguous, vectorisable.
        for (o, (lo, w)) in taps.iter().enumerate() {
            let dst = &mut out[o * lines..(o + 1) * lines];
            for (k, &wk) in w.iter().enumerate() {
                let row = &src[(lo + k) * lines..(lo + k + 1) * lines];
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d += wk * v;
                }
            }
        }
    } else {
        // Every output takes the same number of taps, the shorter weight lists padded with
        // zeros (adding 0 * x leaves a sum unchanged: the result is the plain dot product),
        // so that the dot products are straight-line code.
        let t = taps.iter().map(|(_, w)| w.len()).max().unwrap_or(1);
        let mut starts = Vec::with_capacity(n_out);
        let mut weights = vec![0.0f32; n_out * t];
        for ((lo, w), dst) in taps.iter().zip(weights.chunks_exact_mut(t)) {
            starts.push(*lo);
            dst[..w.len()].copy_from_slice(w);
        }
        let mut padded = vec![0.0f32; n_in + t];
        let rows = src.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out));
        match t {
            1 => dots::<1>(rows, n_in, &starts, &weights, &mut padded),
            2 => dots::<2>(rows, n_in, &starts, &weights, &mut padded),
            3 => dots::<3>(rows, n_in, &starts, &weights, &mut padded),
            4 => dots::<4>(rows, n_in, &starts, &weights, &mut padded),
            5 => dots::<5>(rows, n_in, &starts, &weights, &mut padded),
            6 => dots::<6>(rows, n_in, &starts, &weights, &mut padded),
            7 => dots::<7>(rows, n_in, &starts, &weights, &mut padded),
            8 => dots::<8>(rows, n_in, &starts, &weights, &mut padded),
            _ => {
                for (line, dst) in src.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
                    for (d, (lo, w)) in dst.iter_mut().zip(&taps) {
                        *d = w.iter().zip(&line[*lo..]).map(|(a, b)| a * b).sum();
                    }
                }
            }
        }
    }
    std::mem::take(full)
}

/// Dot products of `T` weights with each line (`n` values) at `starts`, the line read as if
/// followed by zeros: the outputs whose taps stay inside it read it directly, the others a copy
/// of its end (from the first of their starts on) in `padded`, whose values after that copy
/// are zeros (never written).
#[inline(always)]
fn dots<'a, const T: usize>(
    rows: impl Iterator<Item = (&'a [f32], &'a mut [f32])>,
    n: usize,
    starts: &[usize],
    weights: &[f32],
    padded: &mut [f32],
) {
    #[inline(always)]
    fn dot<const T: usize>(x: &[f32], w: &[f32]) -> f32 {
        let x: &[f32; T] = x[..T].try_into().expect("T values");
        let mut s = w[0] * x[0];
        for k in 1..T {
            s += w[k] * x[k];
        }
        s
    }
    // Only the end of each line is copied (the whole line was, for every line).
    let from = (starts.iter().copied())
        .filter(|&lo| lo + T > n)
        .min()
        .unwrap_or(n);
    for (line, dst) in rows {
        padded[..n - from].copy_from_slice(&line[from..n]);
        let weights = weights.chunks_exact(T);
        for ((d, &lo), w) in dst.iter_mut().zip(starts).zip(weights) {
            *d = if lo + T <= n {
                dot::<T>(&line[lo..], w)
            } else {
                dot::<T>(&padded[lo - from..], w)
            };
        }
    }
}

/// Resize a `rows x cols` picture to `out_h x out_w`.
#[inline(always)]
fn resize(
    luma: &[f32],
    rows: usize,
    cols: usize,
    out_h: usize,
    out_w: usize,
    pool: &mut Pool,
) -> Plane {
    let horizontal = resize_axis(luma, cols, out_w, rows, false, pool.take(rows * out_w));
    let data = resize_axis(
        &horizontal,
        rows,
        out_h,
        out_w,
        true,
        pool.take(out_h * out_w),
    );
    pool.give(horizontal);
    Plane {
        data,
        w: out_w,
        h: out_h,
    }
}

/// Buffers reused from one picture to the next on the same thread. The scale space of a
/// 192 px picture is about 30 planes of 200 KB; allocating them afresh for every picture cost
/// page faults and zeroing, about a sixth of the indexing time (measured with perf).
#[derive(Default)]
struct Pool(Vec<Vec<f32>>);

/// Buffers above this many values (16 MB) are freed rather than kept for the next picture.
const POOL_KEEP: usize = 1 << 22;

impl Pool {
    /// A buffer of at least `n` values (callers use the first `n`); their contents are
    /// unspecified. The shortest kept buffer that is long enough is taken, else the longest,
    /// so that after the first pictures nothing is allocated or zeroed (buffers never shrink).
    fn take(&mut self, n: usize) -> Vec<f32> {
        let fit = (self.0.iter().enumerate())
            .filter(|(_, v)| v.len() >= n)
            .min_by_key(|(_, v)| v.len())
            .or_else(|| self.0.iter().enumerate().max_by_key(|(_, v)| v.len()))
            .map(|(i, _)| i);
        let mut v = match fit {
            Some(i) => self.0.swap_remove(i),
            None => Vec::new(),
        };
        if v.len() < n {
            v.resize(n, 0.0);
        }
        v
    }

    fn give(&mut self, v: Vec<f32>) {
        if v.capacity() <= POOL_KEEP {
            self.0.push(v);
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Normalised half kernel (centre first) of a Gaussian of `sigma`, radius 3 sigma.
fn gaussian(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as usize;
    let mut k: Vec<f32> = (0..=r)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k[0] + 2.0 * k[1..].iter().sum::<f32>();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Outputs per block of the blur, accumulated in registers across the taps (4 vectors: two
/// loads and two adds per vector and tap, instead of three loads, a store and two adds).
const BLOCK: usize = 32;

/// Separable Gaussian blur of `src` with edge clamping (kernel radius 3 sigma).
fn blur(src: &Plane, sigma: f32, pool: &mut Pool) -> Plane {
    blur_diff(src, sigma, pool, None)
}

/// [`blur`], also writing the difference of Gaussians `blurred - src` into the first
/// `w * h` values of `diff` while each row is in cache, instead of reading both planes again.
fn blur_diff(src: &Plane, sigma: f32, pool: &mut Pool, diff: Option<&mut [f32]>) -> Plane {
    let k = gaussian(sigma);
    let (w, h) = (src.w, src.h);
    let mut tmp = pool.take(2 * k.len() * w);
    let mut padded = pool.take(w.div_ceil(BLOCK) * BLOCK + 2 * (k.len() - 1));
    let mut data = pool.take(w * h);
    let n = w * h;
    let diff = diff.map(|d| &mut d[..n]);
    blur_into(
        &src.data[..n],
        &mut data[..n],
        diff,
        w,
        h,
        &k,
        &mut tmp,
        &mut padded,
    );
    pool.give(tmp);
    pool.give(padded);
    Plane { data, w, h }
}

/// [`blur_body`] with AVX2 kernels where the CPU has them (same operations in the same order,
/// no FMA: bit-identical to the portable build, see the tests).
#[allow(clippy::too_many_arguments)]
fn blur_into(
    src: &[f32],
    dst: &mut [f32],
    diff: Option<&mut [f32]>,
    w: usize,
    h: usize,
    k: &[f32],
    tmp: &mut [f32],
    padded: &mut [f32],
) {
    // An AVX-512 build (16 lanes, blocks of 64) measured slower than AVX2 on the shared
    // photos (3.5 against 3.0 ms per image in all), so AVX2 is the widest.
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected.
        return unsafe { blur_avx2(src, dst, diff, w, h, k, tmp, padded) };
    }
    blur_body::<BLOCK, Portable>(src, dst, diff, w, h, k, tmp, padded)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn blur_avx2(
    src: &[f32],
    dst: &mut [f32],
    diff: Option<&mut [f32]>,
    w: usize,
    h: usize,
    k: &[f32],
    tmp: &mut [f32],
    padded: &mut [f32],
) {
    blur_body::<BLOCK, avx2::Avx2>(src, dst, diff, w, h, k, tmp, padded)
}

/// One block of `B` outputs of a blur pass: `k[0] * c[i] + k[1] * (a1[i] + b1[i]) + ...`,
/// summed tap by tap in that order (the reference's arithmetic, whatever the instructions).
trait Taps {
    /// Row pass: centre `line[at + i]`, tap pair j `line[at + i - j]` and `line[at + i + j]`.
    ///
    /// # Safety
    /// `at >= k.len() - 1` and `at + B + k.len() - 1 <= line.len()`.
    unsafe fn row<const B: usize>(line: &[f32], at: usize, k: &[f32]) -> [f32; B];

    /// Column pass: centre `tmp[mid + x0 + i]`, tap pair j `tmp[offsets[j].0 + x0 + i]` and
    /// `tmp[offsets[j].1 + x0 + i]` (`offsets[0]` unused).
    ///
    /// # Safety
    /// `mid + x0 + B` and every `offsets[j].0 + x0 + B`, `offsets[j].1 + x0 + B` are at most
    /// `tmp.len()`, and `offsets.len() >= k.len()`.
    unsafe fn col<const B: usize>(
        tmp: &[f32],
        mid: usize,
        offsets: &[(usize, usize)],
        x0: usize,
        k: &[f32],
    ) -> [f32; B];

    /// Column pass for two rows at once: [`Taps::col`] of rows y and y + 1, whose tap offsets
    /// are `up` and `down` (centres `up[0].0` and `down[0].0`). The rows share their loads: row
    /// y's tap j reads rows y - j and y + j, row y + 1's reads y + 1 - j and y + 1 + j, so the
    /// lower row of tap j - 1 and the upper row of tap j are each used twice.
    ///
    /// # Safety
    /// As for [`Taps::col`], for both offset lists.
    #[inline(always)]
    unsafe fn col2<const B: usize>(
        tmp: &[f32],
        up: &[(usize, usize)],
        down: &[(usize, usize)],
        x0: usize,
        k: &[f32],
    ) -> ([f32; B], [f32; B]) {
        (
            Self::col::<B>(tmp, up[0].0, up, x0, k),
            Self::col::<B>(tmp, down[0].0, down, x0, k),
        )
    }
}

/// [`Taps`] in plain (bounds-checked) Rust, for every CPU.
struct Portable;

// Index loops on purpose: iterator adapters would have to be inlined into the SIMD builds.
#[allow(clippy::needless_range_loop)]
impl Taps for Portable {
    #[inline(always)]
    unsafe fn row<const B: usize>(line: &[f32], at: usize, k: &[f32]) -> [f32; B] {
        let mut acc = [0.0f32; B];
        let c = block::<B>(line, at);
        for i in 0..B {
            acc[i] = k[0] * c[i];
        }
        for j in 1..k.len() {
            let kv = k[j];
            let left = block::<B>(line, at - j);
            let right = block::<B>(line, at + j);
            for i in 0..B {
                acc[i] += kv * (left[i] + right[i]);
            }
        }
        acc
    }

    #[inline(always)]
    unsafe fn col<const B: usize>(
        tmp: &[f32],
        mid: usize,
        offsets: &[(usize, usize)],
        x0: usize,
        k: &[f32],
    ) -> [f32; B] {
        let mut acc = [0.0f32; B];
        let c = block::<B>(tmp, mid + x0);
        for i in 0..B {
            acc[i] = k[0] * c[i];
        }
        for j in 1..k.len() {
            let kv = k[j];
            let (up, down) = offsets[j];
            let (up, down) = (block::<B>(tmp, up + x0), block::<B>(tmp, down + x0));
            for i in 0..B {
                acc[i] += kv * (up[i] + down[i]);
            }
        }
        acc
    }
}

/// `v[at..at + B]` as an array.
#[inline(always)]
fn block<const B: usize>(v: &[f32], at: usize) -> &[f32; B] {
    v[at..at + B].try_into().expect("B values")
}

/// [`Taps`] with AVX2 intrinsics: the same adds and multiplies as [`Portable`] (no FMA) on
/// unchecked loads. The compiled portable code checked the bounds of both loads of every tap,
/// four compare-and-branch pairs per 32 outputs and tap, which cost as much as the arithmetic.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Taps;

    pub(super) struct Avx2;

    /// Vectors of 8 accumulated together: enough to hide the add latency, few enough to stay
    /// in registers.
    const GROUP: usize = 4;

    /// `GROUP * 8` outputs from `centre` and the tap pair pointers `pair(j)`.
    ///
    /// # Safety
    /// AVX2 is available; `GROUP * 8` values are readable at `centre` and at both pointers of
    /// every `pair(j)`, `1 <= j < k.len()`; `out` has room for `GROUP * 8`.
    #[inline(always)]
    unsafe fn group(
        centre: *const f32,
        k: &[f32],
        pair: impl Fn(usize) -> (*const f32, *const f32),
        out: *mut f32,
    ) {
        let k0 = _mm256_set1_ps(k[0]);
        let mut acc = [_mm256_setzero_ps(); GROUP];
        for (v, a) in acc.iter_mut().enumerate() {
            *a = _mm256_mul_ps(k0, _mm256_loadu_ps(centre.add(8 * v)));
        }
        for (j, &kj) in k.iter().enumerate().skip(1) {
            let kv = _mm256_set1_ps(kj);
            let (a, b) = pair(j);
            for (v, acc) in acc.iter_mut().enumerate() {
                let s = _mm256_add_ps(_mm256_loadu_ps(a.add(8 * v)), _mm256_loadu_ps(b.add(8 * v)));
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(kv, s));
            }
        }
        for (v, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.add(8 * v), *a);
        }
    }

    impl Taps for Avx2 {
        #[inline(always)]
        unsafe fn row<const B: usize>(line: &[f32], at: usize, k: &[f32]) -> [f32; B] {
            const { assert!(B.is_multiple_of(GROUP * 8)) };
            debug_assert!(at + 1 >= k.len() && at + B + k.len() - 1 <= line.len());
            let mut out = [0.0f32; B];
            let base = line.as_ptr().add(at);
            for g in (0..B).step_by(GROUP * 8) {
                let c = base.add(g);
                group(c, k, |j| (c.sub(j), c.add(j)), out.as_mut_ptr().add(g));
            }
            out
        }

        #[inline(always)]
        unsafe fn col<const B: usize>(
            tmp: &[f32],
            mid: usize,
            offsets: &[(usize, usize)],
            x0: usize,
            k: &[f32],
        ) -> [f32; B] {
            const { assert!(B.is_multiple_of(GROUP * 8)) };
            debug_assert!(offsets.len() >= k.len());
            let mut out = [0.0f32; B];
            let base = tmp.as_ptr().add(x0);
            for g in (0..B).step_by(GROUP * 8) {
                let pair = |j: usize| {
                    let (up, down) = *offsets.get_unchecked(j);
                    (base.add(up + g), base.add(down + g))
                };
                group(base.add(mid + g), k, pair, out.as_mut_ptr().add(g));
            }
            out
        }

        #[inline(always)]
        unsafe fn col2<const B: usize>(
            tmp: &[f32],
            up: &[(usize, usize)],
            down: &[(usize, usize)],
            x0: usize,
            k: &[f32],
        ) -> ([f32; B], [f32; B]) {
            const { assert!(B.is_multiple_of(16)) };
            debug_assert!(up.len() >= k.len() && down.len() >= k.len());
            let (mut first, mut second) = ([0.0f32; B], [0.0f32; B]);
            let k0 = _mm256_set1_ps(k[0]);
            // Two vectors per row: two accumulators and the two carried rows per row fit the
            // 16 registers with the loads.
            for g in (0..B).step_by(16) {
                let base = tmp.as_ptr().add(x0 + g);
                let load = |at: usize| {
                    [
                        _mm256_loadu_ps(base.add(at)),
                        _mm256_loadu_ps(base.add(at + 8)),
                    ]
                };
                // Rows y - j (for tap j of row y, tap j + 1 of row y + 1) and y + 1 + j (tap j
                // of row y + 1, tap j + 1 of row y), from j = 0: the centres.
                let mut above = load(up[0].0);
                let mut below = load(down[0].0);
                let mut a = above.map(|v| _mm256_mul_ps(k0, v));
                let mut b = below.map(|v| _mm256_mul_ps(k0, v));
                for (j, &kj) in k.iter().enumerate().skip(1) {
                    let kv = _mm256_set1_ps(kj);
                    let next_above = load(up.get_unchecked(j).0);
                    let next_below = load(down.get_unchecked(j).1);
                    for v in 0..2 {
                        let s = _mm256_add_ps(next_above[v], below[v]);
                        a[v] = _mm256_add_ps(a[v], _mm256_mul_ps(kv, s));
                        let s = _mm256_add_ps(above[v], next_below[v]);
                        b[v] = _mm256_add_ps(b[v], _mm256_mul_ps(kv, s));
                    }
                    (above, below) = (next_above, next_below);
                }
                for v in 0..2 {
                    _mm256_storeu_ps(first.as_mut_ptr().add(g + 8 * v), a[v]);
                    _mm256_storeu_ps(second.as_mut_ptr().add(g + 8 * v), b[v]);
                }
            }
            (first, second)
        }
    }
}

/// Rows then columns, each output `k[0] * c + k[1] * (a1 + b1) + ...` summed tap by tap in
/// that order (symmetric taps paired), `B` outputs at a time by `T`. `tmp` holds at least
/// `(2 * radius + 2) * w` values, `padded` one row padded by the radius on each side and to
/// whole blocks. With `diff`, also `diff = dst - src`, row by row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn blur_body<const B: usize, T: Taps>(
    src: &[f32],
    dst: &mut [f32],
    mut diff: Option<&mut [f32]>,
    w: usize,
    h: usize,
    k: &[f32],
    tmp: &mut [f32],
    padded: &mut [f32],
) {
    let r = k.len() - 1;
    let blocks = w.div_ceil(B);
    let padded = &mut padded[..blocks * B + 2 * r];
    // The row pass fills a ring of the 2r + 2 rows the column pass needs next (they stay in
    // L1 cache), row y in slot y % ring: the column pass makes rows y and y + 1 together, and
    // every row they read lies within r of one of them.
    let ring = 2 * r + 2;
    let tmp = &mut tmp[..ring * w];
    let mut filled = 0;
    // Blocks whose taps stay inside the row read it directly; only the edge blocks (starting
    // before `left_end` or from `right_start` on) read the copy padded with the edge values.
    let left_end = r.div_ceil(B) * B;
    let right_start = if w >= B + r {
        ((w - B - r) / B + 1) * B
    } else {
        0
    };
    let full = w - w % B;
    let last = (h - 1) % ring;
    // Row offsets in the ring of the taps above and below rows y and y + 1 (edges clamped).
    let mut offsets = [vec![(0usize, 0usize); r + 1], vec![(0usize, 0usize); r + 1]];
    let mut y = 0;
    while y < h {
        let pair = y + 1 < h;
        let rows = 1 + usize::from(pair);
        while filled <= (y + rows - 1 + r).min(h - 1) {
            let row = &src[filled * w..(filled + 1) * w];
            let slot = filled % ring;
            let out = &mut tmp[slot * w..(slot + 1) * w];
            filled += 1;
            // Padded index p holds row[p - r]: the left blocks read up to row[left_end + r),
            // the right ones from row[right_start - r] on.
            let head = (left_end + r).min(w);
            let tail = right_start.saturating_sub(r).max(head);
            padded[..r].fill(row[0]);
            padded[r..r + head].copy_from_slice(&row[..head]);
            padded[r + tail..r + w].copy_from_slice(&row[tail..]);
            padded[r + w..].fill(row[w - 1]);
            // A block from x0 reads [x0 - r, x0 + B + r) of the row: inside it from `left_end`
            // (>= r) up to `right_start` (x0 + B + r <= w before it); the padded copy, whole
            // blocks plus r on each side, serves every block.
            let source = |x0: usize| {
                if x0 < left_end || x0 >= right_start {
                    (&*padded, x0 + r)
                } else {
                    (row, x0)
                }
            };
            // Whole blocks are stored straight from the accumulators (a slice copy of variable
            // length was a call to memcpy per block, spilling them around it).
            let mut chunks = out.chunks_exact_mut(B);
            for (b, dst) in (&mut chunks).enumerate() {
                let (line, at) = source(b * B);
                let dst: &mut [f32; B] = dst.try_into().expect("B values");
                assert!(at >= r && at + B + r <= line.len());
                // SAFETY: checked just above.
                *dst = unsafe { T::row::<B>(line, at, k) };
            }
            let rest = chunks.into_remainder();
            if !rest.is_empty() {
                let (line, at) = source(full);
                assert!(at >= r && at + B + r <= line.len());
                // SAFETY: checked just above.
                let acc = unsafe { T::row::<B>(line, at, k) };
                rest.copy_from_slice(&acc[..rest.len()]);
            }
        }
        let tmp = &*tmp;
        for (i, offsets) in offsets.iter_mut().enumerate().take(rows) {
            let y = y + i;
            // Slots by wrapping (j < ring), not division: this runs for every row and tap.
            let here = y % ring;
            for (j, o) in offsets.iter_mut().enumerate() {
                let up = if j <= y {
                    if j <= here {
                        here - j
                    } else {
                        here + ring - j
                    }
                } else {
                    0
                };
                let down = if y + j < h {
                    if here + j < ring {
                        here + j
                    } else {
                        here + j - ring
                    }
                } else {
                    last
                };
                *o = (up * w, down * w);
            }
        }
        let offsets = &offsets[..rows];
        // Every slot lies inside the ring, so a block of columns x0 + B <= w is inside the slots.
        assert!(offsets
            .iter()
            .flatten()
            .all(|&(u, d)| u.max(d) + w <= ring * w));
        let out = &mut dst[y * w..(y + rows) * w];
        // Whole blocks; a last partial block is computed as the block ending at w, which
        // repeats some outputs with the same arithmetic (same values).
        let starts = (0..full)
            .step_by(B)
            .chain((w > B && full < w).then(|| w - B));
        for x0 in starts {
            if let [up, down] = offsets {
                // SAFETY: x0 + B <= w, and every offset is a slot start below ring * w.
                let (a, b) = unsafe { T::col2::<B>(tmp, up, down, x0, k) };
                let (first, second) = out.split_at_mut(w);
                *<&mut [f32; B]>::try_from(&mut first[x0..x0 + B]).expect("B values") = a;
                *<&mut [f32; B]>::try_from(&mut second[x0..x0 + B]).expect("B values") = b;
            } else {
                let dst: &mut [f32; B] = (&mut out[x0..x0 + B]).try_into().expect("B values");
                // SAFETY: as above.
                *dst = unsafe { T::col::<B>(tmp, offsets[0][0].0, &offsets[0], x0, k) };
            }
        }
        for (i, offsets) in offsets.iter().enumerate() {
            let mid = offsets[0].0;
            for x in (if w > B { w } else { full })..w {
                let mut s = k[0] * tmp[mid + x];
                for j in 1..=r {
                    let (up, down) = offsets[j];
                    s += k[j] * (tmp[up + x] + tmp[down + x]);
                }
                out[i * w + x] = s;
            }
        }
        if let Some(diff) = diff.as_deref_mut() {
            let lo = &src[y * w..(y + rows) * w];
            for ((d, &a), &b) in diff[y * w..(y + rows) * w].iter_mut().zip(&*out).zip(lo) {
                *d = a - b;
            }
        }
        y += rows;
    }
}

/// Calls `found(x, y)` for every interior pixel of DoG plane `dog[1]` that is an extremum of its
/// 26 neighbours in `dog[0..3]` beyond `MIN_RESPONSE`: positive peaks at least every neighbour,
/// negative ones at most (Lowe's and OpenCV's SIFT). Equivalent to comparing with 3x3 maximum
/// and minimum filters of the three planes, at a fraction of the cost: a vectorised pass over
/// each row tests the own plane, and only its few survivors are compared with the others.
#[inline(always)]
fn extrema(dog: [&[f32]; 3], w: usize, h: usize, mut found: impl FnMut(usize, usize)) {
    if w < 3 {
        return;
    }
    // Candidate flags of one row, padded to whole 8-byte words (zero outside 1..w-1).
    let mut mask = vec![0u8; w.div_ceil(8) * 8];
    for y in 1..h.saturating_sub(1) {
        fn row(p: &[f32], yy: usize, w: usize) -> &[f32] {
            &p[yy * w..(yy + 1) * w]
        }
        // The 9 rows around (y, plane 1), own row first.
        let rows: [&[f32]; 9] = [
            row(dog[1], y, w),
            row(dog[1], y - 1, w),
            row(dog[1], y + 1, w),
            row(dog[0], y - 1, w),
            row(dog[0], y, w),
            row(dog[0], y + 1, w),
            row(dog[2], y - 1, w),
            row(dog[2], y, w),
            row(dog[2], y + 1, w),
        ];
        let mid = rows[0];
        // Branch-free first test over the whole row (vectorised): strong enough and an
        // extremum of its own plane's 3x3. Few pixels pass; only those meet the other planes.
        let n = w - 2;
        // The 9 shifted views of the own plane's rows y - 1, y, y + 1 (columns x - 1, x, x + 1
        // at index x - 1): the centre is view 4.
        let mut views = [&mid[..n]; 9];
        for (k, r) in [rows[1], rows[0], rows[2]].iter().enumerate() {
            for d in 0..3 {
                views[3 * k + d] = &r[d..d + n];
            }
        }
        flag_row(&views, &mut mask[1..1 + n]);
        for (c, chunk) in mask.chunks_exact(8).enumerate() {
            let mut word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            while word != 0 {
                let x = c * 8 + word.trailing_zeros() as usize / 8;
                word &= word - 1;
                let v = mid[x];
                let extremum = if v > 0.0 {
                    rows[3..]
                        .iter()
                        .all(|r| r[x - 1] <= v && r[x] <= v && r[x + 1] <= v)
                } else {
                    rows[3..]
                        .iter()
                        .all(|r| r[x - 1] >= v && r[x] >= v && r[x + 1] >= v)
                };
                if extremum {
                    found(x, y);
                }
            }
        }
    }
}

/// `flags[i]`: whether the centre of the 3x3 `views` (index 4, each view a column shift of one
/// row) is beyond `MIN_RESPONSE` and at least (at most, if negative) all nine.
fn flag_row(views: &[&[f32]; 9], flags: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
        return unsafe { flag_row_avx2(views, flags) };
    }
    flag_row_body(views, flags)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn flag_row_avx2(views: &[&[f32]; 9], flags: &mut [u8]) {
    flag_row_body(views, flags)
}

#[inline(always)]
fn flag_row_body(views: &[&[f32]; 9], flags: &mut [u8]) {
    let n = flags.len();
    let views = views.map(|v| &v[..n]);
    let centre = views[4];
    for i in 0..n {
        let v = centre[i];
        // Largest and smallest of the nine (compare and select: one vector max/min each).
        let (mut hi, mut lo) = (v, v);
        for view in &views {
            let u = view[i];
            hi = if u > hi { u } else { hi };
            lo = if u < lo { u } else { lo };
        }
        flags[i] = (((v > MIN_RESPONSE) & (hi <= v)) | ((v < -MIN_RESPONSE) & (lo >= v))) as u8;
    }
}

/// Every second pixel (the next octave's base: blur 2 sigma0 becomes sigma0).
#[inline(always)]
fn halve(p: &Plane, pool: &mut Pool) -> Plane {
    let (w, h) = (p.w.div_ceil(2), p.h.div_ceil(2));
    let mut data = pool.take(w * h);
    for (y, out) in data[..w * h].chunks_exact_mut(w).enumerate() {
        let src = &p.data[2 * y * p.w..(2 * y + 1) * p.w];
        for (o, &v) in out.iter_mut().zip(src.iter().step_by(2)) {
            *o = v;
        }
    }
    Plane { data, w, h }
}

/// The 64 lowest 2-D frequencies (row u, column v) of a 16x16 DCT, DC excluded: ordered by
/// u + v, then by max(u, v), then by u.
pub fn frequencies() -> [(usize, usize); 64] {
    let mut all: Vec<(usize, usize)> = (0..SAMPLES)
        .flat_map(|u| (0..SAMPLES).map(move |v| (u, v)))
        .collect();
    all.sort_by_key(|&(u, v)| (u + v, u.max(v), u));
    let mut out = [(0, 0); 64];
    out.copy_from_slice(&all[1..65]);
    out
}

/// The 64-bit code of a 16x16 patch: orthonormal DCT-II coefficients above their median.
#[inline(always)]
fn patch_code(patch: &[f32; SAMPLES * SAMPLES], basis: &[[f32; SAMPLES]; SAMPLES]) -> [u8; 8] {
    // Rows first: r[y][v] = sum_x patch[y][x] basis[v][x], only for the needed v < 11.
    // Sorted once: sorting them for every code was 2% of the indexing time.
    static FREQS: OnceLock<[(usize, usize); 64]> = OnceLock::new();
    let freqs = FREQS.get_or_init(frequencies);
    let vmax = freqs.iter().map(|f| f.0.max(f.1)).max().unwrap_or(0) + 1;
    let mut rows = [[0.0f32; SAMPLES]; SAMPLES];
    for y in 0..SAMPLES {
        for v in 0..vmax {
            rows[y][v] = (0..SAMPLES)
                .map(|x| patch[y * SAMPLES + x] * basis[v][x])
                .sum();
        }
    }
    let mut c = [0.0f32; 64];
    for (k, &(u, v)) in freqs.iter().enumerate() {
        c[k] = (0..SAMPLES).map(|y| basis[u][y] * rows[y][v]).sum();
    }
    let mut sorted = c;
    sorted.sort_by(f32::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    let mut code = [0u8; 8];
    for (k, &v) in c.iter().enumerate() {
        if v > median {
            code[k / 8] |= 0x80 >> (k % 8);
        }
    }
    code
}

/// Orthonormal DCT-II basis: `basis[u][x] = c(u) cos(pi u (2x + 1) / 32)`.
fn dct_basis() -> [[f32; SAMPLES]; SAMPLES] {
    let mut b = [[0.0f32; SAMPLES]; SAMPLES];
    let n = SAMPLES as f64;
    for (u, row) in b.iter_mut().enumerate() {
        let c = if u == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        for (x, v) in row.iter_mut().enumerate() {
            *v = (c * (std::f64::consts::PI * u as f64 * (2 * x + 1) as f64 / (2.0 * n)).cos())
                as f32;
        }
    }
    b
}

/// Offset of a parabola's vertex through (-1, a), (0, b), (1, c), clamped to half a step.
fn vertex(a: f32, b: f32, c: f32) -> f32 {
    let d = a - 2.0 * b + c;
    if d.abs() < 1e-12 {
        0.0
    } else {
        (0.5 * (a - c) / d).clamp(-0.5, 0.5)
    }
}

/// Keypoints and codes of a row-major grey picture (`rows x cols`, values 0..255): at most
/// `max_codes`, strongest first, each patch inside the picture. With `min_separation` > 0
/// (a fraction of the short side) a keypoint closer than that to a stronger kept one is
/// skipped, spreading few codes over the picture. Pictures too small or flat give none.
pub fn local_codes(
    luma: &[f32],
    rows: usize,
    cols: usize,
    max_codes: usize,
    min_separation: f32,
) -> Result<Vec<LocalCode>> {
    if luma.len() != rows * cols {
        return Err(FingerprintError::invalid(format!(
            "{rows}x{cols} picture needs {} values, got {}",
            rows * cols,
            luma.len()
        )));
    }
    if !min_separation.is_finite() || min_separation < 0.0 {
        return Err(FingerprintError::invalid(format!(
            "min_separation must be a finite fraction >= 0, got {min_separation}"
        )));
    }
    // Whole blocks without early exit, so the finiteness test vectorises.
    let finite = luma
        .chunks(256)
        .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()));
    if rows < 8 || cols < 8 || max_codes == 0 || !finite {
        return Ok(Vec::new());
    }
    let f = WORK_SIDE as f32 / rows.min(cols) as f32;
    // Very elongated pictures are capped so the work stays bounded.
    let out_w = ((cols as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE);
    let out_h = ((rows as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE);
    // The thread's buffers are taken out for the call (and lost only if it panics).
    let mut pool = POOL.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let out = detect(
        luma,
        rows,
        cols,
        (out_h, out_w),
        max_codes,
        min_separation,
        &mut pool,
    );
    POOL.with(|p| *p.borrow_mut() = pool);
    Ok(out)
}

/// [`detect_body`], compiled for AVX2 where the CPU has it: the resize, the DoG planes and
/// the rest vectorise twice as wide (no FMA: the same arithmetic, bit-identical codes).
fn detect(
    luma: &[f32],
    rows: usize,
    cols: usize,
    out: (usize, usize),
    max_codes: usize,
    min_separation: f32,
    pool: &mut Pool,
) -> Vec<LocalCode> {
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
        return unsafe { detect_avx2(luma, rows, cols, out, max_codes, min_separation, pool) };
    }
    detect_body(luma, rows, cols, out, max_codes, min_separation, pool)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn detect_avx2(
    luma: &[f32],
    rows: usize,
    cols: usize,
    out: (usize, usize),
    max_codes: usize,
    min_separation: f32,
    pool: &mut Pool,
) -> Vec<LocalCode> {
    detect_body(luma, rows, cols, out, max_codes, min_separation, pool)
}

/// The scale space of `luma` resized to `out_h x out_w`, its keypoints and their codes.
#[inline(always)]
fn detect_body(
    luma: &[f32],
    rows: usize,
    cols: usize,
    (out_h, out_w): (usize, usize),
    max_codes: usize,
    min_separation: f32,
    pool: &mut Pool,
) -> Vec<LocalCode> {
    let base = resize(luma, rows, cols, out_h, out_w, pool);
    // The resized picture carries about 0.5 px of blur already (Lowe 2004, section 3.3).
    let mut next = Some(blur(&base, (SIGMA0 * SIGMA0 - 0.25).sqrt(), pool));
    // x, y, sigma, response, octave, level.
    type Found = (f32, f32, f32, f32, usize, usize);
    let mut found: Vec<Found> = Vec::new();
    let mut gauss_all: Vec<Vec<Plane>> = Vec::new();
    let mut dog: Vec<Vec<f32>> = Vec::new();
    let step = 2f32.powf(1.0 / LEVELS as f32);
    for octave in 0..OCTAVES {
        let Some(octave_base) = next.take() else {
            break;
        };
        if octave_base.w < 8 || octave_base.h < 8 {
            pool.give(octave_base.data);
            break;
        }
        let mut gauss = vec![octave_base];
        for i in 1..LEVELS + 3 {
            // step^(i-1) in f64, rounded once to f32: the constant the optimiser folded this to
            // (through f64) when the codes were measured. Multiplied out in f32 at run time,
            // step^3 is 2.0000002 instead of 2, which moves every later level by an ulp.
            let prev = SIGMA0 * (f64::from(step).powi(i as i32 - 1) as f32);
            let inc = prev * (step * step - 1.0).sqrt();
            // DoG level i - 1 = gauss[i] - gauss[i - 1], written by the blur.
            let lower = &gauss[i - 1];
            let mut d = pool.take(lower.w * lower.h);
            let next = blur_diff(lower, inc, pool, Some(&mut d));
            gauss.push(next);
            dog.push(d);
        }
        let (w, h) = (gauss[0].w, gauss[0].h);
        let unit = (1usize << octave) as f32;
        for i in 1..=LEVELS {
            let d = &dog[i];
            let planes = [&dog[i - 1][..], &d[..], &dog[i + 1][..]];
            extrema(planes, w, h, |x, y| {
                let v = d[y * w + x];
                let at = |xx: usize, yy: usize| d[yy * w + xx];
                let dxx = at(x + 1, y) + at(x - 1, y) - 2.0 * v;
                let dyy = at(x, y + 1) + at(x, y - 1) - 2.0 * v;
                let dxy = (at(x + 1, y + 1) - at(x - 1, y + 1) - at(x + 1, y - 1)
                    + at(x - 1, y - 1))
                    / 4.0;
                let (tr, det) = (dxx + dyy, dxx * dyy - dxy * dxy);
                if det <= 0.0 || tr * tr * EDGE_RATIO >= (EDGE_RATIO + 1.0).powi(2) * det {
                    return;
                }
                // Sub-pixel and sub-level refinement, one parabola per axis.
                let ox = vertex(at(x - 1, y), v, at(x + 1, y));
                let oy = vertex(at(x, y - 1), v, at(x, y + 1));
                let os = vertex(dog[i - 1][y * w + x], v, dog[i + 1][y * w + x]);
                // DoG between levels i and i+1 sits at sigma_i * 2^(1/6).
                let sigma = SIGMA0 * step.powf(i as f32 + os + 0.5);
                let (cx, cy) = (x as f32 + ox, y as f32 + oy);
                let half = PATCH_SIGMAS * sigma / 2.0;
                if cx - half < 0.0
                    || cy - half < 0.0
                    || cx + half > (w - 1) as f32
                    || cy + half > (h - 1) as f32
                {
                    return;
                }
                found.push((cx * unit, cy * unit, sigma * unit, v.abs(), octave, i));
            });
        }
        dog.drain(..).for_each(|d| pool.give(d));
        if octave + 1 < OCTAVES {
            next = Some(halve(&gauss[LEVELS], pool));
        }
        gauss_all.push(gauss);
    }
    // Strongest first, ties by position, then in detection order (what a stable sort of all
    // of them gave). Only the first few are usually taken, so those are selected first and
    // sorted, and the rest sorted only if the separation test runs through them all.
    let mut ranked: Vec<(usize, Found)> = found.into_iter().enumerate().collect();
    let order = |&(i, a): &(usize, Found), &(j, b): &(usize, Found)| {
        (b.3.total_cmp(&a.3))
            .then(a.1.total_cmp(&b.1))
            .then(a.0.total_cmp(&b.0))
            .then(i.cmp(&j))
    };
    let head = ranked.len().min(4 * max_codes + 16);
    if head < ranked.len() {
        ranked.select_nth_unstable_by(head, order);
    }
    ranked[..head].sort_unstable_by(order);
    let short = base.w.min(base.h) as f32;
    let sep = min_separation * short;
    let mut kept: Vec<Found> = Vec::new();
    for i in 0..ranked.len() {
        if kept.len() == max_codes {
            break;
        }
        if i == head {
            ranked[head..].sort_unstable_by(order);
        }
        let k = ranked[i].1;
        if sep > 0.0 && kept.iter().any(|q| (q.0 - k.0).hypot(q.1 - k.1) < sep) {
            continue;
        }
        kept.push(k);
    }
    static BASIS: OnceLock<[[f32; SAMPLES]; SAMPLES]> = OnceLock::new();
    let basis = BASIS.get_or_init(dct_basis);
    let mut out = Vec::with_capacity(kept.len());
    for (x, y, sigma, response, octave, level) in kept {
        let unit = (1usize << octave) as f32;
        let g = &gauss_all[octave][level];
        let (cx, cy, side) = (x / unit, y / unit, PATCH_SIGMAS * sigma / unit);
        let mut patch = [0.0f32; SAMPLES * SAMPLES];
        for r in 0..SAMPLES {
            let py = cy - side / 2.0 + (r as f32 + 0.5) * side / SAMPLES as f32;
            for c in 0..SAMPLES {
                let px = cx - side / 2.0 + (c as f32 + 0.5) * side / SAMPLES as f32;
                patch[r * SAMPLES + c] = g.sample(px, py);
            }
        }
        out.push(LocalCode {
            code: patch_code(&patch, basis),
            x: x / short,
            y: y / short,
            scale: sigma / short,
            response,
        });
    }
    pool.give(base.data);
    gauss_all
        .into_iter()
        .flatten()
        .for_each(|g| pool.give(g.data));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A photo-like texture: value noise (smoothly interpolated random grids) at cells of 48,
    /// 24, 12 and 6 px, amplitudes falling with frequency as in natural images.
    fn picture(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut out = vec![128.0f32; rows * cols];
        for cell in [48usize, 24, 12, 6] {
            let (gh, gw) = (rows / cell + 2, cols / cell + 2);
            let grid: Vec<f32> = (0..gh * gw).map(|_| rnd()).collect();
            let amp = 160.0 * (cell as f32 / 48.0).sqrt();
            let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
            for y in 0..rows {
                let (y0, fy) = (y / cell, smooth((y % cell) as f32 / cell as f32));
                for x in 0..cols {
                    let (x0, fx) = (x / cell, smooth((x % cell) as f32 / cell as f32));
                    let g = |yy: usize, xx: usize| grid[yy * gw + xx];
                    let top = g(y0, x0) * (1.0 - fx) + g(y0, x0 + 1) * fx;
                    let bottom = g(y0 + 1, x0) * (1.0 - fx) + g(y0 + 1, x0 + 1) * fx;
                    out[y * cols + x] += amp * (top * (1.0 - fy) + bottom * fy);
                }
            }
        }
        out.iter_mut().for_each(|v| *v = v.clamp(0.0, 255.0));
        out
    }

    fn crop(p: &[f32], cols: usize, x0: usize, y0: usize, w: usize, h: usize) -> Vec<f32> {
        (y0..y0 + h)
            .flat_map(|y| p[y * cols + x0..y * cols + x0 + w].to_vec())
            .collect()
    }

    fn dist(a: &[u8; 8], b: &[u8; 8]) -> u32 {
        u64::from_be_bytes(*a).bitxor_count(u64::from_be_bytes(*b))
    }

    trait Xor {
        fn bitxor_count(self, o: Self) -> u32;
    }
    impl Xor for u64 {
        fn bitxor_count(self, o: u64) -> u32 {
            (self ^ o).count_ones()
        }
    }

    /// Matches of `q` against `p` (code within 12 bits) that agree with q = s p + t.
    fn consistent(p: &[LocalCode], q: &[LocalCode], s: f32, tx: f32, ty: f32) -> usize {
        q.iter()
            .filter(|a| {
                p.iter().any(|b| {
                    dist(&a.code, &b.code) <= 12
                        && ((a.scale / b.scale).ln() - s.ln()).abs() < 0.25
                        && (a.x - (s * b.x + tx)).hypot(a.y - (s * b.y + ty)) < 0.5 * a.scale
                })
            })
            .count()
    }

    /// The blur as first written: clamped taps, rows then columns, tap by tap.
    fn reference_blur(src: &[f32], w: usize, h: usize, k: &[f32]) -> Vec<f32> {
        let pass = |get: &dyn Fn(isize) -> f32, n: usize, i: usize| {
            let mut s = k[0] * get(i as isize);
            for (j, &kv) in k.iter().enumerate().skip(1) {
                let (a, b) = (i as isize - j as isize, i as isize + j as isize);
                s += kv * (get(a.clamp(0, n as isize - 1)) + get(b.clamp(0, n as isize - 1)));
            }
            s
        };
        let mut tmp = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                tmp[y * w + x] = pass(&|xx| src[y * w + xx as usize], w, x);
            }
        }
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                out[y * w + x] = pass(&|yy| tmp[yy as usize * w + x], h, y);
            }
        }
        out
    }

    #[test]
    fn blur_builds_match_the_reference_bit_for_bit() {
        for (h, w) in [
            (1, 1),
            (5, 3),
            (31, 257),
            (64, 100),
            (9, 64),
            (40, 129),
            (24, 43),
            // Even and odd heights, below and above the radius: rows made in pairs and alone.
            (2, 40),
            (6, 70),
            (23, 300),
        ] {
            let src = picture(h, w, (h * w) as u64);
            for sigma in [0.7f32, 1.52, 3.09] {
                let k = gaussian(sigma);
                let want = reference_blur(&src, w, h, &k);
                let mut tmp = vec![0.0f32; 2 * k.len() * w];
                let mut padded = vec![0.0f32; w.div_ceil(BLOCK) * BLOCK + 2 * (k.len() - 1)];
                let mut got = vec![0.0f32; w * h];
                let mut diff = vec![0.0f32; w * h];
                blur_into(
                    &src,
                    &mut got,
                    Some(&mut diff),
                    w,
                    h,
                    &k,
                    &mut tmp,
                    &mut padded,
                );
                let mut portable = vec![0.0f32; w * h];
                blur_body::<BLOCK, Portable>(
                    &src,
                    &mut portable,
                    None,
                    w,
                    h,
                    &k,
                    &mut tmp,
                    &mut padded,
                );
                let mut narrow = vec![0.0f32; w * h];
                blur_body::<8, Portable>(&src, &mut narrow, None, w, h, &k, &mut tmp, &mut padded);
                for out in [&got, &portable, &narrow] {
                    assert!(
                        out.iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{h}x{w} sigma {sigma}"
                    );
                }
                // The difference of Gaussians written along: blurred minus source.
                assert!(
                    (diff.iter().zip(want.iter().zip(&src)))
                        .all(|(d, (a, b))| d.to_bits() == (a - b).to_bits()),
                    "{h}x{w} sigma {sigma}"
                );
            }
        }
    }

    /// The horizontal resize reads each line directly where the taps fit and a copy of its end
    /// followed by zeros elsewhere: the dot products of the whole line padded with zeros.
    #[test]
    fn resize_dots_read_the_line_padded_with_zeros() {
        for (cols, out_w) in [
            (1000usize, 192usize),
            (193, 192),
            (50, 192),
            (7, 3),
            (640, 341),
        ] {
            let rows = 3;
            let src = picture(rows, cols, cols as u64);
            let got = resize_axis(&src, cols, out_w, rows, false, Vec::new());
            let scale = cols as f32 / out_w as f32;
            let support = scale.max(1.0);
            for (line, out) in src.chunks_exact(cols).zip(got.chunks_exact(out_w)) {
                // Same taps as resize_axis, each summed over the line padded with zeros.
                let t = (0..out_w)
                    .map(|o| {
                        let centre = (o as f32 + 0.5) * scale - 0.5;
                        let lo = (centre - support).floor().max(0.0) as usize;
                        let hi = ((centre + support).ceil().max(0.0) as usize).min(cols - 1);
                        hi - lo + 1
                    })
                    .max()
                    .unwrap();
                let mut padded = line.to_vec();
                padded.resize(cols + t, 0.0);
                for (o, &v) in out.iter().enumerate() {
                    let centre = (o as f32 + 0.5) * scale - 0.5;
                    let lo = (centre - support).floor().max(0.0) as usize;
                    let hi = ((centre + support).ceil().max(0.0) as usize).min(cols - 1);
                    let mut w: Vec<f32> = (lo..=hi)
                        .map(|i| (1.0 - (i as f32 - centre).abs() / support).max(0.0))
                        .collect();
                    let total: f32 = w.iter().sum();
                    w.iter_mut().for_each(|x| *x /= total);
                    w.resize(t, 0.0);
                    let mut s = w[0] * padded[lo];
                    for k in 1..t {
                        s += w[k] * padded[lo + k];
                    }
                    assert_eq!(v.to_bits(), s.to_bits(), "{cols} -> {out_w}, output {o}");
                }
            }
        }
    }

    #[test]
    fn detection_builds_agree_bit_for_bit() {
        for (rows, cols, seed) in [(240, 320, 5), (300, 200, 6), (64, 900, 7)] {
            let p = picture(rows, cols, seed);
            let f = WORK_SIDE as f32 / rows.min(cols) as f32;
            let out = (
                ((rows as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE),
                ((cols as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE),
            );
            let mut pool = Pool::default();
            let fast = detect(&p, rows, cols, out, 48, 0.0, &mut pool);
            let portable = detect_body(&p, rows, cols, out, 48, 0.0, &mut pool);
            assert!(fast.len() >= 10, "{}", fast.len());
            assert_eq!(fast.len(), portable.len());
            for (a, b) in fast.iter().zip(&portable) {
                assert_eq!(a.code, b.code);
                for (u, v) in [
                    (a.x, b.x),
                    (a.y, b.y),
                    (a.scale, b.scale),
                    (a.response, b.response),
                ] {
                    assert_eq!(u.to_bits(), v.to_bits());
                }
            }
            assert_eq!(fast, local_codes(&p, rows, cols, 48, 0.0).unwrap());
        }
    }

    #[test]
    fn extrema_are_the_26_neighbour_extrema() {
        let (w, h) = (37, 23);
        let mut seed = 11u64;
        let mut planes: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                (0..w * h)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        // Coarse values, so that ties occur.
                        ((seed >> 59) as f32 - 16.0) * 0.5
                    })
                    .collect()
            })
            .collect();
        planes[1][5 * w + 7] = 100.0;
        planes[1][9 * w + 20] = -100.0;
        let mut got = Vec::new();
        extrema([&planes[0], &planes[1], &planes[2]], w, h, |x, y| {
            got.push((x, y))
        });
        let mut want = Vec::new();
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let v = planes[1][y * w + x];
                let around = planes.iter().flat_map(|p| {
                    (y - 1..=y + 1)
                        .flat_map(move |yy| (x - 1..=x + 1).map(move |xx| p[yy * w + xx]))
                });
                let (hi, lo) = around.fold((f32::MIN, f32::MAX), |(a, b), u| (a.max(u), b.min(u)));
                if (v > MIN_RESPONSE && v >= hi) || (v < -MIN_RESPONSE && v <= lo) {
                    want.push((x, y));
                }
            }
        }
        assert!(
            want.contains(&(7, 5)) && want.contains(&(20, 9)),
            "{want:?}"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn frequencies_are_the_64_lowest() {
        let f = frequencies();
        assert_eq!(f[0], (0, 1));
        assert!(f.iter().all(|&(u, v)| u + v <= 11 && (u, v) != (0, 0)));
        let mut uniq = f.to_vec();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 64);
    }

    #[test]
    fn codes_are_balanced_and_inside() {
        let (rows, cols) = (240, 320);
        let p = picture(rows, cols, 1);
        let codes = local_codes(&p, rows, cols, 32, 0.0).unwrap();
        assert!(codes.len() >= 10, "{}", codes.len());
        let aspect = cols as f32 / rows as f32;
        for c in &codes {
            let ones: u32 = c.code.iter().map(|b| b.count_ones()).sum();
            assert!((28..=36).contains(&ones), "{ones}");
            let half = PATCH_SIGMAS * c.scale / 2.0;
            assert!(c.x - half >= -1e-3 && c.x + half <= aspect + 1e-3);
            assert!(c.y - half >= -1e-3 && c.y + half <= 1.0 + 1e-3);
            assert!(c.scale > 0.0 && c.response.is_finite());
        }
        assert!(codes.windows(2).all(|w| w[0].response >= w[1].response));
    }

    #[test]
    fn separation_spreads_keypoints() {
        let p = picture(200, 200, 2);
        let codes = local_codes(&p, 200, 200, 15, 0.1).unwrap();
        for (i, a) in codes.iter().enumerate() {
            for b in &codes[..i] {
                assert!((a.x - b.x).hypot(a.y - b.y) >= 0.1 - 1e-4);
            }
        }
    }

    #[test]
    fn tiny_flat_and_bad_inputs() {
        assert!(local_codes(&[0.0; 49], 7, 7, 16, 0.0).unwrap().is_empty());
        assert!(local_codes(&[128.0; 400 * 300], 300, 400, 16, 0.0)
            .unwrap()
            .is_empty());
        let mut nan = picture(64, 64, 3);
        nan[5] = f32::NAN;
        assert!(local_codes(&nan, 64, 64, 16, 0.0).unwrap().is_empty());
        assert!(local_codes(&[0.0; 10], 3, 3, 16, 0.0).is_err());
        assert!(local_codes(&picture(64, 64, 3), 64, 64, 16, -1.0).is_err());
        assert!(local_codes(&picture(8, 900, 4), 8, 900, 16, 0.0).is_ok());
        assert!(local_codes(&picture(900, 8, 4), 900, 8, 16, 0.0).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// An exact integer-pixel crop keeping 75-95% of each side shares at least two codes
        /// whose keypoints follow the crop's similarity transform (what a query needs).
        #[test]
        fn crops_share_consistent_keypoints(seed in 0u64..1000, keep in 0.75f32..0.95, fx in 0.0f32..1.0, fy in 0.0f32..1.0) {
            let (rows, cols) = (300, 400);
            let p = picture(rows, cols, seed);
            let (w, h) = ((cols as f32 * keep) as usize, (rows as f32 * keep) as usize);
            let (x0, y0) = (((cols - w) as f32 * fx) as usize, ((rows - h) as f32 * fy) as usize);
            let c = crop(&p, cols, x0, y0, w, h);
            let index = local_codes(&p, rows, cols, 15, 0.1).unwrap();
            let query = local_codes(&c, h, w, 48, 0.0).unwrap();
            // Units are short sides: original 300 px, crop h px.
            let s = rows as f32 / h as f32;
            let (tx, ty) = (-(x0 as f32) / h as f32, -(y0 as f32) / h as f32);
            prop_assert!(consistent(&index, &query, s, tx, ty) >= 2);
            prop_assert!(query.iter().all(|q| q.x.is_finite() && q.y.is_finite() && q.scale.is_finite()));
        }
    }
}
