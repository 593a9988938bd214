"""The compressed base64 fingerprint format (fpcalc's default output): property tests."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprint import AudioFingerprint, DecodeError

items_st = st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=400)


@given(items_st, st.integers(min_value=0, max_value=255))
@settings(max_examples=200, deadline=None)
def test_round_trip(items: list[int], algorithm: int) -> None:
    fp = AudioFingerprint(np.array(items, dtype=np.uint32), algorithm=algorithm)
    text = fp.encode()
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text)
    back = AudioFingerprint.decode(text)
    assert back.items.tolist() == items
    assert back.algorithm == algorithm
    assert back == fp


@given(items_st)
@settings(max_examples=100, deadline=None)
def test_header_and_length(items: list[int]) -> None:
    text = AudioFingerprint(np.array(items, dtype=np.uint32)).encode()
    # Header: algorithm 1 (TEST2) and a 24-bit big-endian item count (chromaprint.md 1.3).
    header = bytes([1, len(items) >> 16 & 255, len(items) >> 8 & 255, len(items) & 255])
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert raw[:4] == header


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=80))
@settings(max_examples=300, deadline=None)
def test_garbage_strings_never_crash(text: str) -> None:
    try:
        fp = AudioFingerprint.decode(text)
    except DecodeError:
        return
    assert fp.items.dtype == np.uint32


@given(items_st.filter(lambda x: len(x) > 0), st.data())
@settings(max_examples=100, deadline=None)
def test_truncated_strings_are_errors_or_prefix_safe(items: list[int], data: st.DataObject) -> None:
    text = AudioFingerprint(np.array(items, dtype=np.uint32)).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    try:
        AudioFingerprint.decode(text[:cut])
    except DecodeError:
        pass


def test_bad_characters() -> None:
    with pytest.raises(DecodeError):
        AudioFingerprint.decode("AQAA*0mUaEkSRZEGAA")
    with pytest.raises(DecodeError):
        AudioFingerprint.decode("AQ")


def test_items_must_be_uint32() -> None:
    with pytest.raises(TypeError):
        AudioFingerprint(np.array([1, 2, 3], dtype=np.int64))  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        AudioFingerprint(np.arange(10, dtype=np.uint32)[::2])
