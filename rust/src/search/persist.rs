//! The on-disk index format: versioned, checksummed, written atomically.
//!
//! Layout (little-endian):
//! ```text
//! 0   magic  b"FPRNTIDX"
//! 8   u32    format version (1)
//! 12  u32    code width in bits
//! 16  u64    number of codes n
//! 24  u64    offset of the code blocks (64)
//! 32  u64    offset of ids (end of the code blocks)
//! 40  u64    total file length
//! 48  u32    flags (bit 0: ids strictly increasing; bits 1-2: method 0 flat, 1 mih,
//!            2 auto; bit 3: ids are the range first, first + 1, ... and the id
//!            section holds only `first`)
//! 52  u32    CRC-32 of the code-block bytes then the id bytes
//! 56  u32    MIH table count override (0: chosen from the size)
//! 60  u32    CRC-32 of bytes 0..60
//! 64  blocks the codes in the interleaved layout of `simd::layout`, as u64
//!            (ceil(n/8) blocks of 8 codes x ceil(bits/64) words), then ids n * u64
//!            (one u64 when bit 3 is set)
//! ```
//! Storing the kernels' own layout lets `load(mmap=true)` search straight from the map.
//! Saving writes a temporary file beside the target, fsyncs it, renames it over
//! the target and fsyncs the directory, so a crash leaves the old file or the new
//! one, never a mix. Loading checks every size against the file length before
//! touching the body, so truncation is an error, never an out-of-bounds read.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use super::flat::FlatIndex;
use super::ids::Ids;
use super::index::{Index, Method};
use super::store::Buf;
use crate::error::{FingerprintError, Result};
use crate::simd::layout;

/// File magic.
pub const MAGIC: &[u8; 8] = b"FPRNTIDX";
/// Current format version.
pub const VERSION: u32 = 1;
const HEADER: usize = 64;
const FLAG_SORTED: u32 = 1;
const FLAG_ID_RANGE: u32 = 1 << 3;

fn le_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn from_le(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// How the index searches, stored beside the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Search method.
    pub method: Method,
    /// MIH table-count override.
    pub tables: Option<usize>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            method: Method::Flat,
            tables: None,
        }
    }
}

/// Write `index` (storage, method and table override) to `path` atomically.
pub fn save_index(index: &Index, path: &Path) -> Result<()> {
    let meta = Meta {
        method: index.method(),
        tables: index.tables_override(),
    };
    save_with(index.flat(), meta, path)
}

/// Read an index written by [`save_index`] (or [`save`]), rebuilding its tables.
pub fn load_index(path: &Path, mmap: bool) -> Result<Index> {
    let (flat, meta) = load_with(path, mmap)?;
    Index::from_flat(flat, meta.method, meta.tables)
        .map_err(|e| FingerprintError::corrupt(path, e.to_string()))
}

/// Write flat storage to `path` atomically.
pub fn save(index: &FlatIndex, path: &Path) -> Result<()> {
    save_with(index, Meta::default(), path)
}

