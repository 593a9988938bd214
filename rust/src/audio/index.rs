//! `AudioIndex`: find where an excerpt of 5 s or more comes from, by chroma (Chromaprint
//! items, exact tempo and pitch) and by landmarks (peak triplets, tempo and pitch changes).

use rustc_hash::FxHashMap;

use super::chroma::{fingerprint_at_pitch, ITEM_SECONDS};
use super::chroma_index::{self, ChromaHit, ChromaTable, LineRead};
use super::landmark_index::{LandmarkHit, LandmarkTable, MIN_ANCHOR_EVIDENCE};
use super::landmarks::{Landmark, FRAME_SECONDS};
use super::phase;
use crate::error::{FingerprintError, Result};

// Landmark time scales further than this from 1 count as a tempo change (1%: below it the
// chroma items still align, at 0.5 s drift over 50 s).
const TEMPO_CHANGED: f64 = 0.01;
// Seconds within which a chroma alignment and a landmark line count as the same place.
const PLACE_TOLERANCE: f64 = 1.0;
// The chroma read along a landmark line, as a share of its chance BER (see
// `AudioIndex::query`): at or below the first it says nothing against the line; at or above
// the second it contradicts it.
const LINE_CHANCE_AGREES: f64 = 0.75;
const LINE_CHANCE_CONTRADICTS: f64 = 0.9;
// Anchor evidence with which a landmark line stands whatever its chroma says: twice the
// least (a per-query false-alarm level of 1e-6), enough for heavy noise, which blurs chroma
// more than peaks.
const STANDS_ALONE: f64 = 2.0 * MIN_ANCHOR_EVIDENCE;
// Pitch shifts (semitones) below which a line's chroma is read from the query's own items: a
// quarter of a chroma bin.
const PITCH_KEPT: f64 = 0.25;
// Nats by which one place must beat another for a preference to count: odds of 100 to 1.
const DECISIVE: f64 = 4.605_170_185_988_092; // ln(100)

/// One indexed track: what `add` was given (kept so the index can be saved and rebuilt).
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Caller's id.
    pub id: u64,
    /// Chromaprint TEST2 items.
    pub items: Vec<u32>,
    /// Landmark triplets (empty when added from items only).
    pub landmarks: Vec<Landmark>,
    /// Seconds of audio.
    pub duration: f64,
}

/// Which fingerprint found a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Chromaprint items, verified by aligned bit error rate.
    Chroma,
    /// Peak triplets, verified by a consistent time line and pitch shift.
    Landmark,
}

impl Method {
    /// "chroma" or "landmark".
    pub fn name(self) -> &'static str {
        match self {
            Method::Chroma => "chroma",
            Method::Landmark => "landmark",
        }
    }
}

/// An excerpt found in an indexed track.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// Track id.
    pub id: u64,
    /// Which fingerprint verified the match.
    pub method: Method,
    /// Chroma: (aligned share of the query) * (1 - 2 BER). Landmark: share of the query's
    /// triplets that line up. 0..1.
    pub score: f64,
    /// Seconds into the track where the query starts.
    pub offset: f64,
    /// The offset in Chromaprint items (0.124 s).
    pub offset_items: i64,
    /// Aligned bit error rate of the chroma items at the offset; for a landmark match, read
    /// along its line (tempo followed, pitch shift undone when the query has its head).
    /// 0.5 when not computable.
    pub ber: f64,
    /// Aligned items (chroma) or the query items the inliers span (landmark).
    pub length: usize,
    /// Track seconds per query second (1 for chroma matches).
    pub time_scale: f64,
    /// Query pitch minus track pitch in semitones (0 for chroma matches).
    pub pitch_shift: f64,
    /// Consistent triplets (landmark matches; 0 for chroma).
    pub landmarks: usize,
    /// Seconds into the track of the other places where the query also verified (chroma
    /// alignments or landmark lines: the track repeats the passage), in order; empty for
    /// most matches.
    pub repeats: Vec<f64>,
}

/// The audio index. Tracks live in slots; removed slots stay empty.
#[derive(Default)]
pub struct AudioIndex {
    tracks: Vec<Option<Track>>,
    slots: FxHashMap<u64, u32>,
    chroma: ChromaTable,
    marks: LandmarkTable,
}

