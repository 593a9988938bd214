//! The index users hold: flat storage, plus multi-index-hashing tables when
//! the method asks for them, with the choice of search path made per call.

use super::flat::{FlatIndex, Knn, Ranges};
use super::mih::Mih;
use super::topk::TopK;
use crate::error::{FingerprintError, Result};

/// How searches are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Always scan every code (SIMD).
    Flat,
    /// Keep multi-index hashing tables and use them wherever probing costs less than a scan
    /// (small radii); exact either way.
    Mih,
    /// Flat for small indexes, MIH tables from [`AUTO_MIH_MIN`] codes, chosen per query radius.
    Auto,
}

impl Method {
    /// Parse `"flat" | "mih" | "auto"`.
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            "flat" => Ok(Method::Flat),
            "mih" => Ok(Method::Mih),
            "auto" => Ok(Method::Auto),
            other => Err(FingerprintError::invalid(format!(
                "method must be 'flat', 'mih' or 'auto', got {other:?}"
            ))),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Method::Flat => "flat",
            Method::Mih => "mih",
            Method::Auto => "auto",
        }
    }
}

/// Below this many codes `Method::Auto` keeps no tables: a scan is already fast.
pub const AUTO_MIH_MIN: usize = 100_000;
/// Codes added since the last table build that are tolerated (scanned linearly) before a rebuild.
const MIN_TAIL: usize = 1024;

/// A Hamming index: storage plus the search structure its method needs.
pub struct Index {
    flat: FlatIndex,
    method: Method,
    tables: Option<usize>,
    mih: Option<Mih>,
}

impl Index {
    /// An empty index of `bits`-bit codes; `tables` overrides MIH's table count.
    pub fn new(bits: usize, method: Method, tables: Option<usize>) -> Result<Index> {
        Index::from_flat(FlatIndex::new(bits)?, method, tables)
    }

    /// Wrap existing storage (building tables if the method needs them).
    pub fn from_flat(flat: FlatIndex, method: Method, tables: Option<usize>) -> Result<Index> {
        if let Some(m) = tables {
            if m == 0 || m > flat.bits() {
                return Err(FingerprintError::invalid(format!(
                    "tables must be between 1 and {} for {}-bit codes, got {m}",
                    flat.bits(),
                    flat.bits()
                )));
            }
        }
        let mut index = Index {
            flat,
            method,
            tables,
            mih: None,
        };
        index.refresh(true);
        Ok(index)
    }

    /// The storage.
    pub fn flat(&self) -> &FlatIndex {
        &self.flat
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The table-count override, if any.
    pub fn tables_override(&self) -> Option<usize> {
        self.tables
    }

    /// The MIH tables currently built, if any.
    pub fn mih(&self) -> Option<&Mih> {
        self.mih.as_ref()
    }

    /// Heap bytes: storage plus tables.
    pub fn heap_bytes(&self) -> usize {
        self.flat.heap_bytes() + self.mih.as_ref().map_or(0, Mih::heap_bytes)
    }

    fn wants_tables(&self) -> bool {
        match self.method {
            Method::Flat => false,
            Method::Mih => true,
            Method::Auto => self.flat.len() >= AUTO_MIH_MIN,
        }
    }

    /// (Re)build the tables when the method wants them and they are missing,
    /// stale (`force`), or cover too few of the codes.
    fn refresh(&mut self, force: bool) {
        if !self.wants_tables() || self.flat.is_empty() {
            self.mih = None;
            return;
        }
        let n = self.flat.len();
        let stale = match &self.mih {
            None => true,
            Some(m) => force || n - m.built() > MIN_TAIL.max(m.built() / 4),
        };
        if stale {
            self.mih = Some(Mih::build(&self.flat, self.tables));
        }
    }

    /// Add codes (see [`FlatIndex::add`]).
    pub fn add(&mut self, codes: &[u8], ids: Option<&[u64]>) -> Result<()> {
        self.flat.add(codes, ids)?;
        self.refresh(false);
        Ok(())
    }

    /// Remove codes by id; returns how many were present.
    pub fn remove(&mut self, ids: &[u64]) -> usize {
        let removed = self.flat.remove(ids);
        if removed > 0 {
            // Positions moved: tables must be rebuilt.
            self.refresh(true);
        }
        removed
    }

    /// The `k` nearest codes to each query (exact; see [`FlatIndex::search`]).
    pub fn search(&self, queries: &[u8], k: usize) -> Result<Knn> {
        let Some(mih) = &self.mih else {
            return self.flat.search(queries, k);
        };
        let cl = self.flat.code_len();
        if !queries.len().is_multiple_of(cl) {
            return self.flat.search(queries, k);
        }
        let rows = mih.knn(&self.flat, queries, k);
        let missing: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].is_none()).collect();
        let mut tops: Vec<TopK> = rows
            .into_iter()
            .map(|r| r.unwrap_or_else(|| TopK::new(0)))
            .collect();
        if !missing.is_empty() {
            // Queries whose radius grew too far: one batched scan answers them all.
            let batch: Vec<u8> = missing
                .iter()
                .flat_map(|&i| queries[i * cl..(i + 1) * cl].iter().copied())
                .collect();
            let scanned = self.flat.search_tops(&batch, k)?;
            for (i, top) in missing.into_iter().zip(scanned) {
                tops[i] = top;
            }
        }
        Ok(Knn::from_tops(tops, k))
    }

    /// Every code within `max_distance` of each query (exact).
    pub fn range_search(&self, queries: &[u8], max_distance: u32) -> Result<Ranges> {
        match &self.mih {
            Some(mih)
                if queries.len().is_multiple_of(self.flat.code_len())
                    && mih.worth_it(max_distance, self.flat.len()) =>
            {
                Ok(Ranges::from_hits(mih.range_search(
                    &self.flat,
                    queries,
                    max_distance,
                )))
            }
            _ => self.flat.range_search(queries, max_distance),
        }
    }
}
