//! The 2-D Haar wavelet transform as PyWavelets computes it, one 2x2 block at a time.
//!
//! PyWavelets (`wavedec2`/`waverec2`, mode 'symmetric', even sizes) transforms axis 0 then axis 1
//! and inverts axis 1 then axis 0; each output is a two-term sum of products with the filter tap
//! `1/sqrt(2)`, so following the same order gives the same float64 values. For the Haar filter
//! every level works on disjoint 2x2 blocks, so band row i comes from image rows 2i and 2i+1
//! alone and goes back to them: a level runs one pair of rows at a time.

// PyWavelets' Haar filter taps: dec_lo = rec_lo = [h, h], dec_hi = [-h, h], rec_hi = [h, -h].
const H: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// The approximation band (`n/2 x n/2`) of one analysis level of the `n x n` array `x`.
pub fn ll(x: &[f64], n: usize) -> Vec<f64> {
    let mut rows = Rows::new(n);
    let mut out = vec![0.0; n / 2 * (n / 2)];
    for (pair, ll) in x.chunks_exact(2 * n).zip(out.chunks_exact_mut(n / 2)) {
        let (r0, r1) = pair.split_at(n);
        rows.ll(r0, r1, ll);
    }
    out
}

/// One level of the transform a pair of rows at a time, axis by axis over whole rows (so the
/// loops vectorise), with scratch rows kept between calls.
pub struct Rows {
    a: Vec<f64>,
    d: Vec<f64>,
    // Band rows for `rebuild` (each `width / 2`).
    bands: [Vec<f64>; 4],
}

impl Rows {
    /// Scratch for rows of up to `width` values.
    pub fn new(width: usize) -> Self {
        Self {
            a: vec![0.0; width],
            d: vec![0.0; width],
            bands: std::array::from_fn(|_| vec![0.0; width / 2]),
        }
    }

    /// The row pair `r0`, `r1` (`w` each) rebuilt into `y0`, `y1` with its approximation row
    /// replaced by `ll` (`w/2`): its detail rows analysed, then synthesised with `ll`.
    pub fn rebuild(&mut self, r0: &[f64], r1: &[f64], ll: &[f64], y0: &mut [f64], y1: &mut [f64]) {
        let h = r0.len() / 2;
        let mut bands = std::mem::take(&mut self.bands);
        let [b0, b1, b2, b3] = &mut bands;
        self.analyse(
            r0,
            r1,
            [&mut b0[..h], &mut b1[..h], &mut b2[..h], &mut b3[..h]],
        );
        self.synthesise([ll, &b1[..h], &b2[..h], &b3[..h]], y0, y1);
        self.bands = bands;
    }

    /// Axis 0 of two rows into the low (`a`) and high (`d`) rows.
    fn split(&mut self, r0: &[f64], r1: &[f64]) {
        let w = r0.len();
        for (((a, d), &x0), &x1) in self.a[..w].iter_mut().zip(&mut self.d[..w]).zip(r0).zip(r1) {
            *a = H * x0 + H * x1;
            *d = H * x0 - H * x1;
        }
    }

    /// The approximation row (`w/2`) of the row pair `r0`, `r1` (`w` each).
    pub fn ll(&mut self, r0: &[f64], r1: &[f64], ll: &mut [f64]) {
        let w = r0.len();
        for ((a, &x0), &x1) in self.a[..w].iter_mut().zip(r0).zip(r1) {
            *a = H * x0 + H * x1;
        }
        for (l, a) in ll.iter_mut().zip(self.a[..w].chunks_exact(2)) {
            *l = H * a[0] + H * a[1];
        }
    }

