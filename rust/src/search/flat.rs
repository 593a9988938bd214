//! The exact flat index: every code scanned with the SIMD kernels.

use std::collections::{HashMap, HashSet};

use super::ids::Ids;
use super::scan::{self, Task};
use super::store::Buf;
use super::topk::TopK;
use crate::error::{FingerprintError, Result};
use crate::simd::layout::{self, BLOCK};
use crate::simd::Scanner;

/// Largest id accepted: results carry ids as signed 64-bit with -1 for "none" (the FAISS convention).
pub const MAX_ID: u64 = i64::MAX as u64;

/// k-NN results for `q` queries: row-major `q x k`, padded with distance -1 and id -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knn {
    /// Results per query.
    pub k: usize,
    /// Distances, `q * k`.
    pub distances: Vec<i32>,
    /// Ids, `q * k`.
    pub ids: Vec<i64>,
}

/// Range-search results in CSR form: query `i` owns `offsets[i]..offsets[i+1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranges {
    /// `q + 1` offsets into `ids`/`distances`.
    pub offsets: Vec<i64>,
    /// Ids of the hits, nearest first within a query (ties by id).
    pub ids: Vec<i64>,
    /// Distances of the hits.
    pub distances: Vec<i32>,
}

impl Knn {
    /// Lay out per-query selections as `q x k` rows padded with -1.
    pub fn from_tops(tops: Vec<TopK>, k: usize) -> Knn {
        let nq = tops.len();
        let mut out = Knn {
            k,
            distances: vec![-1; nq * k],
            ids: vec![-1; nq * k],
        };
        for (qi, top) in tops.into_iter().enumerate() {
            for (j, (d, id)) in top.into_sorted().into_iter().enumerate() {
                out.distances[qi * k + j] = d as i32;
                out.ids[qi * k + j] = id as i64;
            }
        }
        out
    }
}

impl Ranges {
    /// CSR arrays from per-query `(distance, id)` hits, sorted within each query.
    pub fn from_hits(hits: Vec<Vec<(u32, u64)>>) -> Ranges {
        let mut out = Ranges {
            offsets: Vec::with_capacity(hits.len() + 1),
            ..Default::default()
        };
        out.offsets.push(0);
        for mut h in hits {
            h.sort_unstable();
            out.distances.extend(h.iter().map(|&(d, _)| d as i32));
            out.ids.extend(h.iter().map(|&(_, id)| id as i64));
            out.offsets.push(out.ids.len() as i64);
        }
        out
    }
}

/// How ids map to positions.
enum Lookup {
    /// Ids are strictly increasing by position: binary search, no extra memory.
    Sorted,
    /// Arbitrary ids: a hash map from id to position.
    Map(HashMap<u64, usize>),
}

/// An exact Hamming index over codes of one width.
pub struct FlatIndex {
    code_len: usize,
    words: usize,
    /// Codes in the interleaved layout of [`crate::simd::layout`].
    blocks: Buf<u64>,
    ids: Ids,
    lookup: Lookup,
}

impl FlatIndex {
    /// An empty index of `bits`-bit codes.
    pub fn new(bits: usize) -> Result<Self> {
        let code_len = super::code_len_for_bits(bits)?;
        Ok(FlatIndex {
            code_len,
            words: layout::words_for(code_len),
            blocks: Buf::default(),
            ids: Ids::default(),
            lookup: Lookup::Sorted,
        })
    }

    /// Rebuild from stored parts (used by `persist`); checks ids are unique.
    pub(crate) fn from_parts(
        code_len: usize,
        blocks: Buf<u64>,
        ids: Ids,
        sorted: bool,
    ) -> std::result::Result<Self, String> {
        let words = layout::words_for(code_len);
        if blocks.as_slice().len() != layout::blocked_len(ids.len(), words) {
            return Err("code and id sections disagree".into());
        }
        let lookup = if sorted {
            Lookup::Sorted
        } else {
            let mut map = HashMap::with_capacity(ids.len());
            for (pos, id) in ids.to_vec().into_iter().enumerate() {
                if map.insert(id, pos).is_some() {
                    return Err(format!("duplicate id {id}"));
                }
            }
            Lookup::Map(map)
        };
        Ok(FlatIndex {
            code_len,
            words,
            blocks,
            ids,
            lookup,
        })
    }

    /// Code width in bits.
    pub fn bits(&self) -> usize {
        self.code_len * 8
    }

    /// Code width in bytes.
    pub fn code_len(&self) -> usize {
        self.code_len
    }

    /// 64-bit words per code in the interleaved layout.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Distance from packed `query` words to the code at `pos` (random access).
    #[inline]
    pub fn distance_at(&self, query: &[u64], pos: usize) -> u32 {
        let blocks = self.blocks.as_slice();
        let base = (pos / BLOCK) * BLOCK * self.words + pos % BLOCK;
        query
            .iter()
            .enumerate()
            .map(|(w, &q)| (q ^ blocks[base + w * BLOCK]).count_ones())
            .sum()
    }

