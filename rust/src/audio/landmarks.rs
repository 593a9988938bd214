//! Landmark fingerprint: spectral peak triplets hashed on tempo- and pitch-invariant ratios.
//!
//! Design from the published descriptions (learnt from facts, no code copied):
//! * Wang 2003, "An industrial-strength audio search algorithm": keep local maxima of the
//!   spectrogram ("constellation"), hash combinations of nearby peaks, and find a match as
//!   a diagonal (consistent time offset) in the scatter of matching (query, reference) times.
//! * Six & Leman, "Panako", ISMIR 2014: hash *triplets* of peaks on the ratio of their time
//!   differences and on their log-frequency differences, which tempo change (time scaling)
//!   and pitch shift (log-frequency translation) leave unchanged; the matches' span ratio and
//!   frequency difference then give the time-scale and pitch factors.
//!
//! Here the peaks come from a 4096-point STFT of the same 11025 Hz signal Chromaprint uses
//! (hop 512 = 46.4 ms), over 40..3000 Hz, read as floats before Chromaprint's int16
//! quantisation: audio pushed beyond full scale (a DC offset plus loud noise, a gain) would
//! be clipped there, and clipping spreads distortion over the whole band. Three choices make
//! the peaks survive heavy noise:
//! * The long window (2.7 Hz bins) concentrates a sustained partial in one bin while white
//!   noise spreads evenly, so a partial gains 6 dB over the noise against a 1024-point STFT,
//!   and the band reaches down to 40 Hz, where much music (bass lines) carries its energy.
//! * Peaks are kept by strength, not only by neighbourhood: a peak survives only when fewer
//!   than [`RANK_KEEP`] louder peaks lie within +-[`RANK_FRAMES`] frames (Wang 2003 picks
//!   peaks "by density", the strongest first). Added noise mostly replaces the weak peaks,
//!   so the strong ones the reference kept are still there in the query (on the dev corpus
//!   at 0 dB SNR, 25-70% of a query's peaks are the reference's against 2-35% when every
//!   neighbourhood maximum was kept).
//! * The neighbourhood is log-frequency in the bass (+-2 semitones below 440 Hz, +-54 Hz
//!   above; see `radii`): white noise puts the same power in every bin, so the wide upper
//!   band holds most of the noise's local maxima, while the bass partials, the loudest and
//!   most noise-proof part of much music, would otherwise suppress each other.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::chroma::SAMPLE_RATE;

/// STFT size in samples (372 ms at 11025 Hz).
pub const FFT_SIZE: usize = 4096;
/// Samples between STFT frames (46.4 ms): the landmark time unit.
pub const FRAME_HOP: usize = 512;
/// Seconds per landmark frame.
pub const FRAME_SECONDS: f64 = FRAME_HOP as f64 / SAMPLE_RATE as f64;

// Analysis band: 40 Hz .. 3000 Hz in FFT bins (2.69 Hz each).
const LOW_BIN: usize = 15;
const HIGH_BIN: usize = 1114;
const BAND: usize = HIGH_BIN - LOW_BIN;
// A peak candidate is the maximum of its (2 DT + 1) frames x (2 r + 1) bins neighbourhood
// (+-139 ms; a neighbourhood maximum keeps the peaks spread). The half-width r is
// +-NEIGHBOUR_SEMITONES in frequency, at least MIN_DF and at most MAX_DF bins (+-8 Hz ..
// +-54 Hz): see `radii`.
const DT: usize = 3;
const NEIGHBOUR_SEMITONES: f64 = 2.0;
const MIN_DF: usize = 3;
const MAX_DF: usize = 20;
/// A candidate is kept when fewer than this many louder candidates lie within
/// +-[`RANK_FRAMES`] frames (about 8 peaks a second).
pub const RANK_KEEP: usize = 4;
/// Half-width in frames (+-232 ms) of the strength ranking window.
pub const RANK_FRAMES: u32 = 5;
// Ignore peaks this far (in natural-log power) below the loudest bin of their frame.
const FLOOR_BELOW_MAX: f32 = 9.0;
// Triplets: the next FAN_OUT peaks after the anchor within 1..=MAX_SPAN frames (1.5 s).
const FAN_OUT: usize = 5;
const MAX_SPAN: u32 = 32;
// Frequency differences beyond two octaves are not paired.
const MAX_INTERVAL: f32 = 24.0;

