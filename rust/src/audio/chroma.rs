//! Chromaprint TEST2 fingerprints from 11025 Hz mono int16 samples, streaming.
//!
//! Pipeline (chromaprint.md 1.2): frames -> power spectrum -> 12-bin chroma ->
//! 5-tap time filter -> L2 normalisation -> 16 classifiers over a 16-row window.

use std::collections::VecDeque;

use super::classifier::{ItemCalculator, CHROMA, WINDOW};
use super::spectrum::{frame_count, Framer, BINS, FRAME_SIZE, HOP};

/// The sample rate Chromaprint works at (`DEFAULT_SAMPLE_RATE`).
pub const SAMPLE_RATE: u32 = 11025;
/// Algorithm id of TEST2 in Chromaprint's enum (and byte 0 of the compressed format).
pub const ALGORITHM_TEST2: u8 = 1;
/// The item every all-silent window produces (chromaprint.md 1.2).
pub const SILENCE_ITEM: u32 = 627_964_279;
/// Seconds between consecutive items: 1365 / 11025.
pub const ITEM_SECONDS: f64 = HOP as f64 / SAMPLE_RATE as f64;

// Chroma filter along time, not normalised (chromaprint.md 1.2: [0.25, 0.75, 1.0, 0.75, 0.25]).
const FILTER: [f64; 5] = [0.25, 0.75, 1.0, 0.75, 0.25];
// Rows whose L2 norm is below this become all zeros: the silence case.
const NORM_EPSILON: f64 = 0.01;
// Spectrum bins used: round(28 Hz * 4096 / 11025) .. round(3520 Hz * 4096 / 11025).
const MIN_FREQ: f64 = 28.0;
const MAX_FREQ: f64 = 3520.0;
// Octaves are counted from A0 = 440 / 16 Hz, so note 0 is A.
const BASE_FREQ: f64 = 440.0 / 16.0;

/// Number of items Chromaprint produces from `n` samples at 11025 Hz:
/// frames - 4 (chroma filter) - 15 (classifier window).
pub fn item_count(n: usize) -> usize {
    frame_count(n).saturating_sub(FILTER.len() - 1 + WINDOW - 1)
}

