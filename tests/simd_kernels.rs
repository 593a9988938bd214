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
        assert!(all[n..].iter().all(|&d| d == padding), "padding codes are zero");
        // Every threshold keeps exactly the slots within it, in order.
        for thr in [0, 1, expect.iter().copied().min().unwrap_or(0), (code_len * 4) as u32] {
            let mut hits = Vec::new();
            s.scan(&q, &blocks, thr, &mut hits);
            let want: Vec<Hit> = all
                .iter()
                .enumerate()
                .filter(|(_, &d)| d <= thr)
                .map(|(i, &d)| Hit { slot: i as u32, distance: d })
                .collect();
            assert_eq!(hits, want, "level {level:?}, width {code_len}, thr {thr}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

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
