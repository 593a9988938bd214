//! Streaming resampling of mono audio to Chromaprint's 11025 Hz int16 (rubato).

use rubato::{FftFixedInOut, Resampler as _};

use super::chroma::SAMPLE_RATE;
use crate::error::{FingerprintError, Result};

// Chromaprint refuses input below 1000 Hz (chromaprint.md 1.2).
const MIN_RATE: u32 = 1000;
// Input frames per resampler call.
const CHUNK: usize = 4096;

enum Engine {
    Same,
    Fft(Box<FftFixedInOut<f32>>),
}

impl Engine {
    fn input_frames_next(&self) -> usize {
        match self {
            Engine::Same => CHUNK,
            Engine::Fft(r) => r.input_frames_next(),
        }
    }

    fn output_delay(&self) -> usize {
        match self {
            Engine::Same => 0,
            Engine::Fft(r) => r.output_delay(),
        }
    }

    fn output_frames_max(&self) -> usize {
        match self {
            Engine::Same => CHUNK,
            Engine::Fft(r) => r.output_frames_max(),
        }
    }

    /// Resample exactly `input_frames_next()` frames into `out`; returns frames written.
    fn process(&mut self, input: &[f32], out: &mut [f32]) -> Result<usize> {
        let res = match self {
            Engine::Same => {
                out[..input.len()].copy_from_slice(input);
                return Ok(input.len());
            }
            Engine::Fft(r) => r.process_into_buffer(&[input], &mut [out], None),
        };
        res.map(|(_, written)| written)
            .map_err(|e| FingerprintError::Internal(format!("resampler: {e}")))
    }
}

/// Converts a stream of mono samples in [-1, 1] at any rate to 11025 Hz int16, without delay:
/// output sample i is the signal at time i / 11025 s, and the output length is
/// ceil(n * 11025 / rate) for n input samples.
pub struct ToChromaRate {
    engine: Engine,
    rate: u32,
    pending: Vec<f32>,
    out: Vec<f32>,
    skip: usize,
    consumed: u64,
    produced: u64,
}

impl ToChromaRate {
    /// A resampler from `rate` Hz.
    pub fn new(rate: u32) -> Result<Self> {
        if rate < MIN_RATE {
            return Err(FingerprintError::invalid(format!(
                "sample rate {rate} Hz is below the minimum of {MIN_RATE} Hz"
            )));
        }
        let out_rate = SAMPLE_RATE as usize;
        let in_rate = rate as usize;
        let unit_in = in_rate / gcd(in_rate, out_rate);
        // rubato's synchronous FFT resampler works on blocks of k * rate_in / gcd samples.
        // k is even so that the output block is even and the filter delay, half an
        // output block, is a whole number of samples that can be dropped exactly.
        let blocks = CHUNK.div_ceil(unit_in).next_multiple_of(2);
        let engine = if rate == SAMPLE_RATE {
            Engine::Same
        } else {
            Engine::Fft(Box::new(
                FftFixedInOut::new(in_rate, out_rate, blocks * unit_in, 1)
                    .map_err(|e| FingerprintError::invalid(format!("resampler: {e}")))?,
            ))
        };
        let skip = engine.output_delay();
        let out = vec![0.0; engine.output_frames_max()];
        Ok(Self {
            engine,
            rate,
            pending: Vec::with_capacity(2 * blocks * unit_in),
            out,
            skip,
            consumed: 0,
            produced: 0,
        })
    }

    /// Samples expected from all input so far: ceil(consumed * 11025 / rate).
    fn expected(&self) -> u64 {
        (self.consumed * u64::from(SAMPLE_RATE)).div_ceil(u64::from(self.rate))
    }

    /// Resample `input`, appending finished 11025 Hz samples to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<i16>) -> Result<()> {
        self.consumed += input.len() as u64;
        self.pending.extend_from_slice(input);
        self.drain(out, false)
    }

    /// Flush the filter tail: call once after the last [`Self::push`].
    pub fn finish(&mut self, out: &mut Vec<i16>) -> Result<()> {
        self.drain(out, true)
    }

    fn drain(&mut self, out: &mut Vec<i16>, flush: bool) -> Result<()> {
        let mut start = 0;
        loop {
            let need = self.engine.input_frames_next();
            let avail = self.pending.len() - start;
            let done = self.produced >= self.expected();
            if avail < need && (!flush || done) {
                break;
            }
            let written = if avail >= need {
                let n = self
                    .engine
                    .process(&self.pending[start..start + need], &mut self.out)?;
                start += need;
                n
            } else {
                // Flushing: pad the tail with silence.
                let mut chunk = self.pending[start..].to_vec();
                chunk.resize(need, 0.0);
                start = self.pending.len();
                self.engine.process(&chunk, &mut self.out)?
            };
            let mut fresh = &self.out[..written];
            let drop = self.skip.min(fresh.len());
            self.skip -= drop;
            fresh = &fresh[drop..];
            let room = if flush {
                (self.expected() - self.produced) as usize
            } else {
                fresh.len()
            };
            let keep = &fresh[..fresh.len().min(room)];
            out.extend(keep.iter().map(|&x| to_i16(x)));
            self.produced += keep.len() as u64;
            if flush && self.produced >= self.expected() {
                break;
            }
        }
        self.pending.drain(..start);
        Ok(())
    }
}

/// A sample in [-1, 1] as int16: scaled by 32768, rounded, clipped (FFmpeg's float to s16).
#[inline]
pub fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resample a whole mono signal to 11025 Hz int16.
pub fn resample(input: &[f32], rate: u32) -> Result<Vec<i16>> {
    let mut r = ToChromaRate::new(rate)?;
    let mut out = Vec::with_capacity(input.len() * SAMPLE_RATE as usize / rate as usize + 16);
    r.push(input, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, freq: f64, seconds: f64) -> Vec<f32> {
        let n = (rate as f64 * seconds) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn lengths_and_alignment() {
        for rate in [8000, 7999, 11025, 16000, 22050, 44100, 48000, 44101, 96000] {
            let input = tone(rate, 440.0, 1.37);
            let out = resample(&input, rate).unwrap();
            let want = (input.len() as u64 * 11025).div_ceil(rate as u64) as usize;
            assert_eq!(out.len(), want, "rate {rate}");
            // Delay-free: compare against the ideal tone away from the edges.
            let ideal = tone(11025, 440.0, 1.37);
            let mid = out.len() / 2;
            let err: f64 = (mid..mid + 500)
                .map(|i| (out[i] as f64 / 32768.0 - ideal[i] as f64).abs())
                .fold(0.0, f64::max);
            assert!(err < 0.02, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn chunked_equals_whole() {
        let input = tone(44100, 1000.0, 2.0);
        let whole = resample(&input, 44100).unwrap();
        let mut r = ToChromaRate::new(44100).unwrap();
        let mut out = Vec::new();
        for c in input.chunks(777) {
            r.push(c, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out, whole);
    }

    #[test]
    fn too_low_rate_is_rejected() {
        assert!(ToChromaRate::new(999).is_err());
    }

    #[test]
    fn clipping() {
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-2.0), -32768);
        assert_eq!(to_i16(0.5), 16384);
    }
}