/// One spectral peak: frame number and pitch in semitones above 27.5 Hz.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// STFT frame (units of [`FRAME_SECONDS`]).
    pub frame: u32,
    /// 12 log2(f / 27.5 Hz), from a parabola through the log power of three bins.
    pub pitch: f32,
    /// Natural log of the power at the peak.
    pub level: f32,
}

/// One hashed triplet: the hash and what verification needs to estimate tempo and pitch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Landmark {
    /// 24-bit hash of the invariant features.
    pub hash: u32,
    /// Frame of the first peak.
    pub frame: u32,
    /// Frames from the first to the third peak (scales with tempo).
    pub span: u16,
    /// Pitch of the first peak in 1/16 semitones (moves with pitch shift).
    pub pitch: u16,
}

/// Streaming peak picker over 11025 Hz int16 samples.
pub struct PeakPicker {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    // Samples in int16 units (float input is scaled, not clipped).
    pending: Vec<f32>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    // Neighbourhood half-width in bins for each band bin, and the running-maximum queue.
    radius: Vec<usize>,
    queue: VecDeque<usize>,
    // Last 2 DT + 1 frames: power (+1) over the band, and its max over +-radius bins.
    levels: VecDeque<Vec<f32>>,
    wide: VecDeque<Vec<f32>>,
    // Frames computed, first frame still held, next frame to judge.
    frames: u32,
    front: u32,
    judged: u32,
    peaks: Vec<Peak>,
}

impl Default for PeakPicker {
    fn default() -> Self {
        Self::new()
    }
}

