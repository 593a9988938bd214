//! Pillow-compatible LANCZOS resize of 8-bit grey images (what imagehash calls `ANTIALIAS`).
//!
//! Pillow's `Image.resize` (libImaging `Resample.c`) convolves along each axis in turn with a
//! Lanczos-3 kernel stretched by the downscale factor. Coefficients are computed in double,
//! normalised to sum 1, then rounded to signed fixed point with 22 fractional bits; each pass
//! rounds and clips its result to 8 bits. Reproducing those steps gives bit-identical pixels.

// Pillow `Resample.c`: PRECISION_BITS = 32 - 8 - 2.
const PRECISION_BITS: u32 = 22;
// Lanczos-3 support (Pillow `LANCZOS` filter struct).
const LANCZOS_SUPPORT: f64 = 3.0;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

use super::{luma, Pixels};

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

fn lanczos(x: f64) -> f64 {
    // Truncated sinc windowed by sinc(x / 3), zero outside [-3, 3).
    if (-LANCZOS_SUPPORT..LANCZOS_SUPPORT).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Fixed-point taps for one axis: for each output sample, the first input index and its weights.
///
/// Each weight row is zero-padded to `kpad` (a multiple of [`LANES`]) so kernels run whole
/// vectors; the padding multiplies real pixels by zero, which leaves Pillow's sums unchanged.
struct Taps {
    kpad: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    // `weights` split as `hi * 2^SPLIT + lo` with `0 <= lo < 2^SPLIT`, both fitting i16, so
    // SIMD kernels can use 16-bit multiply-add (pmaddwd) and still form Pillow's exact i32 sum.
    hi: Vec<i16>,
    lo: Vec<i16>,
}

// Taps per vector step of the horizontal kernels (16 x i16 in a 256-bit register).
const LANES: usize = 16;
// Bits of each weight in the low half of the split; |w| <= 2^23 so `hi` fits in i16.
const SPLIT: u32 = 11;

/// A cached [`Taps`] and its `(in_size, out_size)`.
type TapsEntry = ((usize, usize), Rc<Taps>);

/// [`compute_taps`], remembered per thread for the last few size pairs: the Lanczos weights cost
/// two `sin` per tap, more than the filtering itself for small images, and batches tend to
/// repeat sizes.
fn taps(in_size: usize, out_size: usize) -> Rc<Taps> {
    const KEEP: usize = 8;
    thread_local! {
        static CACHE: RefCell<Vec<TapsEntry>> = const { RefCell::new(Vec::new()) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(i) = c.iter().position(|(k, _)| *k == (in_size, out_size)) {
            let hit = c.remove(i);
            c.push(hit.clone());
            return hit.1;
        }
        let t = Rc::new(compute_taps(in_size, out_size));
        if c.len() == KEEP {
            c.remove(0);
        }
        c.push(((in_size, out_size), t.clone()));
        t
    })
}

/// Pillow `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box `(0, in_size)`.
fn compute_taps(in_size: usize, out_size: usize) -> Taps {
    // Pillow passes the box as float; `(double)(in1 - in0)` is exact for any real size.
    let scale = in_size as f32 as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = LANCZOS_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let kpad = ksize.div_ceil(LANES) * LANES;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * kpad];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C `(int)` truncates toward zero, then the bounds are clamped.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = lanczos(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * kpad..xx * kpad + n];
        for (dst, &kx) in row.iter_mut().zip(&k[..n]) {
            let kx = if ww != 0.0 { kx / ww } else { kx };
            let fixed = kx * (1u32 << PRECISION_BITS) as f64;
            *dst = if kx < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, n));
    }
    let hi = weights.iter().map(|&w| (w >> SPLIT) as i16).collect();
    let lo = weights
        .iter()
        .map(|&w| (w & ((1 << SPLIT) - 1)) as i16)
        .collect();
    Taps {
        kpad,
        bounds,
        weights,
        hi,
        lo,
    }
}

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resize a `width x height` grey image to `out_w x out_h` exactly as Pillow's
/// `im.resize((out_w, out_h), Image.LANCZOS)` does for mode 'L'.
pub fn lanczos_l(src: &[u8], width: usize, height: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    assert_eq!(
        src.len(),
        width * height,
        "grey buffer does not match its size"
    );
    let grey = Pixels::new(src, width, height, 1).expect("checked above");
    lanczos_pixels(&grey, out_w, out_h)
}

