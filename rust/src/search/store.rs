//! Owned or memory-mapped storage for index arrays (copy-on-write on the first change).

use std::sync::Arc;

use memmap2::Mmap;

/// A slice of `T` that lives in a `Vec` or in a read-only memory map.
pub enum Buf<T: Copy + 'static> {
    /// Heap storage.
    Owned(Vec<T>),
    /// `len` elements at byte `offset` of a shared map (offset aligned for `T`).
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
    },
}

impl<T: Copy + 'static> Default for Buf<T> {
    fn default() -> Self {
        Buf::Owned(Vec::new())
    }
}

impl<T: Copy + 'static> Buf<T> {
    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + *len * std::mem::size_of::<T>()];
                debug_assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<T>(), 0);
                // SAFETY: `Buf::mapped` checked bounds and alignment; T is a plain integer type.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, *len) }
            }
        }
    }

    /// Mutable access, copying a mapped buffer into memory first.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Buf::Mapped { .. } = self {
            *self = Buf::Owned(self.as_slice().to_vec());
        }
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped { .. } => unreachable!(),
        }
    }

    /// Whether the data lives in a memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Buf::Mapped { .. })
    }

    /// A view of `len` elements at `offset` bytes into `map`, if in bounds and aligned.
    pub fn mapped(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Self> {
        let end = len
            .checked_mul(std::mem::size_of::<T>())?
            .checked_add(offset)?;
        if end > map.len()
            || !(map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<T>())
        {
            return None;
        }
        Some(Buf::Mapped { map, offset, len })
    }
}

/// Make room for `additional` more elements, growing by at least 1/8 of the
/// length: amortised O(1) appends with at most 12.5% slack (doubling would leave
/// up to half a 10M-code bank unused).
pub fn grow<T>(v: &mut Vec<T>, additional: usize) {
    let need = v.len() + additional;
    if need > v.capacity() {
        let target = need.max(v.len() + v.len() / 8);
        v.reserve_exact(target - v.len());
    }
}
