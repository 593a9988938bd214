//! Streaming resampling of mono audio to Chromaprint's 11025 Hz (float; [`to_i16`] makes the
//! int16 that Chromaprint reads).
//!
//! Rates that are whole multiples of 11025 Hz (22050, 44100, 88200 Hz ...) go through a
//! direct FIR decimator: Chromaprint only looks at 28..3520 Hz, so the anti-alias filter
//! needs a flat passband to 3520 Hz and a stopband only where aliases would land below
//! 3520 Hz (from 11025 - 3520 = 7505 Hz). A Kaiser-windowed sinc with 90 dB stopband over
//! that wide transition is 33 taps at 22050 Hz (17 of them non-zero: a half-band filter),
//! evaluated only at the output samples. Other rates (48000, 32000, 16000, 8000 Hz ...) use
//! rubato's synchronous FFT resampler.

use rubato::{FftFixedInOut, Resampler as _};

use super::chroma::SAMPLE_RATE;
use crate::error::{FingerprintError, Result};

// Chromaprint refuses input below 1000 Hz (chromaprint.md 1.2).
const MIN_RATE: u32 = 1000;
// Input frames per resampler call.
const CHUNK: usize = 4096;
// The decimator's filter: passband edge (Hz), stopband attenuation (dB).
const PASS_EDGE: f64 = 3520.0;
const STOP_DB: f64 = 90.0;
// Largest whole factor decimated directly (1411200 Hz = 128 x 11025).
const MAX_FACTOR: u32 = 128;

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

/// Zero-phase FIR decimation by a whole factor: output j is the filter centred on input
/// j * factor (zeros before the start and after the end), so there is no delay. Computed in
/// polyphase form, a block of outputs at a time: each tap adds a contiguous run of one input
/// phase to the block (vectorises; the half-band filter's zero taps are skipped).
struct Decimator {
    factor: usize,
    // Odd-length symmetric taps; taps[t] multiplies input j * factor + t - half.
    taps: Vec<f32>,
    half: usize,
    // Input from absolute index `start` (negative: the leading zeros).
    buf: Vec<f32>,
    start: i64,
    next: u64,
    // Scratch: the input split into `factor` phases, and a block of outputs.
    phases: Vec<Vec<f32>>,
    acc: Vec<f32>,
}