/// Pillow's `im.convert('L').resize((out_w, out_h), Image.LANCZOS)`, bit for bit. When the
/// horizontal pass runs first, each row is converted to grey just before it is filtered, so the
/// full-size grey image is never stored.
pub fn lanczos_pixels(pixels: &Pixels<'_>, out_w: usize, out_h: usize) -> Vec<u8> {
    assert!(out_w > 0 && out_h > 0, "resize to an empty image");
    let (width, height) = (pixels.width(), pixels.height());
    let k = kernels();
    // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
    // by more than twice as many pixels as the width; the order changes the 8-bit rounding
    // between passes. Pinned down on random images against Pillow 13.0.0.
    let vertical_first =
        out_h < height && (height - out_h) as i64 > 2 * (width as i64 - out_w as i64);
    // Pillow skips a pass whose size does not change.
    if vertical_first {
        let grey = luma::pillow_l(pixels);
        let mid = if out_h != height {
            (k.vertical)(&grey, width, height, out_h)
        } else {
            grey
        };
        if out_w != width {
            horizontal(&k, &mid, width, out_h, out_w, 1)
        } else {
            mid
        }
    } else {
        let mid = if out_w != width {
            horizontal(&k, pixels.data(), width, height, out_w, pixels.channels())
        } else {
            luma::pillow_l(pixels)
        };
        if out_h != height {
            (k.vertical)(&mid, out_w, height, out_h)
        } else {
            mid
        }
    }
}

/// The per-CPU kernels, chosen once (`FINGERPRINT_SIMD=scalar` forces the portable ones).
#[derive(Clone, Copy)]
struct Kernels {
    /// One output row of the horizontal pass from a zero-padded grey row.
    row: fn(&[u8], &Taps, &mut [u8]),
    /// The whole vertical pass.
    vertical: fn(&[u8], usize, usize, usize) -> Vec<u8>,
}

fn kernels() -> Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    *K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if matches!(
            crate::simd::Level::best(),
            crate::simd::Level::Avx2 | crate::simd::Level::Avx512
        ) && is_x86_feature_detected!("avx2")
        {
            return Kernels {
                row: avx2::row,
                vertical: avx2::vertical,
            };
        }
        Kernels {
            row: row_scalar,
            vertical: vertical_scalar,
        }
    })
}

/// Pillow `ImagingResampleHorizontal_8bpc` on the grey of interleaved `channels`-byte pixels.
fn horizontal(
    k: &Kernels,
    src: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    channels: usize,
) -> Vec<u8> {
    let t = taps(width, out_w);
    let mut out = vec![0u8; out_w * height];
    // Room for the last window's padded read past the row end.
    let mut row = vec![0u8; width + t.kpad];
    for (row_in, row_out) in src
        .chunks_exact(width * channels)
        .zip(out.chunks_exact_mut(out_w))
    {
        luma::pillow_l_row(row_in, channels, &mut row[..width]);
        (k.row)(&row, &t, row_out);
    }
    out
}

/// Portable horizontal row: Pillow's i32 sum over the real taps.
fn row_scalar(row: &[u8], t: &Taps, out: &mut [u8]) {
    for (xx, o) in out.iter_mut().enumerate() {
        let (xmin, n) = t.bounds[xx];
        let k = &t.weights[xx * t.kpad..xx * t.kpad + n];
        let mut acc: i32 = 1 << (PRECISION_BITS - 1);
        for (&p, &w) in row[xmin..xmin + n].iter().zip(k) {
            acc += p as i32 * w;
        }
        *o = clip8(acc);
    }
}

