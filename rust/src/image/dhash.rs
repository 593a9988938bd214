//! imagehash `dhash`: grey, LANCZOS to `(hash_size + 1) x hash_size`, bit = right neighbour brighter.

use super::{check_hash_size, resize, ImageHash, Pixels};
use crate::error::Result;

/// dHash of `pixels` (`hash_size * hash_size` bits), bit-identical to imagehash 4.3.
pub fn hash(pixels: &Pixels<'_>, hash_size: usize) -> Result<ImageHash> {
    check_hash_size(hash_size)?;
    let w = hash_size + 1;
    let small = resize::lanczos_pixels(pixels, w, hash_size);
    Ok(ImageHash::from_msb_first(&bits(&small, w)))
}

/// `pixels[:, 1:] > pixels[:, :-1]`, row-major.
pub fn bits(small: &[u8], width: usize) -> Vec<bool> {
    small
        .chunks_exact(width)
        .flat_map(|row| row.windows(2).map(|p| p[1] > p[0]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_neighbour_brighter() {
        assert_eq!(
            bits(&[1, 2, 2, 5, 4, 4], 3),
            vec![true, false, false, false]
        );
    }
}
