//! Truncation check for Ogg streams: the last page must be complete and carry the
//! end-of-stream flag (RFC 3533, section 6). Symphonia treats a cut stream as a short one.

use std::io::{Read, Seek, SeekFrom};

// The last page lies within the final 65,307 bytes: 27 + 255 + 255 * 255 (RFC 3533 s. 6).
const MAX_PAGE: usize = 27 + 255 + 255 * 255;
const EOS_FLAG: u8 = 0x04;

/// The last bytes of an Ogg file (`None` if it does not start with "OggS").
pub fn tail_of(data: &[u8]) -> Option<Vec<u8>> {
    data.starts_with(b"OggS")
        .then(|| data[data.len().saturating_sub(MAX_PAGE)..].to_vec())
}

/// Like [`tail_of`] for a file; leaves the position at the start.
pub fn read_tail<F: Read + Seek>(file: &mut F) -> std::io::Result<Option<Vec<u8>>> {
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    let tail = if n == 4 && &magic == b"OggS" {
        let len = file.seek(SeekFrom::End(0))?;
        let start = len.saturating_sub(MAX_PAGE as u64);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.read_to_end(&mut buf)?;
        Some(buf)
    } else {
        None
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(tail)
}

/// Ok if the last page in `tail` is whole and flagged end-of-stream.
pub fn check_last_page(tail: &[u8]) -> std::result::Result<(), String> {
    let mut at = tail.len();
    while let Some(pos) = find_last(&tail[..at], b"OggS") {
        at = pos;
        let page = &tail[pos..];
        if page.len() < 27 || page[4] != 0 {
            continue;
        }
        let segments = usize::from(page[26]);
        if page.len() < 27 + segments {
            return Err("the last page header is cut off".into());
        }
        let body: usize = page[27..27 + segments]
            .iter()
            .map(|&s| usize::from(s))
            .sum();
        let end = 27 + segments + body;
        if end > page.len() {
            return Err(format!(
                "the last page needs {end} bytes but only {} remain",
                page.len()
            ));
        }
        if page[5] & EOS_FLAG == 0 {
            return Err("the last page is not marked end-of-stream".into());
        }
        return Ok(());
    }
    Err("no Ogg page found at the end of the file".into())
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(flags: u8, body: usize) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.push(0);
        p.push(flags);
        p.extend_from_slice(&[0; 20]);
        p.push(1);
        p.push(body as u8);
        p.extend(std::iter::repeat_n(7u8, body));
        p
    }

    #[test]
    fn complete_and_cut_streams() {
        let mut data = page(0x02, 30);
        data.extend(page(0x00, 40));
        let mut whole = data.clone();
        whole.extend(page(EOS_FLAG, 50));
        assert!(check_last_page(&tail_of(&whole).unwrap()).is_ok());
        let cut = &whole[..whole.len() - 10];
        assert!(check_last_page(&tail_of(cut).unwrap()).is_err());
        assert!(check_last_page(&tail_of(&data).unwrap()).is_err());
        assert!(tail_of(b"RIFF....").is_none());
    }
}
