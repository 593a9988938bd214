//! `AudioIndex` arbitration between its two fingerprints, on synthetic items and landmarks:
//! which place and method a query is reported at when a chroma alignment and a landmark line
//! disagree on the tempo (heavy noise can tilt a landmark line) or on the place (music
//! repeats), and which of a track's repeats of a passage a query is placed at.

use std::f64::consts::TAU;

use _core::audio::landmarks::FRAME_SECONDS;
use _core::audio::pipeline::{self, AudioFingerprint, Options};
use _core::audio::{chroma, chroma_index, phase};
use _core::audio::{AudioIndex, Landmark, Method, Track, ITEM_SECONDS};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
}

const ITEMS: usize = 1200;

fn items(rng: &mut Lcg) -> Vec<u32> {
    (0..ITEMS).map(|_| rng.next() as u32).collect()
}

/// `x` with `bits` distinct random bits flipped.
fn flip(x: u32, bits: usize, rng: &mut Lcg) -> u32 {
    let mut y = x;
    let mut done = 0;
    while done < bits {
        let b = 1 << (rng.next() % 32);
        if (x ^ y) & b == 0 {
            y ^= b;
            done += 1;
        }
    }
    y
}

/// Four random triplets per landmark frame over the track's length.
fn marks(rng: &mut Lcg) -> Vec<Landmark> {
    let frames = (ITEMS as f64 * ITEM_SECONDS / FRAME_SECONDS) as u32;
    (0..frames * 4)
        .map(|i| Landmark {
            hash: (rng.next() & 0xFF_FFFF) as u32,
            frame: i / 4,
            span: 10 + (rng.next() % 16) as u16,
            pitch: 700 + (rng.next() % 256) as u16,
        })
        .collect()
}

/// The track's triplets from `start` seconds on, played at `scale` (track seconds per query
/// second) and thinned to one in `every`, as a query of `seconds` would hold them.
fn excerpt_marks(
    track: &[Landmark],
    start: f64,
    seconds: f64,
    scale: f64,
    every: usize,
) -> Vec<Landmark> {
    let from = start / FRAME_SECONDS;
    let to = from + scale * seconds / FRAME_SECONDS;
    track
        .iter()
        .filter(|m| (from..to).contains(&f64::from(m.frame)))
        .step_by(every)
        .map(|m| Landmark {
            frame: ((f64::from(m.frame) - from) / scale).round() as u32,
            span: (f64::from(m.span) / scale).round() as u16,
            ..*m
        })
        .collect()
}

fn index(items: Vec<u32>, landmarks: Vec<Landmark>) -> AudioIndex {
    let mut index = AudioIndex::new();
    let duration = items.len() as f64 * ITEM_SECONDS;
    index
        .add(Track {
            id: 7,
            items,
            landmarks,
            duration,
        })
        .unwrap();
    index
}

#[test]
fn spurious_tempo_line_leaves_a_clear_chroma_alignment() {
    // Under heavy noise few triplets survive, and a repetitive passage can put more of them on
    // a tilted line (here 2.3% slow: 16 anchor peaks with all 4 of their triplets) than on the
    // true tempo-1 line (40 anchor peaks with one triplet each). The tilted line has the most
    // triplets, so the fit reports it; but its anchors are fewer than the tempo-1 line's, and
    // the chroma items align at tempo 1 and not along it: the chroma alignment stands.
    let mut rng = Lcg(1);
    let reference = items(&mut rng);
    let track_marks = marks(&mut rng);
    let start = 500.0 * ITEM_SECONDS / FRAME_SECONDS;
    let from = start.round() as u32;
    let tilted: Vec<u32> = (0..16).map(|i| from + 100 + 7 * i).collect();
    let unit: Vec<u32> = (0..40)
        .map(|i| from + 2 + 5 * i)
        .filter(|f| !tilted.contains(f))
        .collect();
    let mut q_marks: Vec<Landmark> = Vec::new();
    for m in &track_marks {
        let f = f64::from(m.frame) - start;
        if tilted.contains(&m.frame) {
            q_marks.push(Landmark {
                frame: (f / 0.977).round() as u32,
                span: (f64::from(m.span) / 0.977).round() as u16,
                ..*m
            });
        } else if unit.contains(&m.frame) && m.hash % 4 == 0 {
            q_marks.push(Landmark {
                frame: f.round() as u32,
                ..*m
            });
        }
    }
    q_marks.sort_by_key(|m| m.frame);
    let q_items: Vec<u32> = reference[500..581]
        .iter()
        .map(|&x| flip(x, 3, &mut rng))
        .collect();
    let index = index(reference, track_marks);
    let found = index.query(&q_items, &q_marks, &[], 1);
    assert_eq!(found[0].method, Method::Chroma, "{found:?}");
    assert_eq!(found[0].offset_items, 500);
    assert_eq!(found[0].time_scale, 1.0);
}

