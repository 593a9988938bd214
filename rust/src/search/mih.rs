//! Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming
//! Space with Multi-Index Hashing", CVPR 2012): exact sublinear radius search.
//!
//! Codes are cut into `m` disjoint substrings, one table per substring. If two
//! codes are within `r` bits, then by the pigeonhole principle at least one of
//! their substrings is within `floor(r / m)` bits. A query probes, in every
//! table, each key within that radius of its own substring, and verifies the
//! candidates with the full distance, so results equal a linear scan.
//!
//! Tables are compact: an array of code positions per table sorted by key, plus
//! either an offsets array over all `2^width` keys (counting sort; one lookup per
//! probe) or, when that array would dwarf the codes, the distinct keys present
//! and their offsets (a sort; a binary search per probe). No map of vectors. The
//! index storage itself stays in [`FlatIndex`]; codes added after the last build
//! are scanned linearly until the next rebuild.

use std::ops::Range;

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::flat::FlatIndex;
use super::scan::{self, Task};
use super::topk::TopK;

/// A probe or a random-access verification costs about as much as scanning
/// this many codes (a cache miss against a streaming SIMD scan; measured on x86_64).
const RANDOM_ACCESS_COST: f64 = 64.0;
/// Widest substring a table is keyed on (its offsets array has `2^width + 1` entries).
pub const MAX_WIDTH: u32 = 24;
/// A table keeps only the keys present once `2^width` exceeds this many times the codes: a
/// dense offsets array would then be mostly empty, and zeroing and summing it (16 MB per
/// 22-bit table) would cost more than the whole build of a small index (the 3 tables of
/// `RobustImageIndex`'s 64-bit local codes cost 20-60 ms on a first add of 1800 codes).
const SPARSE_RATIO: usize = 16;

/// One substring: `width` bits starting at bit `start` of the packed words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// First bit (bit `j` is bit `j % 64` of word `j / 64`).
    pub start: u32,
    /// Number of bits.
    pub width: u32,
}

impl Part {
    /// The substring of packed `words` as an integer key.
    #[inline]
    pub fn key(&self, words: &[u64]) -> u32 {
        let w = (self.start / 64) as usize;
        let shift = self.start % 64;
        let lo = words[w] as u128;
        let hi = words.get(w + 1).copied().unwrap_or(0) as u128;
        (((hi << 64 | lo) >> shift) as u64 & ((1u64 << self.width) - 1)) as u32
    }
}

/// The paper's table count, about `bits / log2(n)`.
///
/// Substrings are also kept to at most `floor(log2 n)` bits (and [`MAX_WIDTH`]), so
/// a table's offsets array is never larger than its positions array.
pub fn default_tables(bits: usize, n: usize) -> usize {
    let log_n = (n.max(2) as f64).log2();
    let m = (bits as f64 / log_n).round() as usize;
    let widest = (log_n.floor() as usize).clamp(1, MAX_WIDTH as usize);
    m.max(bits.div_ceil(widest)).clamp(1, bits)
}

/// Split `bits` into `m` near-equal contiguous substrings (wider ones first).
pub fn partition(bits: usize, m: usize) -> Vec<Part> {
    let base = bits / m;
    let extra = bits % m;
    let mut start = 0;
    (0..m)
        .map(|i| {
            let width = (base + usize::from(i < extra)) as u32;
            let p = Part {
                start: start as u32,
                width,
            };
            start += width as usize;
            p
        })
        .collect()
}

/// Every `width`-bit mask with exactly `t` bits set (Gosper's hack), in increasing order.
fn masks(width: u32, t: u32, mut f: impl FnMut(u32)) {
    if t > width {
        return;
    }
    if t == 0 {
        f(0);
        return;
    }
    let limit = 1u64 << width;
    let mut c: u64 = (1u64 << t) - 1;
    while c < limit {
        f(c as u32);
        let low = c & c.wrapping_neg();
        let ripple = c + low;
        c = (((ripple ^ c) >> 2) / low) | ripple;
    }
}

/// Every `width`-bit mask with at most `r` bits set.
pub fn masks_upto(width: u32, r: u32, mut f: impl FnMut(u32)) {
    for t in 0..=r.min(width) {
        masks(width, t, &mut f);
    }
}

/// `sum_{t=0..=r} C(width, t)`: keys probed per table at radius `r`.
pub fn probes(width: u32, r: u32) -> f64 {
    let mut total = 0.0;
    let mut c = 1.0;
    for t in 0..=r.min(width) {
        if t > 0 {
            c = c * f64::from(width - t + 1) / f64::from(t);
        }
        total += c;
    }
    total
}

