//! One level of the 2-D Haar wavelet transform and its inverse, as PyWavelets computes them.
//!
//! PyWavelets (`wavedec2`/`waverec2`, mode 'symmetric', even sizes) transforms axis 0 then axis 1
//! and inverts axis 1 then axis 0; each output is a two-term sum of products with the filter tap
//! `1/sqrt(2)`, so following the same order gives the same float64 values.

// PyWavelets' Haar filter taps: dec_lo = rec_lo = [h, h], dec_hi = [-h, h], rec_hi = [h, -h].
const H: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// The four sub-bands of one level, each `rows/2 x cols/2`, row-major.
pub struct Bands {
    /// Approximation (low along both axes).
    pub ll: Vec<f64>,
    /// Low along axis 0, high along axis 1.
    pub lh: Vec<f64>,
    /// High along axis 0, low along axis 1.
    pub hl: Vec<f64>,
    /// High along both axes.
    pub hh: Vec<f64>,
}

fn split_rows(x: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = vec![0.0; rows / 2 * cols];
    let mut d = vec![0.0; rows / 2 * cols];
    for i in 0..rows / 2 {
        let (r0, r1) = (&x[2 * i * cols..][..cols], &x[(2 * i + 1) * cols..][..cols]);
        for c in 0..cols {
            a[i * cols + c] = H * r0[c] + H * r1[c];
            d[i * cols + c] = H * r0[c] - H * r1[c];
        }
    }
    (a, d)
}

fn split_cols(x: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let half = cols / 2;
    let mut a = vec![0.0; rows * half];
    let mut d = vec![0.0; rows * half];
    for r in 0..rows {
        for j in 0..half {
            let (x0, x1) = (x[r * cols + 2 * j], x[r * cols + 2 * j + 1]);
            a[r * half + j] = H * x0 + H * x1;
            d[r * half + j] = H * x0 - H * x1;
        }
    }
    (a, d)
}

/// One analysis level of an even-sized `rows x cols` array.
pub fn dwt2(x: &[f64], rows: usize, cols: usize) -> Bands {
    let (a, d) = split_rows(x, rows, cols);
    let (ll, lh) = split_cols(&a, rows / 2, cols);
    let (hl, hh) = split_cols(&d, rows / 2, cols);
    Bands { ll, lh, hl, hh }
}

fn merge_cols(a: &[f64], d: &[f64], rows: usize, half: usize) -> Vec<f64> {
    let cols = half * 2;
    let mut x = vec![0.0; rows * cols];
    for r in 0..rows {
        for j in 0..half {
            let (p, q) = (a[r * half + j], d[r * half + j]);
            x[r * cols + 2 * j] = H * p + H * q;
            x[r * cols + 2 * j + 1] = H * p - H * q;
        }
    }
    x
}

/// Invert [`dwt2`]: bands of `rows x cols` each give a `2 rows x 2 cols` array.
pub fn idwt2(b: &Bands, rows: usize, cols: usize) -> Vec<f64> {
    let a = merge_cols(&b.ll, &b.lh, rows, cols);
    let d = merge_cols(&b.hl, &b.hh, rows, cols);
    let full = cols * 2;
    let mut x = vec![0.0; rows * 2 * full];
    for i in 0..rows {
        for c in 0..full {
            let (p, q) = (a[i * full + c], d[i * full + c]);
            x[2 * i * full + c] = H * p + H * q;
            x[(2 * i + 1) * full + c] = H * p - H * q;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let x: Vec<f64> = (0..64).map(|i| ((i * 29) % 17) as f64 / 17.0).collect();
        let b = dwt2(&x, 8, 8);
        let y = idwt2(&b, 4, 4);
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-12);
        }
    }

    #[test]
    fn ll_is_half_the_block_sum() {
        let b = dwt2(&[1.0, 2.0, 3.0, 4.0], 2, 2);
        assert!((b.ll[0] - 5.0).abs() < 1e-12);
    }
}