#[test]
fn real_tempo_change_goes_to_the_landmark_line() {
    // 1.5% faster: the items still align at tempo 1 in the middle of a 10 s query (the ends
    // drift by 0.45 items), but read along the landmark line they agree everywhere.
    let mut rng = Lcg(2);
    let reference = items(&mut rng);
    let track_marks = marks(&mut rng);
    let q_items: Vec<u32> = (0..81)
        .map(|j| reference[(500.0 + 1.015 * j as f64).round() as usize])
        .collect();
    let q_marks = excerpt_marks(&track_marks, 500.0 * ITEM_SECONDS, 10.0, 1.015, 2);
    let index = index(reference, track_marks);
    let found = index.query(&q_items, &q_marks, &[], 1);
    assert_eq!(found[0].method, Method::Landmark, "{found:?}");
    assert!((found[0].time_scale - 1.015).abs() < 0.005, "{found:?}");
    assert!((found[0].offset_items - 500).abs() <= 1, "{found:?}");
}

#[test]
fn chroma_alignment_that_agrees_clearly_better_stands_against_a_repeat() {
    // The passage at item 600 recurs at item 100; the query comes from 600, and the landmark
    // line is there. The copy at 100 agrees clearly better (2 bits in 32 against 3): music
    // repeats, and a clear chroma alignment stands.
    let mut rng = Lcg(4);
    let mut reference = items(&mut rng);
    let track_marks = marks(&mut rng);
    let passage: Vec<u32> = (0..81).map(|_| rng.next() as u32).collect();
    for (j, &x) in passage.iter().enumerate() {
        reference[100 + j] = flip(x, 2, &mut rng);
        reference[600 + j] = flip(x, 3, &mut rng);
    }
    let q_marks = excerpt_marks(&track_marks, 600.0 * ITEM_SECONDS, 10.0, 1.0, 2);
    let index = index(reference, track_marks);
    let found = index.query(&passage, &q_marks, &[], 1);
    assert_eq!(found[0].method, Method::Chroma, "{found:?}");
    assert_eq!(found[0].offset_items, 100);
}

#[test]
fn marginal_chroma_alignment_needs_the_landmarks_to_agree() {
    // 7.5 bits in 32 differ (BER 0.234 over 81 items): past the threshold (0.259) by less
    // than one null standard deviation, as two unrelated tracks in one key and style can be.
    let mut rng = Lcg(5);
    let reference = items(&mut rng);
    let track_marks = marks(&mut rng);
    let q_items: Vec<u32> = reference[500..581]
        .iter()
        .enumerate()
        .map(|(j, &x)| flip(x, 7 + j % 2, &mut rng))
        .collect();
    let unrelated = excerpt_marks(&marks(&mut Lcg(99)), 500.0 * ITEM_SECONDS, 10.0, 1.0, 2);
    let agreeing = excerpt_marks(&track_marks, 500.0 * ITEM_SECONDS, 10.0, 1.0, 2);
    let index = index(reference, track_marks);
    // Landmarks that find nothing there: no match.
    let found = index.query(&q_items, &unrelated, &[], 1);
    assert!(found.is_empty(), "{found:?}");
    // Landmarks that agree, or none to ask: the alignment stands.
    for q_marks in [agreeing, Vec::new()] {
        let found = index.query(&q_items, &q_marks, &[], 1);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].offset_items, 500, "{found:?}");
        assert!((found[0].ber - 7.5 / 32.0).abs() < 0.005, "{found:?}");
    }
}

