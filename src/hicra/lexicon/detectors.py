"""Planning detectors by name: what marks the planning characters of a response.

A detector is any object with ``find_spans(text) -> list[Span]`` (character offsets into the
text it was given) and ``span_arrays(text, detached_punctuation=False)`` (the same as arrays,
what `tag_batch` calls on a batch decoded into one text whose rows are separated by "\\x00").
`StrategicLexicon` is one; `Detector` gives any other the array form and ``tag`` /
``tag_batch`` from its ``find_spans``.

`load_detector(spec, task)` is the one place where a spelling becomes a detector:

- ``None`` or ``""``: the task's own planning lexicon when a task is given, else ``lexicon``;
- ``"task"``: the task's own planning lexicon (a task is required);
- ``"default"``: the same as ``lexicon``;
- a registered name (`detector_names()`), e.g. ``lexicon``: the published 249 Strategic Grams;
- the path of a lexicon file (one phrase a line, see `hicra.lexicon.lexicon`);
- the path of a ``.npz`` file of `sentence` weights (written by ``hicra detector train``).

Registered here (each non-lexicon detector lives in its own module, imported on first use):
``lexicon``, ``lexicon-clause`` (`hicra.lexicon.clause`), ``sentence`` and ``sentence-grams``
(`hicra.lexicon.sentence_detector`), and ``recommended``, the alias of the detector the README
recommends (``sentence``). docs/detectors.md compares them.

    >>> load_detector("lexicon") == load_detector("default")
    True
    >>> "lexicon" in detector_names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from hicra.errors import InputError
from hicra.lexicon.lexicon import Span, StrategicLexicon

if TYPE_CHECKING:
    import torch

    from hicra.lexicon.tagging import TagResult


@runtime_checkable
class PlanningDetector(Protocol):
    """What trainers, tagging and the dynamics metrics need from a detector."""

    def find_spans(self, text: str) -> list[Span]:
        """Planning spans of ``text``, sorted by (start, end), in its character offsets."""

    def span_arrays(
        self, text: str, detached_punctuation: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """find_spans as (starts, ends, ids) int64 arrays."""


class Detector:
    """Base of detectors that are not a lexicon: ``span_arrays``, ``tag`` and ``tag_batch``
    from the subclass's ``find_spans``, and what the dynamics metrics read (``find_grams``,
    ``category``). ``name`` is the registry name."""

    name = "detector"

    @property
    def source(self) -> str:
        """What made this detector (runs record it, as a lexicon's file): its name."""
        return self.name

    def find_spans(self, text: str) -> list[Span]:  # pragma: no cover - abstract
        raise NotImplementedError

    def span_arrays(
        self, text: str, detached_punctuation: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spans = self.find_spans(text)
        starts = np.fromiter((s.start for s in spans), dtype=np.int64, count=len(spans))
        ends = np.fromiter((s.end for s in spans), dtype=np.int64, count=len(spans))
        return starts, ends, np.arange(len(spans), dtype=np.int64)

    def find_grams(self, text: str) -> list[Span]:
        """The units semantic entropy counts: the spans, leftmost first, overlaps dropped.
        Detectors built on a lexicon (lexicon-clause, sentence) count that lexicon's grams
        inside their spans instead (docs/detectors.md)."""
        grams: list[Span] = []
        for span in sorted(self.find_spans(text)):
            if not grams or span.start >= grams[-1].end:
                grams.append(span)
        return grams

    def category(self, phrase: str) -> str | None:
        """A span's kind (a lexicon's branching / backtracing / deduction); None: unknown."""
        return None

    def __contains__(self, phrase: object) -> bool:
        """Whether ``phrase`` is a gram this detector knows a category for (as for a lexicon)."""
        return False

    def tag(self, text: str, tokenizer: Any) -> TagResult:
        from hicra.lexicon.tagging import tag

        return tag(self, text, tokenizer)

    def tag_batch(
        self, token_ids: Any, tokenizer: Any, response_mask: Any = None, **kwargs: Any
    ) -> torch.Tensor:
        from hicra.lexicon.tagging import tag_batch

        return tag_batch(self, token_ids, tokenizer, response_mask=response_mask, **kwargs)


# name -> (factory, one-line description); aliases map a name to another name.
_REGISTRY: dict[str, tuple[Callable[[], Any], str]] = {}
_ALIASES: dict[str, str] = {}
_CACHE: dict[str, Any] = {}


def register_detector(name: str, factory: Callable[[], Any], description: str) -> None:
    """Make ``load_detector(name)`` return ``factory()`` (built once, then shared)."""
    _REGISTRY[name] = (factory, description)
    _CACHE.pop(name, None)


def register_alias(name: str, target: str) -> None:
    """Make ``name`` another name of the registered detector ``target``."""
    _ALIASES[name] = target


def detector_names() -> list[str]:
    """The registered names and aliases, sorted."""
    return sorted(set(_REGISTRY) | set(_ALIASES))


def describe_detectors() -> dict[str, str]:
    """name -> one-line description (an alias says what it points to)."""
    out = {name: desc for name, (_, desc) in _REGISTRY.items()}
    out |= {name: f"alias of {target}" for name, target in _ALIASES.items()}
    return dict(sorted(out.items()))


def load_detector(spec: str | None = None, task: Any = None) -> Any:
    """The detector a spelling names; one-line ValueError listing the known names otherwise."""
    if spec is None or spec == "":
        return task.planning_lexicon() if task is not None else load_detector("lexicon")
    if spec == "task":
        if task is None:
            raise InputError(
                "detector 'task': the task's own lexicon needs a task, and none was given"
            )
        return task.planning_lexicon()
    name = _ALIASES.get(spec, spec)
    if name in _REGISTRY:
        if name not in _CACHE:
            _CACHE[name] = _REGISTRY[name][0]()
        return _CACHE[name]
    if not isinstance(spec, str):
        raise InputError(f"detector: expected a name or a lexicon file path, got {spec!r:.60}")
    if Path(spec).is_file():
        if Path(spec).suffix == ".npz":  # weights written by `hicra detector train --out`
            from hicra.lexicon.sentence_detector import SentenceDetector

            return SentenceDetector.from_file(spec)
        return StrategicLexicon.from_file(spec)
    if Path(spec).is_dir():
        raise InputError(
            f"detector {spec!r}: is a directory; expected a lexicon file (one phrase a line) or a name"
        )
    known = ", ".join(detector_names() + ["task"])
    raise InputError(
        f"unknown detector {spec!r:.80}: expected one of {known}, or the path of a lexicon file"
    )


def detector_name(detector: Any) -> str:
    """How a run records the detector that made its mask: the registry name, or the
    lexicon's source (its file, or "published ..." for the 249 Strategic Grams)."""
    if isinstance(detector, StrategicLexicon):
        return getattr(detector, "source", "lexicon")
    return getattr(detector, "name", type(detector).__name__)


def _clause_lexicon() -> Any:
    from hicra.lexicon.clause import ClauseLexicon

    return ClauseLexicon(StrategicLexicon.default())


def _sentence(span_mode: str, name: str) -> Callable[[], Any]:
    def factory() -> Any:
        from hicra.lexicon.sentence_detector import SentenceDetector, package_weights_path

        return SentenceDetector.from_file(package_weights_path(), span_mode, name)

    return factory


register_detector(
    "lexicon",
    StrategicLexicon.default,
    "the published 249 Strategic Grams (Wang et al. 2025), every occurrence",
)
register_detector(
    "lexicon-clause",
    _clause_lexicon,
    "the published Strategic Grams, counted only inside a first-person clause",
)
register_detector(
    "sentence",
    _sentence("sentence", "sentence"),
    "whole sentences a MiniLM-feature classifier calls planning (trained on Thought Anchors labels)",
)
register_detector(
    "sentence-grams",
    _sentence("grams", "sentence-grams"),
    "the Strategic Grams inside the sentences that `sentence` calls planning",
)
register_alias("default", "lexicon")
register_alias("recommended", "sentence")
