//! imagehash `phash`: grey, LANCZOS to `4 hash_size` square, 2-D DCT-II, keep the top-left
//! `hash_size x hash_size` block (DC included), bit = coefficient above its median.

use super::{check_hash_size, dct, resize, ImageHash, Pixels};
use crate::error::Result;

// imagehash `phash(highfreq_factor=4)`.
const HIGHFREQ_FACTOR: usize = 4;

/// pHash of `pixels` (`hash_size * hash_size` bits), matching imagehash 4.3.
pub fn hash(pixels: &Pixels<'_>, hash_size: usize) -> Result<ImageHash> {
    check_hash_size(hash_size)?;
    let n = hash_size * HIGHFREQ_FACTOR;
    let small = resize::lanczos_pixels(pixels, n, n);
    Ok(ImageHash::from_msb_first(&bits(&small, n, hash_size)))
}

/// `dct(dct(pixels, axis=0), axis=1)[:k, :k] > median` for an `n x n` image.
pub fn bits(small: &[u8], n: usize, k: usize) -> Vec<bool> {
    // Along axis 0 (down each column), only the first k rows are needed.
    let mut cols = vec![0.0; k * n]; // cols[r * n + c]
    let mut column = vec![0.0; n];
    let mut out = vec![0.0; k];
    let mut dct = dct::Dct::new(n);
    for c in 0..n {
        for (r, v) in column.iter_mut().enumerate() {
            *v = small[r * n + c] as f64;
        }
        dct.run(&column, &mut out);
        for (r, &v) in out.iter().enumerate() {
            cols[r * n + c] = v;
        }
    }
    let mut low = vec![0.0; k * k];
    for r in 0..k {
        dct.run(&cols[r * n..(r + 1) * n], &mut low[r * k..(r + 1) * k]);
    }
    let med = median(&low);
    low.iter().map(|&v| v > med).collect()
}

/// `numpy.median`: the middle value, or the mean of the two middle values.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_like_numpy() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn flat_image_sets_only_dc() {
        let b = bits(&[9u8; 32 * 32], 32, 8);
        assert!(b[0]);
        assert!(b[1..].iter().all(|&x| !x));
    }
}