/// A chord that changes every 0.4 s under a slow tremolo, at 11025 Hz: music-like chroma.
fn music(seconds: usize, seed: u64) -> Vec<i16> {
    music_at(seconds, seed, 0.0)
}

/// [`music`] played `semitones` higher, at the same tempo.
fn music_at(seconds: usize, seed: u64, semitones: f64) -> Vec<i16> {
    let up = (semitones / 12.0).exp2();
    let notes = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9].map(|f| f * up);
    let mut rng = Lcg(seed);
    let mut chord = [0.0f64; 3];
    (0..seconds * 11025)
        .map(|i| {
            if i % 4410 == 0 {
                for c in &mut chord {
                    *c = notes[(rng.next() % notes.len() as u64) as usize];
                }
            }
            let t = i as f64 / 11025.0;
            let v: f64 = chord.iter().map(|f| (TAU * f * t).sin()).sum();
            (v * 6000.0 * (1.0 + 0.3 * (t * 3.0).sin())) as i16
        })
        .collect()
}

fn query_fp(samples: &[i16]) -> AudioFingerprint {
    let opts = Options {
        phases: true,
        ..Options::default()
    };
    pipeline::fingerprint_i16(samples, 11025, 1, &opts).unwrap()
}

#[test]
fn phase_floor_is_near_zero_at_the_true_place_for_any_cut() {
    let track = music(30, 7);
    let reference = chroma::fingerprint(&track);
    for cut in [0usize, 170, 400, 683, 1000, 1300] {
        let start = 11025 * 8 + cut;
        let q = query_fp(&track[start..start + 11025 * 10]);
        let offset = (start as f64 / 1365.0).round() as i64;
        let phases = phase::copies(q.head.as_ref().unwrap());
        let plain = chroma_index::ber_at(&reference, &q.items, offset)
            .unwrap()
            .0;
        let floor = phase::floor_ber(&reference, &q.items, &phases, offset).unwrap();
        assert!(floor <= plain + 1e-12, "cut {cut}: {floor} > {plain}");
        assert!(floor < 0.02, "cut {cut}: floor {floor}, plain {plain}");
    }
}

/// A track plays a passage, then (after a gap that shifts the item grid) a near-copy of it
/// with one more voice. Queries cut from the first are found there at every sub-item cut
/// when they bring their phase copies; by plain BER, some cuts prefer the copy.
#[test]
fn phase_copies_tell_a_passage_from_its_near_copy() {
    let a = music(12, 3);
    let copy: Vec<i16> = a
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let t = i as f64 / 11025.0;
            x.saturating_add((900.0 * (TAU * 587.3 * t).sin()) as i16)
        })
        .collect();
    let mut plain_wrong = 0;
    for gap in [0usize, 341, 683, 1024] {
        let mut track = a.clone();
        track.extend(std::iter::repeat_n(0i16, 11025 + gap));
        let copy_at = track.len();
        track.extend(&copy);
        let items = chroma::fingerprint(&track);
        let duration = track.len() as f64 / 11025.0;
        let mut index = AudioIndex::new();
        index
            .add(Track {
                id: 1,
                items,
                landmarks: Vec::new(),
                duration,
            })
            .unwrap();
        for cut in [0usize, 250, 500, 750, 1000, 1250] {
            let start = 11025 + cut;
            let q = query_fp(&track[start..start + 11025 * 8]);
            let truth = (start as f64 / 1365.0).round() as i64;
            let found = index.query(&q.items, &[], q.head.as_ref().unwrap(), 1);
            assert_eq!(found.len(), 1, "gap {gap} cut {cut}");
            assert!(
                (found[0].offset_items - truth).abs() <= 1,
                "gap {gap} cut {cut}: found at {} not {truth}",
                found[0].offset_items
            );
            // The copy verifies too, and is reported as a repeat.
            let there = ((copy_at + start) as f64 / 1365.0).round();
            assert!(
                found[0]
                    .repeats
                    .iter()
                    .any(|&r| (r / ITEM_SECONDS - there).abs() <= 1.5),
                "gap {gap} cut {cut}: repeats {:?}",
                found[0].repeats
            );
            let plain = index.query(&q.items, &[], &[], 1);
            if (plain[0].offset_items - truth).abs() > 1 {
                plain_wrong += 1;
            }
        }
    }
    assert!(
        plain_wrong > 0,
        "the plain BER never preferred the copy: the test tests nothing"
    );
}

