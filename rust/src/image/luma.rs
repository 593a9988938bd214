//! Grey conversions: Pillow's 8-bit 'L' (for imagehash) and PDQ's float luma.

use super::Pixels;

/// Pillow's `convert('L')`: ITU-R 601-2 luma in 16-bit fixed point with rounding,
/// `(19595 R + 38470 G + 7471 B + 0x8000) >> 16` (Pillow >= 7, `Convert.c` `L24`).
/// Alpha is dropped (the pixel's RGB counts whatever its transparency), LA keeps L.
pub fn pillow_l(pixels: &Pixels<'_>) -> Vec<u8> {
    let data = pixels.data();
    match pixels.channels() {
        1 => data.to_vec(),
        2 => data.chunks_exact(2).map(|p| p[0]).collect(),
        c => data
            .chunks_exact(c)
            .map(|p| {
                let v = 19595 * p[0] as u32 + 38470 * p[1] as u32 + 7471 * p[2] as u32 + 0x8000;
                (v >> 16) as u8
            })
            .collect(),
    }
}

/// PDQ luma `0.299 R + 0.587 G + 0.114 B` as float32. The sum is formed in float64 and rounded
/// once, exactly as the `pdqhash` package feeds the C++ core; grey input is used as is.
pub fn pdq_luma(pixels: &Pixels<'_>) -> Vec<f32> {
    let data = pixels.data();
    match pixels.channels() {
        1 => data.iter().map(|&v| v as f32).collect(),
        2 => data.chunks_exact(2).map(|p| p[0] as f32).collect(),
        c => data
            .chunks_exact(c)
            .map(|p| {
                // Left to right, like numpy's `r*0.299 + g*0.587 + b*0.114`.
                (p[0] as f64 * 0.299 + p[1] as f64 * 0.587 + p[2] as f64 * 0.114) as f32
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pillow_l_rounds_like_pillow() {
        let px = [255u8, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        let p = Pixels::new(&px, 5, 1, 3).unwrap();
        // White stays 255, black 0; pure R/G/B give 76, 150, 29 in Pillow.
        assert_eq!(pillow_l(&p), vec![255, 0, 76, 150, 29]);
    }

    #[test]
    fn grey_is_used_as_is() {
        let p = Pixels::new(&[0, 9, 200, 255], 2, 2, 1).unwrap();
        assert_eq!(pdq_luma(&p), vec![0.0, 9.0, 200.0, 255.0]);
        assert_eq!(pillow_l(&p), vec![0, 9, 200, 255]);
    }
}