fn save_with(index: &FlatIndex, meta: Meta, path: &Path) -> Result<()> {
    let io = |e| FingerprintError::io(path, e);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| FingerprintError::invalid(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let result = write_file(index, meta, &tmp).and_then(|()| {
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn write_file(index: &FlatIndex, meta: Meta, tmp: &Path) -> std::io::Result<()> {
    let code_bytes = le_bytes(index.blocks());
    let (ids, range_flag) = match index.id_store() {
        Ids::Range { start, .. } => (vec![*start], FLAG_ID_RANGE),
        Ids::Explicit(b) => (b.as_slice().to_vec(), 0),
    };
    let codes_off = HEADER as u64;
    let ids_off = codes_off + code_bytes.len() as u64;
    let total = ids_off + ids.len() as u64 * 8;

    let mut crc = crc32fast::Hasher::new();
    crc.update(&code_bytes);
    let id_bytes = le_bytes(&ids);
    crc.update(&id_bytes);

    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&(index.bits() as u32).to_le_bytes());
    h.extend_from_slice(&(index.len() as u64).to_le_bytes());
    h.extend_from_slice(&codes_off.to_le_bytes());
    h.extend_from_slice(&ids_off.to_le_bytes());
    h.extend_from_slice(&total.to_le_bytes());
    let method = match meta.method {
        Method::Flat => 0u32,
        Method::Mih => 1,
        Method::Auto => 2,
    };
    let flags = if index.ids_sorted() { FLAG_SORTED } else { 0 } | method << 1 | range_flag;
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&crc.finalize().to_le_bytes());
    h.extend_from_slice(&(meta.tables.unwrap_or(0) as u32).to_le_bytes());
    let hcrc = crc32fast::hash(&h);
    h.extend_from_slice(&hcrc.to_le_bytes());

    let file = File::create(tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&h)?;
    w.write_all(&code_bytes)?;
    w.write_all(&id_bytes)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// What the header says.
struct Header {
    bits: usize,
    count: usize,
    ids_off: usize,
    sorted: bool,
    id_range: bool,
    body_crc: u32,
    meta: Meta,
}

fn parse_header(h: &[u8], file_len: u64, path: &Path) -> Result<Header> {
    let bad = |r: &str| FingerprintError::corrupt(path, r);
    if h.len() < HEADER {
        return Err(bad("truncated header"));
    }
    if &h[..8] != MAGIC {
        return Err(bad("not a fingerprint index (bad magic number)"));
    }
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
    if crc32fast::hash(&h[..60]) != u32_at(60) {
        return Err(bad("header checksum mismatch"));
    }
    let version = u32_at(8);
    if version != VERSION {
        return Err(bad(&format!(
            "format version {version} is not supported (this build reads {VERSION})"
        )));
    }
    let bits = u32_at(12) as usize;
    let code_len = super::code_len_for_bits(bits).map_err(|e| bad(&e.to_string()))?;
    let count = u64_at(16);
    let codes_off = u64_at(24);
    let ids_off = u64_at(32);
    let total = u64_at(40);
    let words = layout::words_for(code_len) as u64;
    let block_words = count
        .div_ceil(layout::BLOCK as u64)
        .checked_mul(layout::BLOCK as u64 * words);
    let codes_end = block_words
        .and_then(|w| w.checked_mul(8))
        .and_then(|b| b.checked_add(HEADER as u64))
        .ok_or_else(|| bad("impossible code count"))?;
    let id_range = u32_at(48) & FLAG_ID_RANGE != 0;
    let stored_ids = if id_range { 1 } else { count };
    let expect_total = stored_ids
        .checked_mul(8)
        .and_then(|b| b.checked_add(codes_end))
        .ok_or_else(|| bad("impossible code count"))?;
    if codes_off != HEADER as u64 || ids_off != codes_end || total != expect_total {
        return Err(bad("inconsistent section offsets"));
    }
    if id_range && u32_at(48) & FLAG_SORTED == 0 {
        return Err(bad("an id range must be flagged sorted"));
    }
    if file_len != total {
        return Err(bad(&format!(
            "file is {file_len} bytes but the header says {total} (truncated or extended)"
        )));
    }
    let method = match (u32_at(48) >> 1) & 3 {
        0 => Method::Flat,
        1 => Method::Mih,
        2 => Method::Auto,
        _ => return Err(bad("unknown search method")),
    };
    let tables = match u32_at(56) as usize {
        0 => None,
        m if m <= bits => Some(m),
        _ => return Err(bad("impossible table count")),
    };
    Ok(Header {
        meta: Meta { method, tables },
        bits,
        count: usize::try_from(count).map_err(|_| bad("too many codes for this machine"))?,
        ids_off: ids_off as usize,
        sorted: u32_at(48) & FLAG_SORTED != 0,
        id_range,
        body_crc: u32_at(52),
    })
}

/// Read flat storage from `path`; with `mmap` the arrays stay in a read-only map
/// (opened without reading the body, so its checksum is checked only by [`verify`]).
pub fn load(path: &Path, mmap: bool) -> Result<FlatIndex> {
    load_with(path, mmap).map(|(flat, _)| flat)
}

fn load_with(path: &Path, mmap: bool) -> Result<(FlatIndex, Meta)> {
    let io = |e| FingerprintError::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    if mmap && cfg!(target_endian = "little") {
        // SAFETY: the map is read-only; a concurrent writer replaces the file by
        // rename (see `save`), so the mapped inode is never modified in place.
        let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(io)?);
        let h = parse_header(&map[..HEADER.min(map.len())], map.len() as u64, path)?;
        let code_len = h.bits / 8;
        let nwords = layout::blocked_len(h.count, layout::words_for(code_len));
        let codes = Buf::mapped(map.clone(), HEADER, nwords);
        let ids = if h.id_range {
            let b = &map[h.ids_off..h.ids_off + 8];
            let start = u64::from_le_bytes(b.try_into().unwrap());
            if start.saturating_add(h.count as u64) > super::flat::MAX_ID {
                return Err(FingerprintError::corrupt(path, "id out of range"));
            }
            Some(Ids::Range {
                start,
                len: h.count,
            })
        } else {
            Buf::mapped(map.clone(), h.ids_off, h.count).map(Ids::Explicit)
        };
        let (Some(codes), Some(ids)) = (codes, ids) else {
            return Err(FingerprintError::corrupt(path, "sections out of bounds"));
        };
        return FlatIndex::from_parts(code_len, codes, ids, h.sorted)
            .map(|f| (f, h.meta))
            .map_err(|r| FingerprintError::corrupt(path, r));
    }
    let mut bytes = Vec::with_capacity(file_len.min(1 << 34) as usize);
    file.read_to_end(&mut bytes).map_err(io)?;
    let h = parse_header(&bytes, bytes.len() as u64, path)?;
    let code_len = h.bits / 8;
    let body = &bytes[HEADER..];
    let codes_bytes = &bytes[HEADER..h.ids_off];
    let id_bytes = &bytes[h.ids_off..];
    let mut crc = crc32fast::Hasher::new();
    crc.update(codes_bytes);
    crc.update(id_bytes);
    if crc.finalize() != h.body_crc || body.is_empty() && h.count != 0 {
        return Err(FingerprintError::corrupt(path, "data checksum mismatch"));
    }
    let ids = from_le(id_bytes);
    let ids = if h.id_range {
        Ids::Range {
            start: ids[0],
            len: h.count,
        }
    } else {
        Ids::Explicit(Buf::Owned(ids))
    };
    if let Ids::Explicit(Buf::Owned(v)) = &ids {
        if h.sorted && !v.windows(2).all(|w| w[0] < w[1]) {
            return Err(FingerprintError::corrupt(
                path,
                "ids flagged sorted are not",
            ));
        }
    }
    if ids.last().is_some_and(|l| l > super::flat::MAX_ID) {
        return Err(FingerprintError::corrupt(path, "id out of range"));
    }
    let codes = from_le(codes_bytes);
    FlatIndex::from_parts(code_len, Buf::Owned(codes), ids, h.sorted)
        .map(|f| (f, h.meta))
        .map_err(|r| FingerprintError::corrupt(path, r))
}

/// Check the data checksum of the file at `path` (what `load(.., mmap=true)` skips).
pub fn verify(path: &Path) -> Result<()> {
    load(path, false).map(|_| ())
}
