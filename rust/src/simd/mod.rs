//! Hamming-distance kernels with run-time CPU dispatch.
//!
//! A [`Scanner`] computes the distances from one query to a run of codes stored
//! in the interleaved [`layout`]. It is specialised once per (instruction set,
//! code width) outside the inner loop, as faiss does. The instruction set is detected at run time and can
//! be forced with `FINGERPRINT_SIMD=scalar|popcnt|avx2|avx512|neon` so tests can
//! exercise every path. Every path is tested bit-exact against [`scalar`].

pub mod layout;
pub mod pairs;
pub mod popcnt;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

use std::sync::OnceLock;

/// Hint that `*p` will be read soon (random-access paths such as MIH verification).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// An instruction-set level a kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Portable Rust with no special instructions.
    Scalar,
    /// 64-bit words with the hardware POPCNT instruction (or its portable equivalent).
    Popcnt,
    /// AVX2 nibble-lookup popcount (x86_64).
    Avx2,
    /// AVX-512 VPOPCNTDQ (x86_64, with AVX-512 F and BW).
    Avx512,
    /// NEON `cnt` (aarch64).
    Neon,
}

impl Level {
    /// Every level, slowest first.
    pub const ALL: [Level; 5] = [
        Level::Scalar,
        Level::Popcnt,
        Level::Avx2,
        Level::Avx512,
        Level::Neon,
    ];

    /// The lowercase name used by `FINGERPRINT_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Popcnt => "popcnt",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Neon => "neon",
        }
    }

    /// Parse a `FINGERPRINT_SIMD` value.
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run kernels of this level.
    pub fn is_available(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Popcnt => is_x86_feature_detected!("popcnt"),
            #[cfg(not(target_arch = "x86_64"))]
            Level::Popcnt => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(target_arch = "aarch64")]
            Level::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every level this CPU can run.
    pub fn available() -> Vec<Level> {
        Level::ALL
            .into_iter()
            .filter(|l| l.is_available())
            .collect()
    }

    /// The level used by default: `FINGERPRINT_SIMD` if set and available, else the fastest.
    pub fn best() -> Level {
        static BEST: OnceLock<Level> = OnceLock::new();
        *BEST.get_or_init(|| {
            if let Some(forced) = std::env::var("FINGERPRINT_SIMD")
                .ok()
                .and_then(|v| Level::from_name(&v))
            {
                if forced.is_available() {
                    return forced;
                }
            }
            Level::ALL
                .into_iter()
                .rev()
                .find(|l| l.is_available() && *l != Level::Scalar)
                .unwrap_or(Level::Scalar)
        })
    }
}

/// A code slot (position within the scanned blocks) within the threshold, and its distance.
///
/// `repr(C)`: the AVX-512 kernels write a hit as one little-endian u64 (slot low, distance high).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Hit {
    /// Slot index from the start of the scanned blocks.
    pub slot: u32,
    /// Hamming distance to the query.
    pub distance: u32,
}

/// Raw kernel: appends to `hits`, in slot order, every code slot of `blocks`
/// (interleaved layout) whose distance to `query` (packed words) is at most `thr`.
///
/// Kernels may stop summing a block early once every lane of it exceeds `thr`
/// (a partial distance is a lower bound), which halves the work of small-radius
/// searches. Callers guarantee `blocks.len()` is a whole number of blocks of
/// `query.len()` words, and that the CPU supports the kernel's level.
pub(crate) type ScanFn = unsafe fn(query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>);

/// Raw multi-query kernel: `thrs.len()` queries (packed one after another in
/// `queries`) over the same blocks, hits of query `m` appended to `hits[m]` as
/// [`ScanFn`] would. Same contract as [`ScanFn`]; `thrs.len()` is the kernel's
/// fixed query count.
pub(crate) type ScanManyFn =
    unsafe fn(queries: &[u64], thrs: &[u32], blocks: &[u64], hits: &mut [Vec<Hit>]);