    /// Id of the code at `pos`.
    #[inline]
    pub fn id_at(&self, pos: usize) -> u64 {
        self.ids.get(pos)
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index holds no codes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All codes as row-major bytes, `len() * code_len()` in position order (a copy).
    pub fn codes(&self) -> Vec<u8> {
        let blocks = self.blocks.as_slice();
        (0..self.len())
            .flat_map(|p| layout::read_code(blocks, p, self.code_len))
            .collect()
    }

    /// The codes in the interleaved layout (whole blocks, padding zeroed).
    pub fn blocks(&self) -> &[u64] {
        self.blocks.as_slice()
    }

    /// All ids in position order (a copy).
    pub fn ids(&self) -> Vec<u64> {
        self.ids.to_vec()
    }

    /// The ids as stored (a range when they are the default numbering).
    pub fn id_store(&self) -> &Ids {
        &self.ids
    }

    /// Whether ids are strictly increasing by position.
    pub fn ids_sorted(&self) -> bool {
        matches!(self.lookup, Lookup::Sorted)
    }

    /// Whether the arrays are served from a memory map.
    pub fn is_mapped(&self) -> bool {
        self.blocks.is_mapped() || self.ids.is_mapped()
    }

    /// Bytes of memory the index holds on the heap (maps excluded).
    pub fn heap_bytes(&self) -> usize {
        let codes = match &self.blocks {
            Buf::Owned(c) => c.capacity() * 8,
            Buf::Mapped { .. } => 0,
        };
        let arrays = codes + self.ids.heap_bytes();
        let map = match &self.lookup {
            Lookup::Sorted => 0,
            Lookup::Map(m) => m.capacity() * (std::mem::size_of::<(u64, usize)>() + 1),
        };
        arrays + map
    }

    fn position(&self, id: u64) -> Option<usize> {
        match &self.lookup {
            Lookup::Sorted => self.ids.find_sorted(id),
            Lookup::Map(m) => m.get(&id).copied(),
        }
    }

    /// Whether `id` is in the index.
    pub fn contains(&self, id: u64) -> bool {
        self.position(id).is_some()
    }

    /// The code stored under `id`.
    pub fn get(&self, id: u64) -> Option<Vec<u8>> {
        self.position(id)
            .map(|p| layout::read_code(self.blocks.as_slice(), p, self.code_len))
    }

    /// Append row-major `codes` after the last position.
    fn push_codes(&mut self, codes: &[u8]) {
        let start = self.len();
        let n = start + codes.len() / self.code_len;
        let words = self.words;
        let blocks = self.blocks.to_mut();
        let need = layout::blocked_len(n, words);
        super::store::grow(blocks, need.saturating_sub(blocks.len()));
        blocks.resize(need, 0);
        for (i, code) in codes.chunks_exact(self.code_len).enumerate() {
            layout::write_code(blocks, start + i, code, words);
        }
    }

    /// The id the next default-numbered code gets: one past the largest id.
    pub fn next_id(&self) -> u64 {
        match &self.lookup {
            Lookup::Sorted => self.ids.last().map_or(0, |l| l + 1),
            Lookup::Map(_) => self.ids.max().map_or(0, |m| m + 1),
        }
    }

    fn check_codes(&self, codes: &[u8], what: &str) -> Result<usize> {
        if !codes.len().is_multiple_of(self.code_len) {
            return Err(FingerprintError::invalid(format!(
                "{what} must be a whole number of {}-byte codes, got {} bytes",
                self.code_len,
                codes.len()
            )));
        }
        Ok(codes.len() / self.code_len)
    }

    /// Add codes under `ids` (default: consecutive from [`next_id`](Self::next_id)).
    ///
    /// Fails without changing the index if an id repeats or is already present.
    pub fn add(&mut self, codes: &[u8], ids: Option<&[u64]>) -> Result<()> {
        let n = self.check_codes(codes, "codes")?;
        let owned;
        let ids = match ids {
            Some(ids) => {
                if ids.len() != n {
                    return Err(FingerprintError::invalid(format!(
                        "got {n} codes but {} ids",
                        ids.len()
                    )));
                }
                ids
            }
            None => {
                let first = self.next_id();
                owned = (first..first + n as u64).collect::<Vec<_>>();
                &owned
            }
        };
        if let Some(&bad) = ids.iter().find(|&&id| id > MAX_ID) {
            return Err(FingerprintError::invalid(format!(
                "ids must be below 2**63, got {bad}"
            )));
        }
        let last = self.ids.last();
        let stays_sorted = matches!(self.lookup, Lookup::Sorted)
            && ids.first().is_none_or(|&f| last.is_none_or(|l| f > l))
            && ids.windows(2).all(|w| w[0] < w[1]);
        if !stays_sorted {
            // Check every new id before touching anything.
            let mut seen = HashSet::with_capacity(n);
            for &id in ids {
                if !seen.insert(id) || self.contains(id) {
                    return Err(FingerprintError::DuplicateId(id));
                }
            }
        }
        if stays_sorted {
            self.push_codes(codes);
            self.ids.extend(ids);
            return Ok(());
        }
        if let Lookup::Sorted = self.lookup {
            let map = self
                .ids
                .to_vec()
                .into_iter()
                .enumerate()
                .map(|(p, id)| (id, p))
                .collect();
            self.lookup = Lookup::Map(map);
        }
        let base = self.len();
        if let Lookup::Map(map) = &mut self.lookup {
            map.extend(ids.iter().enumerate().map(|(i, &id)| (id, base + i)));
        }
        self.push_codes(codes);
        self.ids.extend(ids);
        Ok(())
    }

    /// Remove the codes stored under `ids`; returns how many were present.
    pub fn remove(&mut self, ids: &[u64]) -> usize {
        let mut doomed: Vec<usize> = ids.iter().filter_map(|&id| self.position(id)).collect();
        doomed.sort_unstable();
        doomed.dedup();
        if doomed.is_empty() {
            return 0;
        }
        let words = self.words;
        let n = self.len();
        let blocks = self.blocks.to_mut();
        let all_ids = self.ids.to_mut();
        let mut w = 0;
        let mut next = doomed.iter().peekable();
        for r in 0..n {
            if next.peek() == Some(&&r) {
                next.next();
                continue;
            }
            if w != r {
                for k in 0..words {
                    blocks[layout::slot(w, k, words)] = blocks[layout::slot(r, k, words)];
                }
                all_ids[w] = all_ids[r];
            }
            w += 1;
        }
        // Zero the padding of the last block so it never differs between equal indexes.
        for p in w..w.div_ceil(BLOCK) * BLOCK {
            for k in 0..words {
                blocks[layout::slot(p, k, words)] = 0;
            }
        }
        blocks.truncate(layout::blocked_len(w, words));
        all_ids.truncate(w);
        if let Lookup::Map(map) = &mut self.lookup {
            map.clear();
            map.extend(all_ids.iter().enumerate().map(|(p, &id)| (id, p)));
        }
        doomed.len()
    }

    /// The `k` nearest codes to each query (nearest first, ties by smaller id).
    pub fn search(&self, queries: &[u8], k: usize) -> Result<Knn> {
        Ok(Knn::from_tops(self.search_tops(queries, k)?, k))
    }

    /// The k-nearest selections of each query, unsorted.
    pub fn search_tops(&self, queries: &[u8], k: usize) -> Result<Vec<TopK>> {
        let nq = self.check_codes(queries, "queries")?;
        let n = self.len();
        let scanner = Scanner::best(self.code_len);
        let keep = k.min(n);
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(keep)).collect();
        if keep > 0 && nq > 0 {
            let tasks = scan::plan(nq, n, rayon::current_num_threads());
            let ids = &self.ids;
            let packed = scan::pack_queries(queries, self.code_len, self.words);
            let parts = scan::run(&tasks, |t: &Task| {
                let mut local: Vec<TopK> = t.queries.clone().map(|_| TopK::new(keep)).collect();
                let first = t.queries.start;
                // Two closures need the selections: one reads thresholds, one offers hits.
                let cell = std::cell::RefCell::new(&mut local);
                scan::scan_task(
                    &scanner,
                    &packed,
                    self.blocks(),
                    t,
                    |qi| cell.borrow()[qi - first].threshold(),
                    |qi, start, hits| {
                        let top = &mut cell.borrow_mut()[qi - first];
                        for h in hits {
                            top.offer(h.distance, ids.get(start + h.slot as usize));
                        }
                    },
                );
                local
            });
            for (t, local) in tasks.iter().zip(parts) {
                for (qi, top) in t.queries.clone().zip(local) {
                    tops[qi].merge(top);
                }
            }
        }
        Ok(tops)
    }

