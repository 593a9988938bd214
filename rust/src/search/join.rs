//! Bulk de-duplication at scale: an exact self-join through substring tables.
//!
//! The multi-index-hashing pigeonhole (see [`super::mih`]) also joins a set with
//! itself: two codes within `r` bits share, in at least one of `m` substrings, a
//! value within `floor(r / m)` bits. So the join runs one table at a time: sort
//! the codes by that table's substring (a counting sort), then compare only the
//! codes of each bucket with the codes of the buckets whose keys are within
//! `floor(r / m)` bits. Sorting makes every bucket a contiguous run of codes, so
//! verification streams from memory instead of chasing pointers, and only one
//! table exists at a time (memory: the codes, one sorted copy, one key array).
//!
//! A pair is reported by the first table in which its substrings are within
//! `floor(r / m)`, so each pair appears exactly once. Tables run one after the
//! other, which lets callers stream the pairs out table by table.

use rayon::prelude::*;

use super::mih::{masks_upto, partition, probes, Part, MAX_WIDTH};
use crate::error::{FingerprintError, Result};
use crate::simd::layout;

/// A planned self-join: the codes as packed words and the substring tables to run.
pub struct SelfJoin {
    words: usize,
    n: usize,
    /// Packed codes, row-major, `words` per code.
    packed: Vec<u64>,
    parts: Vec<Part>,
    radius: u32,
    next: usize,
    /// With a split, rows `0..split` are one set and `split..n` the other, and only pairs
    /// with one row in each are joined (a cross-join of two sets through the same tables).
    split: Option<u32>,
}

/// Estimated cost (in units of one pair verification) of joining `n` uniform codes with `m` tables.
pub fn cost(bits: usize, n: usize, m: usize, r: u32) -> f64 {
    let per = r / m as u32;
    partition(bits, m)
        .iter()
        .map(|p| {
            let keys = (1u64 << p.width) as f64;
            let probe = probes(p.width, per);
            let pairs = (n as f64) * (n as f64) / 2.0 * probe / keys;
            // Visiting a bucket pair costs a few verifications' worth.
            pairs + keys.min(n as f64) * probe * 4.0
        })
        .sum()
}

/// The table count with the lowest estimated cost for a radius-`r` join of `n` codes.
pub fn best_tables(bits: usize, n: usize, r: u32) -> usize {
    let lo = min_tables(bits, n);
    (lo..=bits.min(lo.max(64)))
        .min_by(|&a, &b| cost(bits, n, a, r).total_cmp(&cost(bits, n, b, r)))
        .unwrap_or(lo)
}

/// Fewest tables for `n` codes: substrings of at most `log2(n) + 1` bits (and
/// [`MAX_WIDTH`]), so a table's offsets array stays within twice the code count.
pub fn min_tables(bits: usize, n: usize) -> usize {
    let widest = ((usize::BITS - n.max(1).leading_zeros()) as usize).clamp(1, MAX_WIDTH as usize);
    bits.div_ceil(widest).max(1)
}

/// Estimated verifications a flat (all pairs) join would do.
pub fn flat_cost(n: usize) -> f64 {
    // A tiled SIMD scan verifies a pair about 8x faster than a bucket join does.
    (n as f64) * (n as f64) / 2.0 / 8.0
}

impl SelfJoin {
    /// Plan the join of row-major `codes` (`code_len` bytes each) at radius `r`
    /// with `tables` substrings (default: the cheapest by [`best_tables`]).
    pub fn new(codes: &[u8], code_len: usize, r: u32, tables: Option<usize>) -> Result<SelfJoin> {
        let bits = code_len * 8;
        super::code_len_for_bits(bits)?;
        if !codes.len().is_multiple_of(code_len) {
            return Err(FingerprintError::invalid(format!(
                "codes must be a whole number of {code_len}-byte codes, got {} bytes",
                codes.len()
            )));
        }
        let n = codes.len() / code_len;
        if n > u32::MAX as usize {
            return Err(FingerprintError::invalid(
                "at most 2**32 - 1 codes per join",
            ));
        }
        let lo = bits.div_ceil(MAX_WIDTH as usize);
        let m = match tables {
            Some(m) if (lo..=bits).contains(&m) => m,
            Some(m) => {
                return Err(FingerprintError::invalid(format!(
                    "tables must be between {lo} and {bits} for {bits}-bit codes, got {m}"
                )))
            }
            None => best_tables(bits, n, r).max(min_tables(bits, n)),
        };
        let words = layout::words_for(code_len);
        let packed = codes
            .par_chunks(code_len)
            .flat_map_iter(|c| layout::pack_query(c, words))
            .collect();
        Ok(SelfJoin {
            words,
            n,
            packed,
            parts: partition(bits, m),
            radius: r,
            next: 0,
            split: None,
        })
    }