impl PeakPicker {
    /// An empty picker.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
        let n = FFT_SIZE as f64;
        let window = (0..FFT_SIZE)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos()) as f32)
            .collect();
        Self {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            radius: radii(),
            queue: VecDeque::with_capacity(2 * MAX_DF + 1),
            pending: Vec::with_capacity(4 * FFT_SIZE),
            levels: VecDeque::with_capacity(2 * DT + 1),
            wide: VecDeque::with_capacity(2 * DT + 1),
            frames: 0,
            front: 0,
            judged: 0,
            peaks: Vec::new(),
        }
    }

    /// Feed int16 samples; peaks they complete are kept for [`Self::finish`].
    pub fn push(&mut self, samples: &[i16]) {
        self.push_with(samples, f32::from);
    }

    /// Feed float samples (full scale 1.0, like int16 / 32768); values beyond full scale are
    /// analysed as they are, where int16 would clip them.
    pub fn push_f32(&mut self, samples: &[f32]) {
        self.push_with(samples, |s| s * 32768.0);
    }

    fn push_with<T: Copy>(&mut self, samples: &[T], scale: impl Fn(T) -> f32) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (4 * FFT_SIZE)
                .saturating_sub(self.pending.len())
                .max(FRAME_HOP)
                .min(rest.len());
            self.pending.extend(rest[..take].iter().map(|&s| scale(s)));
            rest = &rest[take..];
            let mut start = 0;
            while self.pending.len() - start >= FFT_SIZE {
                self.frame(start);
                start += FRAME_HOP;
            }
            self.pending.drain(..start);
        }
    }

    /// Flush (the last DT frames are judged against the frames that exist) and return the
    /// strongest peaks ([`RANK_KEEP`] per +-[`RANK_FRAMES`] frames), sorted by frame then
    /// pitch.
    pub fn finish(mut self) -> Vec<Peak> {
        while self.judged < self.frames {
            self.judge();
        }
        sort_peaks(&mut self.peaks);
        strongest(&self.peaks)
    }

    /// Neighbourhood maxima found so far (before the strength ranking).
    pub fn candidates(&self) -> &[Peak] {
        &self.peaks
    }

    fn frame(&mut self, start: usize) {
        let frame = &self.pending[start..start + FFT_SIZE];
        for ((x, &s), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *x = s * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("buffers are sized by the planner");
        // Power, not its log: the maxima and comparisons are the same, and only the peaks'
        // logs are needed (a log per bin was most of the picker's time).
        let mut level = vec![0.0; BAND];
        for (l, c) in level.iter_mut().zip(&self.output[LOW_BIN..HIGH_BIN]) {
            // +1 keeps digital silence finite (log 0) and below any real peak.
            *l = c.re * c.re + c.im * c.im + 1.0;
        }
        let wide = window_max(&level, &self.radius, &mut self.queue);
        self.levels.push_back(level);
        self.wide.push_back(wide);
        self.frames += 1;
        // A frame is judged once the DT frames after it exist.
        while self.judged + (DT as u32) < self.frames {
            self.judge();
        }
    }

    fn judge(&mut self) {
        let f = self.judged;
        self.pick((f - self.front) as usize, f);
        self.judged += 1;
        // Keep only the frames the next judgement can see.
        while self.front + (DT as u32) < self.judged {
            self.levels.pop_front();
            self.wide.pop_front();
            self.front += 1;
        }
    }

    /// Emit the peaks of the frame at `idx` in the window (absolute frame `frame`).
    fn pick(&mut self, idx: usize, frame: u32) {
        let level = &self.levels[idx];
        let top = level.iter().copied().fold(f32::MIN, f32::max);
        // Digital silence (power 1 everywhere, log 0) has no peaks.
        if top < std::f32::consts::E {
            return;
        }
        let floor = top * (-FLOOR_BELOW_MAX).exp();
        for k in 1..BAND - 1 {
            let v = level[k];
            if v < floor || v != self.wide[idx][k] {
                continue;
            }
            // Strict maximum over the time neighbourhood (ties go to the earliest frame).
            let ok = self
                .wide
                .iter()
                .enumerate()
                .all(|(j, w)| j == idx || if j < idx { w[k] < v } else { w[k] <= v });
            if !ok || level[k - 1] >= v || level[k + 1] > v {
                continue;
            }
            // Parabolic interpolation of the bin on log power.
            let (a, b, c) = (level[k - 1].ln(), v.ln(), level[k + 1].ln());
            let den = a - 2.0 * b + c;
            let delta = if den < 0.0 { 0.5 * (a - c) / den } else { 0.0 };
            let bin = (LOW_BIN + k) as f32 + delta.clamp(-0.5, 0.5);
            let hz = bin * SAMPLE_RATE as f32 / FFT_SIZE as f32;
            let pitch = 12.0 * (hz / 27.5).log2();
            self.peaks.push(Peak {
                frame,
                pitch,
                level: b,
            });
        }
    }
}

/// Neighbourhood half-width in bins for each band bin: +-[`NEIGHBOUR_SEMITONES`] in frequency,
/// clamped to [`MIN_DF`]..=[`MAX_DF`] bins (log-frequency below 440 Hz, +-54 Hz above).
///
/// With a fixed +-54 Hz neighbourhood (Wang 2003's rectangle) one bass partial suppresses
/// everything within an octave or more of it, so the 40-440 Hz range, where much music
/// carries its energy and its partials that best survive broadband noise, yields a few
/// candidates a frame against dozens from the band above, where added white noise spreads
/// the same power per bin over ten times the width. Musical pitch is logarithmic, so the
/// neighbourhood is too (two semitones keep neighbouring notes of a bass line apart).
fn radii() -> Vec<usize> {
    let per_bin = 2f64.powf(NEIGHBOUR_SEMITONES / 12.0) - 1.0;
    (LOW_BIN..HIGH_BIN)
        .map(|k| ((k as f64 * per_bin).round() as usize).clamp(MIN_DF, MAX_DF))
        .collect()
}

