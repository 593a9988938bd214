//! All pairs within a radius in one batch of codes: a tiled self-join.

use rayon::prelude::*;

use super::index::Method;
use super::join;
use super::scan::{self, Task};
use crate::error::{FingerprintError, Result};
use crate::simd::{layout, Scanner};

/// Pairs `(left[i], right[i], distances[i])` with `left < right`, sorted by (left, right).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs {
    /// Row of the first code.
    pub left: Vec<u64>,
    /// Row of the second code (always greater than `left`).
    pub right: Vec<u64>,
    /// Hamming distance between them.
    pub distances: Vec<u32>,
}

/// Rows per task: a block of rows passes over one tile of columns at a time.
const ROW_BLOCK: usize = scan::QUERY_BLOCK * 2;

/// Every pair of rows of `codes` within `max_distance`, by the method given:
/// `Flat` scans all pairs, `Mih` runs the substring self-join of
/// [`super::join`], `Auto` picks whichever the cost model says is cheaper.
pub fn find_duplicates_with(
    codes: &[u8],
    code_len: usize,
    max_distance: u32,
    method: Method,
    tables: Option<usize>,
) -> Result<Pairs> {
    let n = codes.len().checked_div(code_len).unwrap_or(0);
    let use_join = match method {
        Method::Flat => false,
        Method::Mih => true,
        Method::Auto => {
            let bits = code_len * 8;
            let m = join::best_tables(bits, n, max_distance);
            n >= 20_000 && join::cost(bits, n, m, max_distance) < join::flat_cost(n)
        }
    };
    if !use_join {
        return find_duplicates(codes, code_len, max_distance);
    }
    let all = join::join_all(codes, code_len, max_distance, tables)?;
    let mut pairs = Pairs::default();
    for (i, j, d) in all {
        pairs.left.push(u64::from(i));
        pairs.right.push(u64::from(j));
        pairs.distances.push(d);
    }
    Ok(pairs)
}

/// Every pair of rows of `codes` (`code_len` bytes each) within `max_distance`.
///
/// Only the upper triangle is scanned; row blocks run in parallel and each
/// walks the columns after it in cache-sized tiles.
pub fn find_duplicates(codes: &[u8], code_len: usize, max_distance: u32) -> Result<Pairs> {
    if code_len == 0 || !codes.len().is_multiple_of(code_len) {
        return Err(FingerprintError::invalid(format!(
            "codes must be a whole number of {code_len}-byte codes, got {} bytes",
            codes.len()
        )));
    }
    let n = codes.len() / code_len;
    if n > u32::MAX as usize {
        return Err(FingerprintError::invalid(
            "find_duplicates takes at most 2**32 - 1 codes per batch",
        ));
    }
    let scanner = Scanner::best(code_len);
    let blocks = layout::pack(codes, code_len);
    let queries = scan::pack_queries(codes, code_len, scanner.words());
    let row_blocks: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let parts: Vec<Vec<Vec<(u32, u32)>>> = row_blocks
        .par_iter()
        .map(|&b| {
            let rows = b..(b + ROW_BLOCK).min(n);
            let mut local: Vec<Vec<(u32, u32)>> = vec![Vec::new(); rows.len()];
            // Row blocks start on layout block boundaries (ROW_BLOCK is a multiple of 8).
            let task = Task {
                queries: rows.clone(),
                codes: b..n,
            };
            scan::scan_task(
                &scanner,
                &queries,
                &blocks,
                &task,
                |_| max_distance,
                |qi, start, hits| {
                    let out = &mut local[qi - rows.start];
                    for h in hits {
                        let col = start + h.slot as usize;
                        if col > qi {
                            out.push((col as u32, h.distance));
                        }
                    }
                },
            );
            local
        })
        .collect();
    let mut pairs = Pairs::default();
    for (&b, block) in row_blocks.iter().zip(parts) {
        for (r, row) in block.into_iter().enumerate() {
            for (col, d) in row {
                pairs.left.push((b + r) as u64);
                pairs.right.push(col as u64);
                pairs.distances.push(d);
            }
        }
    }
    Ok(pairs)
}
