//! The flat index against a brute-force reference, and the file format against damage.

use _core::search::{find_duplicates, find_duplicates_with, persist, FlatIndex, Method};
use _core::simd::scalar;
use _core::FingerprintError;
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

fn brute_knn(codes: &[u8], ids: &[u64], cl: usize, q: &[u8], k: usize) -> Vec<(u32, u64)> {
    let mut all: Vec<(u32, u64)> = codes
        .chunks_exact(cl)
        .zip(ids)
        .map(|(c, &id)| (scalar::distance(q, c), id))
        .collect();
    all.sort_unstable();
    all.truncate(k);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn search_matches_brute_force(
        cl in prop::sample::select(vec![1usize, 2, 8, 9, 16, 32, 33, 64]),
        n in 0usize..300,
        nq in 1usize..5,
        k in 0usize..20,
        r in 0u32..80,
        seed in any::<u64>(),
        shuffle_ids in any::<bool>(),
    ) {
        let mut next = rng(seed);
        // Low-entropy codes so that ties and small distances are common.
        let codes: Vec<u8> = (0..n * cl).map(|_| next() & 0x0f).collect();
        let queries: Vec<u8> = (0..nq * cl).map(|_| next() & 0x0f).collect();
        let ids: Vec<u64> = if shuffle_ids {
            (0..n as u64).map(|i| (i * 7919) % 100_003 + 5).collect()
        } else {
            (0..n as u64).collect()
        };
        let mut index = FlatIndex::new(cl * 8).unwrap();
        index.add(&codes, Some(&ids)).unwrap();
        let knn = index.search(&queries, k).unwrap();
        for qi in 0..nq {
            let q = &queries[qi * cl..(qi + 1) * cl];
            let expect = brute_knn(&codes, &ids, cl, q, k);
            for j in 0..k {
                let (d, id) = (knn.distances[qi * k + j], knn.ids[qi * k + j]);
                match expect.get(j) {
                    Some(&(ed, eid)) => prop_assert_eq!((d, id), (ed as i32, eid as i64)),
                    None => prop_assert_eq!((d, id), (-1, -1)),
                }
            }
        }
        let ranges = index.range_search(&queries, r).unwrap();
        for qi in 0..nq {
            let q = &queries[qi * cl..(qi + 1) * cl];
            let mut expect = brute_knn(&codes, &ids, cl, q, n);
            expect.retain(|&(d, _)| d <= r);
            let (a, b) = (ranges.offsets[qi] as usize, ranges.offsets[qi + 1] as usize);
            let got: Vec<(u32, u64)> = (a..b)
                .map(|i| (ranges.distances[i] as u32, ranges.ids[i] as u64))
                .collect();
            prop_assert_eq!(got, expect);
        }
    }

    #[test]
    fn find_duplicates_matches_brute_force(
        cl in prop::sample::select(vec![1usize, 8, 9, 32]),
        n in 0usize..200,
        r in 0u32..20,
        seed in any::<u64>(),
    ) {
        let mut next = rng(seed);
        let codes: Vec<u8> = (0..n * cl).map(|_| next() & 0x11).collect();
        let got = find_duplicates(&codes, cl, r).unwrap();
        for tables in [None, Some((cl * 8).min(16)), Some((cl * 8).div_ceil(24).max(2).min(cl * 8))] {
            let joined = find_duplicates_with(&codes, cl, r, Method::Mih, tables).unwrap();
            prop_assert_eq!(&joined, &got, "tables {:?}", tables);
        }
        let mut expect = (vec![], vec![], vec![]);
        for i in 0..n {
            for j in i + 1..n {
                let d = scalar::distance(&codes[i * cl..(i + 1) * cl], &codes[j * cl..(j + 1) * cl]);
                if d <= r {
                    expect.0.push(i as u64);
                    expect.1.push(j as u64);
                    expect.2.push(d);
                }
            }
        }
        prop_assert_eq!((got.left, got.right, got.distances), expect);
    }
}