/// How a table finds the positions of one key.
enum Buckets {
    /// `2^width + 1` offsets into `positions`, one per key.
    Dense(Vec<u32>),
    /// The distinct keys present, increasing, and `keys.len() + 1` offsets into `positions`.
    Sparse { keys: Vec<u32>, offsets: Vec<u32> },
}

/// One table: positions grouped by the key of one substring.
struct Table {
    part: Part,
    buckets: Buckets,
    positions: Vec<u32>,
}

impl Table {
    /// Counting sort of `key_of` (position -> key) over every key.
    fn dense(part: Part, key_of: &[u32]) -> Table {
        let n = key_of.len();
        // Counts at key + 1, prefix sums: offsets[k] is the start of bucket k.
        let mut offsets = vec![0u32; (1usize << part.width) + 1];
        for &k in key_of {
            offsets[k as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        // Fill each bucket through its start offset, which ends at the next bucket's start;
        // shifting back by one restores the starts (no second array of 2^width offsets).
        let mut positions = vec![0u32; n];
        for (pos, &k) in key_of.iter().enumerate() {
            positions[offsets[k as usize] as usize] = pos as u32;
            offsets[k as usize] += 1;
        }
        let keys = offsets.len() - 1;
        offsets.copy_within(..keys, 1);
        offsets[0] = 0;
        Table {
            part,
            buckets: Buckets::Dense(offsets),
            positions,
        }
    }

    /// Sort of `key_of` (position -> key), keeping only the keys present.
    fn sparse(part: Part, key_of: &[u32]) -> Table {
        // Key above position in one word: sorting orders by key, then position (as `dense`).
        let mut pairs: Vec<u64> = (key_of.iter().enumerate())
            .map(|(pos, &k)| u64::from(k) << 32 | pos as u64)
            .collect();
        pairs.sort_unstable();
        let mut keys = Vec::new();
        let mut offsets = Vec::new();
        for (i, &p) in pairs.iter().enumerate() {
            let k = (p >> 32) as u32;
            if keys.last() != Some(&k) {
                keys.push(k);
                offsets.push(i as u32);
            }
        }
        offsets.push(pairs.len() as u32);
        let positions = pairs.iter().map(|&p| p as u32).collect();
        Table {
            part,
            buckets: Buckets::Sparse { keys, offsets },
            positions,
        }
    }

    /// Bytes of memory the table holds.
    fn heap_bytes(&self) -> usize {
        let buckets = match &self.buckets {
            Buckets::Dense(offsets) => offsets.capacity(),
            Buckets::Sparse { keys, offsets } => keys.capacity() + offsets.capacity(),
        };
        (buckets + self.positions.capacity()) * 4
    }

    /// Append the positions of every key in `keys` (which it overwrites) to `out`.
    fn extend_buckets(&self, keys: &mut [usize], out: &mut Vec<u32>) {
        match &self.buckets {
            Buckets::Dense(offsets) => {
                // Three passes so the random reads of each pass overlap instead of queueing.
                for &k in keys.iter() {
                    crate::simd::prefetch(&offsets[k]);
                }
                for k in keys.iter_mut() {
                    let start = offsets[*k] as usize;
                    let end = offsets[*k + 1] as usize;
                    if start < self.positions.len() {
                        crate::simd::prefetch(&self.positions[start]);
                    }
                    *k = start << 32 | end;
                }
                for &k in keys.iter() {
                    out.extend_from_slice(&self.positions[k >> 32..k & 0xffff_ffff]);
                }
            }
            Buckets::Sparse {
                keys: present,
                offsets,
            } => {
                // Small by construction (fewer than 2^width / SPARSE_RATIO codes): the
                // binary searches stay in cache.
                for &k in keys.iter() {
                    if let Ok(i) = present.binary_search(&(k as u32)) {
                        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                        out.extend_from_slice(&self.positions[start..end]);
                    }
                }
            }
        }
    }
}

/// The substring tables over the first `built` codes of a [`FlatIndex`].
pub struct Mih {
    tables: Vec<Table>,
    built: usize,
}

impl Mih {
    /// Build `m` tables (default: [`default_tables`]) over every code of `flat`.
    pub fn build(flat: &FlatIndex, m: Option<usize>) -> Mih {
        Mih::build_with(flat, m, SPARSE_RATIO)
    }

    /// [`Mih::build`], keeping only the keys present in the tables whose `2^width` exceeds
    /// `sparse_ratio` times the codes (0: every table; `usize::MAX`: none).
    fn build_with(flat: &FlatIndex, m: Option<usize>, sparse_ratio: usize) -> Mih {
        let bits = flat.bits();
        let n = flat.len();
        let m = m
            .unwrap_or_else(|| default_tables(bits, n))
            .clamp(bits.div_ceil(MAX_WIDTH as usize), bits);
        let words = flat.words();
        // Keys of every code, table-major, computed once from the interleaved layout.
        let parts = partition(bits, m);
        let tables = parts
            .par_iter()
            .map(|&part| {
                let mut key_of = Vec::with_capacity(n);
                let mut q = vec![0u64; words];
                let blocks = flat.blocks();
                for pos in 0..n {
                    let base = (pos / 8) * 8 * words + pos % 8;
                    for (w, qw) in q.iter_mut().enumerate() {
                        *qw = blocks[base + w * 8];
                    }
                    key_of.push(part.key(&q));
                }
                if sparse_ratio.saturating_mul(n.max(1)) < 1usize << part.width {
                    Table::sparse(part, &key_of)
                } else {
                    Table::dense(part, &key_of)
                }
            })
            .collect();
        Mih { tables, built: n }
    }

    /// Number of tables.
    pub fn tables(&self) -> usize {
        self.tables.len()
    }

    /// The substrings the tables are keyed on.
    pub fn parts(&self) -> Vec<Part> {
        self.tables.iter().map(|t| t.part).collect()
    }

    /// Codes covered by the tables (later ones are scanned linearly).
    pub fn built(&self) -> usize {
        self.built
    }

    /// Bytes of memory the tables hold.
    pub fn heap_bytes(&self) -> usize {
        self.tables.iter().map(Table::heap_bytes).sum()
    }

    /// Expected candidates verified for a radius-`r` probe of `n` uniform codes.
    fn expected_cost(&self, r: u32) -> f64 {
        let per_table = r / self.tables.len() as u32;
        self.tables
            .iter()
            .map(|t| {
                let p = probes(t.part.width, per_table);
                p + p * self.built as f64 / (1u64 << t.part.width) as f64
            })
            .sum()
    }

    /// Whether a radius-`r` search is expected to beat a linear scan of `n` codes.
    pub fn worth_it(&self, r: u32, n: usize) -> bool {
        self.expected_cost(r) * RANDOM_ACCESS_COST < n as f64
    }

    /// Append every position whose substring in some table is exactly `t` bits
    /// from the query's (a position once per table that has it).
    fn probe_exact(&self, q: &[u64], t: u32, out: &mut Vec<u32>) {
        let mut keys = Vec::new();
        for table in &self.tables {
            let key = table.part.key(q);
            keys.clear();
            masks(table.part.width, t, |mask| keys.push((key ^ mask) as usize));
            table.extend_buckets(&mut keys, out);
        }
    }

    /// Full distances of candidate positions (prefetched ahead), passed to `f`.
    fn verify(&self, flat: &FlatIndex, q: &[u64], cand: &[u32], mut f: impl FnMut(u32, u32)) {
        let mut dist = Vec::with_capacity(cand.len());
        crate::simd::pairs::gather()(q, flat.blocks(), cand, &mut dist);
        for (&p, d) in cand.iter().zip(dist) {
            f(d, p);
        }
    }

    /// Every code within `r` of packed query `q`, as `(distance, position)`.
    fn range_one(&self, flat: &FlatIndex, q: &[u64], r: u32) -> Vec<(u32, u32)> {
        let per_table = r / self.tables.len() as u32;
        let mut cand = Vec::new();
        for t in 0..=per_table {
            self.probe_exact(q, t, &mut cand);
        }
        cand.sort_unstable();
        cand.dedup();
        let mut out: Vec<(u32, u32)> = Vec::new();
        self.verify(flat, q, &cand, |d, p| {
            if d <= r {
                out.push((d, p));
            }
        });
        self.scan_tail(flat, q, |_| r, |d, p| out.push((d, p)));
        out
    }

    /// Scan codes added since the build linearly.
    fn scan_tail(
        &self,
        flat: &FlatIndex,
        q: &[u64],
        mut thr: impl FnMut(()) -> u32,
        mut hit: impl FnMut(u32, u32),
    ) {
        let n = flat.len();
        if self.built >= n {
            return;
        }
        let start = self.built / 8 * 8;
        let task = Task {
            queries: 0..1,
            codes: start..n,
        };
        let scanner = crate::simd::Scanner::best(flat.code_len());
        let built = self.built;
        scan::scan_task(
            &scanner,
            q,
            flat.blocks(),
            &task,
            |_| thr(()),
            |_, first, hits| {
                for h in hits {
                    let pos = first + h.slot as usize;
                    if pos >= built {
                        hit(h.distance, pos as u32);
                    }
                }
            },
        );
    }

    /// The `k` nearest codes to packed query `q` by growing the radius, or
    /// `None` once that would cost more than a linear scan (the caller scans).
    fn knn_one(&self, flat: &FlatIndex, q: &[u64], k: usize) -> Option<TopK> {
        let m = self.tables.len() as u32;
        let n = flat.len();
        let mut top = TopK::new(k.min(n));
        self.scan_tail(
            flat,
            q,
            |_| u32::MAX,
            |d, p| top.offer(d, flat.id_at(p as usize)),
        );
        let mut seen: FxHashSet<u32> = FxHashSet::default();
        let mut cand = Vec::new();
        let mut spent = 0.0;
        // Growing the radius is a gamble (the k-th neighbour may be far): stake a
        // quarter of a scan's cost, then let the caller scan.
        let budget = n as f64 / RANDOM_ACCESS_COST / 4.0;
        for t in 0..=MAX_WIDTH {
            // After probing radius t in every table, every code within m*(t+1)-1 is found.
            let mut stage = 0.0;
            for table in &self.tables {
                let p = probes(table.part.width, t)
                    - if t > 0 {
                        probes(table.part.width, t - 1)
                    } else {
                        0.0
                    };
                stage += p * (1.0 + self.built as f64 / (1u64 << table.part.width) as f64);
            }
            spent += stage;
            if spent > budget {
                return None;
            }
            cand.clear();
            self.probe_exact(q, t, &mut cand);
            cand.retain(|&p| seen.insert(p));
            cand.sort_unstable();
            self.verify(flat, q, &cand, |d, p| top.offer(d, flat.id_at(p as usize)));
            let covered = m * (t + 1) - 1;
            if top.is_full() && top.threshold() <= covered {
                return Some(top);
            }
            if self.tables.iter().all(|tb| t >= tb.part.width) {
                return Some(top);
            }
        }
        Some(top)
    }

    /// Range search for every query (row-major `queries`), in parallel; `None`
    /// rows (none here) never occur: MIH is exact at every radius.
    pub fn range_search(&self, flat: &FlatIndex, queries: &[u8], r: u32) -> Vec<Vec<(u32, u64)>> {
        let packed = scan::pack_queries(queries, flat.code_len(), flat.words());
        packed
            .par_chunks(flat.words())
            .map(|q| {
                self.range_one(flat, q, r)
                    .into_iter()
                    .map(|(d, p)| (d, flat.id_at(p as usize)))
                    .collect()
            })
            .collect()
    }

    /// k-NN for every query; rows where growing the radius got too costly are `None`.
    pub fn knn(&self, flat: &FlatIndex, queries: &[u8], k: usize) -> Vec<Option<TopK>> {
        let packed = scan::pack_queries(queries, flat.code_len(), flat.words());
        packed
            .par_chunks(flat.words())
            .map(|q| self.knn_one(flat, q, k))
            .collect()
    }

    /// Positions `range` of the self-join (see [`super::dedup`]): for each code in
    /// `range`, every later code within `r`, as `(row, col, distance)`.
    pub fn self_join(&self, flat: &FlatIndex, range: Range<usize>, r: u32) -> Vec<(u32, u32, u32)> {
        let words = flat.words();
        let blocks = flat.blocks();
        let mut q = vec![0u64; words];
        let mut out = Vec::new();
        for row in range {
            let base = (row / 8) * 8 * words + row % 8;
            for (w, qw) in q.iter_mut().enumerate() {
                *qw = blocks[base + w * 8];
            }
            for (d, col) in self.range_one(flat, &q, r) {
                if col as usize > row {
                    out.push((row as u32, col, d));
                }
            }
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_enumerate_every_combination_once() {
        for width in 1..=10u32 {
            for t in 0..=width {
                let mut seen = Vec::new();
                masks(width, t, |m| seen.push(m));
                let expect: Vec<u32> = (0..1u32 << width).filter(|m| m.count_ones() == t).collect();
                assert_eq!(seen, expect, "width {width} t {t}");
            }
        }
    }

    #[test]
    fn partition_covers_every_bit_once() {
        for bits in [8, 64, 72, 256, 4096] {
            for m in 1..=bits.min(40) {
                let parts = partition(bits, m);
                assert_eq!(parts.len(), m);
                assert_eq!(parts.iter().map(|p| p.width as usize).sum::<usize>(), bits);
                assert!(parts
                    .windows(2)
                    .all(|w| w[0].start + w[0].width == w[1].start));
            }
        }
    }

    #[test]
    fn keys_read_the_right_bits() {
        let words = [0xdead_beef_0123_4567u64, 0x89ab_cdef_f00d_cafe];
        let p = Part {
            start: 60,
            width: 8,
        };
        assert_eq!(p.key(&words), 0xed); // 4 high bits of word 0, 4 low bits of word 1
        assert_eq!(
            Part {
                start: 0,
                width: 16
            }
            .key(&words),
            0x4567
        );
    }

    /// Every position within `r` of `q`, by brute force.
    fn brute(flat: &FlatIndex, codes: &[u64], q: u64, r: u32) -> Vec<(u32, u32)> {
        let mut want: Vec<(u32, u32)> = (codes.iter().enumerate())
            .map(|(p, &c)| ((c ^ q).count_ones(), p as u32))
            .filter(|&(d, _)| d <= r)
            .collect();
        want.sort_unstable();
        assert_eq!(flat.len(), codes.len());
        want
    }

    #[test]
    fn sparse_and_dense_tables_agree_with_brute_force() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for (n, clustered) in [
            (0, false),
            (1, false),
            (300, false),
            (3000, false),
            (3000, true),
        ] {
            // Clustered codes share most bits: few distinct keys, long buckets.
            let codes: Vec<u64> = (0..n)
                .map(|_| {
                    if clustered {
                        next() & 0x0101_0101_0101_0101
                    } else {
                        next()
                    }
                })
                .collect();
            let mut flat = FlatIndex::new(64).unwrap();
            let bytes: Vec<u8> = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
            flat.add(&bytes, None).unwrap();
            for m in [1, 3, 4] {
                let sparse = Mih::build_with(&flat, Some(m), 0);
                let dense = Mih::build_with(&flat, Some(m), usize::MAX);
                assert!(sparse
                    .tables
                    .iter()
                    .all(|t| matches!(t.buckets, Buckets::Sparse { .. })));
                assert!(dense
                    .tables
                    .iter()
                    .all(|t| matches!(t.buckets, Buckets::Dense(_))));
                // The default picks by size: 3 tables of ~21 bits over 3000 codes are sparse.
                let auto = Mih::build(&flat, Some(m));
                for t in &auto.tables {
                    let want_sparse = SPARSE_RATIO * n.max(1) < 1 << t.part.width;
                    assert_eq!(matches!(t.buckets, Buckets::Sparse { .. }), want_sparse);
                }
                for (i, q) in (0..20).map(|_| next()).enumerate() {
                    // Half the queries are indexed codes with a few bits flipped.
                    let q = if i % 2 == 1 && n > 0 {
                        codes[i * 7 % n] ^ (q & q >> 7 & q >> 13)
                    } else {
                        q
                    };
                    for r in [0, 3, 8, 20] {
                        let want = brute(&flat, &codes, q, r);
                        for mih in [&sparse, &dense, &auto] {
                            let mut got = mih.range_one(&flat, &[q], r);
                            got.sort_unstable();
                            assert_eq!(got, want, "n {n} m {m} r {r}");
                        }
                    }
                    // The same candidates in the same order from both layouts.
                    for t in 0..3 {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        sparse.probe_exact(&[q], t, &mut a);
                        dense.probe_exact(&[q], t, &mut b);
                        assert_eq!(a, b);
                    }
                    let k = 5.min(n);
                    let (a, b) = (
                        sparse.knn_one(&flat, &[q], k),
                        dense.knn_one(&flat, &[q], k),
                    );
                    assert_eq!(a.map(|t| t.into_sorted()), b.map(|t| t.into_sorted()));
                }
            }
        }
    }

    #[test]
    fn default_tables_follow_the_paper() {
        assert_eq!(default_tables(256, 10_000_000), 12);
        assert_eq!(default_tables(64, 10_000_000), 3);
        assert!(default_tables(256, 10) >= 256 / 24);
    }
}
