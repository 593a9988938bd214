//! Landmark half of the audio index: triplet-hash lookups, coarse offset votes, then a line
//! fit t_ref = scale * t_query + offset that finds tempo change (Six & Leman 2014: the time
//! factor of a match) and a consistent pitch difference (the frequency factor).

use rustc_hash::FxHashMap;

use super::landmarks::Landmark;

// Span ratio (reference / query) accepted per matching triplet: tempo -15% .. +18%.
const MIN_SCALE: f64 = 0.85;
const MAX_SCALE: f64 = 1.18;
// Pitch differences accepted per triplet, in semitones.
const MAX_PITCH: f64 = 2.5;
// Coarse offset bins for the votes (32 frames, 1.49 s): a 5% tempo change drifts a 30 s
// query by 1.5 s, which three adjacent bins still hold.
const BIN: i64 = 32;
// Candidate windows examined per query.
const VERIFY_CELLS: usize = 16;
// Line fit: scales tried, and the distance (frames, +-70 ms) at which a match is on the line.
const SCALE_STEP: f64 = 0.004;
const ON_LINE: f64 = 1.5;
const PITCH_TOLERANCE: f64 = 0.75;
// Lines tried per window by `fit` (scales x positions), for the multiple-comparison bound.
const TRIALS: f64 = 2656.0;
/// Fewest consistent triplets for a landmark match: above what unrelated music reaches on
/// the dev corpus (see `landmark_threshold`).
pub const MIN_INLIERS: usize = 12;
/// Least evidence, in nats, counted in independent units (see [`anchor_points`]): -ln of
/// the chance that unrelated anchors put as many on one of the lines tried, after the
/// Bonferroni factor for every line and window tried (so this is a per-query false-alarm
/// level of 1e-3).
pub const MIN_ANCHOR_EVIDENCE: f64 = 6.907_755_278_982_137; // ln(1000)
/// Least share of the query's triplets a landmark match must put on its line. Unrelated
/// music with shared rhythm and timbre (same composer, same drum patterns) puts up to 0.8%
/// of a 30 s query's triplets on some line at a shifted tempo on the dev corpus, more than
/// the chance model of [`landmark_threshold`] allows; true matches under 0 dB white noise
/// or 5% tempo change keep 2% or more.
pub const MIN_SHARE: f64 = 0.0125;

#[derive(Clone, Copy, Debug)]
struct Posting {
    slot: u32,
    frame: u32,
    span: u16,
    pitch: u16,
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    slot: u32,
    tq: f64,
    tr: f64,
    dpitch: f64,
}

/// A verified landmark match of a query against one track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LandmarkHit {
    /// Track slot.
    pub slot: u32,
    /// Reference frame aligned with query frame 0.
    pub offset: f64,
    /// Reference frames per query frame (> 1: the query is faster).
    pub scale: f64,
    /// Query pitch minus reference pitch, in semitones.
    pub pitch_shift: f64,
    /// Triplets consistent with the line and the pitch shift.
    pub inliers: usize,
    /// Threshold the inliers were held to.
    pub threshold: usize,
    /// First and last query frames among the inliers.
    pub query_span: (u32, u32),
    /// -ln of the chance that unrelated pairs put this many inliers on one of the lines
    /// tried (Poisson tail less the log of the lines tried per query).
    pub evidence: f64,
    /// The same counted in independent units, anchor correspondences (see
    /// [`anchor_points`]), which is how it is weighed against chroma evidence.
    pub anchor_evidence: f64,
    /// Anchor evidence of the best line at tempo 1 in the same window: what the landmarks
    /// say for the unaltered tempo when `scale` differs from 1.
    pub unit_evidence: f64,
}

/// What a landmark query found: the verified lines, and the matching pairs, so that any other
/// place (one the chroma items chose) can be weighed by the same evidence.
pub struct LandmarkAnswer {
    /// Best line per track (most anchor evidence), most inliers first.
    pub hits: Vec<LandmarkHit>,
    /// Every verified line, several per track where the music repeats.
    pub lines: Vec<LandmarkHit>,
    pairs: Vec<Pair>,
}

