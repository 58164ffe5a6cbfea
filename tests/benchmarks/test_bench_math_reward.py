"""The adversarial-answer generator of benchmarks/bench_math_reward.py: seeded, every family in
turn, every tenth answer of a family at the largest size (the benchmark itself never runs here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_math_reward  # noqa: E402


def test_generator_is_seeded_and_covers_every_family_and_the_largest_size():
    families = list(bench_math_reward.FAMILIES)
    first = [bench_math_reward.adversarial(0, i, 4096) for i in range(10 * len(families))]
    assert first == [bench_math_reward.adversarial(0, i, 4096) for i in range(10 * len(families))]
    assert first != [bench_math_reward.adversarial(1, i, 4096) for i in range(10 * len(families))]
    assert [family for family, _ in first[: len(families)]] == families
    for k, family in enumerate(families):
        largest = first[9 * len(families) + k]
        assert largest[0] == family and len(largest[1]) >= 4096 * 0.9, family
