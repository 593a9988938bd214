//! Meta's PDQ: a 256-bit perceptual hash with a 0..=100 quality score.
//!
//! Follows the published algorithm (ThreatExchange `pdq/cpp/hashing/pdqhashing.cpp`,
//! `downscaling.cpp`, `torben.cpp`) operation for operation in float32, so that on the same
//! luma it gives the same bits and quality as the reference and the `pdqhash` package.

use std::sync::OnceLock;

use super::{jarosz, luma, ImageHash, Pixels};

// PDQ reference: images smaller than this in either dimension hash to zero, quality 0.
const MIN_HASHABLE_DIM: usize = 5;
// PDQ reference: PDQ_NUM_JAROSZ_XY_PASSES.
const JAROSZ_PASSES: usize = 2;
// PDQ reference: the image is decimated to 64x64 before the DCT.
const DOWNSAMPLE: usize = 64;
// PDQ reference: 16x16 DCT coefficients (rows/columns 1..=16, DC skipped).
const DCT: usize = 16;

/// A PDQ hash: bit `k = 16 i + j` set when DCT coefficient `(i, j)` is above the median.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PdqHash {
    /// Bits packed big-endian as the PDQ hex prints them: byte 0 holds bits 255..248.
    pub bytes: [u8; 32],
    /// Gradient-based quality, 0..=100 (Meta discards hashes at 49 and below).
    pub quality: u8,
}

impl PdqHash {
    /// Whether bit `k` (0..256) is set.
    pub fn bit(&self, k: usize) -> bool {
        self.bytes[31 - k / 8] >> (k % 8) & 1 == 1
    }

    /// 64 hex digits, bit 255 first (the reference's `hash256_format`).
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// As a generic [`ImageHash`] with the quality attached.
    pub fn into_image_hash(self) -> ImageHash {
        ImageHash {
            bytes: self.bytes.to_vec(),
            nbits: 256,
            quality: Some(self.quality),
        }
    }
}

/// The 8 dihedral transforms, in the reference's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dihedral {
    /// The image as given.
    Original,
    /// Rotated 90 degrees.
    Rotate90,
    /// Rotated 180 degrees.
    Rotate180,
    /// Rotated 270 degrees.
    Rotate270,
    /// Mirrored about the horizontal axis (`FlipX`).
    FlipX,
    /// Mirrored about the vertical axis (`FlipY`).
    FlipY,
    /// Mirrored about the main diagonal (`FlipPlus1`, a transpose).
    FlipPlus1,
    /// Mirrored about the anti-diagonal (`FlipMinus1`).
    FlipMinus1,
}

impl Dihedral {
    /// All 8, in the reference's output order.
    pub const ALL: [Dihedral; 8] = [
        Self::Original,
        Self::Rotate90,
        Self::Rotate180,
        Self::Rotate270,
        Self::FlipX,
        Self::FlipY,
        Self::FlipPlus1,
        Self::FlipMinus1,
    ];
}

/// PDQ hash and quality of an 8-bit image (luma `0.299 R + 0.587 G + 0.114 B`).
pub fn hash(pixels: &Pixels<'_>) -> PdqHash {
    let mut fill = |first: usize, out: &mut [f32]| luma::pdq_luma_rows(pixels, first, out);
    from_coeffs(dct16(pixels.height(), pixels.width(), &mut fill))
}

/// PDQ hash of row-major float luma of `rows x cols`.
pub fn hash_luma(luma: &[f32], rows: usize, cols: usize) -> PdqHash {
    from_coeffs(dct16(rows, cols, &mut rows_of(luma, rows, cols)))
}

/// A row source over row-major float luma.
fn rows_of(luma: &[f32], rows: usize, cols: usize) -> impl FnMut(usize, &mut [f32]) + '_ {
    assert_eq!(
        luma.len(),
        rows * cols,
        "luma buffer does not match its size"
    );
    move |first, out| out.copy_from_slice(&luma[first * cols..first * cols + out.len()])
}

fn from_coeffs(coeffs: Option<([f32; DCT * DCT], u8)>) -> PdqHash {
    match coeffs {
        Some((coeffs, quality)) => PdqHash {
            bytes: threshold(&coeffs),
            quality,
        },
        None => PdqHash {
            bytes: [0; 32],
            quality: 0,
        },
    }
}

/// The 8 dihedral hashes (in [`Dihedral::ALL`] order) from one DCT, and the shared quality.
pub fn dihedral_hashes(pixels: &Pixels<'_>) -> [PdqHash; 8] {
    let mut fill = |first: usize, out: &mut [f32]| luma::pdq_luma_rows(pixels, first, out);
    dihedral_from(dct16(pixels.height(), pixels.width(), &mut fill))
}

