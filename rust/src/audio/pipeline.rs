//! End to end: decoded or raw PCM -> mono -> 11025 Hz int16 -> Chromaprint TEST2 items.

use super::chroma::{Fingerprinter, ALGORITHM_TEST2};
use super::decode::{decode_mono, Source};
use super::landmarks::{Landmark, LandmarkExtractor};
use super::phase;
use super::resample::{to_i16, ToChromaRate};
use crate::error::{FingerprintError, Result};

/// A Chromaprint fingerprint: TEST2 items and the duration of the audio they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFingerprint {
    /// One uint32 item per 1365 samples at 11025 Hz (0.124 s).
    pub items: Vec<u32>,
    /// Seconds of audio fingerprinted.
    pub duration: f64,
    /// Algorithm id (1 = TEST2).
    pub algorithm: u8,
    /// Landmark triplets of the same audio, when asked for ([`Options::landmarks`]).
    pub landmarks: Option<Vec<Landmark>>,
    /// The first [`phase::HEAD`] samples at 11025 Hz (the int16 Chromaprint reads), kept
    /// when asked for ([`Options::phases`]) so that a query can make its sub-item phase
    /// copies ([`phase::copies`]) if it needs them.
    pub head: Option<Vec<i16>>,
}

/// Options for fingerprinting.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Fingerprint only the first this many seconds (`None`: all, like `fpcalc -length 0`).
    pub max_seconds: Option<f64>,
    /// Also extract landmark triplets (for `AudioIndex`; about doubles the cost).
    pub landmarks: bool,
    /// Also keep the audio's head for sub-item phase copies (for `AudioIndex` queries; up
    /// to 30 s at 11025 Hz, 662 KB).
    pub phases: bool,
}

/// Feeds mono samples at a source rate through the resampler into the fingerprinter.
struct Chain {
    resampler: Option<ToChromaRate>,
    rate: u32,
    fp: Fingerprinter,
    marks: Option<LandmarkExtractor>,
    head: Option<Vec<i16>>,
    // Resampled block, and the same as Chromaprint's int16 (the landmarks read the floats:
    // input beyond full scale is not clipped for them).
    fbuf: Vec<f32>,
    buf: Vec<i16>,
    seconds: Option<f64>,
    limit: Option<u64>,
    taken: u64,
}

impl Chain {
    fn new(opts: &Options) -> Self {
        Self {
            resampler: None,
            rate: 0,
            fp: Fingerprinter::new(),
            marks: opts.landmarks.then(LandmarkExtractor::new),
            head: opts.phases.then(Vec::new),
            fbuf: Vec::new(),
            buf: Vec::new(),
            seconds: opts.max_seconds,
            limit: None,
            taken: 0,
        }
    }

    /// Push samples; returns false once the length limit is reached.
    fn push(&mut self, rate: u32, mono: &[f32]) -> Result<bool> {
        if self.resampler.is_none() {
            self.resampler = Some(ToChromaRate::new(rate)?);
            self.rate = rate;
            // Turn the limit in seconds into source frames.
            self.limit = self.seconds.map(|s| (s.max(0.0) * f64::from(rate)) as u64);
        }
        let mut mono = mono;
        let mut more = true;
        if let Some(limit) = self.limit {
            let left = limit.saturating_sub(self.taken) as usize;
            if left <= mono.len() {
                mono = &mono[..left];
                more = false;
            }
        }
        self.taken += mono.len() as u64;
        self.fbuf.clear();
        let r = self.resampler.as_mut().expect("set above");
        r.push(mono, &mut self.fbuf)?;
        self.feed();
        Ok(more)
    }

    /// Pass the resampled block on to the fingerprinters.
    fn feed(&mut self) {
        self.buf.clear();
        self.buf.extend(self.fbuf.iter().map(|&x| to_i16(x)));
        self.fp.push(&self.buf);
        if let Some(h) = self.head.as_mut() {
            keep_head(h, &self.buf);
        }
        if let Some(m) = self.marks.as_mut() {
            m.push_f32(&self.fbuf);
        }
    }

    fn finish(mut self) -> Result<AudioFingerprint> {
        if let Some(r) = self.resampler.as_mut() {
            self.fbuf.clear();
            r.finish(&mut self.fbuf)?;
            self.feed();
        }
        let duration = if self.rate == 0 {
            0.0
        } else {
            self.taken as f64 / self.rate as f64
        };
        Ok(AudioFingerprint {
            items: self.fp.into_items(),
            duration,
            algorithm: ALGORITHM_TEST2,
            landmarks: self.marks.map(LandmarkExtractor::finish),
            head: self.head,
        })
    }
}

/// Fingerprint an encoded audio file (WAV, FLAC, MP3, Ogg/Vorbis, AAC/M4A), streaming.
pub fn fingerprint_source(source: Source<'_>, opts: &Options) -> Result<AudioFingerprint> {
    let mut chain = Chain::new(opts);
    decode_mono(source, |rate, mono| chain.push(rate, mono))?;
    chain.finish()
}

/// Fingerprint interleaved float PCM in [-1, 1] with `channels` channels at `rate` Hz.
pub fn fingerprint_f32(
    samples: &[f32],
    rate: u32,
    channels: usize,
    opts: &Options,
) -> Result<AudioFingerprint> {
    check_layout(samples.len(), channels)?;
    if samples.iter().any(|x| !x.is_finite()) {
        return Err(FingerprintError::invalid("samples contain NaN or infinity"));
    }
    let mut chain = Chain::new(opts);
    let mut mono = Vec::with_capacity(8192);
    for block in samples.chunks(8192 * channels) {
        mono.clear();
        mono.extend(
            block
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32),
        );
        if !chain.push(rate, &mono)? {
            break;
        }
    }
    if samples.is_empty() {
        chain.push(rate, &[])?;
    }
    chain.finish()
}

