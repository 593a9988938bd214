//! The blocked scan shared by k-NN, range search and de-duplication.
//!
//! Codes are cut into tiles small enough to stay in L2; a block of queries
//! passes over each tile before the next is loaded, so one trip through memory
//! serves many queries. Work is split into (query block, code chunk) tasks so a
//! single query over a big index still uses every core.

use std::ops::Range;

use rayon::prelude::*;

use crate::simd::layout::{self, BLOCK};
use crate::simd::{Hit, Scanner};

/// Bytes of codes per tile: half of a 32 KB L1, so a tile stays there while the query groups
/// pass over it (16 KB with 64 queries per block measured 3-5% faster than 32 KB with 32 on
/// 1M x 256-bit k-NN, Zen 4).
pub const TILE_BYTES: usize = 16 * 1024;
/// Queries that share one pass over a tile.
pub const QUERY_BLOCK: usize = 64;
/// Fewest codes worth a separate task.
const MIN_CHUNK: usize = 16 * 1024;

/// Codes per tile for codes of `words` 64-bit words (a multiple of 64).
pub fn tile_codes(words: usize) -> usize {
    ((TILE_BYTES / (words * 8)).max(64) / 64) * 64
}

/// Split `0..n` into at most `parts` near-equal contiguous ranges (at least one)
/// whose inner boundaries are multiples of `align`.
pub fn split(n: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let units = n.div_ceil(align);
    let parts = parts.clamp(1, units.max(1));
    (0..parts)
        .map(|p| ((units * p / parts) * align).min(n)..((units * (p + 1) / parts) * align).min(n))
        .collect()
}

/// One unit of parallel work: a block of queries against a range of codes.
#[derive(Clone, Debug)]
pub struct Task {
    /// Query indices.
    pub queries: Range<usize>,
    /// Code positions (starts on a block boundary).
    pub codes: Range<usize>,
}

/// Tasks covering `nq` queries x `n` codes, enough to keep `threads` workers busy.
pub fn plan(nq: usize, n: usize, threads: usize) -> Vec<Task> {
    let qblocks = split(nq, nq.div_ceil(QUERY_BLOCK), 1);
    let want = threads * 4;
    let chunks_per_block = if qblocks.len() >= want {
        1
    } else {
        want.div_ceil(qblocks.len()).min((n / MIN_CHUNK).max(1))
    };
    let chunks = split(n, chunks_per_block, BLOCK);
    qblocks
        .iter()
        .flat_map(|q| {
            chunks.iter().map(move |c| Task {
                queries: q.clone(),
                codes: c.clone(),
            })
        })
        .collect()
}

/// Queries (row-major bytes) packed to the kernels' word form, `words` per query.
pub fn pack_queries(queries: &[u8], code_len: usize, words: usize) -> Vec<u64> {
    queries
        .chunks_exact(code_len)
        .flat_map(|q| layout::pack_query(q, words))
        .collect()
}

/// Scan queries `task.queries` over codes `task.codes` of `blocks` tile by tile.
///
/// For each (query, tile), `threshold(query_index)` gives the largest distance
/// of interest and `visit(query_index, first_code_position, hits)` receives the
/// codes within it (slots relative to the tile start, padding slots removed).
pub fn scan_task(
    scanner: &Scanner,
    queries: &[u64],
    blocks: &[u64],
    task: &Task,
    mut threshold: impl FnMut(usize) -> u32,
    mut visit: impl FnMut(usize, usize, &[Hit]),
) {
    let words = scanner.words();
    let tile = tile_codes(words);
    // Queries go through the kernel in groups that share each load of a block.
    let group = scanner.group();
    let mut hits: Vec<Vec<Hit>> = (0..group)
        .map(|_| Vec::with_capacity(tile + BLOCK))
        .collect();
    let mut thrs = vec![0u32; group];
    let mut start = task.codes.start;
    debug_assert_eq!(start % BLOCK, 0);
    while start < task.codes.end {
        let end = (start + tile).min(task.codes.end);
        let valid = (end - start) as u32;
        let padded = (end - start).div_ceil(BLOCK) * BLOCK;
        let tile_blocks = &blocks[start * words..(start + padded) * words];
        let mut q0 = task.queries.start;
        while q0 < task.queries.end {
            let q1 = (q0 + group).min(task.queries.end);
            let g = q1 - q0;
            for (qi, t) in (q0..q1).zip(thrs.iter_mut()) {
                *t = threshold(qi);
            }
            for h in &mut hits[..g] {
                h.clear();
            }
            scanner.scan_many(
                &queries[q0 * words..q1 * words],
                &thrs[..g],
                tile_blocks,
                &mut hits[..g],
            );
            for (qi, h) in (q0..q1).zip(hits.iter_mut()) {
                while h.last().is_some_and(|h| h.slot >= valid) {
                    h.pop();
                }
                if !h.is_empty() {
                    visit(qi, start, h);
                }
            }
            q0 = q1;
        }
        start = end;
    }
}

/// Run `work` on every task in parallel and return the results in task order.
pub fn run<R: Send>(tasks: &[Task], work: impl Fn(&Task) -> R + Sync + Send) -> Vec<R> {
    tasks.par_iter().map(work).collect()
}