impl AudioIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the index holds no track.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether `id` is indexed.
    pub fn contains(&self, id: u64) -> bool {
        self.slots.contains_key(&id)
    }

    /// The indexed tracks, in slot order.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().flatten()
    }

    /// Track ids in slot order.
    pub fn ids(&self) -> Vec<u64> {
        self.tracks().map(|t| t.id).collect()
    }

    /// Seconds of audio indexed.
    pub fn duration(&self) -> f64 {
        self.tracks().map(|t| t.duration).sum()
    }

    /// Bytes of postings held in memory (chroma, landmark).
    pub fn memory(&self) -> (usize, usize) {
        (self.chroma.memory(), self.marks.memory())
    }

    /// Index a track. Errors if the id is already present.
    pub fn add(&mut self, track: Track) -> Result<()> {
        if self.slots.contains_key(&track.id) {
            return Err(FingerprintError::DuplicateId(track.id));
        }
        if !(track.duration.is_finite() && track.duration >= 0.0) {
            return Err(FingerprintError::invalid(
                "duration must be finite and >= 0",
            ));
        }
        let slot = u32::try_from(self.tracks.len())
            .map_err(|_| FingerprintError::invalid("too many tracks"))?;
        self.chroma.add(slot, &track.items);
        self.marks.add(slot, &track.landmarks);
        self.slots.insert(track.id, slot);
        self.tracks.push(Some(track));
        Ok(())
    }

    /// Remove a track. Errors if the id is absent.
    pub fn remove(&mut self, id: u64) -> Result<Track> {
        let slot = self
            .slots
            .remove(&id)
            .ok_or(FingerprintError::MissingId(id))?;
        let track = self.tracks[slot as usize]
            .take()
            .expect("slot map is in sync");
        self.chroma.remove(slot, &track.items);
        self.marks.remove(slot, &track.landmarks);
        // Compact when most slots are empty, so slot numbers stay dense.
        if self.tracks.len() > 64 && self.slots.len() * 2 < self.tracks.len() {
            let tracks: Vec<Track> = std::mem::take(&mut self.tracks)
                .into_iter()
                .flatten()
                .collect();
            *self = Self::new();
            for t in tracks {
                self.add(t)?;
            }
        }
        Ok(track)
    }

    fn items(&self, slot: u32) -> Option<&[u32]> {
        self.tracks
            .get(slot as usize)?
            .as_ref()
            .map(|t| t.items.as_slice())
    }

    /// Up to `top` tracks the query comes from, best first; one match per track. Chroma
    /// matches are preferred (exact offset and BER); landmarks find what chroma cannot
    /// (tempo and pitch changes, heavy noise). `head` (the query's first samples at
    /// 11025 Hz, [`super::pipeline::AudioFingerprint::head`], or empty) chooses between
    /// places where a track repeats the passage.
    pub fn query(
        &self,
        items: &[u32],
        landmarks: &[Landmark],
        head: &[i16],
        top: usize,
    ) -> Vec<Match> {
        let (chroma, mut answer) = rayon::join(
            || self.chroma.query(items, |s| self.items(s)),
            || self.marks.search(landmarks),
        );
        // A marginal chroma alignment (less than one null standard deviation past its BER
        // threshold) needs the landmarks to agree that something matches at its place: music
        // in the same key and style (two tracks of one soundtrack) reaches such BERs by chance
        // about once in 700 unrelated 10 s excerpts, where its landmarks find nothing. Without
        // query landmarks there is nothing to ask, and the alignment stands.
        let chroma: Vec<ChromaHit> = chroma
            .into_iter()
            .filter(|c| {
                landmarks.is_empty()
                    || chroma_index::z_score(c.ber, c.informative) >= chroma_index::MARGINAL_Z
                    || answer.unit_evidence_at(c.slot, chroma_frame(c)) > 0.0
            })
            .collect();
        let informative = items
            .iter()
            .filter(|&&x| x != super::chroma::SILENCE_ITEM)
            .count()
            .max(1);
        // Every verified place per track (several where the track repeats the passage).
        let mut places: FxHashMap<u32, Vec<ChromaHit>> = FxHashMap::default();
        for h in chroma {
            places.entry(h.slot).or_default().push(h);
        }
        let chroma = self.one_place_per_track(&places, items, head);
        let mut by_slot: FxHashMap<u32, Match> = FxHashMap::default();
        for h in &chroma {
            by_slot.insert(h.slot, self.chroma_match(h, informative));
        }
        // The chroma items read along each landmark line, with its pitch shift undone, set the
        // anchor evidence the line needs ([`required_evidence`]): unrelated music of one style
        // and composer puts a dozen triplets on some line at a shifted tempo or pitch now and
        // then, where its chroma, even transposed back, agrees little better than chance
        // (0.83-1.01 of the chance BER), while a copy's keeps 0.67-0.83 of it at the 99th
        // percentile under noise, codecs, tempo and pitch changes.
        let reads = self.read_lines(&answer.lines, items, head);
        let (kept, reads): (Vec<LandmarkHit>, Vec<Option<LineRead>>) = answer
            .lines
            .iter()
            .zip(reads)
            .filter(|(h, read)| read.is_none_or(|r| h.anchor_evidence >= required_evidence(&r)))
            .map(|(h, read)| (*h, read))
            .unzip();
        answer.lines = kept;
        // One line per track: where the music repeats, landmarks alone can prefer another
        // copy of the passage, so each verified line is weighed with the chroma items read
        // along it as well (their evidence; 0 when they say nothing).
        type Line<'a> = (f64, f64, &'a LandmarkHit, Option<LineRead>);
        let mut lines: FxHashMap<u32, Line> = FxHashMap::default();
        for (h, &read) in answer.lines.iter().zip(&reads) {
            let chroma_along = read.map_or(0.0, |r| {
                chroma_index::evidence(r.ber, r.informative).max(0.0)
            });
            let joint = h.anchor_evidence + chroma_along;
            if lines.get(&h.slot).is_none_or(|&(j, ..)| joint > j) {
                lines.insert(h.slot, (joint, chroma_along, h, read));
            }
        }
        let mut marks: Vec<Line> = lines.into_values().collect();
        marks.sort_by_key(|m| m.2.slot);
        for (joint, chroma_along, h, read) in marks {
            let tempo_changed = (h.scale - 1.0).abs() >= TEMPO_CHANGED;
            let replace = match chroma.iter().find(|c| c.slot == h.slot) {
                None => true,
                // Same place, but the landmark line says the tempo changed (a clear tempo
                // change makes the chroma offset drift: it aligns the middle of the query,
                // and the landmark line gives the true start and the time scale). Heavy noise
                // can tilt a line through a few surviving triplets, so weigh both hypotheses
                // with both fingerprints: the line's evidence plus that of the chroma items
                // read along it, against the chroma alignment's evidence plus that of the
                // best tempo-1 line in the same window. Both are -ln of a null-model tail
                // probability less the log of the candidates tried, so they add (the two
                // fingerprints come from different spectra: chroma bands, sparse peaks).
                Some(c) if same_place(h, c) => {
                    tempo_changed && {
                        let straight = chroma_index::evidence(c.ber, c.informative);
                        joint > straight + h.unit_evidence.max(0.0)
                    }
                }
                _ if tempo_changed => true,
                // Both found the track at different places. Music repeats (a copied bar, a
                // chorus), and either fingerprint alone can prefer the wrong copy when noise
                // blurs it. A clear chroma alignment that the items read along the landmark
                // line fall well short of stands (the items are dense and exactly aligned;
                // landmark anchor counts of two copies differ by chance). Otherwise each place
                // is weighed by both fingerprints (its finder's evidence plus the other's at
                // the same place, measured alike: the best verified line there, or the
                // tempo-1 line through the chroma offset), and the line must win clearly.
                Some(c) => {
                    let straight = chroma_index::evidence(c.ber, c.informative);
                    let decisive = chroma_index::z_score(c.ber, c.informative)
                        >= chroma_index::MARGINAL_Z
                        && straight - chroma_along >= DECISIVE;
                    let at_chroma = answer
                        .lines
                        .iter()
                        .filter(|l| l.slot == h.slot && same_place(l, c))
                        .map(|l| l.anchor_evidence)
                        .fold(answer.unit_evidence_at(h.slot, chroma_frame(c)), f64::max)
                        .max(0.0);
                    !decisive && joint >= straight + at_chroma + DECISIVE
                }
            };
            if replace {
                by_slot.insert(h.slot, self.landmark_match(h, read, items, landmarks.len()));
            }
        }
        // The other verified places in the track: chroma alignments, and for a landmark
        // match its track's other lines with at least half the evidence of the strongest
        // (read where the line puts the query's start; weaker lines run through music that
        // is only partly alike, a phrase the track recalls).
        for (slot, m) in by_slot.iter_mut() {
            let chroma_places = places.get(slot).into_iter().flatten().map(|h| h.offset);
            let lines: Vec<&LandmarkHit> = match m.method {
                Method::Landmark => answer.lines.iter().filter(|l| l.slot == *slot).collect(),
                Method::Chroma => Vec::new(),
            };
            let strongest = lines.iter().map(|l| l.anchor_evidence).fold(0.0, f64::max);
            let line_places = lines
                .iter()
                .filter(|l| l.anchor_evidence >= 0.5 * strongest)
                .map(|l| (l.offset * FRAME_SECONDS / ITEM_SECONDS).round() as i64);
            let mut others: Vec<i64> = chroma_places
                .chain(line_places)
                .filter(|&o| (o - m.offset_items).abs() > 2)
                .collect();
            others.sort_unstable();
            // One entry per place (a chroma alignment and a line within two items of it).
            others.dedup_by(|later, kept| *later - *kept <= 2);
            m.repeats = others
                .into_iter()
                .map(|o| o as f64 * ITEM_SECONDS)
                .collect();
        }
        let mut out: Vec<Match> = by_slot.into_values().collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.ber.total_cmp(&b.ber))
                .then(a.id.cmp(&b.id))
        });
        out.truncate(top);
        out
    }

    /// The chroma alignment kept for each track: the lowest BER, or where the track repeats
    /// the passage (several verified places) and the query brings its head, the lowest BER
    /// with the query's phase error removed ([`phase::floor_ber`]): the plain BER of a clean
    /// excerpt is mostly that phase error, enough to prefer a near-copy. The phase copies
    /// are made once, and only when some track needs them.
    fn one_place_per_track(
        &self,
        places: &FxHashMap<u32, Vec<ChromaHit>>,
        items: &[u32],
        head: &[i16],
    ) -> Vec<ChromaHit> {
        let mut phases: Option<Vec<Vec<u32>>> = None;
        let mut out = Vec::with_capacity(places.len());
        for p in places.values() {
            let lowest = |a: &&ChromaHit, b: &&ChromaHit| a.ber.total_cmp(&b.ber);
            if p.len() == 1 || head.is_empty() {
                out.extend(p.iter().min_by(lowest).copied());
                continue;
            }
            let copies = phases.get_or_insert_with(|| phase::copies(head));
            let floors: Vec<f64> = p
                .iter()
                .map(|h| {
                    self.items(h.slot)
                        .and_then(|r| phase::floor_ber(r, items, copies, h.offset))
                        .unwrap_or(h.ber)
                })
                .collect();
            let best = (0..p.len())
                .min_by(|&a, &b| floors[a].total_cmp(&floors[b]).then(lowest(&&p[a], &&p[b])))
                .expect("a place");
            out.push(p[best]);
        }
        out.sort_by_key(|h| h.slot);
        out
    }

    /// The chroma items read along each landmark line ([`chroma_index::line_read`]): the
    /// query's own items where the line keeps the pitch, otherwise items of the query's head
    /// computed with the line's pitch shift undone ([`fingerprint_at_pitch`], one Chromaprint
    /// pass per tenth of a semitone met), or `None` without a head or where too few align.
    fn read_lines(
        &self,
        lines: &[LandmarkHit],
        items: &[u32],
        head: &[i16],
    ) -> Vec<Option<LineRead>> {
        let mut shifted: Vec<(i64, Vec<u32>)> = Vec::new();
        lines
            .iter()
            .map(|h| {
                let reference = self.items(h.slot)?;
                let start = h.offset * FRAME_SECONDS / ITEM_SECONDS;
                if h.pitch_shift.abs() < PITCH_KEPT {
                    return chroma_index::line_read(reference, items, start, h.scale);
                }
                if head.is_empty() {
                    return None;
                }
                let tenths = (h.pitch_shift * 10.0).round() as i64;
                let at = match shifted.iter().position(|(t, _)| *t == tenths) {
                    Some(at) => at,
                    None => {
                        let undone = fingerprint_at_pitch(head, tenths as f64 / 10.0);
                        shifted.push((tenths, undone));
                        shifted.len() - 1
                    }
                };
                chroma_index::line_read(reference, &shifted[at].1, start, h.scale)
            })
            .collect()
    }

    fn chroma_match(&self, h: &ChromaHit, informative: usize) -> Match {
        let id = self.tracks[h.slot as usize].as_ref().map_or(0, |t| t.id);
        let share = (h.len as f64 / informative as f64).min(1.0);
        Match {
            id,
            method: Method::Chroma,
            score: (share * (1.0 - 2.0 * h.ber)).clamp(0.0, 1.0),
            offset: h.offset as f64 * ITEM_SECONDS,
            offset_items: h.offset,
            ber: h.ber,
            length: h.len,
            time_scale: 1.0,
            pitch_shift: 0.0,
            landmarks: 0,
            repeats: Vec::new(),
        }
    }

    fn landmark_match(
        &self,
        h: &LandmarkHit,
        read: Option<LineRead>,
        items: &[u32],
        total: usize,
    ) -> Match {
        let id = self.tracks[h.slot as usize].as_ref().map_or(0, |t| t.id);
        let offset = h.offset * FRAME_SECONDS;
        let offset_items = (offset / ITEM_SECONDS).round() as i64;
        // The chroma BER along the line (its tempo followed, its pitch shift undone), else
        // at the landmark offset as the items are.
        let ber = read.map(|r| r.ber).unwrap_or_else(|| {
            self.items(h.slot)
                .and_then(|r| super::compare::errors_at_offset(r, items, offset_items))
                .unwrap_or(0.5)
        });
        let span = f64::from(h.query_span.1 - h.query_span.0) * FRAME_SECONDS;
        Match {
            id,
            method: Method::Landmark,
            score: (h.inliers as f64 / total.max(1) as f64).min(1.0),
            offset,
            offset_items,
            ber,
            length: (span / ITEM_SECONDS).round() as usize,
            time_scale: h.scale,
            pitch_shift: h.pitch_shift,
            landmarks: h.inliers,
            repeats: Vec::new(),
        }
    }
}

