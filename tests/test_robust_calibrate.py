"""`fingerprint.calibrate`: the threshold for a target false-match rate, against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fingerprint as fp


def brute_distances(codes: np.ndarray) -> np.ndarray:
    ints = [int.from_bytes(c.tobytes(), "big") for c in codes]
    return np.array(
        [(ints[i] ^ ints[j]).bit_count() for i in range(len(ints)) for j in range(i + 1, len(ints))]
    )


@pytest.mark.parametrize("target", [0.0, 1e-4, 1e-3, 0.01, 0.2, 1.0])
def test_calibrate_matches_the_empirical_quantile(target: float) -> None:
    rng = np.random.default_rng(1)
    # Correlated codes (a few shared prototypes plus noise) so the low tail is populated.
    protos = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    noise = rng.random((150, 256)) < 0.3
    codes = protos[rng.integers(0, 5, 150)] ^ np.packbits(noise, axis=1)
    d = brute_distances(codes)
    t = fp.calibrate(codes=codes, target_rate=target)
    assert t == fp.calibrate(d, target)
    # Largest t with empirical rate <= target: t passes and t + 1 does not (unless t is the max).
    assert np.mean(d <= t) <= target
    if t < d.max():
        assert np.mean(d <= t + 1) > target


def test_calibrate_small_cases_and_errors() -> None:
    assert fp.calibrate([5, 9, 9, 12], target_rate=0.25) == 8
    assert fp.calibrate([5, 9, 9, 12], target_rate=0.5) == 8  # ties at 9 would give 3 of 4
    assert fp.calibrate([5, 9, 9, 12], target_rate=0.75) == 11
    assert fp.calibrate([0, 0, 3], target_rate=0.1) == -1
    with pytest.raises(ValueError):
        fp.calibrate([1, 2], target_rate=1.5)
    with pytest.raises(ValueError):
        fp.calibrate()
    with pytest.raises(TypeError):
        fp.calibrate([1.5, 2.0])


def test_calibrate_samples_pairs_when_there_are_too_many() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    exact = fp.calibrate(codes=codes, target_rate=0.01)
    sampled = fp.calibrate(codes=codes, target_rate=0.01, max_pairs=50_000)
    assert abs(exact - sampled) <= 2


def test_index_calibration_meets_the_target_on_its_sample(shared_data: Path) -> None:
    paths = sorted((shared_data / "images" / "distractors").iterdir())[:12]
    sources = [p.read_bytes() for p in paths]
    index = fp.RobustImageIndex()
    t = index.calibrate(sources, target_rate=0.02, max_distance=90)
    assert index.threshold == t
    # Brute force over the same ordered pairs, scored one by one.
    probe = fp.RobustImageIndex(threshold=90)
    probe.add_many(list(range(len(sources))), sources)
    pairs: list = []
    for i, src in enumerate(sources):
        got = {m.id: m.distance for m in probe.scores(src)}
        pairs += [got.get(j, 91) for j in range(len(sources)) if j != i]
    d = np.array(pairs)
    assert np.mean(d <= t) <= 0.02
    if t < 90:
        assert np.mean(d <= t + 1) > 0.02
