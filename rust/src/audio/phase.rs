//! Sub-item phase alignment: the aligned BER a query would have if it had been cut on the
//! reference's item grid, to tell a passage from a near-copy of it in the same track.
//!
//! A query cut at an arbitrary sample is up to half an item (683 samples) out of phase with
//! the reference's framing, which alone costs a clean excerpt a BER of 0.03-0.08. Where a
//! track repeats itself (a copied bar, a reprise), that phase error swamps the small real
//! difference between the copies, and the plain BER prefers whichever copy happens to sit
//! nearer in phase. Items of the query cut 1/8, 2/8, .. 7/8 of an item later sample the BER
//! as a function of the phase; it is V-shaped around the true alignment (about 0.02 per
//! eighth of an item on real music), and a V fitted through the best phase and its
//! neighbours estimates its floor, where only the audio's own difference (codec, noise, or
//! the copy's changes) is left. Eighths, not quarters: music whose chroma changes abruptly
//! gives lopsided Vs, which a coarser fit extrapolates too far.

use super::chroma::{fingerprint, SAMPLE_RATE};
use super::chroma_index;
use super::spectrum::HOP;

/// Phases sampled per item: the query itself and [`PHASES`] - 1 copies cut later.
pub const PHASES: usize = 8;

/// Seconds of audio the phase copies cover, from the start: enough to tell two places
/// apart, and a bound on the cost of long queries (seven Chromaprint passes).
pub const SECONDS: usize = 30;

/// Samples (at 11025 Hz) of a query's start that [`copies`] reads: [`SECONDS`] for every
/// copy after its cut.
pub const HEAD: usize = SECONDS * SAMPLE_RATE as usize + HOP;

/// Samples (at 11025 Hz) the `q`-th phase copy drops from the start of the query.
pub fn skip(q: usize) -> usize {
    q * HOP / PHASES
}

/// The items of the phase copies of `head` (the query's first [`HEAD`] samples at
/// 11025 Hz, or all of a shorter one), phase 1 first: each cut [`skip`] samples later and
/// [`SECONDS`] long. Computed only for queries that need them (a track that repeats the
/// passage), since they cost seven Chromaprint passes.
pub fn copies(head: &[i16]) -> Vec<Vec<u32>> {
    let take = SECONDS * SAMPLE_RATE as usize;
    (1..PHASES)
        .map(|q| {
            let from = skip(q).min(head.len());
            fingerprint(&head[from..head.len().min(from + take)])
        })
        .collect()
}

/// Estimated BER of `items` against `reference` at item `offset` with the phase error
/// removed: the floor of a V fitted through the phase samples (`phases` from [`copies`];
/// where they stop short of the query, the query's items are read
/// as far as they go). `None` when fewer than all phases can be aligned there.
pub fn floor_ber(
    reference: &[u32],
    items: &[u32],
    phases: &[Vec<u32>],
    offset: i64,
) -> Option<f64> {
    if phases.len() != PHASES - 1 {
        return None;
    }
    let covered = phases.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let items = &items[..items.len().min(covered)];
    // Phase q's item j starts q / PHASES of an item after query item j, so it meets
    // reference item offset + j or the next one (the offset itself is within one item of
    // the true start): the best of a few offsets around it.
    let mut y = [0.0f64; PHASES];
    for (q, yq) in y.iter_mut().enumerate() {
        let query = if q == 0 { items } else { &phases[q - 1] };
        *yq = (offset - 1..=offset + 2)
            .filter_map(|o| chroma_index::ber_at(reference, query, o))
            .map(|(ber, _)| ber)
            .reduce(f64::min)?;
    }
    // The BER is periodic in the phase (a whole item later is the next offset), so the
    // best phase's neighbours wrap around.
    let best = (0..PHASES)
        .min_by(|&a, &b| y[a].total_cmp(&y[b]))
        .expect("PHASES > 0");
    let y0 = y[best];
    let left = y[(best + PHASES - 1) % PHASES] - y0;
    let right = y[(best + 1) % PHASES] - y0;
    // A symmetric V through three samples one phase step apart: the steeper side gives the
    // slope, and the floor lies (1 - shallow / steep) / 2 of a step from the best sample.
    let (steep, shallow) = (left.max(right), left.min(right));
    if steep <= 0.0 {
        return Some(y0);
    }
    Some(y0 - 0.5 * (steep - shallow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_the_head_cut_later_and_bounded() {
        let mut s = 5u64;
        let noise: Vec<i16> = (0..11025 * (SECONDS + 5))
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                (s >> 50) as i16
            })
            .collect();
        let short = &noise[..11025 * 6];
        let c = copies(short);
        assert_eq!(c.len(), PHASES - 1);
        for (q, items) in c.iter().enumerate() {
            assert_eq!(items, &fingerprint(&short[skip(q + 1)..]));
        }
        let take = SECONDS * 11025;
        for (q, items) in copies(&noise[..HEAD]).iter().enumerate() {
            let from = skip(q + 1);
            assert_eq!(items, &fingerprint(&noise[from..from + take]));
        }
        assert_eq!(copies(&noise[..HEAD]), copies(&noise));
    }

    #[test]
    fn needs_every_phase() {
        let reference = vec![1u32; 100];
        assert_eq!(floor_ber(&reference, &reference[..50], &[], 0), None);
        let two = vec![reference[..50].to_vec(); 2];
        assert_eq!(floor_ber(&reference, &reference[..50], &two, 0), None);
        let all = vec![reference[..50].to_vec(); PHASES - 1];
        assert!(
            floor_ber(&reference, &reference[..50], &all, 0).is_none(),
            "too little variety"
        );
    }
}