impl Decimator {
    fn new(factor: usize, in_rate: f64) -> Self {
        // Kaiser design (Kaiser 1974): transition from PASS_EDGE to the first alias that
        // reaches it, cutoff midway (the output Nyquist frequency).
        let out_rate = f64::from(SAMPLE_RATE);
        let width = (out_rate - 2.0 * PASS_EDGE) / in_rate;
        let order = ((STOP_DB - 8.0) / (2.285 * 2.0 * std::f64::consts::PI * width)).ceil();
        let half = (order as usize).div_ceil(2).max(1);
        let len = 2 * half + 1;
        let beta = 0.1102 * (STOP_DB - 8.7);
        let fc = 0.5 / factor as f64;
        let i0b = bessel_i0(beta);
        let mut taps: Vec<f64> = (0..len)
            .map(|n| {
                let t = n as f64 - half as f64;
                let x = 2.0 * fc * t;
                // sin(pi x) / (pi x), exactly 0 at the half-band filter's even offsets.
                let sinc = if t == 0.0 {
                    1.0
                } else if x.fract() == 0.0 {
                    0.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = t / half as f64;
                let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
                sinc * w
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        taps.iter_mut().for_each(|t| *t /= sum);
        Self {
            factor,
            taps: taps.into_iter().map(|t| t as f32).collect(),
            half,
            buf: vec![0.0; half],
            start: -(half as i64),
            next: 0,
            phases: vec![Vec::new(); factor],
            acc: Vec::new(),
        }
    }

    /// Filter every output whose taps are all in the buffer, up to `limit` outputs in all.
    fn run(&mut self, out: &mut Vec<f32>, limit: u64) {
        let m = self.factor as i64;
        let h = self.half as i64;
        let last = self.start + self.buf.len() as i64 - 1;
        // Outputs next..end have every tap in the buffer: j * m + h <= last.
        let end = if last - h < 0 {
            0
        } else {
            ((last - h) / m + 1) as u64
        }
        .min(limit);
        if end > self.next {
            let n = (end - self.next) as usize;
            let base = (self.next as i64 * m - h - self.start) as usize;
            let span = (n - 1) * self.factor + self.taps.len();
            let region = &self.buf[base..base + span];
            for (p, phase) in self.phases.iter_mut().enumerate() {
                phase.clear();
                phase.extend(region.iter().skip(p).step_by(self.factor));
            }
            self.acc.clear();
            self.acc.resize(n, 0.0);
            for (t, &w) in self.taps.iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let i = t / self.factor;
                let src = &self.phases[t % self.factor][i..i + n];
                for (a, &x) in self.acc.iter_mut().zip(src) {
                    *a += w * x;
                }
            }
            out.extend_from_slice(&self.acc);
            self.next = end;
        }
        let keep = self.next as i64 * m - h;
        let drop = ((keep - self.start).max(0) as usize).min(self.buf.len());
        self.buf.drain(..drop);
        self.start += drop as i64;
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = 0.25 * x * x;
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < 1e-17 * sum {
            break;
        }
    }
    sum
}

/// Converts a stream of mono samples in [-1, 1] at any rate to 11025 Hz, without delay:
/// output sample i is the signal at time i / 11025 s, and the output length is
/// ceil(n * 11025 / rate) for n input samples.
pub struct ToChromaRate {
    decimator: Option<Decimator>,
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
        let factor = rate / SAMPLE_RATE;
        let decimator =
            (rate > SAMPLE_RATE && rate.is_multiple_of(SAMPLE_RATE) && factor <= MAX_FACTOR)
                .then(|| Decimator::new(factor as usize, f64::from(rate)));
        let unit_in = in_rate / gcd(in_rate, out_rate);
        // rubato's synchronous FFT resampler works on blocks of k * rate_in / gcd samples.
        // k is even so that the output block is even and the filter delay, half an
        // output block, is a whole number of samples that can be dropped exactly.
        let blocks = CHUNK.div_ceil(unit_in).next_multiple_of(2);
        let engine = if rate == SAMPLE_RATE || decimator.is_some() {
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
            decimator,
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

    /// Resample `input`, appending finished 11025 Hz samples to `out` (unquantised and
    /// unclipped: [`to_i16`] gives Chromaprint's input).
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.consumed += input.len() as u64;
        if let Some(d) = self.decimator.as_mut() {
            d.buf.extend_from_slice(input);
            d.run(out, u64::MAX);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        self.drain(out, false)
    }

    /// Flush the filter tail: call once after the last [`Self::push`].
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let expected = self.expected();
        if let Some(d) = self.decimator.as_mut() {
            let pad = d.taps.len() + d.factor;
            // Zeros after the end complete the last outputs' taps.
            d.buf.resize(d.buf.len() + pad, 0.0);
            d.run(out, expected);
            return Ok(());
        }
        self.drain(out, true)
    }

    fn drain(&mut self, out: &mut Vec<f32>, flush: bool) -> Result<()> {
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
            out.extend_from_slice(keep);
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
    Ok(out.into_iter().map(to_i16).collect())
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
        assert_eq!(out.into_iter().map(to_i16).collect::<Vec<_>>(), whole);
    }

    #[test]
    fn decimator_passband_and_stopband() {
        // Passband tones keep their level; a tone that would alias below 3520 Hz is gone.
        for rate in [22050, 44100, 88200] {
            for (freq, gain) in [(100.0, 1.0), (3500.0, 1.0), (7600.0, 0.0)] {
                let out = resample(&tone(rate, freq, 1.0), rate).unwrap();
                let mid = &out[2000..9000];
                let rms = (mid.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / mid.len() as f64)
                    .sqrt()
                    / 32768.0;
                let want = 0.5 * gain / 2f64.sqrt();
                assert!(
                    (rms - want).abs() < 1e-3,
                    "rate {rate} tone {freq}: rms {rms}"
                );
            }
        }
        assert!(ToChromaRate::new(22050).unwrap().decimator.is_some());
        assert!(ToChromaRate::new(48000).unwrap().decimator.is_none());
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
