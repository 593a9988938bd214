//! Everything `RobustImageIndex` needs from one image, in one pass: the grey working picture,
//! border removal, the 8 dihedral PDQ codes of the trimmed picture and its local codes.

use std::cell::RefCell;

use super::local::{local_codes, LocalCode};
use super::pdq::{self, PdqHash};
use super::trim::{trim_borders, work_luma_into};
use super::Pixels;
use crate::error::Result;

/// The features of one image.
#[derive(Clone, Debug)]
pub struct RobustFeatures {
    /// PDQ of the trimmed picture in the 8 orientations of `pdq::Dihedral::ALL` (original first).
    pub dihedral: [PdqHash; 8],
    /// Local codes, strongest first.
    pub local: Vec<LocalCode>,
    /// (top, bottom, left, right) of the trimmed picture in the working picture.
    pub bounds: (usize, usize, usize, usize),
}

/// Trim `pixels` and compute its dihedral PDQ codes and at most `max_local` local codes
/// (`min_separation` as in [`local_codes`]).
pub fn robust_features(
    pixels: &Pixels<'_>,
    max_local: usize,
    min_separation: f32,
) -> Result<RobustFeatures> {
    // The working picture and PDQ's input reuse the thread's buffers: fresh ones of this size
    // (hundreds of KB) come from mmap and cost page faults on every image.
    thread_local! {
        static BUFFERS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    let (mut luma, mut grey) = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let features = features_with(pixels, max_local, min_separation, &mut luma, &mut grey);
    BUFFERS.with(|b| *b.borrow_mut() = (luma, grey));
    features
}

fn features_with(
    pixels: &Pixels<'_>,
    max_local: usize,
    min_separation: f32,
    luma: &mut Vec<f32>,
    grey: &mut Vec<f32>,
) -> Result<RobustFeatures> {
    let (rows, cols) = work_luma_into(pixels, luma);
    let luma = &luma[..];
    let (t, b, l, r) = trim_borders(luma, rows, cols);
    let (h, w) = (b - t, r - l);
    // Most pictures have no border to cut: use the working picture as it is.
    let trimmed;
    let inner: &[f32] = if (h, w) == (rows, cols) {
        luma
    } else {
        let mut v = Vec::with_capacity(h * w);
        for y in t..b {
            v.extend_from_slice(&luma[y * cols + l..y * cols + r]);
        }
        trimmed = v;
        &trimmed
    };
    // PDQ sees the picture rounded to 8 bits, as hashing the trimmed array would (grey
    // bytes become PDQ's float luma unchanged, so the rounded values go in as floats).
    round_grey(inner, grey);
    let dihedral = pdq::dihedral_hashes_luma(grey, h, w);
    let local = local_codes(inner, h, w, max_local, min_separation)?;
    Ok(RobustFeatures {
        dihedral,
        local,
        bounds: (t, b, l, r),
    })
}

/// `grey` = `luma` rounded to bytes, as floats; with AVX2 intrinsics where the CPU has it
/// (the compiled portable code converted lane by lane; same values, see the tests).
fn round_grey(luma: &[f32], grey: &mut Vec<f32>) {
    #[inline(always)]
    fn body(luma: &[f32], grey: &mut Vec<f32>) {
        grey.clear();
        grey.extend(
            luma.iter()
                .map(|&v| (v + 0.5).clamp(0.0, 255.0) as u8 as f32),
        );
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn avx2(luma: &[f32], grey: &mut Vec<f32>) {
        use std::arch::x86_64::*;
        // Every value is written below: only a longer buffer than last time is zeroed.
        grey.truncate(luma.len());
        grey.resize(luma.len(), 0.0);
        let (half, top) = (_mm256_set1_ps(0.5), _mm256_set1_ps(255.0));
        let blocks = luma.len() / 8 * 8;
        for (src, dst) in luma[..blocks].chunks_exact(8).zip(grey.chunks_exact_mut(8)) {
            // SAFETY: AVX2 is enabled here; both chunks hold 8 values.
            unsafe {
                let v = _mm256_add_ps(_mm256_loadu_ps(src.as_ptr()), half);
                // max(v, 0) gives 0 for NaN (the second operand), as `NaN as u8` does; the
                // clamped value truncates as `as u8` does.
                let c = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), top);
                let r = _mm256_cvtepi32_ps(_mm256_cvttps_epi32(c));
                _mm256_storeu_ps(dst.as_mut_ptr(), r);
            }
        }
        for (d, &v) in grey[blocks..].iter_mut().zip(&luma[blocks..]) {
            *d = (v + 0.5).clamp(0.0, 255.0) as u8 as f32;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected.
        return unsafe { avx2(luma, grey) };
    }
    body(luma, grey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_rounding_builds_agree() {
        let mut luma: Vec<f32> = (0..1000).map(|i| i as f32 * 0.2777 - 20.0).collect();
        luma.extend([
            f32::NAN,
            -0.0,
            254.5,
            254.49998,
            255.5,
            1e9,
            -1e9,
            f32::INFINITY,
        ]);
        luma.extend([f32::NEG_INFINITY, 0.49999997, -0.5, 3.5]);
        let want: Vec<u32> = (luma.iter())
            .map(|&v| ((v + 0.5).clamp(0.0, 255.0) as u8 as f32).to_bits())
            .collect();
        let mut grey = Vec::new();
        for n in [luma.len(), 7, 8, 17] {
            round_grey(&luma[luma.len() - n..], &mut grey);
            let got: Vec<u32> = grey.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want[luma.len() - n..]);
        }
    }

    #[test]
    fn framed_and_bare_pictures_agree() {
        let (h, w) = (300, 400);
        let bare: Vec<u8> = (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                (128.0 + 60.0 * (x / 13.0).sin() * (y / 17.0).cos() + 40.0 * (x * y / 5000.0).sin())
                    as u8
            })
            .collect();
        let pad = 40;
        let (fh, fw) = (h + 2 * pad, w + 2 * pad);
        let mut framed = vec![255u8; fh * fw];
        for y in 0..h {
            framed[(y + pad) * fw + pad..(y + pad) * fw + pad + w]
                .copy_from_slice(&bare[y * w..(y + 1) * w]);
        }
        let a = robust_features(&Pixels::new(&bare, w, h, 1).unwrap(), 15, 0.1).unwrap();
        let b = robust_features(&Pixels::new(&framed, fw, fh, 1).unwrap(), 15, 0.1).unwrap();
        assert_eq!(b.bounds, (pad, pad + h, pad, pad + w));
        assert_eq!(a.dihedral[0].bytes, b.dihedral[0].bytes);
        assert_eq!(a.local, b.local);
        assert!(!a.local.is_empty());
    }

    #[test]
    fn tiny_images_do_not_panic() {
        for (w, h) in [(1, 1), (3, 2), (8, 8), (9, 300)] {
            let px = vec![7u8; w * h * 3];
            let f = robust_features(&Pixels::new(&px, w, h, 3).unwrap(), 15, 0.0).unwrap();
            assert!(f.local.is_empty());
        }
    }
}
