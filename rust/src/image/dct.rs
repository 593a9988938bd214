//! The unnormalised DCT-II of `scipy.fftpack.dct(x, type=2, norm=None)`:
//! `y[k] = 2 sum_n x[n] cos(pi k (2n + 1) / (2N))`, in float64.
//!
//! scipy computes it through an FFT whose butterflies make coefficients that are mathematically
//! zero (flat or symmetric input) come out exactly zero. An even/odd split does the same here:
//! even outputs are the half-size DCT of `x[n] + x[N-1-n]`, odd outputs sum `x[n] - x[N-1-n]`,
//! so pHash's median threshold sees the same exact zeros.

use std::cell::RefCell;
use std::f64::consts::PI;
use std::rc::Rc;

/// `cos(pi a / (2 n))`, reduced to the first quadrant so that symmetric angles give exactly
/// opposite values and quarter turns give exact zeros.
fn cos_quarter(a: usize, n: usize) -> f64 {
    let mut a = a % (4 * n);
    if a > 2 * n {
        a = 4 * n - a;
    }
    let (a, sign) = if a > n { (2 * n - a, -1.0) } else { (a, 1.0) };
    if a == n {
        0.0
    } else {
        sign * (PI * a as f64 / (2 * n) as f64).cos()
    }
}

/// `cos_quarter(a, n)` for `a` in `0..4n` (it depends only on `a mod 4n`), kept per thread.
fn cos_table(n: usize) -> Rc<Vec<f64>> {
    thread_local! {
        static TABLES: RefCell<Vec<(usize, Rc<Vec<f64>>)>> = const { RefCell::new(Vec::new()) };
    }
    TABLES.with(|t| {
        let mut t = t.borrow_mut();
        if let Some((_, v)) = t.iter().find(|(m, _)| *m == n) {
            return v.clone();
        }
        let v = Rc::new((0..4 * n).map(|a| cos_quarter(a, n)).collect::<Vec<_>>());
        // Sizes come from hash_size (a handful in practice); bound the cache anyway.
        if t.len() >= 32 {
            t.clear();
        }
        t.push((n, v.clone()));
        v
    })
}

/// The first `out.len()` coefficients of the DCT-II of `x` (scipy's scaling, factor 2 included).
pub fn dct2(x: &[f64], out: &mut [f64]) {
    let n = x.len();
    assert!(out.len() <= n, "more DCT outputs than inputs");
    let table = cos_table(n);
    let cos = |a: usize| table[a % (4 * n)];
    if n % 2 == 1 {
        for (k, y) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for (i, &v) in x.iter().enumerate() {
                s += v * cos(k * (2 * i + 1));
            }
            *y = 2.0 * s;
        }
        return;
    }
    let half = n / 2;
    let u: Vec<f64> = (0..half).map(|i| x[i] + x[n - 1 - i]).collect();
    let v: Vec<f64> = (0..half).map(|i| x[i] - x[n - 1 - i]).collect();
    let n_even = out.len().div_ceil(2);
    let mut even = vec![0.0; n_even];
    dct2(&u, &mut even);
    for (m, &e) in even.iter().enumerate() {
        out[2 * m] = e;
    }
    for k in (1..out.len()).step_by(2) {
        let mut s = 0.0;
        for (i, &d) in v.iter().enumerate() {
            s += d * cos(k * (2 * i + 1));
        }
        out[k] = 2.0 * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], k: usize) -> f64 {
        let n = x.len() as f64;
        2.0 * x
            .iter()
            .enumerate()
            .map(|(i, &v)| v * (PI * k as f64 * (2.0 * i as f64 + 1.0) / (2.0 * n)).cos())
            .sum::<f64>()
    }

    #[test]
    fn matches_the_definition() {
        for n in [1, 2, 3, 8, 12, 32, 64] {
            let x: Vec<f64> = (0..n).map(|i| ((i * 37 + 11) % 251) as f64).collect();
            let mut out = vec![0.0; n];
            dct2(&x, &mut out);
            for (k, &y) in out.iter().enumerate() {
                assert!(
                    (y - naive(&x, k)).abs() < 1e-9 * (1.0 + y.abs()),
                    "n={n} k={k}"
                );
            }
        }
    }

    #[test]
    fn flat_and_antisymmetric_inputs_give_exact_zeros() {
        let x = vec![7.0; 32];
        let mut out = vec![0.0; 32];
        dct2(&x, &mut out);
        assert_eq!(out[0], 2.0 * 7.0 * 32.0);
        assert!(out[1..].iter().all(|&v| v == 0.0));
        let ramp: Vec<f64> = (0..32).map(|i| i as f64).collect();
        dct2(&ramp, &mut out);
        assert!(out[2..].iter().step_by(2).all(|&v| v == 0.0));
    }
}
