//! Content-anchored local codes: difference-of-Gaussian keypoints (Lowe 2004, "Distinctive
//! image features from scale-invariant keypoints", sections 3-4) on a grey picture resized to a
//! short side of [`WORK_SIDE`], each with a 64-bit code of a square patch whose side is
//! proportional to the keypoint's scale (the 64 lowest frequencies of a 16x16 DCT, thresholded
//! at their median, as pHash/PDQ do for whole pictures).
//!
//! A crop or resize moves and scales the content; keypoints move with it, so a patch hashed in
//! the original is found again in the copy. Positions and scales are in units of the picture's
//! short side, so a query's keypoints relate to an indexed image's by `q = s * p + t`.

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

/// A row-major float image.
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
fn resize_axis(src: &[f32], n_in: usize, n_out: usize, lines: usize, along_rows: bool) -> Vec<f32> {
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
    let mut out = vec![0.0f32; n_out * lines];
    if along_rows {
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
        for (line, dst) in src.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
            for (d, (lo, w)) in dst.iter_mut().zip(&taps) {
                *d = w.iter().zip(&line[*lo..]).map(|(a, b)| a * b).sum();
            }
        }
    }
    out
}

/// Resize a `rows x cols` picture to `out_h x out_w`.
fn resize(luma: &[f32], rows: usize, cols: usize, out_h: usize, out_w: usize) -> Plane {
    let horizontal = resize_axis(luma, cols, out_w, rows, false);
    let data = resize_axis(&horizontal, rows, out_h, out_w, true);
    Plane {
        data,
        w: out_w,
        h: out_h,
    }
}

/// Separable Gaussian blur with edge clamping (kernel radius 3 sigma). Loops run tap by tap
/// over whole rows, pairing the symmetric taps, so that they vectorise.
fn blur(p: &Plane, sigma: f32) -> Plane {
    let r = (3.0 * sigma).ceil().max(1.0) as usize;
    let mut k: Vec<f32> = (0..=r)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k[0] + 2.0 * k[1..].iter().sum::<f32>();
    k.iter_mut().for_each(|v| *v /= s);
    let (w, h) = (p.w, p.h);
    let mut tmp = vec![0.0f32; w * h];
    let mut padded = vec![0.0f32; w + 2 * r];
    for (row, out) in p.data.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        padded[..r].fill(row[0]);
        padded[r..r + w].copy_from_slice(row);
        padded[r + w..].fill(row[w - 1]);
        for (o, &c) in out.iter_mut().zip(&padded[r..r + w]) {
            *o = k[0] * c;
        }
        for (j, &kv) in k.iter().enumerate().skip(1) {
            let (left, right) = (&padded[r - j..r - j + w], &padded[r + j..r + j + w]);
            for ((o, &a), &b) in out.iter_mut().zip(left).zip(right) {
                *o += kv * (a + b);
            }
        }
    }
    let mut data = vec![0.0f32; w * h];
    let line = |y: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        &tmp[y * w..(y + 1) * w]
    };
    for (y, out) in data.chunks_exact_mut(w).enumerate() {
        for (o, &c) in out.iter_mut().zip(line(y as isize)) {
            *o = k[0] * c;
        }
        for (j, &kv) in k.iter().enumerate().skip(1) {
            let (up, down) = (line(y as isize - j as isize), line(y as isize + j as isize));
            for ((o, &a), &b) in out.iter_mut().zip(up).zip(down) {
                *o += kv * (a + b);
            }
        }
    }
    Plane { data, w, h }
}

/// 3x3 maximum and minimum of every pixel of a `w x h` plane (edges clamped).
fn extremes3(d: &[f32], w: usize, h: usize) -> (Vec<f32>, Vec<f32>) {
    (
        filter3(d, w, h, |a, b| a.max(b)),
        filter3(d, w, h, |a, b| a.min(b)),
    )
}

/// `f` over every 3x3 neighbourhood (edges clamped), as whole-row operations on shifted slices
/// so that they vectorise (`f` is a generic closure, inlined).
fn filter3<F: Fn(f32, f32) -> f32 + Copy>(d: &[f32], w: usize, h: usize, f: F) -> Vec<f32> {
    let mut across = vec![0.0f32; w * h];
    for (src, dst) in d.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
        if w < 3 {
            let e = src.iter().copied().reduce(f).unwrap_or(0.0);
            dst.fill(e);
            continue;
        }
        dst[0] = f(src[0], src[1]);
        dst[w - 1] = f(src[w - 2], src[w - 1]);
        for (((o, &a), &b), &c) in dst[1..w - 1]
            .iter_mut()
            .zip(&src[..w - 2])
            .zip(&src[1..w - 1])
            .zip(&src[2..])
        {
            *o = f(f(a, b), c);
        }
    }
    let mut both = vec![0.0f32; w * h];
    for (y, dst) in both.chunks_exact_mut(w).enumerate() {
        let row = |yy: usize| &across[yy * w..(yy + 1) * w];
        let (up, mid, down) = (row(y.saturating_sub(1)), row(y), row((y + 1).min(h - 1)));
        for (((o, &a), &b), &c) in dst.iter_mut().zip(up).zip(mid).zip(down) {
            *o = f(f(a, b), c);
        }
    }
    both
}