/// Pillow `ImagingResampleVertical_8bpc`: each column to `out_h` samples.
#[inline(always)]
fn vertical_impl(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    let t = taps(height, out_h);
    let mut out = vec![0u8; width * out_h];
    let mut acc = vec![0i32; width];
    for yy in 0..out_h {
        let (ymin, n) = t.bounds[yy];
        let k = &t.weights[yy * t.kpad..yy * t.kpad + n];
        acc.iter_mut().for_each(|a| *a = 1 << (PRECISION_BITS - 1));
        // Row by row: the same integer sums as Pillow's column loop, read contiguously.
        for (y, &w) in k.iter().enumerate() {
            let row = &src[(ymin + y) * width..(ymin + y + 1) * width];
            acc.iter_mut()
                .zip(row)
                .for_each(|(a, &p)| *a += p as i32 * w);
        }
        for (o, &a) in out[yy * width..(yy + 1) * width].iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

fn vertical_scalar(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    vertical_impl(src, width, height, out_h)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{clip8, vertical_impl, Taps, LANES, PRECISION_BITS, SPLIT};
    use std::arch::x86_64::*;

    /// Horizontal row with 16-bit multiply-add on the split weights.
    pub(super) fn row(row: &[u8], t: &Taps, out: &mut [u8]) {
        assert!(t.bounds.len() == out.len() && t.hi.len() >= out.len() * t.kpad);
        assert!(t.bounds.iter().all(|&(xmin, _)| xmin + t.kpad <= row.len()));
        // SAFETY: chosen only when AVX2 was detected; the asserts bound every read.
        unsafe { row_avx2(row, t, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn row_avx2(row: &[u8], t: &Taps, out: &mut [u8]) {
        for (xx, o) in out.iter_mut().enumerate() {
            let (xmin, n) = t.bounds[xx];
            // Only the vectors that hold real taps; the rest of the padding is zero.
            let steps = n.div_ceil(LANES);
            let px = row.as_ptr().add(xmin);
            let hi = t.hi.as_ptr().add(xx * t.kpad);
            let lo = t.lo.as_ptr().add(xx * t.kpad);
            let mut ah = _mm256_setzero_si256();
            let mut al = _mm256_setzero_si256();
            for s in 0..steps {
                let p = _mm256_cvtepu8_epi16(_mm_loadu_si128(px.add(s * LANES) as *const __m128i));
                let h = _mm256_loadu_si256(hi.add(s * LANES) as *const __m256i);
                let l = _mm256_loadu_si256(lo.add(s * LANES) as *const __m256i);
                ah = _mm256_add_epi32(ah, _mm256_madd_epi16(p, h));
                al = _mm256_add_epi32(al, _mm256_madd_epi16(p, l));
            }
            // hi * 2^SPLIT + lo per lane, then across lanes: the exact i32 sum (wrapping adds
            // are exact because Pillow's total fits in i32).
            let v = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT as i32 }>(ah), al);
            let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let s2 = _mm_add_epi32(s4, _mm_shuffle_epi32::<0b01_00_11_10>(s4));
            let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b10_11_00_01>(s2));
            let acc = _mm_cvtsi128_si32(s1).wrapping_add(1 << (PRECISION_BITS - 1));
            *o = clip8(acc);
        }
    }

    pub(super) fn vertical(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
        // SAFETY: chosen only when AVX2 was detected; the body is safe Rust.
        unsafe { vertical_avx2(src, width, height, out_h) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn vertical_avx2(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
        vertical_impl(src, width, height, out_h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (i, o) in [(100, 8), (9, 8), (8, 32), (4032, 32), (3, 9)] {
            let t = taps(i, o);
            for xx in 0..o {
                let (_, n) = t.bounds[xx];
                let s: i32 = t.weights[xx * t.kpad..xx * t.kpad + n].iter().sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= n as i32,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    #[test]
    fn flat_images_stay_flat() {
        let src = vec![77u8; 50 * 31];
        assert!(lanczos_l(&src, 50, 31, 9, 8).iter().all(|&p| p == 77));
        assert!(lanczos_l(&src, 50, 31, 64, 64).iter().all(|&p| p == 77));
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn simd_kernels_match_scalar_bit_for_bit() {
        let scalar = Kernels {
            row: row_scalar,
            vertical: vertical_scalar,
        };
        let best = kernels();
        let sizes = [
            (1, 1),
            (3, 2),
            (17, 5),
            (64, 9),
            (300, 32),
            (1000, 33),
            (4032, 32),
        ];
        for (seed, &(w, ow)) in sizes.iter().enumerate() {
            for h in [1, 7, 40] {
                // Extremes as well as noise: all-255 rows drive the sums to their largest.
                for px in [noise(w * h, seed as u64), vec![255; w * h], vec![0; w * h]] {
                    let a = horizontal(&scalar, &px, w, h, ow, 1);
                    let b = horizontal(&best, &px, w, h, ow, 1);
                    assert_eq!(a, b, "horizontal {w}->{ow} x{h}");
                    let a = (scalar.vertical)(&px, h, w, ow);
                    let b = (best.vertical)(&px, h, w, ow);
                    assert_eq!(a, b, "vertical {w}->{ow} x{h}");
                }
            }
        }
    }

    #[test]
    fn fused_grey_rows_equal_grey_then_resize() {
        for c in 1..=4 {
            let (w, h) = (123, 45);
            let px = noise(w * h * c, c as u64);
            let p = Pixels::new(&px, w, h, c).unwrap();
            let grey = luma::pillow_l(&p);
            for (ow, oh) in [(9, 8), (32, 32), (64, 2), (123, 8), (8, 45)] {
                assert_eq!(
                    lanczos_pixels(&p, ow, oh),
                    lanczos_l(&grey, w, h, ow, oh),
                    "c={c} {ow}x{oh}"
                );
            }
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let src: Vec<u8> = (0..=255).collect();
        assert_eq!(lanczos_l(&src, 16, 16, 16, 16), src);
    }
}
