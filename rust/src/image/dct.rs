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
    Dct::new(x.len()).run(x, out);
}

/// [`dct2`] for one length, planned once: the cosine table of every level of the even/odd
/// recursion and the scratch space it needs, so repeated transforms (pHash runs `n + k` of them)
/// allocate nothing and look nothing up.
pub struct Dct {
    /// `cos_table` of `n`, `n / 2`, ... down to the first odd length.
    tables: Vec<Rc<Vec<f64>>>,
    scratch: Vec<f64>,
}

impl Dct {
    /// A plan for inputs of length `n`.
    pub fn new(n: usize) -> Self {
        let mut tables = vec![cos_table(n)];
        let mut m = n;
        while m > 0 && m.is_multiple_of(2) {
            m /= 2;
            tables.push(cos_table(m));
        }
        // Each even level keeps u, v and its even outputs: n/2 each, halving down the levels.
        Self {
            tables,
            scratch: vec![0.0; 3 * n],
        }
    }

    /// The first `out.len()` coefficients of the DCT-II of `x`, which must have the planned length.
    pub fn run(&mut self, x: &[f64], out: &mut [f64]) {
        assert_eq!(
            x.len() * 3,
            self.scratch.len(),
            "input length differs from the plan"
        );
        level(&self.tables, x, out, &mut self.scratch);
    }
}

/// One level of the recursion; the arithmetic, and its order, is that of the direct definition
/// on odd lengths and of the even/odd split on even ones.
fn level(tables: &[Rc<Vec<f64>>], x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
    let n = x.len();
    assert!(out.len() <= n, "more DCT outputs than inputs");
    if n == 0 {
        return;
    }
    if n % 2 == 1 {
        sum_outputs(&tables[0], x, out, 0, 1);
        return;
    }
    let half = n / 2;
    let (u, rest) = scratch.split_at_mut(half);
    let (v, rest) = rest.split_at_mut(half);
    let (even, rest) = rest.split_at_mut(out.len().div_ceil(2));
    for i in 0..half {
        u[i] = x[i] + x[n - 1 - i];
        v[i] = x[i] - x[n - 1 - i];
    }
    level(&tables[1..], u, even, rest);
    for (m, &e) in even.iter().enumerate() {
        out[2 * m] = e;
    }
    sum_outputs(&tables[0], v, out, 1, 2);
}

/// `out[k] = 2 sum_i x[i] cos(pi k (2i + 1) / 2n)` for `k = first, first + by, ...`, with the
/// `4n`-entry `table` of the level (`n` = the level's length). Each sum runs in input order, as
/// the definition does, but four of them advance together in registers: independent additions
/// overlap where one sum alone waits on each add. The angle index `k (2i + 1) mod 4n` is
/// stepped, not divided.
fn sum_outputs(table: &[f64], x: &[f64], out: &mut [f64], first: usize, by: usize) {
    const TOGETHER: usize = 4;
    let m = table.len();
    let ks: Vec<usize> = (first..out.len()).step_by(by).collect();
    for chunk in ks.chunks(TOGETHER) {
        // Spare lanes run k = 0 and are dropped.
        let k = |j: usize| chunk.get(j).copied().unwrap_or(0);
        let mut s = [0.0f64; TOGETHER];
        let mut a: [usize; TOGETHER] = std::array::from_fn(|j| k(j) % m);
        let step: [usize; TOGETHER] = std::array::from_fn(|j| (2 * k(j)) % m);
        for &v in x {
            for j in 0..TOGETHER {
                s[j] += v * table[a[j]];
                // Branch-free wrap: where it falls is irregular, a branch would mispredict.
                a[j] += step[j];
                a[j] -= m * usize::from(a[j] >= m);
            }
        }
        for (j, &kj) in chunk.iter().enumerate() {
            out[kj] = 2.0 * s[j];
        }
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
