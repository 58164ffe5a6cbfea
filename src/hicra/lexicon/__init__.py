"""Planning tokens: Strategic-Gram lexicons, phrase matching and token tagging.

    >>> from hicra.lexicon import StrategicLexicon
    >>> lexicon = StrategicLexicon.default()          # the published 249 Strategic Grams
    >>> lexicon.find_spans("Wait, let's try again.")[:2]
    [Span(start=0, end=4, phrase='wait'), Span(start=6, end=11, phrase="let's")]

`load_detector(name)` returns a planning detector by name (`lexicon`: the published list).
`lexicon.tag(text, tokenizer)` marks the planning tokens of one text;
`lexicon.tag_batch(token_ids, tokenizer, response_mask)` does it for a padded (B, T) batch of
response ids, which is what trainers call every step. docs/tagging.md has the rules.
"""

from hicra.lexicon.detectors import (
    Detector,
    PlanningDetector,
    describe_detectors,
    detector_name,
    detector_names,
    load_detector,
    register_alias,
    register_detector,
)
from hicra.lexicon.lexicon import LexiconFormatError, Span, StrategicLexicon
from hicra.lexicon.normalize import normalize_text

__all__ = [
    "Detector",
    "LexiconFormatError",
    "PlanningDetector",
    "Span",
    "StrategicLexicon",
    "TagResult",
    "describe_detectors",
    "detector_name",
    "detector_names",
    "load_detector",
    "normalize_text",
    "register_alias",
    "register_detector",
    "tag",
    "tag_batch",
]


def __getattr__(name: str):
    # tagging pulls in torch lazily; keep `import hicra.lexicon` light.
    if name in ("TagResult", "tag", "tag_batch"):
        from hicra.lexicon import tagging

        return getattr(tagging, name)
    raise AttributeError(f"module 'hicra.lexicon' has no attribute {name!r}")
