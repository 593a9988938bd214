//! Chroma half of the audio index: error-tolerant candidates from bit-sampled item keys,
//! votes by (track, offset), verification by aligned bit error rate.
//!
//! An excerpt cut at an arbitrary sample is out of phase with the reference's 1365-sample
//! framing, so most of its items differ from the reference's in a few bits (BER 0.03-0.1
//! clean, 0.1-0.3 under noise): exact-item lookups miss. Each item is therefore indexed
//! under four 16-bit keys (top half, bottom half, even bits, odd bits: every bit lands in two
//! keys), and each query key is probed as is and with each single bit flipped. At BER 0.2 a
//! 16-bit key survives with at most one error with probability 0.14, so a 10 s query (59
//! items x 4 keys) still casts tens of votes at the right offset.

use rustc_hash::FxHashMap;

use super::chroma::SILENCE_ITEM;

/// Keys per item.
pub const TABLES: usize = 4;
const KEYS: usize = 1 << 16;
// Votes: an exact key hit counts twice, a one-bit-flip hit once.
const EXACT_VOTE: u32 = 2;
const FLIP_VOTE: u32 = 1;
// Candidate (track, offset) cells verified per query.
const VERIFY_CELLS: usize = 32;
/// Fewest informative (non-silence, distinct) aligned items a match needs (1.5 s of
/// changing content: a 5 s excerpt of a sustained chord still has 12 to 16).
pub const MIN_ITEMS: usize = 12;

// Null model of the aligned BER of *unrelated* music, measured on the dev corpus (all pairs
// of unrelated tracks, every offset; n = 40..221 items): mean 0.487 and a standard deviation
// that falls only as n^-0.19 (items overlap 16 frames and music is self-similar, so they are
// far from independent bits): sd(40) = 0.052, sd(59) = 0.049, sd(221) = 0.039.
const NULL_MEAN: f64 = 0.487;
const NULL_SD_1: f64 = 0.105;
const NULL_SD_EXP: f64 = 0.19;
// Accept only BERs 5 null standard deviations below the mean (one-sided tail 3e-7 per
// verified candidate), never above 0.35.
const NULL_Z: f64 = 5.0;
const MAX_BER: f64 = 0.35;
// A match must also remove at least a quarter of the errors that two *independent* spans
// with the same per-bit rates would make (see [`chance_ber`]). Drones and sustained chords
// fix most bits, so two unrelated ones agree far below the null mean without being aligned:
// on 10 hours of game soundtracks, false chroma matches kept 0.84-0.97 of their chance BER,
// true matches (codecs, gain, low-pass, noise down to 0 dB) at most 0.67.
const MAX_CHANCE_SHARE: f64 = 0.75;

/// Largest aligned BER accepted as a match over `n` informative items: the null
/// distribution's mean minus [`NULL_Z`] standard deviations (so 0.19 at 5 s, 0.24 at 10 s,
/// 0.30 at 30 s).
pub fn ber_threshold(n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let sd = NULL_SD_1 * (n as f64).powf(-NULL_SD_EXP);
    (NULL_MEAN - NULL_Z * sd).min(MAX_BER)
}

/// Null-model z-score of an aligned BER over `n` informative items: how many null standard
/// deviations it lies below the mean BER of unrelated music (matches need [`NULL_Z`]).
pub fn z_score(ber: f64, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    (NULL_MEAN - ber) / (NULL_SD_1 * (n as f64).powf(-NULL_SD_EXP))
}

/// A match this many null standard deviations past the threshold is certain; one nearer the
/// threshold is marginal and yields to a stronger landmark line elsewhere in the track.
pub const MARGINAL_Z: f64 = NULL_Z + 1.0;

/// Evidence of a verified match: -ln of the null model's one-sided tail probability of a
/// BER this low over `n` informative items (normal tail, Mills-ratio approximation), less
/// the log of the offsets one query verifies (32 cells x 5), so that it compares with
/// [`super::landmark_index::LandmarkHit::evidence`].
pub fn evidence(ber: f64, n: usize) -> f64 {
    let z = z_score(ber, n).max(1.0);
    let tail = 0.5 * z * z + z.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln();
    tail - ((VERIFY_CELLS * 5) as f64).ln()
}

