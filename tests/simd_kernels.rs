//! Every SIMD path against the byte-wise scalar reference, on random data of every width.

use _core::simd::{layout, scalar, Hit, Level, Scanner};
use proptest::prelude::*;

fn check_all_levels(code_len: usize, n: usize, codes: &[u8], query: &[u8]) {
    let blocks = layout::pack(codes, code_len);
    let expect: Vec<u32> = codes
        .chunks_exact(code_len)
        .map(|c| scalar::distance(query, c))
        .collect();
    let padding = scalar::distance(query, &vec![0u8; code_len]);
    for level in Level::available() {
        let s = Scanner::new(level, code_len).unwrap();
        let q = layout::pack_query(query, s.words());
        let all = s.distances(&q, &blocks);
        assert_eq!(all.len(), n.div_ceil(layout::BLOCK) * layout::BLOCK);
        assert_eq!(&all[..n], &expect[..], "level {level:?}, width {code_len}");
        assert!(
            all[n..].iter().all(|&d| d == padding),
            "padding codes are zero"
        );
        // Every threshold keeps exactly the slots within it, in order.
        for thr in [
            0,
            1,
            expect.iter().copied().min().unwrap_or(0),
            (code_len * 4) as u32,
        ] {
            let mut hits = Vec::new();
            s.scan(&q, &blocks, thr, &mut hits);
            let want: Vec<Hit> = all
                .iter()
                .enumerate()
                .filter(|(_, &d)| d <= thr)
                .map(|(i, &d)| Hit {
                    slot: i as u32,
                    distance: d,
                })
                .collect();
            assert_eq!(hits, want, "level {level:?}, width {code_len}, thr {thr}");
        }
    }
}

/// `scan_many` against one `scan` per query, with per-query thresholds that
/// exercise both the early-stopping and the full multi-query kernels.
fn check_many(code_len: usize, codes: &[u8], queries: &[u8], thrs: &[u32]) {
    let blocks = layout::pack(codes, code_len);
    for level in Level::available() {
        let s = Scanner::new(level, code_len).unwrap();
        let packed: Vec<u64> = queries
            .chunks_exact(code_len)
            .flat_map(|q| layout::pack_query(q, s.words()))
            .collect();
        let mut got: Vec<Vec<Hit>> = vec![
            vec![Hit {
                slot: 7,
                distance: 7
            }];
            thrs.len()
        ];
        s.scan_many(&packed, thrs, &blocks, &mut got);
        for (m, (&thr, q)) in thrs.iter().zip(queries.chunks_exact(code_len)).enumerate() {
            let mut want = vec![Hit {
                slot: 7,
                distance: 7,
            }];
            Scanner::new(Level::Scalar, code_len).unwrap().scan(
                &layout::pack_query(q, s.words()),
                &blocks,
                thr,
                &mut want,
            );
            assert_eq!(
                got[m], want,
                "level {level:?}, width {code_len}, query {m}, thr {thr}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn multi_query_kernels_match_single(
        code_len in prop::sample::select(vec![1usize, 5, 8, 9, 16, 24, 32, 40, 64, 65, 100]),
        n in 0usize..70,
        nq in 1usize..19,
        spread in 0u32..3,
        seed in any::<u64>(),
    ) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let codes: Vec<u8> = (0..n * code_len).map(|_| next() as u8).collect();
        // Queries near some codes (a few bits flipped) so small thresholds find hits.
        let queries: Vec<u8> = (0..nq * code_len)
            .map(|i| {
                let c = if n > 0 { codes[(i / code_len % n) * code_len + i % code_len] } else { 0 };
                if next() % 8 == 0 { c ^ (1 << (next() % 8)) } else { c }
            })
            .collect();
        let bits = (code_len * 8) as u32;
        let thrs: Vec<u32> = (0..nq)
            .map(|_| match spread {
                0 => (next() % (bits as u64 / 4 + 1)) as u32,
                1 => (next() % (bits as u64 + 1)) as u32,
                _ => if next() % 2 == 0 { u32::MAX } else { 0 },
            })
            .collect();
        check_many(code_len, &codes, &queries, &thrs);
    }

    #[test]
    fn kernels_match_scalar(code_len in 1usize..=512, n in 0usize..40, seed in any::<u64>()) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
        let codes: Vec<u8> = (0..n * code_len).map(|_| next()).collect();
        let query: Vec<u8> = (0..code_len).map(|_| next()).collect();
        check_all_levels(code_len, n, &codes, &query);
    }
}

#[test]
fn hot_widths_and_extremes() {
    for code_len in [
        1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 248, 512,
    ] {
        for n in [1, 7, 8, 9, 64, 100] {
            let ones = vec![0xffu8; n * code_len];
            check_all_levels(code_len, n, &ones, &vec![0u8; code_len]);
            check_all_levels(code_len, n, &ones, &vec![0xffu8; code_len]);
        }
    }
}

#[test]
fn forced_level_names_round_trip() {
    for level in Level::ALL {
        assert_eq!(Level::from_name(level.name()), Some(level));
    }
    assert!(Level::available().contains(&Level::Scalar));
    assert!(Level::best().is_available());
}
