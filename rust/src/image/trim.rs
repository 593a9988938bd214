//! The grey working picture of `RobustImageIndex` and its border removal, the same arithmetic
//! as `fingerprint._robust._luma` and `trim_borders` (tested against them in
//! tests/test_robust_borders.py).

use super::Pixels;

/// Short side the working picture keeps at least: PDQ box-filters to 64x64, so 256 px leaves
/// every region more than 64 px.
pub const WORK_SIDE: usize = 256;

/// Rec.601 luma (PDQ's weights in 8-bit fixed point, 77/150/29), box-averaged by the integer
/// factor that keeps the short side at least [`WORK_SIDE`]: returns (values, rows, cols).
pub fn work_luma(pixels: &Pixels<'_>) -> (Vec<f32>, usize, usize) {
    let mut out = Vec::new();
    let (rows, cols) = work_luma_into(pixels, &mut out);
    (out, rows, cols)
}

/// [`work_luma`] into a reused buffer (cleared first); returns (rows, cols). Compiled for AVX2
/// where the CPU has it (the integer luma and its conversion vectorise; same values).
pub fn work_luma_into(pixels: &Pixels<'_>, out: &mut Vec<f32>) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn avx2(pixels: &Pixels<'_>, out: &mut Vec<f32>) -> (usize, usize) {
        work_luma_body(pixels, out)
    }
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected.
        return unsafe { avx2(pixels, out) };
    }
    work_luma_body(pixels, out)
}

#[inline(always)]
fn work_luma_body(pixels: &Pixels<'_>, out: &mut Vec<f32>) -> (usize, usize) {
    let (w, h, c) = (pixels.width(), pixels.height(), pixels.channels());
    let f = (h.min(w) / WORK_SIDE).max(1);
    let (oh, ow) = (h / f, w / f);
    let data = pixels.data();
    // Fixed-point luma of one pixel: same 16-bit arithmetic as numpy's uint16 (at most 255 * 256).
    #[inline(always)]
    fn luma(p: &[u8]) -> u32 {
        if p.len() >= 3 {
            77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32
        } else {
            (p[0] as u32) << 8
        }
    }
    if f == 1 {
        // No shrinking (the usual case after a reduced-scale JPEG decode): one pass.
        let scale = (1.0f64 / 256.0) as f32;
        // Written in place (every value; only a buffer longer than last time is zeroed): the
        // loops vectorise, which `extend` did not.
        out.truncate(h * w);
        out.resize(h * w, 0.0);
        #[inline(always)]
        fn fill<const C: usize>(data: &[u8], out: &mut [f32], scale: f32) {
            for (o, p) in out.iter_mut().zip(data.chunks_exact(C)) {
                *o = luma(p) as f32 * scale;
            }
        }
        match c {
            1 => fill::<1>(data, out, scale),
            2 => fill::<2>(data, out, scale),
            3 => fill::<3>(data, out, scale),
            _ => fill::<4>(data, out, scale),
        }
        return (h, w);
    }
    out.clear();
    let mut sums = vec![0u32; oh * ow];
    for y in 0..oh * f {
        let row = &data[y * w * c..(y * w + ow * f) * c];
        let out = &mut sums[(y / f) * ow..(y / f + 1) * ow];
        // One output per run of f pixels; the channel count as a constant lets the loop
        // vectorise (no division per pixel).
        match c {
            1 => add_runs::<1>(row, f, out),
            2 => add_runs::<2>(row, f, out),
            3 => add_runs::<3>(row, f, out),
            _ => add_runs::<4>(row, f, out),
        }
    }
    #[inline(always)]
    fn add_runs<const C: usize>(row: &[u8], f: usize, out: &mut [u32]) {
        if f == 1 {
            for (o, p) in out.iter_mut().zip(row.chunks_exact(C)) {
                *o += luma(p);
            }
        } else {
            for (o, run) in out.iter_mut().zip(row.chunks_exact(f * C)) {
                *o += run.chunks_exact(C).map(luma).sum::<u32>();
            }
        }
    }
    let scale = (1.0f64 / (256 * f * f) as f64) as f32;
    out.extend(sums.into_iter().map(|s| s as f32 * scale));
    (oh, ow)
}

