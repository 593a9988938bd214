//! imagehash `whash` (mode 'haar', `remove_max_haar_ll=True`): grey, LANCZOS to the power-of-two
//! `image_scale`, /255, remove the coarsest Haar approximation, then threshold the Haar LL band
//! at `hash_size` on its median.

use super::{check_hash_size, haar, phash, resize, ImageHash, Pixels};
use crate::error::{FingerprintError, Result};

fn log2_exact(n: usize) -> Option<u32> {
    n.is_power_of_two().then(|| n.trailing_zeros())
}

/// imagehash's default scale: `max(2 ** floor(log2(min(w, h))), hash_size)`.
pub fn default_scale(width: usize, height: usize, hash_size: usize) -> usize {
    let m = width.min(height);
    (1usize << (usize::BITS - 1 - m.leading_zeros())).max(hash_size)
}

/// wHash of `pixels` (`hash_size * hash_size` bits) at imagehash's default `image_scale`.
pub fn hash(pixels: &Pixels<'_>, hash_size: usize) -> Result<ImageHash> {
    let scale = default_scale(pixels.width(), pixels.height(), hash_size);
    hash_with_scale(pixels, hash_size, scale)
}

/// wHash with an explicit power-of-two `image_scale`.
pub fn hash_with_scale(pixels: &Pixels<'_>, hash_size: usize, scale: usize) -> Result<ImageHash> {
    check_hash_size(hash_size)?;
    let level = log2_exact(hash_size)
        .ok_or_else(|| FingerprintError::invalid("whash hash_size must be a power of 2"))?;
    let max_level = log2_exact(scale)
        .ok_or_else(|| FingerprintError::invalid("whash image_scale must be a power of 2"))?;
    if level > max_level {
        return Err(FingerprintError::invalid(format!(
            "whash hash_size {hash_size} is larger than image_scale {scale}"
        )));
    }
    let small = resize::lanczos_pixels(pixels, scale, scale);
    let ll = approximation(&small, scale, max_level - level);
    let med = phash::median(&ll);
    Ok(ImageHash::from_msb_first(
        &ll.iter().map(|&v| v > med).collect::<Vec<_>>(),
    ))
}

/// The Haar approximation band, `reduce` levels down, of the `scale x scale` grey image `small`
/// (divided by 255) with its coarsest approximation removed: what imagehash thresholds.
fn approximation(small: &[u8], scale: usize, reduce: u32) -> Vec<f64> {
    let max_level = scale.trailing_zeros();
    // p / 255 for every byte, as imagehash divides (a table: the same values, no divisions).
    let unit: [f64; 256] = std::array::from_fn(|p| p as f64 / 255.0);
    if reduce == 0 {
        // The hash is the whole reconstructed image (`image_scale == hash_size`).
        let x: Vec<f64> = small.iter().map(|&p| unit[p as usize]).collect();
        return removed(&x, scale, max_level);
    }
    // The first level of the final analysis, fused with the last of the reconstruction: each
    // pair of rows of the reconstructed image comes from one row of the level-1 bands, the
    // detail bands recomputed from the pixels, so the image is never stored at full size.
    let n = scale / 2;
    let load = |i: usize, x0: &mut [f64], x1: &mut [f64]| {
        for (x, row) in [x0, x1]
            .into_iter()
            .zip(small[2 * i * scale..].chunks_exact(scale))
        {
            for (v, &p) in x.iter_mut().zip(row) {
                *v = unit[p as usize];
            }
        }
    };
    let mut rows = haar::Rows::new(scale);
    let (mut x0, mut x1) = (vec![0.0; scale], vec![0.0; scale]);
    let mut ll1 = vec![0.0; n * n];
    for (i, out) in ll1.chunks_exact_mut(n).enumerate() {
        load(i, &mut x0, &mut x1);
        rows.ll(&x0, &x1, out);
    }
    let kept = removed(&ll1, n, max_level - 1);
    let (mut y0, mut y1) = (vec![0.0; scale], vec![0.0; scale]);
    let mut ll = ll1; // overwritten row by row, each after its last read
    for (i, kept) in kept.chunks_exact(n).enumerate() {
        load(i, &mut x0, &mut x1);
        rows.rebuild(&x0, &x1, kept, &mut y0, &mut y1);
        rows.ll(&y0, &y1, &mut ll[i * n..][..n]);
    }
    let mut m = n;
    for _ in 1..reduce {
        ll = haar::ll(&ll, m);
        m /= 2;
    }
    ll
}