    /// Join only across a split: pairs `(i, j)` with `i < split <= j`.
    pub fn with_split(mut self, split: usize) -> Result<SelfJoin> {
        if split > self.n {
            return Err(FingerprintError::invalid(format!(
                "split {split} is past the {} codes",
                self.n
            )));
        }
        self.split = Some(split as u32);
        Ok(self)
    }

    /// Number of tables (and of chunks [`next_table`](Self::next_table) yields).
    pub fn tables(&self) -> usize {
        self.parts.len()
    }

    /// Run the next table: the pairs `(i, j, distance)`, `i < j`, first found
    /// by it, in no particular order; `None` when every table has run.
    pub fn next_table(&mut self) -> Option<Vec<(u32, u32, u32)>> {
        let t = self.next;
        let part = *self.parts.get(t)?;
        self.next += 1;
        Some(self.run_table(t, part))
    }

    fn code(&self, i: u32) -> &[u64] {
        &self.packed[i as usize * self.words..(i as usize + 1) * self.words]
    }

    fn run_table(&self, t: usize, part: Part) -> Vec<(u32, u32, u32)> {
        let words = self.words;
        let per = self.radius / self.parts.len() as u32;
        let nkeys = 1usize << part.width;
        // Counting sort of rows by this table's key.
        let keys: Vec<u32> = self.packed.par_chunks(words).map(|c| part.key(c)).collect();
        let mut offsets = vec![0u32; nkeys + 1];
        for &k in &keys {
            offsets[k as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill = offsets.clone();
        let mut rows = vec![0u32; self.n];
        for (row, &k) in keys.iter().enumerate() {
            rows[fill[k as usize] as usize] = row as u32;
            fill[k as usize] += 1;
        }
        drop(fill);
        drop(keys);
        // The codes in key order, so a bucket is one contiguous run.
        let sorted: Vec<u64> = rows
            .par_iter()
            .flat_map_iter(|&r| self.code(r).iter().copied())
            .collect();
        let mut flips = Vec::new();
        masks_upto(part.width, per, |m| {
            if m != 0 {
                flips.push(m)
            }
        });
        let earlier = &self.parts[..t];
        // Only non-empty buckets start work (a table may have more keys than codes).
        let occupied: Vec<usize> = (0..nkeys)
            .filter(|&k| offsets[k] < offsets[k + 1])
            .collect();
        let chunk = (occupied.len() / (rayon::current_num_threads() * 16)).max(1);
        occupied
            .into_par_iter()
            .with_min_len(chunk)
            .fold(Vec::new, |mut out, k| {
                let cross = crate::simd::pairs::cross();
                let a = offsets[k] as usize..offsets[k + 1] as usize;
                if a.is_empty() {
                    return out;
                }
                let mut found = Vec::new();
                let run = |r: &std::ops::Range<usize>| &sorted[r.start * words..r.end * words];
                match self.split {
                    None => {
                        cross(run(&a), run(&a), words, self.radius, true, &mut found);
                    }
                    Some(split) => {
                        // Rows enter a bucket in row order, so its first-set rows come first.
                        let a_mid = a.start + rows[a.clone()].partition_point(|&r| r < split);
                        cross(
                            run(&(a.start..a_mid)),
                            run(&(a_mid..a.end)),
                            words,
                            self.radius,
                            false,
                            &mut found,
                        );
                        for f in &mut found {
                            f.1 += (a_mid - a.start) as u32;
                        }
                    }
                }
                for &m in &flips {
                    let k2 = k ^ m as usize;
                    if k2 < k {
                        continue; // that bucket pair is handled from the smaller key
                    }
                    let b = offsets[k2] as usize..offsets[k2 + 1] as usize;
                    if b.is_empty() {
                        continue;
                    }
                    // (left run, right run) pairs to compare, as ranges of sorted positions.
                    let runs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = match self
                        .split
                    {
                        None => vec![(a.clone(), b.clone())],
                        Some(split) => {
                            let a_mid = a.start + rows[a.clone()].partition_point(|&r| r < split);
                            let b_mid = b.start + rows[b.clone()].partition_point(|&r| r < split);
                            vec![
                                (a.start..a_mid, b_mid..b.end),
                                (b.start..b_mid, a_mid..a.end),
                            ]
                        }
                    };
                    for (x, y) in runs {
                        if x.is_empty() || y.is_empty() {
                            continue;
                        }
                        let before = found.len();
                        cross(run(&x), run(&y), words, self.radius, false, &mut found);
                        // Re-base both indices onto the bucket's origin (`a.start`).
                        for f in &mut found[before..] {
                            f.0 = (x.start + f.0 as usize - a.start) as u32;
                            f.1 = (y.start + f.1 as usize - a.start) as u32;
                        }
                    }
                }
                for (i, j, d) in found {
                    let (i, j) = (a.start + i as usize, a.start + j as usize);
                    let (ci, cj) = (
                        &sorted[i * words..(i + 1) * words],
                        &sorted[j * words..(j + 1) * words],
                    );
                    // Report the pair only from the first table that finds it.
                    if earlier
                        .iter()
                        .any(|p| (p.key(ci) ^ p.key(cj)).count_ones() <= per)
                    {
                        continue;
                    }
                    let (ri, rj) = (rows[i], rows[j]);
                    out.push((ri.min(rj), ri.max(rj), d));
                }
                out
            })
            .reduce(Vec::new, |mut a, mut b| {
                a.append(&mut b);
                a
            })
    }
}

/// Every pair of rows within `r` through a [`SelfJoin`], sorted by (i, j); with `split`,
/// only pairs `i < split <= j`.
pub fn join_all(
    codes: &[u8],
    code_len: usize,
    r: u32,
    tables: Option<usize>,
) -> Result<Vec<(u32, u32, u32)>> {
    join_split(codes, code_len, r, tables, None)
}

/// [`join_all`] with an optional split (a cross-join of rows `..split` with rows `split..`).
pub fn join_split(
    codes: &[u8],
    code_len: usize,
    r: u32,
    tables: Option<usize>,
    split: Option<usize>,
) -> Result<Vec<(u32, u32, u32)>> {
    let mut join = SelfJoin::new(codes, code_len, r, tables)?;
    if let Some(split) = split {
        join = join.with_split(split)?;
    }
    let mut all = Vec::new();
    while let Some(mut chunk) = join.next_table() {
        all.append(&mut chunk);
    }
    all.sort_unstable();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(codes: &[u8], len: usize, r: u32, split: usize) -> Vec<(u32, u32, u32)> {
        let n = codes.len() / len;
        let mut out = Vec::new();
        for i in 0..split {
            for j in split..n {
                let d: u32 = codes[i * len..(i + 1) * len]
                    .iter()
                    .zip(&codes[j * len..(j + 1) * len])
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                if d <= r {
                    out.push((i as u32, j as u32, d));
                }
            }
        }
        out
    }

    #[test]
    fn split_join_is_the_brute_force_cross_join() {
        let mut seed = 17u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for (n, len, r) in [(300usize, 8usize, 12u32), (500, 32, 40), (64, 32, 90)] {
            // Clusters of near codes so that every radius has pairs, across and within sets.
            let mut codes = Vec::with_capacity(n * len);
            for i in 0..n {
                if i % 3 == 0 || codes.is_empty() {
                    codes.extend((0..len).map(|_| rnd() as u8));
                } else {
                    let base = (rnd() as usize % (codes.len() / len)) * len;
                    let mut c = codes[base..base + len].to_vec();
                    for _ in 0..(rnd() % (r + 8)) {
                        let bit = rnd() as usize % (len * 8);
                        c[bit / 8] ^= 1 << (bit % 8);
                    }
                    codes.extend(c);
                }
            }
            for split in [0, 1, n / 3, n / 2, n - 1, n] {
                for tables in [None, Some(len * 8 / 16)] {
                    let got = join_split(&codes, len, r, tables, Some(split)).unwrap();
                    let want = brute(&codes, len, r, split);
                    assert!(
                        !want.is_empty() || split != n / 2,
                        "no pairs to test: n={n} r={r}"
                    );
                    assert_eq!(
                        got, want,
                        "n={n} len={len} r={r} split={split} tables={tables:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn cost_model_prefers_more_tables_for_wider_codes() {
        let m256 = best_tables(256, 10_000_000, 31);
        let m64 = best_tables(64, 10_000_000, 8);
        assert!((8..=32).contains(&m256), "{m256}");
        assert!((3..=16).contains(&m64), "{m64}");
    }
}