/// A landmark line at a pitch shift is read against the chroma items with the shift undone
/// (from the query's head). Music of one style puts a dozen triplets on some line at a
/// shifted pitch now and then; where the chroma, transposed back, agrees no better than
/// chance, such a weak line is dropped. A copy played a semitone higher passes; so does a
/// line whose landmarks alone are strong evidence, and one without a head to read.
#[test]
fn pitched_landmark_line_needs_chroma_that_agrees_transposed_back() {
    let seconds = (ITEMS as f64 * ITEM_SECONDS) as usize;
    let track = music(seconds, 21);
    let mut rng = Lcg(8);
    let track_marks = marks(&mut rng);
    let index = index(chroma::fingerprint(&track), track_marks.clone());
    let start = 40.0;
    let cut = |audio: &[i16]| query_fp(&audio[11025 * 40..11025 * 50]);
    // The query's triplets one semitone (16 sixteenths) up; `every` thins them.
    let raised = |every: usize| -> Vec<Landmark> {
        excerpt_marks(&track_marks, start, 10.0, 1.0, every)
            .into_iter()
            .map(|m| Landmark {
                pitch: m.pitch + 16,
                ..m
            })
            .collect()
    };
    // A weak line: 22 triplets on it among 125 that match the track nearby off it (as music
    // that shares patterns with the track gives), enough evidence to verify (past 6.9 nats)
    // but not to stand alone (under 13.8): chance could have put them there.
    let mut weak = raised(40);
    weak.extend(raised(1).iter().step_by(3).take(125).map(|m| {
        let off_line = 5 + (rng.next() % 36) as i64;
        let sign = if rng.next() & 1 == 0 { 1 } else { -1 };
        Landmark {
            frame: (i64::from(m.frame) + sign * off_line).max(0) as u32,
            ..*m
        }
    }));
    weak.sort_by_key(|m| m.frame);
    let strong = raised(25);
    let copy = cut(&music_at(seconds, 21, 1.0));
    let other = cut(&music_at(seconds, 22, 1.0));
    let head = |f: &AudioFingerprint| f.head.clone().unwrap();
    // The copy a semitone up: its chroma items do not align as they are, the line does.
    let found = index.query(&copy.items, &weak, &head(&copy), 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].method, Method::Landmark);
    assert!((found[0].pitch_shift - 1.0).abs() < 0.1, "{found:?}");
    // Its BER is read along the line with the pitch undone: far below chance (0.48 here).
    assert!(found[0].ber < 0.35, "{found:?}");
    assert!((found[0].offset - start).abs() <= ITEM_SECONDS, "{found:?}");
    // Other music a semitone up under the same weak line: dropped.
    let found = index.query(&other.items, &weak, &head(&other), 1);
    assert!(found.is_empty(), "{found:?}");
    // Strong landmark evidence stands on its own; without a head there is nothing to read.
    assert_eq!(
        index.query(&other.items, &strong, &head(&other), 1).len(),
        1
    );
    assert_eq!(index.query(&other.items, &weak, &[], 1).len(), 1);
}
