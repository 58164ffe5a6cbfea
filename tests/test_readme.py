"""The README's Python example runs as written and gives the numbers its comments state."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_matches_its_comments():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102 - our own README
    advantage, planning_mask = namespace["advantage"], namespace["planning_mask"]
    hicra_advantage = namespace["hicra_advantage"]
    assert torch.allclose(advantage, torch.tensor([0.7071, -0.7071, -0.7071, 0.7071]), atol=1e-4)
    assert planning_mask.any(dim=1).tolist() == [True, True, True, False]
    boosted = hicra_advantage[planning_mask]
    rewarded = advantage[:, None].expand_as(planning_mask)[planning_mask] > 0
    assert torch.allclose(boosted[rewarded], torch.tensor(0.7071 * 1.2), atol=1e-4)
    assert torch.allclose(boosted[~rewarded], torch.tensor(-0.7071 * 0.8), atol=1e-4)
    assert torch.equal(
        hicra_advantage[~planning_mask], advantage[:, None].expand_as(planning_mask)[~planning_mask]
    )