/// `x` (`n x n`) after a `levels`-level Haar decomposition with its coarsest approximation
/// zeroed (imagehash: `coeffs[0] *= 0`) and the reconstruction. Each level's detail bands
/// are recomputed from that level's input when it is rebuilt, rather than kept.
fn removed(x: &[f64], n: usize, levels: u32) -> Vec<f64> {
    if levels == 0 {
        return x.iter().map(|v| v * 0.0).collect();
    }
    let half = n / 2;
    let kept = removed(&haar::ll(x, n), half, levels - 1);
    let mut out = vec![0.0; n * n];
    let mut rows = haar::Rows::new(n);
    let pairs = x.chunks_exact(2 * n).zip(out.chunks_exact_mut(2 * n));
    for ((pair, o), kept) in pairs.zip(kept.chunks_exact(half)) {
        let (r0, r1) = pair.split_at(n);
        let (o0, o1) = o.split_at_mut(n);
        rows.rebuild(r0, r1, kept, o0, o1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scale_like_imagehash() {
        assert_eq!(default_scale(4032, 3024, 8), 2048);
        assert_eq!(default_scale(5, 100, 8), 8);
        assert_eq!(default_scale(64, 64, 8), 64);
    }

    /// imagehash's procedure level by level on whole arrays (PyWavelets' order).
    fn reference(small: &[u8], scale: usize, hash_size: usize) -> Vec<f64> {
        use haar::reference::{dwt2, idwt2};
        let (level, max_level) = (log2_exact(hash_size).unwrap(), log2_exact(scale).unwrap());
        let mut details = Vec::new();
        let mut ll: Vec<f64> = small.iter().map(|&p| p as f64 / 255.0).collect();
        let mut n = scale;
        for _ in 0..max_level {
            let b = dwt2(&ll, n, n);
            n /= 2;
            ll = b.ll.clone();
            details.push(b);
        }
        ll.iter_mut().for_each(|v| *v *= 0.0);
        for mut b in details.into_iter().rev() {
            b.ll = ll;
            ll = idwt2(&b, n, n);
            n *= 2;
        }
        for _ in level..max_level {
            ll = dwt2(&ll, n, n).ll;
            n /= 2;
        }
        ll
    }

    #[test]
    fn fused_levels_equal_the_whole_array_procedure_bit_for_bit() {
        let mut s = 9u64;
        for (scale, hash_size) in [
            (64usize, 8usize),
            (32, 8),
            (8, 8),
            (16, 4),
            (128, 16),
            (2, 2),
        ] {
            // Flat runs (ties) and noise, as photos have.
            let small: Vec<u8> = (0..scale * scale)
                .map(|k| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if (k / scale) % 3 == 0 {
                        255
                    } else {
                        (s >> 56) as u8
                    }
                })
                .collect();
            let reduce = (scale / hash_size).trailing_zeros();
            let expect = reference(&small, scale, hash_size);
            assert_eq!(
                approximation(&small, scale, reduce),
                expect,
                "{scale} {hash_size}"
            );
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        let px = [0u8; 64];
        let p = Pixels::new(&px, 8, 8, 1).unwrap();
        assert!(hash(&p, 6).is_err());
        assert!(hash_with_scale(&p, 8, 12).is_err());
        assert!(hash_with_scale(&p, 16, 8).is_err());
    }
}