    /// Every code within `max_distance` of each query, nearest first (ties by id).
    pub fn range_search(&self, queries: &[u8], max_distance: u32) -> Result<Ranges> {
        let nq = self.check_codes(queries, "queries")?;
        let n = self.len();
        let scanner = Scanner::best(self.code_len);
        let mut hits: Vec<Vec<(u32, u64)>> = vec![Vec::new(); nq];
        if n > 0 && nq > 0 {
            let tasks = scan::plan(nq, n, rayon::current_num_threads());
            let ids = &self.ids;
            let packed = scan::pack_queries(queries, self.code_len, self.words);
            let parts = scan::run(&tasks, |t: &Task| {
                let mut local: Vec<Vec<(u32, u64)>> = vec![Vec::new(); t.queries.len()];
                scan::scan_task(
                    &scanner,
                    &packed,
                    self.blocks(),
                    t,
                    |_| max_distance,
                    |qi, start, hits| {
                        let out = &mut local[qi - t.queries.start];
                        out.extend(
                            hits.iter()
                                .map(|h| (h.distance, ids.get(start + h.slot as usize))),
                        );
                    },
                );
                local
            });
            for (t, local) in tasks.iter().zip(parts) {
                for (qi, mut h) in t.queries.clone().zip(local) {
                    hits[qi].append(&mut h);
                }
            }
        }
        Ok(Ranges::from_hits(hits))
    }
}