impl LandmarkAnswer {
    /// Anchor evidence (as [`LandmarkHit::anchor_evidence`]) of the tempo-1 line that puts
    /// query frame 0 at reference frame `offset` of track `slot`, read in the same 96-frame
    /// window the verification uses; negative when the landmarks say nothing for it.
    pub fn unit_evidence_at(&self, slot: u32, offset: f64) -> f64 {
        let half = 1.5 * BIN as f64;
        let window: Vec<Pair> = self
            .pairs
            .iter()
            .filter(|p| p.slot == slot && (p.tr - p.tq - offset).abs() < half)
            .copied()
            .collect();
        line_anchor_evidence(&inliers_on(&window, 1.0, offset), &window)
    }
}

/// Inverted index from triplet hash to (track slot, frame, span, pitch).
#[derive(Default)]
pub struct LandmarkTable {
    table: FxHashMap<u32, Vec<Posting>>,
    postings: usize,
}

impl LandmarkTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Index the landmarks of track `slot`.
    pub fn add(&mut self, slot: u32, marks: &[Landmark]) {
        for m in marks {
            self.table.entry(m.hash).or_default().push(Posting {
                slot,
                frame: m.frame,
                span: m.span,
                pitch: m.pitch,
            });
        }
        self.postings += marks.len();
    }

    /// Remove track `slot`, whose landmarks are `marks`.
    pub fn remove(&mut self, slot: u32, marks: &[Landmark]) {
        for m in marks {
            if let Some(bucket) = self.table.get_mut(&m.hash) {
                let before = bucket.len();
                bucket.retain(|p| p.slot != slot);
                self.postings -= before - bucket.len();
                if bucket.is_empty() {
                    self.table.remove(&m.hash);
                }
            }
        }
    }

    /// Bytes the postings take in memory.
    pub fn memory(&self) -> usize {
        self.postings * std::mem::size_of::<Posting>()
    }

    /// Tracks whose landmarks line up with the query's; best per track (most anchor
    /// evidence), most inliers first.
    pub fn query(&self, query: &[Landmark]) -> Vec<LandmarkHit> {
        self.search(query).hits
    }

    /// [`Self::query`], keeping the matching pairs for [`LandmarkAnswer::unit_evidence_at`].
    pub fn search(&self, query: &[Landmark]) -> LandmarkAnswer {
        let mut pairs: Vec<Pair> = Vec::new();
        for q in query {
            let Some(bucket) = self.table.get(&q.hash) else {
                continue;
            };
            for p in bucket {
                let scale = f64::from(p.span) / f64::from(q.span.max(1));
                let dpitch = (f64::from(q.pitch) - f64::from(p.pitch)) / 16.0;
                if (MIN_SCALE..=MAX_SCALE).contains(&scale) && dpitch.abs() <= MAX_PITCH {
                    pairs.push(Pair {
                        slot: p.slot,
                        tq: f64::from(q.frame),
                        tr: f64::from(p.frame),
                        dpitch,
                    });
                }
            }
        }
        let mut votes: FxHashMap<(u32, i64), u32> = FxHashMap::default();
        for p in &pairs {
            *votes
                .entry((p.slot, ((p.tr - p.tq).floor() as i64).div_euclid(BIN)))
                .or_default() += 1;
        }
        let mut ranked: Vec<((u32, i64), u32)> = votes
            .iter()
            .map(|(&(s, b), &v)| {
                let near = votes.get(&(s, b - 1)).copied().unwrap_or(0)
                    + votes.get(&(s, b + 1)).copied().unwrap_or(0);
                ((s, b), v + near)
            })
            .filter(|&(_, v)| v as usize >= MIN_INLIERS)
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<(u32, i64)> = Vec::new();
        for &((s, b), _) in &ranked {
            if chosen.len() == VERIFY_CELLS {
                break;
            }
            if chosen
                .iter()
                .any(|&(s2, b2)| s2 == s && (b2 - b).abs() <= 1)
            {
                continue;
            }
            chosen.push((s, b));
        }
        let share_floor = (MIN_SHARE * query.len() as f64).ceil() as usize;
        let mut best: FxHashMap<u32, LandmarkHit> = FxHashMap::default();
        let mut lines = Vec::new();
        for (slot, b) in chosen {
            let lo = ((b - 1) * BIN) as f64;
            let hi = ((b + 2) * BIN) as f64;
            let window: Vec<Pair> = pairs
                .iter()
                .filter(|p| p.slot == slot && (lo..hi).contains(&(p.tr - p.tq).floor()))
                .copied()
                .collect();
            if let Some(hit) = fit(slot, &window, share_floor) {
                // Music repeats, so one track can hold several lines; the one with the most
                // evidence wins (raw inlier counts favour windows crowded with chance pairs).
                let better = best
                    .get(&slot)
                    .is_none_or(|h| hit.anchor_evidence > h.anchor_evidence);
                if better {
                    best.insert(slot, hit);
                }
                lines.push(hit);
            }
        }
        let mut out: Vec<LandmarkHit> = best.into_values().collect();
        out.sort_by(|a, b| b.inliers.cmp(&a.inliers).then(a.slot.cmp(&b.slot)));
        LandmarkAnswer {
            hits: out,
            lines,
            pairs,
        }
    }
}

