"""Doctests of src/hicra (pytest --doctest-modules): modules whose optional library is missing
are not collected, and the verl plug-in module, which patches verl when imported, never is."""

from __future__ import annotations

import importlib.util


def _missing(*names: str) -> bool:
    return any(importlib.util.find_spec(name) is None for name in names)


collect_ignore = ["src/hicra/integrations/verl/plugin.py"]
# The tests' conftest.py files are fixtures, not modules with examples: collected as doctest
# modules they would all be imported under the one name "conftest" and clash.
collect_ignore_glob = ["tests/**/conftest.py", "tests/conftest.py"]
if _missing("verl", "transfer_queue", "tensordict"):
    collect_ignore.append("src/hicra/integrations/verl/trainer.py")
if _missing("trl", "accelerate"):
    collect_ignore += [
        "src/hicra/integrations/trl/config.py",
        "src/hicra/integrations/trl/trainer.py",
        "src/hicra/integrations/trl/rundir.py",
        "src/hicra/integrations/trl/cli.py",
    ]
if _missing("scipy"):
    collect_ignore.append("src/hicra/mining/mining.py")