/// Anchor evidence a landmark line needs given the chroma read along it: the least (the
/// line verified) while the BER is at most [`LINE_CHANCE_AGREES`] of the chance BER, rising
/// linearly to [`STANDS_ALONE`] at [`LINE_CHANCE_CONTRADICTS`] and above.
fn required_evidence(read: &LineRead) -> f64 {
    let share = if read.chance > 0.0 {
        read.ber / read.chance
    } else {
        1.0
    };
    let t = ((share - LINE_CHANCE_AGREES) / (LINE_CHANCE_CONTRADICTS - LINE_CHANCE_AGREES))
        .clamp(0.0, 1.0);
    MIN_ANCHOR_EVIDENCE + t * (STANDS_ALONE - MIN_ANCHOR_EVIDENCE)
}

/// The landmark frame of the track where a chroma alignment puts the query's start.
fn chroma_frame(c: &ChromaHit) -> f64 {
    c.offset as f64 * ITEM_SECONDS / FRAME_SECONDS
}

/// Whether a landmark line, read at the middle of its inliers (a tempo change makes a chroma
/// alignment hold best there), lies within [`PLACE_TOLERANCE`] of a chroma alignment.
fn same_place(h: &LandmarkHit, c: &ChromaHit) -> bool {
    let mid = 0.5 * f64::from(h.query_span.0 + h.query_span.1);
    let shift = (h.offset + (h.scale - 1.0) * mid) * FRAME_SECONDS;
    (shift - c.offset as f64 * ITEM_SECONDS).abs() <= PLACE_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(share: f64) -> LineRead {
        LineRead {
            ber: 0.4 * share,
            informative: 59,
            chance: 0.4,
        }
    }

    #[test]
    fn required_evidence_rises_with_disagreement() {
        let at = |share: f64| required_evidence(&read(share));
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(at(0.2), MIN_ANCHOR_EVIDENCE);
        assert!(near(at(LINE_CHANCE_AGREES), MIN_ANCHOR_EVIDENCE));
        assert!(near(at(LINE_CHANCE_CONTRADICTS), STANDS_ALONE));
        assert_eq!(at(1.1), STANDS_ALONE);
        let mid = at(0.5 * (LINE_CHANCE_AGREES + LINE_CHANCE_CONTRADICTS));
        assert!(near(mid, 0.5 * (MIN_ANCHOR_EVIDENCE + STANDS_ALONE)));
        // A read with no chance BER to compare (never met in practice) counts as chance.
        let flat = LineRead {
            ber: 0.0,
            informative: 59,
            chance: 0.0,
        };
        assert_eq!(required_evidence(&flat), STANDS_ALONE);
    }
}
