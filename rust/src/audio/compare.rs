//! Compare two Chromaprint fingerprints: best alignment by bit error rate, AcoustID-style score.

use std::collections::HashMap;

use super::chroma::SILENCE_ITEM;

/// The best alignment of two fingerprints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alignment {
    /// Item `j` of `b` lines up with item `j + offset` of `a`.
    pub offset: i64,
    /// First aligned item in `a`.
    pub start_a: usize,
    /// First aligned item in `b`.
    pub start_b: usize,
    /// Number of aligned items.
    pub len: usize,
    /// Differing bits / compared bits over the aligned items, leaving out pairs where
    /// both are the silence item (0.5 when nothing but silence is aligned).
    pub ber: f64,
    /// (informative len / min(len_a, len_b)) * (1 - 2 BER), clipped at 0 and lowered for
    /// low-variety fingerprints (pg_acoustid `acoustid_compare2`, chromaprint.md 1.4).
    pub score: f64,
}

// Exhaustive search over every offset below this many item pairs; offset voting above.
const EXHAUSTIVE_PAIRS: usize = 1 << 24;
// Offset voting keys on the top 14 bits of each item (pg_acoustid, chromaprint.md 1.4).
const KEY_SHIFT: u32 = 32 - 14;
// Offsets taken from the vote histogram, each checked with its two neighbours.
const VOTED_OFFSETS: usize = 16;
// Positions remembered per key: a key seen more often carries no alignment information.
const MAX_POSITIONS: usize = 32;

/// Differing bits, first aligned items, overlap length, and the pairs in it where both
/// items are the silence item (they carry no information and are left out of the BER).
fn errors_at(a: &[u32], b: &[u32], offset: i64) -> (u64, usize, usize, usize, usize) {
    let start_a = offset.max(0) as usize;
    let start_b = (-offset).max(0) as usize;
    if start_a >= a.len() || start_b >= b.len() {
        return (0, start_a, start_b, 0, 0);
    }
    let len = (a.len() - start_a).min(b.len() - start_b);
    let mut errors = 0u64;
    let mut silent = 0usize;
    for (x, y) in a[start_a..start_a + len]
        .iter()
        .zip(&b[start_b..start_b + len])
    {
        errors += u64::from((x ^ y).count_ones());
        silent += usize::from(*x == SILENCE_ITEM && *y == SILENCE_ITEM);
    }
    (errors, start_a, start_b, len, silent)
}

/// Bit error rate of `b` aligned at `offset` in `a` (pairs where both are silence left out);
/// `None` when nothing informative overlaps.
pub fn errors_at_offset(a: &[u32], b: &[u32], offset: i64) -> Option<f64> {
    let (errors, _, _, len, silent) = errors_at(a, b, offset);
    let informative = len - silent;
    (informative > 0).then(|| errors as f64 / (32.0 * informative as f64))
}

/// Diversity of a fingerprint: min(1, (unique 14-bit keys + 10) / len + 0.5).
fn diversity(items: &[u32]) -> f64 {
    if items.is_empty() {
        return 0.0;
    }
    let mut keys: Vec<u32> = items.iter().map(|x| x >> KEY_SHIFT).collect();
    keys.sort_unstable();
    keys.dedup();
    ((keys.len() as f64 + 10.0) / items.len() as f64 + 0.5).min(1.0)
}

fn candidate_offsets(a: &[u32], b: &[u32]) -> Vec<i64> {
    if a.len().saturating_mul(b.len()) <= EXHAUSTIVE_PAIRS {
        return (-(b.len() as i64) + 1..a.len() as i64).collect();
    }
    let mut positions: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, &x) in a.iter().enumerate() {
        if x == SILENCE_ITEM {
            continue;
        }
        let list = positions.entry(x >> KEY_SHIFT).or_default();
        if list.len() < MAX_POSITIONS {
            list.push(i as u32);
        }
    }
    let mut votes: HashMap<i64, u32> = HashMap::new();
    for (j, &y) in b.iter().enumerate() {
        if y == SILENCE_ITEM {
            continue;
        }
        if let Some(list) = positions.get(&(y >> KEY_SHIFT)) {
            for &i in list {
                *votes.entry(i64::from(i) - j as i64).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(i64, u32)> = votes.into_iter().collect();
    ranked.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut out: Vec<i64> = ranked
        .iter()
        .take(VOTED_OFFSETS)
        .flat_map(|&(o, _)| [o - 1, o, o + 1])
        .collect();
    // Always consider the plain start-to-start alignment.
    out.push(0);
    out.sort_unstable();
    out.dedup();
    out
}

/// Align `b` against `a` and score the best offset; `None` if either is empty.
pub fn compare(a: &[u32], b: &[u32]) -> Option<Alignment> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let min_len = a.len().min(b.len()) as f64;
    let div = diversity(a).min(diversity(b));
    let mut best: Option<Alignment> = None;
    for offset in candidate_offsets(a, b) {
        let (errors, start_a, start_b, len, silent) = errors_at(a, b, offset);
        if len == 0 {
            continue;
        }
        let informative = len - silent;
        let (ber, mut score) = if informative == 0 {
            (0.5, 0.0)
        } else {
            let ber = errors as f64 / (32.0 * informative as f64);
            (
                ber,
                (informative as f64 / min_len * (1.0 - 2.0 * ber)).max(0.0),
            )
        };
        if div < 1.0 {
            score = score.powf(8.0 - 7.0 * div);
        }
        let better = match &best {
            None => true,
            Some(b) => score > b.score || (score == b.score && ber < b.ber),
        };
        if better {
            best = Some(Alignment {
                offset,
                start_a,
                start_b,
                len,
                ber,
                score,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<u32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 32) as u32
            })
            .collect()
    }

    #[test]
    fn finds_an_excerpt() {
        let a = random(1000, 1);
        let b: Vec<u32> = a[300..400].iter().map(|x| x ^ 0x0000_0101).collect();
        let m = compare(&a, &b).unwrap();
        assert_eq!(m.offset, 300);
        assert_eq!((m.start_a, m.start_b, m.len), (300, 0, 100));
        assert!((m.ber - 2.0 / 32.0).abs() < 1e-12);
        assert!(m.score > 0.8);
    }

    #[test]
    fn voting_path_finds_the_offset() {
        let a = random(10_000, 2);
        let b = a[2000..7000].to_vec();
        assert!(a.len() * b.len() > EXHAUSTIVE_PAIRS);
        let m = compare(&a, &b).unwrap();
        assert_eq!(m.offset, 2000);
        assert_eq!(m.ber, 0.0);
    }

    #[test]
    fn negative_offset() {
        let a = random(500, 3);
        let mut b = random(50, 4);
        b.extend_from_slice(&a[..300]);
        let m = compare(&a, &b).unwrap();
        assert_eq!(m.offset, -50);
        assert_eq!((m.start_a, m.start_b, m.len), (0, 50, 300));
    }

    #[test]
    fn unrelated_and_silence_score_low() {
        let a = random(500, 5);
        let b = random(500, 6);
        assert!(compare(&a, &b).unwrap().score < 0.2);
        let s = vec![SILENCE_ITEM; 500];
        assert!(compare(&s, &s).unwrap().score < 1e-6);
        assert!(compare(&[], &a).is_none());
    }
}