/// Distances from a query to runs of codes, with the kernel chosen for one code width and level.
#[derive(Clone, Copy)]
pub struct Scanner {
    f: ScanFn,
    many: &'static [(ScanManyFn, usize)],
    words: usize,
    level: Level,
}

impl Scanner {
    /// The kernel for `code_len`-byte codes at `level`, or `None` if this CPU cannot run it.
    pub fn new(level: Level, code_len: usize) -> Option<Scanner> {
        if code_len == 0 || !level.is_available() {
            return None;
        }
        let words = layout::words_for(code_len);
        let f: ScanFn = match level {
            Level::Scalar => scalar::scan,
            Level::Popcnt => popcnt::select(words),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => avx2::select(words),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => avx512::select(words),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => neon::select(words),
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        let many = match level {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => avx512::select_many(words),
            _ => &[],
        };
        Some(Scanner {
            f,
            many,
            words,
            level,
        })
    }

    /// The fastest kernel for `code_len`-byte codes on this CPU.
    pub fn best(code_len: usize) -> Scanner {
        Scanner::new(Level::best(), code_len)
            .or_else(|| Scanner::new(Level::Scalar, code_len))
            .expect("code_len > 0")
    }

    /// The level this scanner runs at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// 64-bit words per code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Append to `hits` every slot of `blocks` (whole blocks) within `thr` of
    /// `query` (from [`layout::pack_query`]), in slot order.
    ///
    /// Panics if the lengths do not match.
    #[inline]
    pub fn scan(&self, query: &[u64], blocks: &[u64], thr: u32, hits: &mut Vec<Hit>) {
        assert_eq!(query.len(), self.words, "query width");
        self.check_blocks(blocks);
        // SAFETY: lengths checked above; the level was checked available in `new`.
        unsafe { (self.f)(query, blocks, thr, hits) }
    }

    /// The contract both scans share: whole blocks, slot numbers that fit u32.
    fn check_blocks(&self, blocks: &[u64]) {
        assert_eq!(
            blocks.len() % (layout::BLOCK * self.words),
            0,
            "whole blocks"
        );
        assert!(
            blocks.len() / self.words <= u32::MAX as usize,
            "slots fit u32"
        );
    }

    /// How many queries [`Scanner::scan_many`] takes at once to share each load
    /// (1 where the level has no multi-query kernel).
    pub fn group(&self) -> usize {
        self.many.first().map_or(1, |&(_, m)| m)
    }

    /// [`Scanner::scan`] for several queries over the same blocks: query `m`
    /// (words `m * words..`) with threshold `thrs[m]` appends to `hits[m]`.
    /// Any number of queries; groups of [`Scanner::group`] share each pass.
    ///
    /// Panics if the lengths do not match.
    pub fn scan_many(&self, queries: &[u64], thrs: &[u32], blocks: &[u64], hits: &mut [Vec<Hit>]) {
        let n = thrs.len();
        assert_eq!(queries.len(), n * self.words, "query widths");
        assert_eq!(hits.len(), n, "one hit list per query");
        self.check_blocks(blocks);
        let mut done = 0;
        for &(f, m) in self.many {
            while done + m <= n {
                let qs = &queries[done * self.words..(done + m) * self.words];
                // SAFETY: lengths checked above; the level was checked available in `new`.
                unsafe { f(qs, &thrs[done..done + m], blocks, &mut hits[done..done + m]) };
                done += m;
            }
        }
        for i in done..n {
            let q = &queries[i * self.words..(i + 1) * self.words];
            // SAFETY: as above.
            unsafe { (self.f)(q, blocks, thrs[i], &mut hits[i]) }
        }
    }

    /// Distances from `query` to every slot of `blocks`, in order (tests and small jobs).
    pub fn distances(&self, query: &[u64], blocks: &[u64]) -> Vec<u32> {
        let mut hits = Vec::with_capacity(blocks.len() / self.words.max(1));
        self.scan(query, blocks, u32::MAX, &mut hits);
        hits.into_iter().map(|h| h.distance).collect()
    }
}
