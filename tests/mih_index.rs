//! Multi-index hashing gives exactly the flat index's answers.

use _core::search::{persist, Index, Method};
use proptest::prelude::*;

fn rng(seed: u64) -> impl FnMut() -> u8 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn mih_equals_flat(
        cl in prop::sample::select(vec![1usize, 4, 8, 9, 32]),
        n in 0usize..400,
        tables in prop::option::of(1usize..12),
        r in 0u32..40,
        k in 0usize..12,
        seed in any::<u64>(),
        sparse in any::<bool>(),
    ) {
        let mut next = rng(seed);
        // Sparse codes cluster (skewed substrings, many ties); dense ones are uniform.
        let mask = if sparse { 0x11 } else { 0xff };
        let codes: Vec<u8> = (0..n * cl).map(|_| next() & mask).collect();
        let queries: Vec<u8> = (0..4 * cl).map(|_| next() & mask).collect();
        let tables = tables.map(|t| t.min(cl * 8));
        let mut flat = Index::new(cl * 8, Method::Flat, None).unwrap();
        let mut mih = Index::new(cl * 8, Method::Mih, tables).unwrap();
        // Two adds: the second lands in the linearly scanned tail.
        let half = n / 2 * cl;
        for part in [&codes[..half], &codes[half..]] {
            flat.add(part, None).unwrap();
            mih.add(part, None).unwrap();
        }
        prop_assert_eq!(flat.range_search(&queries, r).unwrap(), mih.range_search(&queries, r).unwrap());
        prop_assert_eq!(flat.search(&queries, k).unwrap(), mih.search(&queries, k).unwrap());
        let doomed: Vec<u64> = (0..n as u64).step_by(3).collect();
        flat.remove(&doomed);
        mih.remove(&doomed);
        prop_assert_eq!(flat.range_search(&queries, r).unwrap(), mih.range_search(&queries, r).unwrap());
        prop_assert_eq!(flat.search(&queries, k).unwrap(), mih.search(&queries, k).unwrap());
    }
}

#[test]
fn mih_is_used_and_survives_save_load() {
    let n = 200_000;
    let mut next = rng(9);
    let codes: Vec<u8> = (0..n * 32).map(|_| next()).collect();
    let mut mih = Index::new(256, Method::Auto, None).unwrap();
    mih.add(&codes, None).unwrap();
    let tables = mih
        .mih()
        .expect("auto builds tables above 100k codes")
        .tables();
    assert!(tables >= 256 / 24);
    // A copy with 10 flipped bits is found at radius 31 through the tables.
    let mut q = codes[32 * 777..32 * 778].to_vec();
    for b in 0..10 {
        q[b * 3] ^= 1 << (b % 8);
    }
    let hits = mih.range_search(&q, 31).unwrap();
    assert_eq!(hits.ids, vec![777]);
    assert_eq!(hits.distances, vec![10]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.fpi");
    persist::save_index(&mih, &path).unwrap();
    let back = persist::load_index(&path, true).unwrap();
    assert_eq!(back.method(), Method::Auto);
    assert_eq!(back.mih().map(|m| m.tables()), Some(tables));
    assert_eq!(back.range_search(&q, 31).unwrap(), hits);
    assert_eq!(back.search(&q, 3).unwrap(), mih.search(&q, 3).unwrap());
}