/// [`dihedral_hashes`] of row-major float luma of `rows x cols`.
pub fn dihedral_hashes_luma(luma: &[f32], rows: usize, cols: usize) -> [PdqHash; 8] {
    dihedral_from(dct16(rows, cols, &mut rows_of(luma, rows, cols)))
}

fn dihedral_from(coeffs: Option<([f32; DCT * DCT], u8)>) -> [PdqHash; 8] {
    let zero = PdqHash {
        bytes: [0; 32],
        quality: 0,
    };
    let Some((coeffs, quality)) = coeffs else {
        return [zero; 8];
    };
    Dihedral::ALL.map(|d| PdqHash {
        bytes: threshold(&transform(&coeffs, d)),
        quality,
    })
}

/// Blur, decimate to 64x64, measure quality and take the 16x16 DCT; `None` if too small.
fn dct16(
    rows: usize,
    cols: usize,
    fill: &mut jarosz::RowSource<'_>,
) -> Option<([f32; DCT * DCT], u8)> {
    if rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM {
        return None;
    }
    let sampled = jarosz::blur_sampled(rows, cols, JAROSZ_PASSES, DOWNSAMPLE, fill);
    let small: [f32; DOWNSAMPLE * DOWNSAMPLE] = sampled
        .try_into()
        .expect("blur_sampled returns downsample^2 values");
    let quality = quality(&small);
    Some((dct64_to_16(&small), quality))
}

/// The reference `pdqImageDomainQualityMetric`: the sum of truncated `|(u - v) * 100 / 255|`
/// over vertical and horizontal neighbours of the 64x64 buffer, over 90, capped at 100.
fn quality(a: &[f32; DOWNSAMPLE * DOWNSAMPLE]) -> u8 {
    let n = DOWNSAMPLE;
    let step = |u: f32, v: f32| (((u - v) * 100.0) / 255.0) as i32;
    let mut sum: i64 = 0;
    for i in 0..n - 1 {
        for j in 0..n {
            sum += step(a[i * n + j], a[(i + 1) * n + j]).abs() as i64;
        }
    }
    for i in 0..n {
        for j in 0..n - 1 {
            sum += step(a[i * n + j], a[i * n + j + 1]).abs() as i64;
        }
    }
    (sum / 90).min(100) as u8
}

/// `D[i][j] = sqrt(2/64) cos(pi / 2 / 64 * (i + 1) * (2 j + 1))` (reference DCT matrix). The scale
/// factor is held as float, the product formed in double and stored as float; this was pinned
/// down bit for bit against the reference's `pdqFloat256FromFloatLuma` on impulse images.
fn dct_matrix() -> &'static [f32; DCT * DOWNSAMPLE] {
    static D: OnceLock<[f32; DCT * DOWNSAMPLE]> = OnceLock::new();
    D.get_or_init(|| {
        let mut d = [0f32; DCT * DOWNSAMPLE];
        let scale = (2.0f64 / 64.0).sqrt() as f32 as f64;
        for i in 0..DCT {
            for j in 0..DOWNSAMPLE {
                let arg = (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
                d[i * DOWNSAMPLE + j] = (scale * arg.cos()) as f32;
            }
        }
        d
    })
}

/// `B = D A D^T` in float32 with the reference's summation order (k ascending).
fn dct64_to_16(a: &[f32; DOWNSAMPLE * DOWNSAMPLE]) -> [f32; DCT * DCT] {
    #[cfg(target_arch = "x86_64")]
    if luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
        return unsafe { dct64_to_16_avx2(a) };
    }
    dct64_to_16_portable(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dct64_to_16_avx2(a: &[f32; DOWNSAMPLE * DOWNSAMPLE]) -> [f32; DCT * DCT] {
    dct64_to_16_portable(a)
}

#[inline(always)]
fn dct64_to_16_portable(a: &[f32; DOWNSAMPLE * DOWNSAMPLE]) -> [f32; DCT * DCT] {
    let d = dct_matrix();
    let n = DOWNSAMPLE;
    let mut t = [0f32; DCT * DOWNSAMPLE];
    for i in 0..DCT {
        let di = &d[i * n..(i + 1) * n];
        // T[i][j] = sum_k D[i][k] A[k][j], accumulated per j in k order.
        let ti = &mut t[i * n..(i + 1) * n];
        for (k, &dik) in di.iter().enumerate() {
            let ak = &a[k * n..(k + 1) * n];
            ti.iter_mut().zip(ak).for_each(|(s, &x)| *s += dik * x);
        }
    }
    // B[i][j] = sum_k T[i][k] D[j][k], still k ascending per (i, j), but 16 j's at once
    // through the transposed matrix so the sums vectorise without reordering.
    let dt = dct_matrix_transposed();
    let mut b = [0f32; DCT * DCT];
    for (ti, bi) in t.chunks_exact(n).zip(b.chunks_exact_mut(DCT)) {
        for (&tik, dtk) in ti.iter().zip(dt.chunks_exact(DCT)) {
            bi.iter_mut().zip(dtk).for_each(|(s, &d)| *s += tik * d);
        }
    }
    b
}

/// [`dct_matrix`] transposed: `Dt[k][j] = D[j][k]`.
fn dct_matrix_transposed() -> &'static [f32; DOWNSAMPLE * DCT] {
    static DT: OnceLock<[f32; DOWNSAMPLE * DCT]> = OnceLock::new();
    DT.get_or_init(|| {
        let d = dct_matrix();
        let mut dt = [0f32; DOWNSAMPLE * DCT];
        for j in 0..DCT {
            for k in 0..DOWNSAMPLE {
                dt[k * DCT + j] = d[j * DOWNSAMPLE + k];
            }
        }
        dt
    })
}