    /// The four band rows (`w/2` each: ll, lh, hl, hh) of the row pair `r0`, `r1` (`w` each).
    pub fn analyse(&mut self, r0: &[f64], r1: &[f64], bands: [&mut [f64]; 4]) {
        self.split(r0, r1);
        let w = r0.len();
        let [ll, lh, hl, hh] = bands;
        for ((l, h), a) in ll
            .iter_mut()
            .zip(lh.iter_mut())
            .zip(self.a[..w].chunks_exact(2))
        {
            *l = H * a[0] + H * a[1];
            *h = H * a[0] - H * a[1];
        }
        for ((l, h), d) in hl
            .iter_mut()
            .zip(hh.iter_mut())
            .zip(self.d[..w].chunks_exact(2))
        {
            *l = H * d[0] + H * d[1];
            *h = H * d[0] - H * d[1];
        }
    }

    /// The row pair (`2 h` each) that the band rows (`h` each: ll, lh, hl, hh) rebuild.
    pub fn synthesise(&mut self, bands: [&[f64]; 4], x0: &mut [f64], x1: &mut [f64]) {
        let [ll, lh, hl, hh] = bands;
        let w = 2 * ll.len();
        for ((a, &p), &q) in self.a[..w].chunks_exact_mut(2).zip(ll).zip(lh) {
            a[0] = H * p + H * q;
            a[1] = H * p - H * q;
        }
        for ((d, &p), &q) in self.d[..w].chunks_exact_mut(2).zip(hl).zip(hh) {
            d[0] = H * p + H * q;
            d[1] = H * p - H * q;
        }
        for (((y0, y1), &a), &d) in x0
            .iter_mut()
            .zip(x1.iter_mut())
            .zip(&self.a[..w])
            .zip(&self.d[..w])
        {
            *y0 = H * a + H * d;
            *y1 = H * a - H * d;
        }
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! Whole-array levels in PyWavelets' order (axis by axis), to check the block forms.
    use super::H;

    /// The four sub-bands of one level, each `rows/2 x cols/2`, row-major.
    pub struct Bands {
        pub ll: Vec<f64>,
        pub lh: Vec<f64>,
        pub hl: Vec<f64>,
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
}

#[cfg(test)]
mod tests {
    use super::reference::{dwt2, idwt2};
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n * n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                // Many repeats, as flat image regions give: ties must round alike.
                ((s >> 58) as f64) / 63.0
            })
            .collect()
    }

    #[test]
    fn row_pairs_are_the_whole_array_levels_bit_for_bit() {
        let n = 16;
        let half = n / 2;
        let x = values(n, 3);
        let b = dwt2(&x, n, n);
        let mut rows = Rows::new(n);
        let mut got = vec![vec![0.0; half]; 4];
        for i in 0..half {
            let (r0, r1) = (&x[2 * i * n..][..n], &x[(2 * i + 1) * n..][..n]);
            let [a, b2, c, d] = &mut got[..] else {
                unreachable!()
            };
            rows.analyse(r0, r1, [a, b2, c, d]);
            let at = i * half..(i + 1) * half;
            assert_eq!(got[0], b.ll[at.clone()]);
            assert_eq!(got[1], b.lh[at.clone()]);
            assert_eq!(got[2], b.hl[at.clone()]);
            assert_eq!(got[3], b.hh[at]);
        }
        assert_eq!(ll(&x, n), b.ll);
        let y = idwt2(&b, half, half);
        let (mut y0, mut y1) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..half {
            let at = i * half..(i + 1) * half;
            let bands = [
                &b.ll[at.clone()],
                &b.lh[at.clone()],
                &b.hl[at.clone()],
                &b.hh[at],
            ];
            rows.synthesise(bands, &mut y0, &mut y1);
            assert_eq!(y0, y[2 * i * n..][..n]);
            assert_eq!(y1, y[(2 * i + 1) * n..][..n]);
        }
    }

    #[test]
    fn round_trip() {
        let x = values(8, 5);
        let b = dwt2(&x, 8, 8);
        let y = idwt2(&b, 4, 4);
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-12);
        }
    }

    #[test]
    fn ll_is_half_the_block_sum() {
        assert!((ll(&[1.0, 2.0, 3.0, 4.0], 2)[0] - 5.0).abs() < 1e-12);
    }
}