/// Fingerprint interleaved int16 PCM with `channels` channels at `rate` Hz.
///
/// At 11025 Hz the channels are mixed with integer arithmetic (sum / channels, truncated as
/// Chromaprint does) and no resampling happens, so items equal fpcalc's exactly.
pub fn fingerprint_i16(
    samples: &[i16],
    rate: u32,
    channels: usize,
    opts: &Options,
) -> Result<AudioFingerprint> {
    check_layout(samples.len(), channels)?;
    if rate != super::chroma::SAMPLE_RATE {
        let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        return fingerprint_f32(&floats, rate, channels, opts);
    }
    let mut frames = samples.len() / channels;
    if let Some(s) = opts.max_seconds {
        frames = frames.min((s.max(0.0) * f64::from(rate)) as usize);
    }
    let mut fp = Fingerprinter::new();
    let mut marks = opts.landmarks.then(LandmarkExtractor::new);
    let mut head = opts.phases.then(Vec::new);
    if channels == 1 {
        fp.push(&samples[..frames]);
        if let Some(h) = head.as_mut() {
            keep_head(h, &samples[..frames]);
        }
        if let Some(m) = marks.as_mut() {
            m.push(&samples[..frames]);
        }
    } else {
        let mut mono = Vec::with_capacity(8192);
        for block in samples[..frames * channels].chunks(8192 * channels) {
            mono.clear();
            mono.extend(
                block.chunks_exact(channels).map(|f| {
                    (f.iter().map(|&s| i32::from(s)).sum::<i32>() / channels as i32) as i16
                }),
            );
            fp.push(&mono);
            if let Some(h) = head.as_mut() {
                keep_head(h, &mono);
            }
            if let Some(m) = marks.as_mut() {
                m.push(&mono);
            }
        }
    }
    Ok(AudioFingerprint {
        items: fp.into_items(),
        duration: frames as f64 / f64::from(rate),
        algorithm: ALGORITHM_TEST2,
        landmarks: marks.map(LandmarkExtractor::finish),
        head,
    })
}

/// Append to `head` what it still lacks of [`phase::HEAD`] samples.
fn keep_head(head: &mut Vec<i16>, samples: &[i16]) {
    let n = phase::HEAD.saturating_sub(head.len()).min(samples.len());
    head.extend_from_slice(&samples[..n]);
}

fn check_layout(len: usize, channels: usize) -> Result<()> {
    if channels == 0 || channels > 64 {
        return Err(FingerprintError::invalid(format!(
            "channels must be 1 to 64, got {channels}"
        )));
    }
    if !len.is_multiple_of(channels) {
        return Err(FingerprintError::invalid(format!(
            "{len} samples do not divide into {channels} channels"
        )));
    }
    Ok(())
}

/// Convert float samples to int16 as the resampler does (for callers that resample elsewhere).
pub fn quantize(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|&x| to_i16(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::chroma::{fingerprint, SAMPLE_RATE};

    fn noise(n: usize) -> Vec<i16> {
        let mut s = 12345u64;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 48) as i16) / 3
            })
            .collect()
    }

    #[test]
    fn i16_mono_at_11025_is_direct() {
        let s = noise(100_000);
        let fp = fingerprint_i16(&s, SAMPLE_RATE, 1, &Options::default()).unwrap();
        assert_eq!(fp.items, fingerprint(&s));
        assert!((fp.duration - 100_000.0 / 11025.0).abs() < 1e-9);
    }

    #[test]
    fn float_path_at_11025_matches_int_path() {
        let s = noise(100_000);
        let f: Vec<f32> = s.iter().map(|&x| f32::from(x) / 32768.0).collect();
        let a = fingerprint_f32(&f, SAMPLE_RATE, 1, &Options::default()).unwrap();
        assert_eq!(a.items, fingerprint(&s));
    }

    #[test]
    fn max_seconds_limits() {
        let s = noise(11025 * 12);
        let opts = Options {
            max_seconds: Some(10.0),
            ..Options::default()
        };
        let fp = fingerprint_i16(&s, SAMPLE_RATE, 1, &opts).unwrap();
        assert_eq!(fp.items.len(), 59);
        let f: Vec<f32> = s.iter().map(|&x| f32::from(x) / 32768.0).collect();
        assert_eq!(
            fingerprint_f32(&f, SAMPLE_RATE, 1, &opts).unwrap().items,
            fp.items
        );
    }

    #[test]
    fn head_is_the_start_of_what_chromaprint_reads() {
        let s = noise(11025 * 40);
        let opts = Options {
            phases: true,
            ..Options::default()
        };
        let fp = fingerprint_i16(&s, SAMPLE_RATE, 1, &opts).unwrap();
        assert_eq!(fp.head.as_deref(), Some(&s[..phase::HEAD]));
        let f: Vec<f32> = s[..20000].iter().map(|&x| f32::from(x) / 32768.0).collect();
        let short = fingerprint_f32(&f, SAMPLE_RATE, 1, &opts).unwrap();
        assert_eq!(short.head.as_deref(), Some(&s[..20000]));
        assert_eq!(
            fingerprint_i16(&s, SAMPLE_RATE, 1, &Options::default())
                .unwrap()
                .head,
            None
        );
    }

    #[test]
    fn bad_layouts() {
        assert!(fingerprint_i16(&[0; 3], 11025, 2, &Options::default()).is_err());
        assert!(fingerprint_i16(&[0; 4], 11025, 0, &Options::default()).is_err());
        assert!(fingerprint_f32(&[f32::NAN; 4], 11025, 1, &Options::default()).is_err());
        assert!(fingerprint_f32(&[0.0; 4], 500, 1, &Options::default()).is_err());
    }
}
