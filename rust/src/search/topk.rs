//! Bounded k-nearest selection kept off the hot path.
//!
//! Distances arrive a tile at a time; a tile is skipped with one vectorised
//! minimum unless it can beat the current k-th best, so the heap is touched
//! only by the few codes that enter the result.

use std::collections::BinaryHeap;

/// The k smallest `(distance, id)` pairs seen so far; ties go to the smaller id.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<(u32, u64)>,
}

impl TopK {
    /// An empty selection of at most `k` hits.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Largest distance that could still enter (`u32::MAX` until full).
    #[inline]
    pub fn threshold(&self) -> u32 {
        if self.heap.len() < self.k {
            u32::MAX
        } else {
            self.heap.peek().map_or(u32::MAX, |w| w.0)
        }
    }

    /// Offer one hit.
    #[inline]
    pub fn offer(&mut self, distance: u32, id: u64) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push((distance, id));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if (distance, id) < *worst {
                *worst = (distance, id);
            }
        }
    }

    /// Offer a tile of distances whose ids are `ids` (same length).
    #[inline]
    pub fn offer_tile(&mut self, distances: &[u32], ids: &[u64]) {
        let mut thr = self.threshold();
        for (ds, is) in distances.chunks(64).zip(ids.chunks(64)) {
            if !any_at_most(ds, thr) {
                continue;
            }
            for (&d, &id) in ds.iter().zip(is) {
                if d <= thr {
                    self.offer(d, id);
                    thr = self.threshold();
                }
            }
        }
    }

    /// Fold another selection into this one.
    pub fn merge(&mut self, other: TopK) {
        for (d, id) in other.heap {
            self.offer(d, id);
        }
    }

    /// The hits, nearest first.
    pub fn into_sorted(self) -> Vec<(u32, u64)> {
        self.heap.into_sorted_vec()
    }
}

/// Whether any distance is `<= thr` (equal ones may still enter with a smaller id).
///
/// Written as a branch-free OR of signed compares so it vectorises on baseline
/// x86_64 (SSE2 has no unsigned 32-bit compare or min); distances are at most 4096.
#[inline]
pub fn any_at_most(ds: &[u32], thr: u32) -> bool {
    let t = thr.min(i32::MAX as u32) as i32;
    ds.iter()
        .fold(0u32, |acc, &d| acc | ((d as i32) <= t) as u32)
        != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_k_smallest_with_id_tiebreak() {
        let mut t = TopK::new(3);
        let d = [5, 1, 5, 0, 5, 1];
        let ids = [10, 11, 3, 12, 1, 2];
        t.offer_tile(&d, &ids);
        assert_eq!(t.into_sorted(), vec![(0, 12), (1, 2), (1, 11)]);
    }

    #[test]
    fn zero_k_is_empty() {
        let mut t = TopK::new(0);
        t.offer_tile(&[1, 2], &[1, 2]);
        assert!(t.into_sorted().is_empty());
    }
}
