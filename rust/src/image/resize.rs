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
struct Taps {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// Pillow `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box `(0, in_size)`.
fn taps(in_size: usize, out_size: usize) -> Taps {
    // Pillow passes the box as float; `(double)(in1 - in0)` is exact for any real size.
    let scale = in_size as f32 as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = LANCZOS_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C `(int)` truncates toward zero, then the bounds are clamped.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = lanczos(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..xx * ksize + n];
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
    Taps {
        ksize,
        bounds,
        weights,
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
    assert!(out_w > 0 && out_h > 0, "resize to an empty image");
    // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
    // by more than twice as many pixels as the width; the order changes the 8-bit rounding
    // between passes. Pinned down on random images against Pillow 13.0.0.
    let vertical_first =
        out_h < height && (height - out_h) as i64 > 2 * (width as i64 - out_w as i64);
    // Pillow skips a pass whose size does not change.
    if vertical_first {
        let mid = if out_h != height {
            vertical(src, width, height, out_h)
        } else {
            src.to_vec()
        };
        if out_w != width {
            horizontal(&mid, width, out_h, out_w)
        } else {
            mid
        }
    } else {
        let mid = if out_w != width {
            horizontal(src, width, height, out_w)
        } else {
            src.to_vec()
        };
        if out_h != height {
            vertical(&mid, out_w, height, out_h)
        } else {
            mid
        }
    }
}

/// Pillow `ImagingResampleHorizontal_8bpc`: each row to `out_w` samples.
fn horizontal(src: &[u8], width: usize, height: usize, out_w: usize) -> Vec<u8> {
    let t = taps(width, out_w);
    let mut out = vec![0u8; out_w * height];
    for (row_in, row_out) in src.chunks_exact(width).zip(out.chunks_exact_mut(out_w)) {
        for (xx, o) in row_out.iter_mut().enumerate() {
            let (xmin, n) = t.bounds[xx];
            let k = &t.weights[xx * t.ksize..xx * t.ksize + n];
            let mut acc: i32 = 1 << (PRECISION_BITS - 1);
            for (&p, &w) in row_in[xmin..xmin + n].iter().zip(k) {
                acc += p as i32 * w;
            }
            *o = clip8(acc);
        }
    }
    out
}

/// Pillow `ImagingResampleVertical_8bpc`: each column to `out_h` samples.
fn vertical(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    let t = taps(height, out_h);
    let mut out = vec![0u8; width * out_h];
    let mut acc = vec![0i32; width];
    for yy in 0..out_h {
        let (ymin, n) = t.bounds[yy];
        let k = &t.weights[yy * t.ksize..yy * t.ksize + n];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (i, o) in [(100, 8), (9, 8), (8, 32), (4032, 32), (3, 9)] {
            let t = taps(i, o);
            for xx in 0..o {
                let (_, n) = t.bounds[xx];
                let s: i32 = t.weights[xx * t.ksize..xx * t.ksize + n].iter().sum();
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

    #[test]
    fn same_size_is_a_copy() {
        let src: Vec<u8> = (0..=255).collect();
        assert_eq!(lanczos_l(&src, 16, 16, 16, 16), src);
    }
}
