"""The installed versions are the locked ones (constraints.txt), so the README's figures can be
reproduced; and every dependency pyproject.toml names is locked."""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from lock import closure, read_pins  # noqa: E402  (tools/lock.py, the lock's writer)

HOW_TO_UPDATE = (
    "Either install the locked versions (`make install`, or `pip install -c constraints.txt -e '.[all]'`), "
    "or, if the new versions are intended, run `make lock` to rewrite constraints.txt from this environment "
    "and re-measure the figures that README.md and benchmarks/RESULTS.md quote with the old versions "
    "(`make demo`, `python benchmarks/bench_demo_seeds.py`; docs/demo.md, section Reproducibility). "
    "To run without the lock: `make test CONSTRAINTS=` (or HICRA_CONSTRAINTS= pytest)."
)


def lock_path() -> Path | None:
    """The constraints file to check: $HICRA_CONSTRAINTS if set ("" = no lock), else the repo's."""
    value = os.environ.get("HICRA_CONSTRAINTS")
    if value is None:
        return ROOT / "constraints.txt"
    return (ROOT / value) if value else None


def test_installed_versions_are_the_locked_ones():
    path = lock_path()
    if path is None:
        pytest.skip("installed without the lock (CONSTRAINTS=)")
    locked = read_pins(path)
    wrong = []
    for name, version in locked.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an optional extra that is not installed: nothing to compare
        if Version(installed).public != Version(version).public:
            wrong.append(f"{name} {installed} installed, {version} locked")
    assert not wrong, f"{path.name}: " + "; ".join(wrong) + ". " + HOW_TO_UPDATE


def test_every_dependency_of_pyproject_is_locked():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = read_pins(ROOT / "constraints.txt")
    names = [*project["dependencies"]]
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "verl":  # verl lives in its own venv (.venv-verl), see the Makefile
            names += requirements
    missing = sorted(
        {canonicalize_name(Requirement(r).name) for r in names} - set(locked) - {"hicra"}
    )
    assert not missing, (
        f"pyproject.toml requires {missing}, which constraints.txt does not pin: install "
        "them into .venv and run `make lock`"
    )


def test_lock_closure_follows_extras_and_markers():
    found, missing = closure(["pytest"])
    assert "pluggy" in found and "iniconfig" in found  # pytest's own requirements
    assert "pytest" in found and not missing
    found, missing = closure(["no-such-package-hicra-test"])
    assert not found and missing == ["no-such-package-hicra-test"]


def test_lock_file_is_plain_pins():
    text = (ROOT / "constraints.txt").read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*==[0-9][0-9A-Za-z.!+_-]*", line), line
    assert "torch" in read_pins(ROOT / "constraints.txt")
