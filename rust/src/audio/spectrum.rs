//! Chromaprint framing: 4096-sample Hamming-windowed frames every 1365 samples, power spectrum.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per analysis frame (Chromaprint `fingerprinter_configuration`: frame size 4096).
pub const FRAME_SIZE: usize = 4096;
/// Samples between frame starts: frame 4096 minus overlap 4096 - 4096/3 = 2731 (Chromaprint TEST2).
pub const HOP: usize = FRAME_SIZE - (FRAME_SIZE - FRAME_SIZE / 3);
/// Power-spectrum bins per frame, 0..=FRAME_SIZE/2.
pub const BINS: usize = FRAME_SIZE / 2 + 1;

/// Cuts a stream of int16 samples into full frames and yields each frame's power spectrum.
///
/// Only full frames are produced (no padding), as Chromaprint's audio slicer does.
pub struct Framer {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    pending: Vec<i16>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer with an empty buffer.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME_SIZE);
        // Hamming window, scaled by 1/32767 so it applies to raw int16 values (chromaprint.md 1.2).
        let n = (FRAME_SIZE - 1) as f64;
        let window = (0..FRAME_SIZE)
            .map(|i| {
                ((0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / n).cos()) / 32767.0) as f32
            })
            .collect();
        Self {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            pending: Vec::with_capacity(2 * FRAME_SIZE),
            power: vec![0.0; BINS],
        }
    }

    /// Append `samples`; call `on_frame` with the power spectrum (|X[k]|², k = 0..=2048)
    /// of every frame completed by them.
    pub fn push(&mut self, samples: &[i16], mut on_frame: impl FnMut(&[f32])) {
        let mut rest = samples;
        while !rest.is_empty() {
            // Bound the buffer: take at most what completes the next few frames.
            let room = (4 * FRAME_SIZE).saturating_sub(self.pending.len()).max(HOP);
            let take = room.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            let mut start = 0;
            while self.pending.len() - start >= FRAME_SIZE {
                self.frame(start);
                on_frame(&self.power);
                start += HOP;
            }
            self.pending.drain(..start);
        }
    }

    /// Number of samples buffered but not yet part of a completed frame's hop.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    fn frame(&mut self, start: usize) {
        let frame = &self.pending[start..start + FRAME_SIZE];
        for ((x, &s), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *x = s as f32 * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("buffers are sized by the planner");
        for (p, c) in self.power.iter_mut().zip(&self.output) {
            *p = c.re * c.re + c.im * c.im;
        }
    }
}

/// Number of frames the framer yields for `n` samples.
pub fn frame_count(n: usize) -> usize {
    if n < FRAME_SIZE {
        0
    } else {
        (n - FRAME_SIZE) / HOP + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_is_1365() {
        assert_eq!(HOP, 1365);
    }

    #[test]
    fn frame_count_matches_chunked_push() {
        for n in [0, 4095, 4096, 4096 + 1364, 4096 + 1365, 30_031, 50_000] {
            let samples: Vec<i16> = (0..n).map(|i| ((i * 7919) % 2001) as i16 - 1000).collect();
            let mut whole = Vec::new();
            Framer::new().push(&samples, |p| whole.push(p.to_vec()));
            assert_eq!(whole.len(), frame_count(n));
            let mut chunked = Vec::new();
            let mut f = Framer::new();
            for c in samples.chunks(997) {
                f.push(c, |p| chunked.push(p.to_vec()));
            }
            assert_eq!(whole, chunked);
        }
    }

    #[test]
    fn dc_lands_in_bin_zero() {
        let mut got = Vec::new();
        Framer::new().push(&[1000; FRAME_SIZE], |p| got.push(p.to_vec()));
        let p = &got[0];
        assert!(p[0] > 100.0 * p[10]);
    }
}