/// Streaming TEST2 fingerprinter: push 11025 Hz mono int16 samples, read items.
pub struct Fingerprinter {
    framer: Framer,
    first_bin: usize,
    notes: Vec<u8>,
    history: VecDeque<[f64; CHROMA]>,
    calc: ItemCalculator,
    items: Vec<u32>,
    samples: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprinter {
    /// A fingerprinter with no input yet.
    pub fn new() -> Self {
        Self::with_pitch(0.0)
    }

    /// A fingerprinter for audio played `semitones` higher than the music it is compared
    /// with: each spectrum bin counts towards the note it would be `semitones` lower, so the
    /// chroma (and the items) are those of the unshifted music, up to what the shift moved
    /// across the band edges. `with_pitch(0.0)` is Chromaprint's own.
    pub fn with_pitch(semitones: f64) -> Self {
        let rate = SAMPLE_RATE as f64;
        let n = FRAME_SIZE as f64;
        let first_bin = (MIN_FREQ * n / rate).round() as usize;
        let last_bin = (MAX_FREQ * n / rate).round() as usize;
        let lower = (-semitones / 12.0).exp2();
        let notes = (first_bin..last_bin)
            .map(|k| {
                let freq = k as f64 * rate / n * lower;
                let octave = (freq / BASE_FREQ).ln() / std::f64::consts::LN_2;
                (12.0 * (octave - octave.floor())) as u8
            })
            .collect();
        Self {
            framer: Framer::new(),
            first_bin,
            notes,
            history: VecDeque::with_capacity(FILTER.len()),
            calc: ItemCalculator::new(),
            items: Vec::new(),
            samples: 0,
        }
    }

    /// Feed more samples; items they complete are appended to [`Self::items`].
    pub fn push(&mut self, samples: &[i16]) {
        self.samples += samples.len() as u64;
        let Self {
            framer,
            first_bin,
            notes,
            history,
            calc,
            items,
            ..
        } = self;
        framer.push(samples, |power| {
            debug_assert_eq!(power.len(), BINS);
            let mut chroma = [0.0f64; CHROMA];
            for (&p, &note) in power[*first_bin..].iter().zip(notes.iter()) {
                chroma[note as usize] += p as f64;
            }
            if history.len() == FILTER.len() {
                history.pop_front();
            }
            history.push_back(chroma);
            if history.len() < FILTER.len() {
                return;
            }
            let mut row = [0.0f64; CHROMA];
            for (coef, frame) in FILTER.iter().zip(history.iter()) {
                for (r, v) in row.iter_mut().zip(frame) {
                    *r += coef * v;
                }
            }
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm < NORM_EPSILON {
                row = [0.0; CHROMA];
            } else {
                for r in &mut row {
                    *r /= norm;
                }
            }
            if let Some(item) = calc.push(&row) {
                items.push(item);
            }
        });
    }

    /// Items so far.
    pub fn items(&self) -> &[u32] {
        &self.items
    }

    /// Samples pushed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Seconds of audio pushed so far.
    pub fn duration(&self) -> f64 {
        self.samples as f64 / SAMPLE_RATE as f64
    }

    /// The items, consuming the fingerprinter.
    pub fn into_items(self) -> Vec<u32> {
        self.items
    }
}

/// TEST2 items of a whole 11025 Hz mono signal.
pub fn fingerprint(samples: &[i16]) -> Vec<u32> {
    fingerprint_at_pitch(samples, 0.0)
}

/// Items of a signal played `semitones` higher than the music it is compared with, read
/// as if it were not (see [`Fingerprinter::with_pitch`]).
pub fn fingerprint_at_pitch(samples: &[i16], semitones: f64) -> Vec<u32> {
    let mut fp = Fingerprinter::with_pitch(semitones);
    fp.push(samples);
    fp.into_items()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<i16> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 48) as i16) / 4
            })
            .collect()
    }

    #[test]
    fn bins_and_notes() {
        let fp = Fingerprinter::new();
        assert_eq!(fp.first_bin, 10);
        assert_eq!(fp.first_bin + fp.notes.len(), 1308);
        assert!(fp.notes.iter().all(|&n| n < 12));
    }

    #[test]
    fn item_counts() {
        // chromaprint.md 1.2: 10 s -> 59 items, 30 s -> 221; first item at 30,031 samples.
        assert_eq!(item_count(110_250), 59);
        assert_eq!(item_count(330_750), 221);
        assert_eq!(item_count(30_030), 0);
        assert_eq!(item_count(30_031), 1);
        for n in [0, 30_030, 30_031, 50_000] {
            assert_eq!(fingerprint(&noise(n, 1)).len(), item_count(n));
        }
    }

    #[test]
    fn silence_gives_silence_items() {
        let items = fingerprint(&vec![0; 60_000]);
        assert!(!items.is_empty());
        assert!(items.iter().all(|&i| i == SILENCE_ITEM));
    }

    #[test]
    fn chunking_does_not_change_items() {
        let s = noise(80_000, 7);
        let whole = fingerprint(&s);
        let mut fp = Fingerprinter::new();
        for c in s.chunks(1234) {
            fp.push(c);
        }
        assert_eq!(fp.items(), &whole[..]);
    }

    /// Chords changing every 0.3 s, every frequency `semitones` higher. The tones sit half a
    /// semitone off equal temperament, mid-note: a tone on a note boundary (as tuned music's
    /// are, since note 0 starts at A) splits its peak between two notes by where its spectrum
    /// bins fall, which a shift changes, so there the items agree less (BER 0.1-0.3).
    fn chords(seconds: usize, semitones: f64) -> Vec<i16> {
        let notes = [220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0];
        let up = ((semitones + 0.5) / 12.0).exp2();
        let mut s = 3u64;
        let mut chord = [0.0f64; 3];
        (0..seconds * 11025)
            .map(|i| {
                if i % 3308 == 0 {
                    for c in &mut chord {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                        *c = notes[(s >> 33) as usize % notes.len()] * up;
                    }
                }
                let t = i as f64 / 11025.0;
                let v: f64 = chord
                    .iter()
                    .map(|f| (std::f64::consts::TAU * f * t).sin())
                    .sum();
                (v * 7000.0) as i16
            })
            .collect()
    }

    #[test]
    fn pitch_undone_gives_the_unshifted_items() {
        let ber = |a: &[u32], b: &[u32]| {
            let bits: u32 = a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum();
            f64::from(bits) / (32.0 * a.len().min(b.len()) as f64)
        };
        let plain = fingerprint(&chords(20, 0.0));
        assert_eq!(fingerprint_at_pitch(&chords(20, 0.0), 0.0), plain);
        for st in [1.0, -1.0, 0.6, 2.0] {
            let shifted = chords(20, st);
            let as_is = ber(&fingerprint(&shifted), &plain);
            let undone = ber(&fingerprint_at_pitch(&shifted, st), &plain);
            assert!(undone < 0.05, "{st} st: {undone}");
            assert!(as_is > 0.25, "{st} st: {as_is}");
        }
    }

    #[test]
    fn upstream_raw_vector_as_mono_11025() {
        // Chromaprint's test_mono_11025.raw is 2.0 s: shorter than the 2.72 s the first item needs.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/vectors/chromaprint/test_mono_11025.raw");
        let bytes = std::fs::read(path).expect("shared chromaprint vectors");
        let s: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(s.len(), 22_040);
        assert!(fingerprint(&s).is_empty());
    }
}