/// Inliers a match needs when `window` pairs fell in its candidate window: at least
/// [`MIN_INLIERS`], and far above what chance alignment of that many pairs gives (a random
/// pair lands within +-1.5 frames of a line in a 96-frame window with probability ~3/96;
/// the fit tries 83 scales x 32 line positions, so the Poisson tail is held below 1e-7
/// after multiplying by those 2,656 trials).
pub fn landmark_threshold(window: usize) -> usize {
    let lambda = window as f64 * (2.0 * ON_LINE / (3 * BIN) as f64);
    // Smallest k with P(Poisson(lambda) >= k) * trials < 1e-7.
    let mut k = 0usize;
    let mut term = (-lambda).exp();
    let mut cdf = term;
    while (1.0 - cdf) * TRIALS >= 1e-7 && k < 10_000 {
        k += 1;
        term *= lambda / k as f64;
        cdf += term;
    }
    (k + 1).max(MIN_INLIERS)
}

/// -ln P(Poisson(lambda) >= k), summed in log space.
fn poisson_tail_nats(lambda: f64, k: usize) -> f64 {
    if k == 0 || lambda <= 0.0 {
        return if k == 0 { 0.0 } else { f64::INFINITY };
    }
    // ln of the k-th term, then the sum of the following terms relative to it.
    let ln_fact: f64 = (1..=k).map(|j| (j as f64).ln()).sum();
    let ln_term = -lambda + k as f64 * lambda.ln() - ln_fact;
    let mut sum = 1.0;
    let mut term = 1.0;
    for j in k + 1..k + 10_000 {
        term *= lambda / j as f64;
        sum += term;
        if term < 1e-12 * sum {
            break;
        }
    }
    -(ln_term + sum.ln())
}

/// Distinct (query frame, reference frame) anchor correspondences among `pairs`.
///
/// The triplets of one anchor peak (up to 10: two of its next 5 peaks) share its frame, so
/// when an anchor and its neighbourhood happen to resemble a place in another track, several
/// of its triplets match there together: they are one coincidence, not several. The Poisson
/// model of [`landmark_threshold`] counts them as independent; counted as anchor
/// correspondences, the chance lines unrelated music reaches on the dev corpus (12 triplets
/// from 4 or 5 anchors within about a second of the query) carry no evidence at all, while
/// true matches keep 9 or more anchors spread over the query.
fn anchor_points<'a>(pairs: impl Iterator<Item = &'a Pair>) -> usize {
    let mut points: Vec<(u32, u32)> = pairs.map(|p| (p.tq as u32, p.tr as u32)).collect();
    points.sort_unstable();
    points.dedup();
    points.len()
}

