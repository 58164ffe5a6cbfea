"""The layers of docs/architecture.md, enforced: no import points up the layer order.

Every module under src/hicra is parsed with `ast` (imports at the top, inside functions, under
`if TYPE_CHECKING:`), each `hicra.X...` import is mapped to its top-level part X, and an arrow
from a part to a part of a higher layer fails, printed as file:line. Arrows inside a layer are
allowed while the graph of parts stays free of cycles. `import hicra`, `hicra.credit` and
`hicra.lexicon` must not load the heavy optional libraries.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hicra"

# Callee first: a module may import from its own layer or the layers before it.
LAYERS: list[set[str]] = [
    {"__init__", "fielddocs", "errors", "cli_args"},
    {"credit", "lexicon"},
    {"runs", "models", "tasks"},
    {"dynamics", "mining", "ablations"},
    {"reports"},
    {"trainer", "integrations", "anchors", "evaluation", "demo", "cli"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
HEAVY = ("transformers", "sentence_transformers", "sklearn", "matplotlib", "trl")


def part_of(module: str) -> str | None:
    """`hicra.dynamics.analysis` -> "dynamics"; `hicra` -> "__init__"; other packages -> None."""
    names = module.split(".")
    if names[0] != "hicra":
        return None
    return names[1] if len(names) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import statement in the file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from hicra import reports` imports the part "reports" (`__version__` is the root)
            if target == "hicra":
                out += [
                    (node.lineno, f"hicra.{alias.name}")
                    for alias in node.names
                    if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()
                ]
    return out


def arrows() -> list[tuple[str, int, str, str]]:
    """(file, line, from part, to part) for every import between two different parts."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(module_name(path))
        if path.parent == PACKAGE and path.name != "__init__.py":
            source = path.stem
        for line, target in imported_modules(path):
            part = part_of(target)
            if part is not None and part != source:
                out.append((str(path.relative_to(SRC.parent)), line, source, part))
    return out


def test_every_part_has_a_layer():
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.is_file() and p.suffix == ".py") or (p / "__init__.py").is_file()
    }
    assert not parts - set(RANK), (
        f"add {sorted(parts - set(RANK))} to LAYERS here and in docs/architecture.md"
    )


def test_no_import_points_up_the_layers():
    bad = [
        f"{file}:{line}: {src} (layer {RANK[src]}) imports {dst} (layer {RANK.get(dst, '?')})"
        for file, line, src, dst in arrows()
        if dst not in RANK or RANK[dst] > RANK[src]
    ]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_cycle_between_parts():
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for file, line, src, dst in arrows():
        graph[src].add(dst)
        where.setdefault((src, dst), f"{file}:{line}")
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, []):
            break
    hops = [f"{a} -> {b} ({where[(a, b)]})" for a, b in zip(cycle, cycle[1:]) if (a, b) in where]
    assert not cycle, "import cycle between parts:\n" + "\n".join(hops)


def test_credit_imports_only_torch_and_itself():
    for path in sorted((PACKAGE / "credit").rglob("*.py")):
        for line, target in imported_modules(path):
            top = target.split(".")[0]
            assert top in ("torch", "hicra", "__future__") or top in sys.stdlib_module_names, (
                f"{path.relative_to(SRC.parent)}:{line}: credit/ imports {target}"
            )
            if top == "hicra":
                assert part_of(target) == "credit", (
                    f"{path.relative_to(SRC.parent)}:{line}: credit/ imports {target}"
                )


@pytest.mark.parametrize("module", ["hicra", "hicra.credit", "hicra.lexicon"])
def test_light_imports_load_no_heavy_library(module):
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert out.stdout.strip() == "", f"import {module} loaded {out.stdout.strip()}"