/// Every second pixel (the next octave's base: blur 2 sigma0 becomes sigma0).
fn halve(p: &Plane) -> Plane {
    let (w, h) = (p.w.div_ceil(2), p.h.div_ceil(2));
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            data.push(p.at(2 * x, 2 * y));
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
fn patch_code(patch: &[f32; SAMPLES * SAMPLES], basis: &[[f32; SAMPLES]; SAMPLES]) -> [u8; 8] {
    // Rows first: r[y][v] = sum_x patch[y][x] basis[v][x], only for the needed v < 11.
    let freqs = frequencies();
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
    if rows < 8 || cols < 8 || max_codes == 0 || luma.iter().any(|v| !v.is_finite()) {
        return Ok(Vec::new());
    }
    let f = WORK_SIDE as f32 / rows.min(cols) as f32;
    // Very elongated pictures are capped so the work stays bounded.
    let out_w = ((cols as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE);
    let out_h = ((rows as f32 * f).round() as usize).clamp(8, 8 * WORK_SIDE);
    let base = resize(luma, rows, cols, out_h, out_w);
    // The resized picture carries about 0.5 px of blur already (Lowe 2004, section 3.3).
    let mut octave_base = blur(&base, (SIGMA0 * SIGMA0 - 0.25).sqrt());
    let mut found: Vec<(f32, f32, f32, f32, usize, usize)> = Vec::new(); // x, y, sigma, resp, octave, level
    let mut gauss_all: Vec<Vec<Plane>> = Vec::new();
    let step = 2f32.powf(1.0 / LEVELS as f32);
    for octave in 0..OCTAVES {
        if octave_base.w < 8 || octave_base.h < 8 {
            break;
        }
        let mut gauss = vec![octave_base];
        for i in 1..LEVELS + 3 {
            let prev = SIGMA0 * step.powi(i as i32 - 1);
            let inc = prev * (step * step - 1.0).sqrt();
            let next = blur(&gauss[i - 1], inc);
            gauss.push(next);
        }
        let (w, h) = (gauss[0].w, gauss[0].h);
        let dog: Vec<Vec<f32>> = (0..LEVELS + 2)
            .map(|i| {
                gauss[i + 1]
                    .data
                    .iter()
                    .zip(&gauss[i].data)
                    .map(|(a, b)| a - b)
                    .collect()
            })
            .collect();
        let unit = (1usize << octave) as f32;
        // 3x3 maxima and minima of every DoG plane (vectorised row and column passes): a pixel
        // is an extremum of its 26 neighbours when it equals its own plane's 3x3 maximum and is
        // at least the maxima of the planes above and below (minima alike).
        let (hi, lo): (Vec<Vec<f32>>, Vec<Vec<f32>>) =
            dog.iter().map(|d| extremes3(d, w, h)).unzip();
        for i in 1..=LEVELS {
            let d = &dog[i];
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let c = y * w + x;
                    let v = d[c];
                    // Positive DoG peaks are maxima, negative ones minima (Lowe's and OpenCV's
                    // SIFT).
                    let extremum = if v > MIN_RESPONSE {
                        v >= hi[i][c] && v >= hi[i - 1][c] && v >= hi[i + 1][c]
                    } else if v < -MIN_RESPONSE {
                        v <= lo[i][c] && v <= lo[i - 1][c] && v <= lo[i + 1][c]
                    } else {
                        false
                    };
                    if !extremum {
                        continue;
                    }
                    let at = |xx: usize, yy: usize| d[yy * w + xx];
                    let dxx = at(x + 1, y) + at(x - 1, y) - 2.0 * v;
                    let dyy = at(x, y + 1) + at(x, y - 1) - 2.0 * v;
                    let dxy = (at(x + 1, y + 1) - at(x - 1, y + 1) - at(x + 1, y - 1)
                        + at(x - 1, y - 1))
                        / 4.0;
                    let (tr, det) = (dxx + dyy, dxx * dyy - dxy * dxy);
                    if det <= 0.0 || tr * tr * EDGE_RATIO >= (EDGE_RATIO + 1.0).powi(2) * det {
                        continue;
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
                        continue;
                    }
                    found.push((cx * unit, cy * unit, sigma * unit, v.abs(), octave, i));
                }
            }
        }
        octave_base = halve(&gauss[LEVELS]);
        gauss_all.push(gauss);
    }
    found.sort_by(|a, b| {
        b.3.total_cmp(&a.3)
            .then(a.1.total_cmp(&b.1))
            .then(a.0.total_cmp(&b.0))
    });
    let short = base.w.min(base.h) as f32;
    let sep = min_separation * short;
    let mut kept: Vec<(f32, f32, f32, f32, usize, usize)> = Vec::new();
    for k in found {
        if kept.len() == max_codes {
            break;
        }
        if sep > 0.0 && kept.iter().any(|q| (q.0 - k.0).hypot(q.1 - k.1) < sep) {
            continue;
        }
        kept.push(k);
    }
    let basis = dct_basis();
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
            code: patch_code(&patch, &basis),
            x: x / short,
            y: y / short,
            scale: sigma / short,
            response,
        });
    }
    Ok(out)
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