/// Best line t_ref = scale * t_query + offset through `pairs` with a consistent pitch shift,
/// if at least `share_floor` (and the chance threshold of the window) of them are on it.
fn fit(slot: u32, pairs: &[Pair], share_floor: usize) -> Option<LandmarkHit> {
    let threshold = landmark_threshold(pairs.len()).max(share_floor);
    if pairs.len() < threshold {
        return None;
    }
    let mut best = (0usize, 1.0f64, 0.0f64);
    let mut offsets: Vec<f64> = Vec::with_capacity(pairs.len());
    let steps = ((MAX_SCALE - MIN_SCALE) / SCALE_STEP).round() as usize;
    for i in 0..=steps {
        let scale = MIN_SCALE + i as f64 * SCALE_STEP;
        let (n, offset) = densest(pairs, scale, &mut offsets);
        // Prefer scales nearer 1 on ties (the unaltered case is the common one).
        if n > best.0 || (n == best.0 && (scale - 1.0).abs() < (best.1 - 1.0).abs()) {
            best = (n, scale, offset);
        }
    }
    let (_, scale, offset) = best;
    let inliers = inliers_on(pairs, scale, offset);
    if inliers.len() < threshold {
        return None;
    }
    // The same chance model counted in independent units (anchor correspondences).
    let anchor_evidence = line_anchor_evidence(&inliers, pairs);
    if anchor_evidence < MIN_ANCHOR_EVIDENCE {
        return None;
    }
    // What the same window says for the unaltered tempo: the best line at scale 1 exactly.
    let unit_offset = densest(pairs, 1.0, &mut offsets).1;
    let unit_evidence = line_anchor_evidence(&inliers_on(pairs, 1.0, unit_offset), pairs);
    // Least-squares refinement of the line over the inliers.
    let n = inliers.len() as f64;
    let (mx, my) = inliers
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.tq / n, y + p.tr / n));
    let (sxy, sxx) = inliers.iter().fold((0.0, 0.0), |(a, b), p| {
        (a + (p.tq - mx) * (p.tr - my), b + (p.tq - mx) * (p.tq - mx))
    });
    let (scale, offset) = if sxx > 100.0 {
        let s = (sxy / sxx).clamp(MIN_SCALE, MAX_SCALE);
        (s, my - s * mx)
    } else {
        (scale, offset)
    };
    let pitch = inliers.iter().map(|p| p.dpitch).sum::<f64>() / n;
    let lambda = pairs.len() as f64 * (2.0 * ON_LINE / (3 * BIN) as f64);
    let evidence = poisson_tail_nats(lambda, inliers.len()) - (TRIALS * VERIFY_CELLS as f64).ln();
    let first = inliers.iter().map(|p| p.tq).fold(f64::MAX, f64::min) as u32;
    let last = inliers.iter().map(|p| p.tq).fold(0.0, f64::max) as u32;
    Some(LandmarkHit {
        slot,
        offset,
        scale,
        pitch_shift: pitch,
        inliers: inliers.len(),
        threshold,
        query_span: (first, last),
        evidence,
        anchor_evidence,
        unit_evidence,
    })
}

/// The line at `scale` through most of `pairs`: how many lie within [`ON_LINE`] of it, and
/// its offset (the first such line on ties).
fn densest(pairs: &[Pair], scale: f64, offsets: &mut Vec<f64>) -> (usize, f64) {
    offsets.clear();
    offsets.extend(pairs.iter().map(|p| p.tr - scale * p.tq));
    offsets.sort_unstable_by(f64::total_cmp);
    let mut best = (0, 0.0);
    let mut lo = 0;
    for hi in 0..offsets.len() {
        while offsets[hi] - offsets[lo] > 2.0 * ON_LINE {
            lo += 1;
        }
        if hi - lo + 1 > best.0 {
            best = (hi - lo + 1, 0.5 * (offsets[lo] + offsets[hi]));
        }
    }
    best
}

/// The pairs on the line (within [`ON_LINE`]) whose pitch shift is within
/// [`PITCH_TOLERANCE`] of the median of the line's.
fn inliers_on(pairs: &[Pair], scale: f64, offset: f64) -> Vec<&Pair> {
    let on: Vec<&Pair> = pairs
        .iter()
        .filter(|p| (p.tr - scale * p.tq - offset).abs() <= ON_LINE)
        .collect();
    let mut d: Vec<f64> = on.iter().map(|p| p.dpitch).collect();
    d.sort_unstable_by(f64::total_cmp);
    let Some(&median) = d.get(d.len() / 2) else {
        return on;
    };
    on.into_iter()
        .filter(|p| (p.dpitch - median).abs() <= PITCH_TOLERANCE)
        .collect()
}