/// Maximum of `x[k - r[k] ..= k + r[k]]` (clipped to the slice) for every k, in O(n); `r`
/// must be non-decreasing and grow by at most one per bin. Where `r` has reached its last
/// value (most of the band) van Herk / Gil-Werman running maxima over blocks; below, a
/// monotone queue, valid because both window ends never move left as k grows.
fn window_max(x: &[f32], r: &[usize], queue: &mut VecDeque<usize>) -> Vec<f32> {
    let n = x.len();
    let Some(&top) = r.last() else {
        return Vec::new();
    };
    let from = r.iter().rposition(|&rk| rk != top).map_or(0, |i| i + 1);
    let mut out = fixed_window_max(x, top);
    queue.clear();
    let mut next = 0;
    for (k, &rk) in r.iter().enumerate().take(from) {
        let lo = k.saturating_sub(rk);
        let hi = (k + rk).min(n - 1);
        while next <= hi {
            while queue.back().is_some_and(|&b| x[b] <= x[next]) {
                queue.pop_back();
            }
            queue.push_back(next);
            next += 1;
        }
        while queue.front().is_some_and(|&f| f < lo) {
            queue.pop_front();
        }
        out[k] = x[queue[0]];
    }
    out
}

/// Maximum of `x[k - r ..= k + r]` (clipped to the slice) for every k, in O(n): van Herk /
/// Gil-Werman running maxima over blocks of 2 r + 1.
fn fixed_window_max(x: &[f32], r: usize) -> Vec<f32> {
    let n = x.len();
    let w = 2 * r + 1;
    let mut prefix = x.to_vec();
    let mut suffix = x.to_vec();
    for i in 1..n {
        if i % w != 0 {
            prefix[i] = prefix[i].max(prefix[i - 1]);
        }
    }
    for i in (0..n.saturating_sub(1)).rev() {
        if (i + 1) % w != 0 {
            suffix[i] = suffix[i].max(suffix[i + 1]);
        }
    }
    (0..n)
        .map(|k| {
            let lo = k.saturating_sub(r);
            let hi = (k + r).min(n - 1);
            suffix[lo].max(prefix[hi])
        })
        .collect()
}

/// Keep the candidates with fewer than [`RANK_KEEP`] louder ones within +-[`RANK_FRAMES`]
/// frames; `p` must be sorted by frame. Ties in level count the earlier peak as louder.
fn strongest(p: &[Peak]) -> Vec<Peak> {
    let mut out = Vec::with_capacity(p.len() / 2);
    let mut lo = 0;
    let mut hi = 0;
    for (i, c) in p.iter().enumerate() {
        while p[lo].frame + RANK_FRAMES < c.frame {
            lo += 1;
        }
        while hi < p.len() && p[hi].frame <= c.frame + RANK_FRAMES {
            hi += 1;
        }
        // Counting stops at RANK_KEEP: most candidates lose early.
        let louder = p[lo..hi]
            .iter()
            .enumerate()
            .filter(|&(j, o)| o.level > c.level || (o.level == c.level && lo + j < i))
            .take(RANK_KEEP)
            .count();
        if louder < RANK_KEEP {
            out.push(*c);
        }
    }
    out
}

/// Peaks of a whole 11025 Hz signal, sorted by frame then pitch.
pub fn peaks(samples: &[i16]) -> Vec<Peak> {
    let mut p = PeakPicker::new();
    p.push(samples);
    p.finish()
}

fn sort_peaks(p: &mut [Peak]) {
    p.sort_by(|a, b| a.frame.cmp(&b.frame).then(a.pitch.total_cmp(&b.pitch)));
}

