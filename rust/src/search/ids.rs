//! Ids by position: free when they are the default consecutive numbering.

use super::store::Buf;

/// The id of each position of an index.
pub enum Ids {
    /// Ids `start, start + 1, ...`: the default numbering, stored in no memory.
    Range {
        /// Id of position 0.
        start: u64,
        /// Number of positions.
        len: usize,
    },
    /// One stored id per position.
    Explicit(Buf<u64>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Range { start: 0, len: 0 }
    }
}

impl Ids {
    /// Number of positions.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Ids::Range { len, .. } => *len,
            Ids::Explicit(b) => b.as_slice().len(),
        }
    }

    /// Whether there are no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Id at `pos`.
    #[inline]
    pub fn get(&self, pos: usize) -> u64 {
        match self {
            Ids::Range { start, .. } => start + pos as u64,
            Ids::Explicit(b) => b.as_slice()[pos],
        }
    }

    /// Every id in position order (a copy).
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Ids::Range { start, len } => (*start..*start + *len as u64).collect(),
            Ids::Explicit(b) => b.as_slice().to_vec(),
        }
    }

    /// Position of `id` when ids increase with position.
    pub fn find_sorted(&self, id: u64) -> Option<usize> {
        match self {
            Ids::Range { start, len } => id
                .checked_sub(*start)
                .filter(|&off| off < *len as u64)
                .map(|off| off as usize),
            Ids::Explicit(b) => b.as_slice().binary_search(&id).ok(),
        }
    }

    /// Id of the last position.
    pub fn last(&self) -> Option<u64> {
        self.len().checked_sub(1).map(|p| self.get(p))
    }

    /// Largest id.
    pub fn max(&self) -> Option<u64> {
        match self {
            Ids::Range { .. } => self.last(),
            Ids::Explicit(b) => b.as_slice().iter().max().copied(),
        }
    }

    /// Append `ids` (staying a range when they continue it).
    pub fn extend(&mut self, ids: &[u64]) {
        if let Ids::Range { start, len } = self {
            if *len == 0 {
                if let Some(&first) = ids.first() {
                    *start = first;
                }
            }
            let next = *start + *len as u64;
            let continues = ids
                .iter()
                .enumerate()
                .all(|(i, &id)| Some(id) == next.checked_add(i as u64));
            if continues {
                *len += ids.len();
                return;
            }
        }
        let v = self.to_mut();
        super::store::grow(v, ids.len());
        v.extend_from_slice(ids);
    }

    /// Stored ids, materialising a range (or copying a map) first.
    pub fn to_mut(&mut self) -> &mut Vec<u64> {
        if let Ids::Range { .. } = self {
            *self = Ids::Explicit(Buf::Owned(self.to_vec()));
        }
        match self {
            Ids::Explicit(b) => b.to_mut(),
            Ids::Range { .. } => unreachable!(),
        }
    }

    /// Whether the ids are served from a memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Ids::Explicit(b) if b.is_mapped())
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Ids::Explicit(Buf::Owned(v)) => v.capacity() * 8,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_free_until_broken() {
        let mut ids = Ids::default();
        ids.extend(&[5, 6, 7]);
        ids.extend(&[8]);
        assert!(matches!(ids, Ids::Range { start: 5, len: 4 }));
        assert_eq!(ids.find_sorted(7), Some(2));
        assert_eq!(ids.find_sorted(4), None);
        assert_eq!(ids.find_sorted(9), None);
        ids.extend(&[20]);
        assert!(matches!(ids, Ids::Explicit(_)));
        assert_eq!(ids.to_vec(), vec![5, 6, 7, 8, 20]);
        assert_eq!(ids.find_sorted(20), Some(4));
    }
}
