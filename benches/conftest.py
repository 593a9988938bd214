"""Benchmark options and the same-run ratio table printed at the end.

Run fully with `pytest benches --benchmark-enable` (N = 1M codes), add `--fp-big`
for the 10M-code runs. In the test command (`--benchmark-disable`) every bench runs
once on a small bank as a smoke test.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Tuple

import pytest

# (group key, engine) -> best seconds, filled by the benches when benchmarking is enabled.
TIMINGS: Dict[Tuple[str, str], float] = {}
NOTES: Dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fp-big", action="store_true", help="also run the 10M-code benchmarks")


def record(benchmark, group: str, engine: str) -> None:
    """Remember the best time of a finished benchmark for the ratio table."""
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        TIMINGS[(group, engine)] = stats.stats.min


def pytest_terminal_summary(terminalreporter) -> None:
    if not TIMINGS and not NOTES:
        return
    by_group: Dict[str, Dict[str, float]] = defaultdict(dict)
    for (group, engine), t in TIMINGS.items():
        by_group[group][engine] = t
    tr = terminalreporter
    tr.section("fingerprint vs peers (same run; ratio = peer time / our time)")
    for group in sorted(by_group):
        times = by_group[group]
        ours = times.get("fingerprint")
        parts = [f"{e}={t * 1e3:.3f}ms" for e, t in sorted(times.items())]
        ratios = [
            f"x{times[e] / ours:.2f} vs {e}" for e in sorted(times) if e != "fingerprint" and ours
        ]
        tr.write_line(f"{group:<48} " + "  ".join(parts + ratios))
    for key, note in sorted(NOTES.items()):
        tr.write_line(f"{key}: {note}")
