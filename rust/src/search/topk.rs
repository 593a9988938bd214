//! Bounded k-nearest selection kept off the hot path.
//!
//! The kernels get [`TopK::threshold`] and return only the codes within it, so
//! the heap is touched only by the few codes that can enter the result.

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

    /// Whether `k` hits are held.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.k
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_k_smallest_with_id_tiebreak() {
        let mut t = TopK::new(3);
        let d = [5, 1, 5, 0, 5, 1];
        let ids = [10, 11, 3, 12, 1, 2];
        for (&d, &id) in d.iter().zip(&ids) {
            t.offer(d, id);
        }
        assert_eq!(t.into_sorted(), vec![(0, 12), (1, 2), (1, 11)]);
    }

    #[test]
    fn zero_k_is_empty() {
        let mut t = TopK::new(0);
        t.offer(1, 1);
        assert!(t.into_sorted().is_empty());
    }
}