/// Compress the even bits of `x` (bit 0, 2, ..., 30) into 16 bits.
fn even_bits(x: u32) -> u32 {
    let mut x = x & 0x5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF;
    (x | (x >> 8)) & 0x0000_FFFF
}

/// The `table`-th 16-bit key of an item.
pub fn key(item: u32, table: usize) -> usize {
    (match table {
        0 => item >> 16,
        1 => item & 0xFFFF,
        2 => even_bits(item),
        _ => even_bits(item >> 1),
    }) as usize
}

#[derive(Clone, Copy, Debug)]
struct Posting {
    slot: u32,
    pos: u32,
}

/// A verified chroma match of a query against one track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChromaHit {
    /// Track slot.
    pub slot: u32,
    /// Reference item aligned with query item 0 (negative: the query starts earlier).
    pub offset: i64,
    /// Bit error rate over the informative aligned items.
    pub ber: f64,
    /// Aligned items.
    pub len: usize,
    /// Informative (non-silence, distinct) aligned items.
    pub informative: usize,
    /// Threshold the BER was held to.
    pub threshold: f64,
}

/// Inverted index from item keys to (track slot, item position).
pub struct ChromaTable {
    tables: Vec<Vec<Vec<Posting>>>,
    postings: usize,
}

impl Default for ChromaTable {
    fn default() -> Self {
        Self::new()
    }
}

impl ChromaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            tables: (0..TABLES).map(|_| vec![Vec::new(); KEYS]).collect(),
            postings: 0,
        }
    }

    /// Index the items of track `slot` (silence items are not indexed).
    pub fn add(&mut self, slot: u32, items: &[u32]) {
        for (pos, &item) in items.iter().enumerate() {
            if item == SILENCE_ITEM {
                continue;
            }
            for (t, table) in self.tables.iter_mut().enumerate() {
                table[key(item, t)].push(Posting {
                    slot,
                    pos: pos as u32,
                });
                self.postings += 1;
            }
        }
    }

    /// Remove track `slot`, whose items are `items`.
    pub fn remove(&mut self, slot: u32, items: &[u32]) {
        for &item in items {
            if item == SILENCE_ITEM {
                continue;
            }
            for (t, table) in self.tables.iter_mut().enumerate() {
                let bucket = &mut table[key(item, t)];
                let before = bucket.len();
                bucket.retain(|p| p.slot != slot);
                self.postings -= before - bucket.len();
            }
        }
    }

    /// Bytes the postings take in memory.
    pub fn memory(&self) -> usize {
        self.postings * std::mem::size_of::<Posting>()
    }

    /// Candidate cells by votes, then verified against `track_items(slot)`: every verified
    /// place (a track that repeats itself can have several), lowest BER first.
    pub fn query<'a>(
        &self,
        query: &[u32],
        track_items: impl Fn(u32) -> Option<&'a [u32]>,
    ) -> Vec<ChromaHit> {
        // Buckets far above the average are stop words (loops, sustained chords, silence-
        // like items shared by many tracks): they carry no alignment information.
        let avg = self.postings as f64 / (TABLES * KEYS) as f64;
        let cap = (64.0 + 64.0 * avg) as usize;
        let mut votes: FxHashMap<(u32, i64), u32> = FxHashMap::default();
        for (j, &item) in query.iter().enumerate() {
            if item == SILENCE_ITEM {
                continue;
            }
            for (t, table) in self.tables.iter().enumerate() {
                let k = key(item, t);
                for probe in 0..=16 {
                    let (k2, w) = if probe == 16 {
                        (k, EXACT_VOTE)
                    } else {
                        (k ^ (1 << probe), FLIP_VOTE)
                    };
                    let bucket = &table[k2];
                    if bucket.len() > cap {
                        continue;
                    }
                    for p in bucket {
                        *votes
                            .entry((p.slot, i64::from(p.pos) - j as i64))
                            .or_default() += w;
                    }
                }
            }
        }
        // Rank cells by their votes plus their neighbours' (sub-item phase splits votes
        // between two adjacent offsets).
        let mut ranked: Vec<((u32, i64), u32)> = votes
            .iter()
            .map(|(&(s, o), &v)| {
                let near = votes.get(&(s, o - 1)).copied().unwrap_or(0)
                    + votes.get(&(s, o + 1)).copied().unwrap_or(0);
                ((s, o), v + near)
            })
            .filter(|&(_, v)| v >= 2 * FLIP_VOTE)
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<(u32, i64)> = Vec::new();
        for &((s, o), _) in &ranked {
            if chosen.len() == VERIFY_CELLS {
                break;
            }
            if chosen
                .iter()
                .any(|&(s2, o2)| s2 == s && (o2 - o).abs() <= 2)
            {
                continue;
            }
            chosen.push((s, o));
        }
        // The best offset of each cell; cells whose best offsets come within two items of
        // each other are one place.
        let mut out: Vec<ChromaHit> = Vec::new();
        for (slot, o) in chosen {
            let Some(reference) = track_items(slot) else {
                continue;
            };
            let Some(hit) = (o - 2..=o + 2)
                .filter_map(|offset| verify(slot, reference, query, offset))
                .min_by(|a, b| a.ber.total_cmp(&b.ber))
            else {
                continue;
            };
            match out
                .iter_mut()
                .find(|h| h.slot == slot && (h.offset - hit.offset).abs() <= 2)
            {
                Some(h) if hit.ber < h.ber => *h = hit,
                Some(_) => {}
                None => out.push(hit),
            }
        }
        out.sort_by(|a, b| {
            a.ber
                .total_cmp(&b.ber)
                .then(a.slot.cmp(&b.slot))
                .then(a.offset.cmp(&b.offset))
        });
        out
    }
}