/// Hash the triplets of a frame-sorted peak list.
///
/// For anchor p1 and two later peaks p2, p3 among the [`FAN_OUT`] loudest peaks of the next
/// 1.5 s (t1 < t2 < t3; the loudest, not the nearest, so that noise, which replaces weak
/// peaks, leaves the reference's triplets in place), the hash holds: the time ratio (t2 - t1) / (t3 - t1) in 16 steps
/// (tempo-invariant), the two pitch intervals p2 - p1 and p3 - p2 rounded to semitones
/// (pitch-invariant; musical intervals sit near whole semitones, far from rounding
/// boundaries), and two coarse, nearly invariant features that make the hash selective: the
/// octave of p1 and the octave of the span t3 - t1 in frames (a 5% tempo or 1-semitone
/// change crosses such a boundary for only a few percent of triplets).
pub fn landmarks(peaks: &[Peak]) -> Vec<Landmark> {
    let mut out = Vec::with_capacity(peaks.len() * FAN_OUT * (FAN_OUT - 1) / 2);
    let mut next: Vec<&Peak> = Vec::with_capacity(4 * FAN_OUT);
    for (i, p1) in peaks.iter().enumerate() {
        next.clear();
        for p in &peaks[i + 1..] {
            if p.frame <= p1.frame {
                continue;
            }
            if p.frame - p1.frame > MAX_SPAN {
                break;
            }
            if (p.pitch - p1.pitch).abs() <= MAX_INTERVAL {
                next.push(p);
            }
        }
        // The FAN_OUT loudest (earlier first on ties), back in time order.
        if next.len() > FAN_OUT {
            next.sort_by(|a, b| b.level.total_cmp(&a.level));
            next.truncate(FAN_OUT);
            next.sort_by(|a, b| a.frame.cmp(&b.frame).then(a.pitch.total_cmp(&b.pitch)));
        }
        for a in 0..next.len() {
            for b in a + 1..next.len() {
                let (p2, p3) = (next[a], next[b]);
                if p3.frame == p2.frame {
                    continue;
                }
                let span = p3.frame - p1.frame;
                let ratio = f64::from(p2.frame - p1.frame) / f64::from(span);
                let r = ((ratio * 16.0) as u32).min(15);
                let d1 = ((p2.pitch - p1.pitch).round() + MAX_INTERVAL) as u32;
                let d2 = ((p3.pitch - p2.pitch).round() + 2.0 * MAX_INTERVAL) as u32 & 127;
                let octave = ((p1.pitch / 12.0).max(0.0) as u32).min(7);
                let span_octave = (32 - span.leading_zeros()).min(7);
                let hash = r | d1 << 4 | d2 << 10 | octave << 17 | span_octave << 20;
                out.push(Landmark {
                    hash,
                    frame: p1.frame,
                    span: span as u16,
                    pitch: (p1.pitch.max(0.0) * 16.0).round().min(65535.0) as u16,
                });
            }
        }
    }
    out
}

/// Streaming landmark extraction: push 11025 Hz samples, then [`LandmarkExtractor::finish`].
#[derive(Default)]
pub struct LandmarkExtractor {
    picker: PeakPicker,
}

impl LandmarkExtractor {
    /// An empty extractor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed 11025 Hz mono int16 samples.
    pub fn push(&mut self, samples: &[i16]) {
        self.picker.push(samples);
    }

    /// Feed 11025 Hz mono float samples (full scale 1.0, not clipped).
    pub fn push_f32(&mut self, samples: &[f32]) {
        self.picker.push_f32(samples);
    }

