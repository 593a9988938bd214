//! `AudioIndex` files: versioned, checksummed, written atomically.
//!
//! Layout (little-endian): magic `FPAUDIX1` (8 bytes), format version u32, track count u64,
//! then per track: id u64, duration f64, item count u32, items u32 x n, landmark count u32,
//! landmarks (hash u32, frame u32, span u16, pitch u16) x n; finally the CRC-32 of every
//! byte before it. The posting lists are rebuilt on load (they are derived data).

use std::io::Write;
use std::path::Path;

use super::index::{AudioIndex, Track};
use super::landmarks::Landmark;
use crate::error::{FingerprintError, Result};

const MAGIC: &[u8; 8] = b"FPAUDIX1";
/// Format version written by this build (3: landmark peaks from log-frequency neighbourhoods
/// and unclipped float samples; versions 1 and 2 hold landmarks of older definitions, which
/// queries would no longer meet, and are refused).
pub const VERSION: u32 = 3;

/// Serialise the index's tracks.
pub fn to_bytes(index: &AudioIndex) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    for t in index.tracks() {
        out.extend_from_slice(&t.id.to_le_bytes());
        out.extend_from_slice(&t.duration.to_le_bytes());
        out.extend_from_slice(&(t.items.len() as u32).to_le_bytes());
        for x in &t.items {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(t.landmarks.len() as u32).to_le_bytes());
        for m in &t.landmarks {
            out.extend_from_slice(&m.hash.to_le_bytes());
            out.extend_from_slice(&m.frame.to_le_bytes());
            out.extend_from_slice(&m.span.to_le_bytes());
            out.extend_from_slice(&m.pitch.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> std::result::Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Parse bytes written by [`to_bytes`]; `path` names the file in errors.
pub fn from_bytes(data: &[u8], path: &Path) -> Result<AudioIndex> {
    let bad = |why: String| FingerprintError::corrupt(path, why);
    if data.len() < MAGIC.len() + 4 + 8 + 4 {
        return Err(bad(format!(
            "{} bytes is too short for an audio index",
            data.len()
        )));
    }
    if &data[..8] != MAGIC {
        return Err(bad("not an audio index file (bad magic)".into()));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version < VERSION {
        return Err(bad(format!(
            "format version {version} holds landmarks of an older definition; this build \
             reads version {VERSION}: rebuild the index from the audio"
        )));
    }
    if version != VERSION {
        return Err(bad(format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    let (body, tail) = data.split_at(data.len() - 4);
    let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != stored {
        return Err(bad("checksum mismatch (truncated or corrupted)".into()));
    }
    let mut r = Reader {
        data: body,
        pos: 12,
    };
    let parse = |r: &mut Reader<'_>| -> std::result::Result<AudioIndex, String> {
        let n = r.u64()?;
        let mut index = AudioIndex::new();
        for _ in 0..n {
            let id = r.u64()?;
            let duration = f64::from_bits(r.u64()?);
            let ni = r.u32()? as usize;
            let raw = r.take(ni.checked_mul(4).ok_or("item count overflows")?)?;
            let items = raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            let nl = r.u32()? as usize;
            // Check the whole block is there before allocating for it.
            if nl.saturating_mul(12) > r.data.len() - r.pos {
                return Err(format!("truncated at byte {}", r.pos));
            }
            let mut landmarks = Vec::with_capacity(nl);
            for _ in 0..nl {
                landmarks.push(Landmark {
                    hash: r.u32()?,
                    frame: r.u32()?,
                    span: r.u16()?,
                    pitch: r.u16()?,
                });
            }
            index
                .add(Track {
                    id,
                    items,
                    landmarks,
                    duration,
                })
                .map_err(|e| e.to_string())?;
        }
        if r.pos != r.data.len() {
            return Err(format!(
                "{} unexpected bytes after the tracks",
                r.data.len() - r.pos
            ));
        }
        Ok(index)
    };
    parse(&mut r).map_err(bad)
}

/// Write the index to `path` atomically: a temporary file beside it, fsync, rename, then
/// fsync of the directory, so a crash leaves either the old file or the new one.
pub fn save(index: &AudioIndex, path: &Path) -> Result<()> {
    let bytes = to_bytes(index);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        FingerprintError::invalid(format!("{} is not a file path", path.display()))
    })?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{nanos}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| FingerprintError::io(&tmp, e))?;
        f.write_all(&bytes)
            .map_err(|e| FingerprintError::io(&tmp, e))?;
        f.sync_all().map_err(|e| FingerprintError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| FingerprintError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Persist the rename itself (best effort: not every platform can open a directory).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Read an index written by [`save`].
pub fn load(path: &Path) -> Result<AudioIndex> {
    let data = std::fs::read(path).map_err(|e| FingerprintError::io(path, e))?;
    from_bytes(&data, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> AudioIndex {
        let mut ix = AudioIndex::new();
        for id in [5u64, 9, 1 << 40] {
            ix.add(Track {
                id,
                items: (0..300)
                    .map(|i: u32| i.wrapping_mul(2654435761u64 as u32).wrapping_add(id as u32))
                    .collect(),
                landmarks: vec![
                    Landmark {
                        hash: 7,
                        frame: 3,
                        span: 12,
                        pitch: 800
                    };
                    id as usize % 4
                ],
                duration: 37.5,
            })
            .unwrap();
        }
        ix
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fpa");
        let ix = index();
        save(&ix, &p).unwrap();
        let back = load(&p).unwrap();
        assert_eq!(
            back.tracks().collect::<Vec<_>>(),
            ix.tracks().collect::<Vec<_>>()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn older_versions_are_refused_with_a_reason() {
        // A version-2 file (landmarks picked the old way), checksum intact.
        let mut bytes = to_bytes(&index());
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        let err = from_bytes(&bytes, Path::new("old.fpa"))
            .err()
            .expect("refused");
        assert!(matches!(err, FingerprintError::CorruptIndex { .. }));
        let text = err.to_string();
        assert!(
            text.contains("version 2") && text.contains("rebuild"),
            "{text}"
        );
    }

    #[test]
    fn every_truncation_and_flip_is_corrupt() {
        let bytes = to_bytes(&index());
        let p = Path::new("x");
        for n in 0..bytes.len() {
            assert!(matches!(
                from_bytes(&bytes[..n], p),
                Err(FingerprintError::CorruptIndex { .. })
            ));
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(matches!(
                from_bytes(&b, p),
                Err(FingerprintError::CorruptIndex { .. })
            ));
        }
    }
}