/// Aligned BER of `query` at `offset` in `reference`, if it passes the null-model threshold.
pub fn verify(slot: u32, reference: &[u32], query: &[u32], offset: i64) -> Option<ChromaHit> {
    let (start_r, start_q, len) = overlap(reference, query, offset)?;
    let (a, b) = (
        &reference[start_r..start_r + len],
        &query[start_q..start_q + len],
    );
    let (ber, distinct) = aligned_ber(
        a.iter().copied().zip(b.iter().copied()),
        query,
        &mut Vec::with_capacity(len),
    )?;
    let threshold = ber_threshold(distinct);
    (ber <= threshold && ber <= MAX_CHANCE_SHARE * chance_ber(a, b)).then_some(ChromaHit {
        slot,
        offset,
        ber,
        len,
        informative: distinct,
        threshold,
    })
}

/// BER that two independent item sequences with the per-bit rates of the aligned spans
/// would have: the mean over the 32 bits of p(1 - q) + q(1 - p), where p and q are how often
/// the bit is set in the reference and query items (pairs with silence on either side left
/// out, as in the BER). About 0.5 for varied music; far lower for drones, where agreement
/// says nothing about alignment.
pub fn chance_ber(reference: &[u32], query: &[u32]) -> f64 {
    let mut ones_r = [0u32; 32];
    let mut ones_q = [0u32; 32];
    let mut n = 0u32;
    for (&x, &y) in reference.iter().zip(query) {
        if x == SILENCE_ITEM || y == SILENCE_ITEM {
            continue;
        }
        n += 1;
        for b in 0..32 {
            ones_r[b] += (x >> b) & 1;
            ones_q[b] += (y >> b) & 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    let sum: f64 = (0..32)
        .map(|b| {
            let (p, q) = (f64::from(ones_r[b]) / n, f64::from(ones_q[b]) / n);
            p * (1.0 - q) + q * (1.0 - p)
        })
        .sum();
    sum / 32.0
}

/// Aligned BER and distinct informative items of `query` at `offset` in `reference`, under
/// [`verify`]'s rules but without its threshold.
pub fn ber_at(reference: &[u32], query: &[u32], offset: i64) -> Option<(f64, usize)> {
    let (start_r, start_q, len) = overlap(reference, query, offset)?;
    let a = &reference[start_r..start_r + len];
    let b = &query[start_q..start_q + len];
    aligned_ber(
        a.iter().copied().zip(b.iter().copied()),
        query,
        &mut Vec::with_capacity(len),
    )
}

/// Where `query` placed at `offset` overlaps `reference`: both starts and the length.
fn overlap(reference: &[u32], query: &[u32], offset: i64) -> Option<(usize, usize, usize)> {
    let start_r = usize::try_from(offset.max(0)).ok()?;
    let start_q = usize::try_from((-offset).max(0)).ok()?;
    if start_r >= reference.len() || start_q >= query.len() {
        return None;
    }
    Some((
        start_r,
        start_q,
        (reference.len() - start_r).min(query.len() - start_q),
    ))
}

/// BER over aligned (reference, query) item pairs and the distinct informative query items,
/// or `None` when they say too little: silence on either side is skipped (it carries no
/// information about the match), low variety (loops, drones) counts distinct query items,
/// not positions, and at least half of the query's informative items must take part.
fn aligned_ber(
    pairs: impl Iterator<Item = (u32, u32)>,
    query: &[u32],
    informative: &mut Vec<u32>,
) -> Option<(f64, usize)> {
    let mut errors = 0u64;
    informative.clear();
    for (x, y) in pairs {
        if x == SILENCE_ITEM || y == SILENCE_ITEM {
            continue;
        }
        errors += u64::from((x ^ y).count_ones());
        informative.push(y);
    }
    let used = informative.len();
    informative.sort_unstable();
    informative.dedup();
    let distinct = informative.len();
    let query_informative = query.iter().filter(|&&x| x != SILENCE_ITEM).count();
    if distinct < MIN_ITEMS || 2 * used < query_informative {
        return None;
    }
    Some((errors as f64 / (32.0 * used as f64), distinct))
}

/// What the chroma items say along a landmark line: their aligned BER, the distinct
/// informative query items, and the [`chance_ber`] of the aligned items.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineRead {
    /// Aligned bit error rate.
    pub ber: f64,
    /// Distinct informative query items that took part.
    pub informative: usize,
    /// BER of independent sequences with the same per-bit rates.
    pub chance: f64,
}

/// The items of `query` read along the line on which query item j meets reference item
/// `start + scale * j` (nearest item; a tempo change found by the landmarks), under the rules
/// of [`verify`] but without its thresholds: the best of the line and its neighbours one item
/// either side.
pub fn line_read(reference: &[u32], query: &[u32], start: f64, scale: f64) -> Option<LineRead> {
    let pairs = |shift: i32| {
        query.iter().enumerate().filter_map(move |(j, &y)| {
            let k = (start + f64::from(shift) + scale * j as f64).round();
            (k >= 0.0 && k < reference.len() as f64).then(|| (reference[k as usize], y))
        })
    };
    let mut informative = Vec::with_capacity(query.len());
    let mut best: Option<(f64, usize, i32)> = None;
    for shift in -1..=1 {
        if let Some((ber, distinct)) = aligned_ber(pairs(shift), query, &mut informative) {
            if best.is_none_or(|(b, _, _)| ber < b) {
                best = Some((ber, distinct, shift));
            }
        }
    }
    let (ber, informative, shift) = best?;
    let (r, q): (Vec<u32>, Vec<u32>) = pairs(shift).unzip();
    Some(LineRead {
        ber,
        informative,
        chance: chance_ber(&r, &q),
    })
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
    fn keys_cover_every_bit_twice() {
        for bit in 0..32 {
            let hits = (0..TABLES).filter(|&t| key(1 << bit, t) != 0).count();
            assert_eq!(hits, 2, "bit {bit}");
        }
    }

    #[test]
    fn threshold_grows_with_length() {
        assert!(ber_threshold(22) < ber_threshold(59));
        assert!(ber_threshold(59) < ber_threshold(221));
        assert!(ber_threshold(100_000) <= MAX_BER);
        assert!((0.18..0.26).contains(&ber_threshold(59)));
    }

    #[test]
    fn finds_noisy_excerpt() {
        let tracks: Vec<Vec<u32>> = (0..20).map(|i| random(1200, i)).collect();
        let mut t = ChromaTable::new();
        for (i, items) in tracks.iter().enumerate() {
            t.add(i as u32, items);
        }
        // Every item has 4 flipped bits (BER 0.125).
        let mut s = 99u64;
        let q: Vec<u32> = tracks[7][500..560]
            .iter()
            .map(|&x| {
                let mut y = x;
                for _ in 0..4 {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(7);
                    y ^= 1 << ((s >> 59) as u32);
                }
                y
            })
            .collect();
        let hits = t.query(&q, |s| tracks.get(s as usize).map(|v| v.as_slice()));
        assert_eq!(hits[0].slot, 7);
        assert_eq!(hits[0].offset, 500);
        assert!(hits[0].ber <= 0.125);
        let unrelated = random(60, 1000);
        assert!(t
            .query(&unrelated, |s| tracks.get(s as usize).map(|v| v.as_slice()))
            .is_empty());
        t.remove(7, &tracks[7]);
        assert!(t
            .query(&q, |s| tracks.get(s as usize).map(|v| v.as_slice()))
            .iter()
            .all(|h| h.slot != 7));
        assert_eq!(t.memory(), 19 * 1200 * TABLES * 8);
    }

    #[test]
    fn line_read_reads_items_along_a_tempo_line() {
        let reference = random(1200, 5);
        // 3% faster: query item j is reference item 300 + 1.03 j.
        let q: Vec<u32> = (0..80)
            .map(|j| reference[(300.0 + 1.03 * j as f64).round() as usize])
            .collect();
        let on = line_read(&reference, &q, 300.0, 1.03).unwrap();
        assert_eq!((on.ber, on.informative), (0.0, 80));
        // Random items: independent spans with their bit rates would disagree on about half.
        assert!((on.chance - 0.5).abs() < 0.05, "{}", on.chance);
        // The same start at tempo 1 drifts off the items after 17 of them.
        let straight = line_read(&reference, &q, 300.0, 1.0).unwrap().ber;
        assert!(straight > 0.25, "{straight}");
        // At tempo 1 it is verify's BER, within one item of the start.
        let exact = &reference[300..380];
        assert_eq!(line_read(&reference, exact, 301.0, 1.0).unwrap().ber, 0.0);
        assert_eq!(verify(0, &reference, exact, 300).unwrap().ber, 0.0);
        assert!(line_read(&reference, &q, 5000.0, 1.0).is_none());
    }

    #[test]
    fn silence_and_loops_never_verify() {
        let reference = vec![SILENCE_ITEM; 500];
        assert!(verify(0, &reference, &reference[..100], 0).is_none());
        let lp: Vec<u32> = random(4, 3).into_iter().cycle().take(400).collect();
        assert!(verify(0, &lp, &lp[..100], 0).is_none());
    }

    #[test]
    fn unrelated_drones_never_verify() {
        // Two drones on one chord: most bits fixed alike, the rest flickering independently,
        // each with 40 distinct items (past MIN_ITEMS). Their BER (about 0.12) is far below
        // the null threshold, but no lower than independent spans with those bit rates give.
        let drone = |seed: u64| -> Vec<u32> {
            random(200, seed)
                .into_iter()
                .map(|r| (0xA5C3_0F00 & !0xFF) | (r & 0x3F) | ((r >> 8) & 0x3 << 6))
                .collect()
        };
        let (a, b) = (drone(5), drone(6));
        let (ber, distinct) = ber_at(&a, &b[..80], 50).unwrap();
        assert!(
            distinct >= MIN_ITEMS && ber < ber_threshold(distinct),
            "{ber} {distinct}"
        );
        assert!((chance_ber(&a[50..130], &b[..80]) - ber).abs() < 0.03);
        assert!(verify(0, &a, &b[..80], 50).is_none());
        // A copy of the drone, with a few bit errors, still verifies.
        let copy: Vec<u32> = a[50..130]
            .iter()
            .map(|x| x ^ u32::from(x % 7 == 0))
            .collect();
        assert!(verify(0, &a, &copy, 50).is_some());
        // Varied music: the chance BER is near 0.5.
        let (r, q) = (random(80, 8), random(80, 9));
        assert!((chance_ber(&r, &q) - 0.5).abs() < 0.03);
    }
}
