//! imagehash `average_hash`: grey, LANCZOS to `hash_size x hash_size`, bit = pixel above the mean.

use super::{check_hash_size, resize, ImageHash, Pixels};
use crate::error::Result;

/// aHash of `pixels` (`hash_size * hash_size` bits), bit-identical to imagehash 4.3.
pub fn hash(pixels: &Pixels<'_>, hash_size: usize) -> Result<ImageHash> {
    check_hash_size(hash_size)?;
    let small = resize::lanczos_pixels(pixels, hash_size, hash_size);
    Ok(ImageHash::from_msb_first(&bits(&small)))
}

/// `pixels > mean(pixels)`, in integers: `p * n > sum` is exactly numpy's float comparison,
/// since the float64 mean of a few bytes is the correctly rounded quotient.
pub fn bits(small: &[u8]) -> Vec<bool> {
    let n = small.len() as u64;
    let sum: u64 = small.iter().map(|&p| p as u64).sum();
    small.iter().map(|&p| p as u64 * n > sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_above_the_mean() {
        assert_eq!(bits(&[0, 10, 5, 5]), vec![false, true, false, false]);
        assert_eq!(bits(&[3, 3, 3, 3]), vec![false; 4]);
    }

    #[test]
    fn rejects_tiny_hash_size() {
        let px = [0u8; 16];
        assert!(hash(&Pixels::new(&px, 4, 4, 1).unwrap(), 1).is_err());
    }
}
