"""Audio grouping in `fingerprint dedup`: index-proposed pairs agree with aligning every pair."""

from __future__ import annotations

from pathlib import Path

import pytest

import fingerprint
from fingerprint.cli import _groups
from fingerprint.cli._common import AudioItem

AUDIO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "audio"


def items() -> list[AudioItem]:
    paths = [*sorted((AUDIO / "tracks").glob("*.ogg")), *sorted((AUDIO / "clips").iterdir())]
    out = []
    for p in paths:
        fp = fingerprint.audio_fingerprint(p)
        out.append(AudioItem(str(p), fp, fp.duration))
    return out


def summary(groups: list) -> list:
    return sorted(sorted(Path(m.path).name for m in g.members) for g in groups)


def test_index_candidates_give_the_all_pairs_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    its = items()
    exact = _groups.audio_groups(its, 0.5)
    monkeypatch.setattr(_groups, "ALL_PAIRS_MAX", 0)
    proposed = set(_groups.audio_pairs(len(its), [it.fingerprint for it in its]))
    n = len(its)
    assert len(proposed) < n * (n - 1) // 2  # the index path really prunes
    indexed = _groups.audio_groups(its, 0.5)
    assert summary(indexed) == summary(exact)
    # Each clip is grouped with the track it was cut from, and nothing else groups.
    clips = sorted(Path(it.path) for it in its if "__" in Path(it.path).stem)
    want = sorted(sorted([c.name, c.stem.split("__")[0] + ".ogg"]) for c in clips)
    assert summary(indexed) == want