#[test]
fn add_remove_get_keep_ids_consistent() {
    let mut index = FlatIndex::new(64).unwrap();
    let codes: Vec<u8> = (0..20 * 8).map(|i| i as u8).collect();
    index.add(&codes, None).unwrap();
    assert_eq!(index.len(), 20);
    assert!(matches!(
        index.add(&codes[..8], Some(&[3])),
        Err(FingerprintError::DuplicateId(3))
    ));
    assert!(matches!(
        index.add(&codes[..16], Some(&[100, 100])),
        Err(FingerprintError::DuplicateId(100))
    ));
    assert_eq!(index.len(), 20, "a failed add changes nothing");
    assert_eq!(index.remove(&[0, 5, 19, 999]), 3);
    assert_eq!(index.len(), 17);
    assert!(!index.contains(5));
    assert_eq!(index.get(6).unwrap(), &codes[48..56]);
    // Unsorted ids switch to the map lookup and keep working.
    index.add(&codes[..8], Some(&[2_000])).unwrap();
    index.add(&codes[8..16], Some(&[1_000])).unwrap();
    assert_eq!(index.get(1_000).unwrap(), &codes[8..16]);
    assert_eq!(index.remove(&[2_000, 7]), 2);
    assert_eq!(index.get(1_000).unwrap(), &codes[8..16]);
    assert_eq!(index.next_id(), 1_001);
}

fn sample_index(n: usize, cl: usize, sorted: bool) -> FlatIndex {
    let mut next = rng(42);
    let codes: Vec<u8> = (0..n * cl).map(|_| next()).collect();
    let ids: Vec<u64> = if sorted {
        (0..n as u64).map(|i| i * 3).collect()
    } else {
        (0..n as u64).rev().collect()
    };
    let mut index = FlatIndex::new(cl * 8).unwrap();
    index.add(&codes, Some(&ids)).unwrap();
    index
}

#[test]
fn save_load_round_trip_with_and_without_mmap() {
    let dir = tempfile::tempdir().unwrap();
    for (cl, sorted) in [(32, true), (8, false), (9, true), (1, false)] {
        let index = sample_index(77, cl, sorted);
        let path = dir.path().join(format!("i{cl}.fpi"));
        persist::save(&index, &path).unwrap();
        for mmap in [false, true] {
            let loaded = persist::load(&path, mmap).unwrap();
            assert_eq!(loaded.is_mapped(), mmap && cfg!(target_endian = "little"));
            assert_eq!(loaded.ids(), index.ids());
            assert_eq!(loaded.codes(), index.codes());
            let q = &index.codes()[..cl * 3];
            assert_eq!(loaded.search(q, 5).unwrap(), index.search(q, 5).unwrap());
        }
        persist::verify(&path).unwrap();
    }
    // Only the final file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 4);
}

#[test]
fn mapped_index_copies_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.fpi");
    let index = sample_index(20, 32, true);
    persist::save(&index, &path).unwrap();
    let mut mapped = persist::load(&path, true).unwrap();
    mapped.add(&[7u8; 32], None).unwrap();
    assert_eq!(mapped.len(), 21);
    assert!(!mapped.is_mapped() || mapped.len() == 21);
    assert_eq!(persist::load(&path, false).unwrap().len(), 20);
}

#[test]
fn every_truncation_and_bit_flip_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.fpi");
    persist::save(&sample_index(13, 9, false), &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.fpi");
    for cut in 0..good.len() {
        std::fs::write(&bad, &good[..cut]).unwrap();
        for mmap in [false, true] {
            assert!(
                matches!(
                    persist::load(&bad, mmap),
                    Err(FingerprintError::CorruptIndex { .. })
                ),
                "truncated at {cut}"
            );
        }
    }
    for byte in 0..good.len() {
        let mut damaged = good.clone();
        damaged[byte] ^= 0x10;
        std::fs::write(&bad, &damaged).unwrap();
        assert!(
            matches!(
                persist::load(&bad, false),
                Err(FingerprintError::CorruptIndex { .. })
            ),
            "flip at byte {byte}"
        );
        // A map skips the body checksum but must still never crash.
        let _ = persist::load(&bad, true).map(|i| i.search(&[0u8; 9], 3));
    }
}