/// Bounds (top, bottom, left, right) of the picture inside near-uniform bands on any side; see
/// `fingerprint.trim_borders` for the rule (tolerance 8, edge 24, at most 35% of a side).
pub fn trim_borders(luma: &[f32], rows: usize, cols: usize) -> (usize, usize, usize, usize) {
    const TOLERANCE: f32 = 8.0;
    const EDGE: f32 = 24.0;
    const MAX_FRACTION: f64 = 0.35;
    let at = |y: usize, x: usize| luma[y * cols + x];
    let (h, w) = (rows, cols);
    let (mut t, mut b, mut l, mut r) = (0usize, h, 0usize, w);
    let max_rows = (h as f64 * MAX_FRACTION) as isize;
    let max_cols = (w as f64 * MAX_FRACTION) as isize;
    for _ in 0..4 {
        let (ih, iw) = (b - t, r - l);
        if ih < 8 || iw < 8 {
            break;
        }
        // Lines as closures: line k from an edge inwards, element j along it.
        let dt = run(ih, iw, max_rows - t as isize, |k, j| at(t + k, l + j));
        let db = run(ih, iw, max_rows - (h - b) as isize, |k, j| {
            at(b - 1 - k, l + j)
        });
        let (c0, c1) = if ih - dt - db >= 8 {
            (t + dt, b - db)
        } else {
            (t, b)
        };
        let dl = run(iw, c1 - c0, max_cols - l as isize, |k, j| at(c0 + j, l + k));
        let dr = run(iw, c1 - c0, max_cols - (w - r) as isize, |k, j| {
            at(c0 + j, r - 1 - k)
        });
        if (dt | db | dl | dr) == 0 || ih - dt - db < 8 || iw - dl - dr < 8 {
            break;
        }
        (t, b, l, r) = (t + dt, b - db, l + dl, r - dr);
    }
    // Per-lane minima and maxima (compare and select, vectorised; the values are finite, so
    // the order does not matter).
    let (mut los, mut his) = ([f32::INFINITY; 16], [f32::NEG_INFINITY; 16]);
    for y in t..b {
        let line = &luma[y * cols + l..y * cols + r];
        let mut lanes = line.chunks_exact(16);
        for chunk in &mut lanes {
            for i in 0..16 {
                let v = chunk[i];
                los[i] = if v < los[i] { v } else { los[i] };
                his[i] = if v > his[i] { v } else { his[i] };
            }
        }
        for (i, &v) in lanes.remainder().iter().enumerate() {
            los[i] = if v < los[i] { v } else { los[i] };
            his[i] = if v > his[i] { v } else { his[i] };
        }
    }
    let lo = los.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = his.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // A flat picture has no frame to find: keep it whole.
    if (hi as f64) - (lo as f64) <= 2.0 * TOLERANCE as f64 {
        return (0, h, 0, w);
    }
    return (t, b, l, r);

    /// Length of the border band among `n` lines of length `len` (`line(k, j)`), or 0.
    fn run(n: usize, len: usize, limit: isize, line: impl Fn(usize, usize) -> f32) -> usize {
        if limit <= 0 || len == 0 {
            return 0;
        }
        let mut first: Vec<f32> = (0..len).map(|j| line(0, j)).collect();
        first.sort_by(f32::total_cmp);
        let reference = if len % 2 == 1 {
            first[len / 2]
        } else {
            (first[len / 2 - 1] + first[len / 2]) / 2.0
        };
        // A line is border when 98% of it is within TOLERANCE of the edge colour.
        let scan = (limit as usize).min(n);
        let mut band = limit as usize;
        for k in 0..scan {
            let close = (0..len)
                .filter(|&j| (line(k, j) - reference).abs() <= TOLERANCE)
                .count();
            if (close as f64 / len as f64) < 0.98 {
                band = k;
                break;
            }
        }
        // Bands under 1% of the side are edge noise, not borders.
        if band < (n / 100).max(2) || band + 2 > n {
            return 0;
        }
        // A frame ends at a sharp edge; a sky fading into the picture does not.
        let step: f64 = (band..band + 2)
            .flat_map(|k| (0..len).map(move |j| (k, j)))
            .map(|(k, j)| (line(k, j) - reference).abs() as f64)
            .sum::<f64>()
            / (2 * len) as f64;
        if step >= EDGE as f64 {
            band
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_is_fixed_point_and_shrunk() {
        let px = vec![255u8; 600 * 520 * 3];
        let p = Pixels::new(&px, 600, 520, 3).unwrap();
        let (v, rows, cols) = work_luma(&p);
        assert_eq!((rows, cols), (260, 300));
        // 77 + 150 + 29 = 256: white stays 255.
        assert!(v.iter().all(|&x| x == 255.0));
    }

    #[test]
    fn frame_is_cut_and_flat_kept() {
        let (h, w) = (100, 120);
        let mut luma = vec![255.0f32; h * w];
        for y in 10..90 {
            for x in 15..105 {
                luma[y * w + x] = ((x * 7 + y * 3) % 200) as f32;
            }
        }
        assert_eq!(trim_borders(&luma, h, w), (10, 90, 15, 105));
        assert_eq!(trim_borders(&vec![50.0; h * w], h, w), (0, h, 0, w));
        assert_eq!(trim_borders(&[1.0; 12], 3, 4), (0, 3, 0, 4));
    }
}
