"""Thought anchors: counterfactual importance of the sentences of a reasoning trace.

Following Bogdan, Macar, Nanda and Conmy (2025), "Thought Anchors: Which LLM Reasoning Steps
Matter?" (arXiv:2506.19143): every sentence S_i of a trace is resampled many times, and the
answers reached with S_i kept are compared with the answers reached when S_i is replaced by a
resampled sentence (all of them: resampling importance; only the semantically different ones,
MiniLM cosine < 0.8: counterfactual importance). Each sentence is also classed planning or
execution by a planning detector, which tests HICRA's premise that planning sentences are the
ones that steer a trace.

Modules, callee first: `sentences` (splitting), `estimators` (the importance formulas),
`outcomes` (answers and countdown moves), `backends` (batched generation: hicra's sampler or
vLLM), `traces` (input), `store` (resumable output), `run` (the loop), `summary`, `cli`
(`hicra anchors`). docs/anchors.md documents the method and where it departs from the paper.
"""

from hicra.anchors.estimators import MEASURES, Resample, answer_kl, sentence_importance
from hicra.anchors.run import AnchorsConfig
from hicra.anchors.sentences import Sentence, first_sentence, split_sentences

__all__ = [
    "MEASURES",
    "AnchorsConfig",
    "Resample",
    "Sentence",
    "answer_kl",
    "first_sentence",
    "sentence_importance",
    "split_sentences",
]