/// -ln of the chance that the anchors of `pairs` put as many on one of the lines tried as
/// `inliers` hold (Poisson over anchor correspondences, Bonferroni over lines and windows).
fn line_anchor_evidence(inliers: &[&Pair], pairs: &[Pair]) -> f64 {
    let anchors = anchor_points(inliers.iter().copied());
    let lambda = anchor_points(pairs.iter()) as f64 * (2.0 * ON_LINE / (3 * BIN) as f64);
    poisson_tail_nats(lambda, anchors) - (TRIALS * VERIFY_CELLS as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(n: usize, seed: u64) -> Vec<Landmark> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(99);
                Landmark {
                    hash: (s >> 40) as u32,
                    frame: (i / 4) as u32,
                    span: 10 + (s >> 60) as u16,
                    pitch: 700 + ((s >> 50) & 255) as u16,
                }
            })
            .collect()
    }

    #[test]
    fn finds_a_stretched_excerpt() {
        let track = marks(20_000, 1);
        let mut t = LandmarkTable::new();
        t.add(3, &track);
        t.add(4, &marks(20_000, 2));
        // Excerpt from frame 1000, played 5% faster and 1 semitone (16 units) higher.
        let q: Vec<Landmark> = track
            .iter()
            .filter(|m| (1000..1430).contains(&m.frame))
            .step_by(2)
            .map(|m| Landmark {
                frame: ((f64::from(m.frame) - 1000.0) / 1.05).round() as u32,
                span: (f64::from(m.span) / 1.05).round() as u16,
                pitch: m.pitch + 16,
                ..*m
            })
            .collect();
        let hits = t.query(&q);
        assert_eq!(hits[0].slot, 3);
        assert!((hits[0].offset - 1000.0).abs() < 2.0, "{:?}", hits[0]);
        assert!((hits[0].scale - 1.05).abs() < 0.01);
        assert!((hits[0].pitch_shift - 1.0).abs() < 0.1);
        t.remove(3, &track);
        assert!(t.query(&q).iter().all(|h| h.slot != 3));
    }

    #[test]
    fn repeats_give_several_lines_and_evidence_anywhere() {
        // Frames 1000..1400 recur at 3000..3400, every other frame with one of its four
        // landmarks: the query (the first copy) lines up with both, best with the first.
        let mut track = marks(20_000, 7);
        let copy: Vec<Landmark> = track
            .iter()
            .filter(|m| (1000..1400).contains(&m.frame))
            .step_by(8)
            .map(|m| Landmark {
                frame: m.frame + 2000,
                ..*m
            })
            .collect();
        track.extend(copy);
        let mut t = LandmarkTable::new();
        t.add(0, &track);
        let q: Vec<Landmark> = track
            .iter()
            .filter(|m| (1000..1400).contains(&m.frame))
            .map(|m| Landmark {
                frame: m.frame - 1000,
                ..*m
            })
            .collect();
        let answer = t.search(&q);
        assert!(
            (answer.hits[0].offset - 1000.0).abs() < 2.0,
            "{:?}",
            answer.hits
        );
        assert!(answer.lines.iter().any(|h| (h.offset - 3000.0).abs() < 2.0));
        let first = answer.unit_evidence_at(0, 1000.0);
        let second = answer.unit_evidence_at(0, 3000.0);
        assert!(
            first > second && second > MIN_ANCHOR_EVIDENCE,
            "{first} {second}"
        );
        assert!(answer.unit_evidence_at(0, 2000.0) < 0.0);
        assert!(answer.unit_evidence_at(1, 1000.0) < 0.0);
    }

    #[test]
    fn triplets_of_few_anchors_are_one_coincidence_each() {
        // 12 triplets on the line t_ref = t_query + 500: from 12 anchors a match, from
        // 4 anchors (3 triplets each) a chance resemblance of one short passage.
        let line = |anchors: u32, per: usize| -> Vec<Pair> {
            (0..anchors)
                .flat_map(|a| {
                    let tq = f64::from(a * 15);
                    std::iter::repeat_n(
                        Pair {
                            slot: 0,
                            tq,
                            tr: tq + 500.0,
                            dpitch: 0.0,
                        },
                        per,
                    )
                })
                .collect()
        };
        let hit = fit(0, &line(12, 1), 0).expect("12 anchors");
        assert_eq!(hit.inliers, 12);
        assert!(fit(0, &line(4, 3), 0).is_none());
        assert_eq!(anchor_points(line(4, 3).iter()), 4);
    }

    #[test]
    fn poisson_tail() {
        // P(Poisson(2) >= 0) = 1, P(Poisson(2) >= 3) = 1 - 5 e^-2 = 0.3233.
        assert_eq!(poisson_tail_nats(2.0, 0), 0.0);
        assert!((poisson_tail_nats(2.0, 3) + 0.3233_f64.ln()).abs() < 1e-3);
        assert!(poisson_tail_nats(2.0, 40) > poisson_tail_nats(2.0, 20));
    }

    #[test]
    fn threshold_rises_with_window() {
        assert_eq!(landmark_threshold(0), MIN_INLIERS);
        assert!(landmark_threshold(5000) > landmark_threshold(500));
    }
}