    /// All landmarks of the audio pushed.
    pub fn finish(self) -> Vec<Landmark> {
        landmarks(&self.picker.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tones(notes: &[(f32, usize)]) -> Vec<i16> {
        // A melody: each (Hz, samples) note as a sine with a few harmonics.
        let mut out = Vec::new();
        for &(f, n) in notes {
            for i in 0..n {
                let t = i as f32 / SAMPLE_RATE as f32;
                let w = 2.0 * std::f32::consts::PI * f * t;
                out.push((8000.0 * (w.sin() + 0.3 * (2.0 * w).sin())) as i16);
            }
        }
        out
    }

    #[test]
    fn window_max_equals_naive() {
        let x: Vec<f32> = (0..97).map(|i| ((i * 37) % 23) as f32).collect();
        let fixed = |r: usize| vec![r; x.len()];
        let growing: Vec<usize> = (0..x.len()).map(|k| (k / 5).clamp(1, 12)).collect();
        for r in [fixed(0), fixed(1), fixed(3), fixed(20), fixed(60), growing] {
            let naive: Vec<f32> = (0..x.len())
                .map(|k| {
                    let lo = k.saturating_sub(r[k]);
                    let hi = (k + r[k] + 1).min(x.len());
                    x[lo..hi].iter().copied().fold(f32::MIN, f32::max)
                })
                .collect();
            assert_eq!(window_max(&x, &r, &mut VecDeque::new()), naive, "{r:?}");
        }
    }

    #[test]
    fn neighbourhood_is_log_frequency_in_the_bass() {
        let r = radii();
        assert_eq!(r.len(), BAND);
        assert_eq!(r[0], MIN_DF);
        assert_eq!(*r.last().unwrap(), MAX_DF);
        // Window ends never move left (the running maximum relies on it).
        assert!(r.windows(2).all(|w| w[1] <= w[0] + 1));
        // 220 Hz (bin 82): two semitones are 10 bins.
        assert_eq!(r[82 - LOW_BIN], 10);
    }

    #[test]
    fn strongest_keeps_the_loudest_per_window() {
        // Ten candidates in one frame window: only the RANK_KEEP loudest survive; a lone
        // candidate far away survives whatever its level.
        let mut p: Vec<Peak> = (0..10)
            .map(|i| Peak {
                frame: 100,
                pitch: 40.0 + i as f32,
                level: i as f32,
            })
            .collect();
        p.push(Peak {
            frame: 100 + 2 * RANK_FRAMES + 5,
            pitch: 50.0,
            level: -5.0,
        });
        let kept = strongest(&p);
        assert_eq!(kept.len(), RANK_KEEP + 1);
        assert!(kept[..RANK_KEEP]
            .iter()
            .all(|k| k.level >= (10 - RANK_KEEP) as f32));
        assert_eq!(kept[RANK_KEEP].level, -5.0);
    }

    #[test]
    fn silence_has_no_peaks() {
        assert!(peaks(&[0; 11025 * 3]).is_empty());
    }

    #[test]
    fn float_input_beyond_full_scale_is_not_clipped() {
        // Four times louder than int16 can hold: as floats the peaks are those of the quiet
        // signal, where int16 clipping would add harmonics everywhere.
        let melody = tones(&[(220.0, 8000), (330.0, 8000), (262.0, 8000), (392.0, 8000)]);
        let quiet: Vec<f32> = melody.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let loud: Vec<f32> = quiet.iter().map(|&x| 4.0 * x).collect();
        let of = |x: &[f32]| {
            let mut p = PeakPicker::new();
            p.push_f32(x);
            p.finish()
        };
        let (a, b) = (of(&quiet), of(&loud));
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(&b) {
            assert_eq!(p.frame, q.frame);
            assert!((p.pitch - q.pitch).abs() < 1e-3);
        }
        // The int16 path reads the same samples as the float path.
        let mut p = PeakPicker::new();
        p.push(&melody);
        assert_eq!(p.finish(), a);
    }

    #[test]
    fn tone_peak_has_its_pitch() {
        let p = peaks(&tones(&[(440.0, 11025 * 2)]));
        assert!(!p.is_empty());
        // 440 Hz is 48 semitones above 27.5 Hz.
        assert!(p.iter().any(|p| (p.pitch - 48.0).abs() < 0.3), "{p:?}");
    }

    #[test]
    fn melody_hashes_survive_transposition() {
        let melody: Vec<(f32, usize)> = [262.0, 330.0, 392.0, 523.0, 440.0, 349.0, 294.0]
            .iter()
            .cycle()
            .take(28)
            .map(|&f| (f, 2000))
            .collect();
        let up: Vec<(f32, usize)> = melody.iter().map(|&(f, n)| (f * 1.059_463, n)).collect();
        let a: std::collections::HashSet<u32> = landmarks(&peaks(&tones(&melody)))
            .iter()
            .map(|l| l.hash & 0x1_FFFF)
            .collect();
        let b: Vec<u32> = landmarks(&peaks(&tones(&up)))
            .iter()
            .map(|l| l.hash & 0x1_FFFF)
            .collect();
        assert!(!b.is_empty());
        let shared = b.iter().filter(|h| a.contains(h)).count();
        // Linear-frequency peak neighbourhoods are not transposition-invariant, so some peaks
        // change; a fifth of shared hashes is plenty (a match needs a dozen in line).
        assert!(shared * 5 > b.len(), "{shared} of {}", b.len());
    }
}
