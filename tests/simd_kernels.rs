//! Every SIMD path against the byte-wise scalar reference, on random data of every width.

use _core::simd::{layout, scalar, Level, Scanner};
use proptest::prelude::*;

fn check_all_levels(code_len: usize, n: usize, codes: &[u8], query: &[u8]) {
    let blocks = layout::pack(codes, code_len);
    let padded = n.div_ceil(layout::BLOCK) * layout::BLOCK;
    let expect: Vec<u32> = codes
        .chunks_exact(code_len)
        .map(|c| scalar::distance(query, c))
        .collect();
    for level in Level::available() {
        let s = Scanner::new(level, code_len).unwrap();
        let q = layout::pack_query(query, s.words());
        let mut out = vec![0u32; padded];
        let min = s.scan(&q, &blocks, &mut out);
        assert_eq!(&out[..n], &expect[..], "level {level:?}, width {code_len}");
        let true_min = out.iter().copied().min().unwrap_or(u32::MAX);
        assert_eq!(min, true_min, "min at level {level:?}, width {code_len}");
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
