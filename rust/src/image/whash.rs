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
    let x: Vec<f64> = small.iter().map(|&p| p as f64 / 255.0).collect();
    let x = remove_max_ll(x, scale, max_level);
    // LL band after `max_level - level` analysis levels.
    let mut ll = x;
    let mut n = scale;
    for _ in level..max_level {
        ll = haar::dwt2(&ll, n, n).ll;
        n /= 2;
    }
    let med = phash::median(&ll);
    Ok(ImageHash::from_msb_first(
        &ll.iter().map(|&v| v > med).collect::<Vec<_>>(),
    ))
}

/// Full Haar decomposition, coarsest approximation zeroed, reconstruction.
fn remove_max_ll(x: Vec<f64>, scale: usize, levels: u32) -> Vec<f64> {
    let mut details = Vec::with_capacity(levels as usize);
    let mut ll = x;
    let mut n = scale;
    for _ in 0..levels {
        let b = haar::dwt2(&ll, n, n);
        n /= 2;
        ll = b.ll.clone();
        details.push(b);
    }
    // imagehash: `coeffs[0] *= 0`.
    ll.iter_mut().for_each(|v| *v *= 0.0);
    for mut b in details.into_iter().rev() {
        b.ll = ll;
        ll = haar::idwt2(&b, n, n);
        n *= 2;
    }
    ll
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

    #[test]
    fn rejects_bad_sizes() {
        let px = [0u8; 64];
        let p = Pixels::new(&px, 8, 8, 1).unwrap();
        assert!(hash(&p, 6).is_err());
        assert!(hash_with_scale(&p, 8, 12).is_err());
        assert!(hash_with_scale(&p, 16, 8).is_err());
    }
}