/// Bits above the lower median (the 128th smallest, which Torben's method returns).
fn threshold(b: &[f32; DCT * DCT]) -> [u8; 32] {
    let mut sorted = *b;
    let (_, &mut median, _) = sorted.select_nth_unstable_by(127, f32::total_cmp);
    let mut bytes = [0u8; 32];
    for (k, &v) in b.iter().enumerate() {
        if v > median {
            bytes[31 - k / 8] |= 1 << (k % 8);
        }
    }
    bytes
}

/// The DCT of a rotated or mirrored image from the original's: coefficient `(i, j)` is the
/// frequency pair `(i + 1, j + 1)`, so a mirror negates odd frequencies (even `i`) and a
/// quarter-turn transposes (reference `dct16OriginalTo*`).
fn transform(a: &[f32; DCT * DCT], d: Dihedral) -> [f32; DCT * DCT] {
    let mut b = [0f32; DCT * DCT];
    for i in 0..DCT {
        for j in 0..DCT {
            let v = a[i * DCT + j];
            let (odd_i, odd_j) = (i & 1 == 1, j & 1 == 1);
            let (pos, keep) = match d {
                Dihedral::Original => ((i, j), true),
                Dihedral::Rotate90 => ((j, i), odd_j),
                Dihedral::Rotate180 => ((i, j), !(odd_i ^ odd_j)),
                Dihedral::Rotate270 => ((j, i), odd_i),
                Dihedral::FlipX => ((i, j), odd_i),
                Dihedral::FlipY => ((i, j), odd_j),
                Dihedral::FlipPlus1 => ((j, i), true),
                Dihedral::FlipMinus1 => ((j, i), !(odd_i ^ odd_j)),
            };
            b[pos.0 * DCT + pos.1] = if keep { v } else { -v };
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: usize, h: usize, c: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..w * h * c)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn tiny_images_hash_to_zero() {
        let px = noise(4, 9, 3, 1);
        let h = hash(&Pixels::new(&px, 4, 9, 3).unwrap());
        assert_eq!(h.bytes, [0; 32]);
        assert_eq!(h.quality, 0);
    }

    #[test]
    fn normal_hash_has_128_bits_set() {
        let px = noise(200, 150, 3, 7);
        let h = hash(&Pixels::new(&px, 200, 150, 3).unwrap());
        let ones: u32 = h.bytes.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 128);
        assert_eq!(h.to_hex().len(), 64);
        assert!(h.quality > 0);
    }

    #[test]
    fn dihedral_original_is_the_hash_and_mirror_matches_pixels() {
        let (w, h) = (64, 96);
        let px = noise(w, h, 1, 11);
        let p = Pixels::new(&px, w, h, 1).unwrap();
        let all = dihedral_hashes(&p);
        assert_eq!(all[0], hash(&p));
        // Mirror left-right: columns reversed. Equal to FlipY up to filter asymmetry.
        let mirrored: Vec<u8> = (0..h)
            .flat_map(|r| (0..w).rev().map(move |c| (r, c)))
            .map(|(r, c)| px[r * w + c])
            .collect();
        let m = hash(&Pixels::new(&mirrored, w, h, 1).unwrap());
        let dist = |a: &PdqHash, b: &PdqHash| -> u32 {
            a.bytes
                .iter()
                .zip(&b.bytes)
                .map(|(x, y)| (x ^ y).count_ones())
                .sum()
        };
        assert!(
            dist(&m, &all[5]) <= 40,
            "FlipY off by {}",
            dist(&m, &all[5])
        );
    }
}
