"""The countdown world: reach a target from a few numbers modulo a small prime by choosing a
strategy, working the arithmetic out step by step, checking, and backtracking to another
strategy when the check fails. Execution = the written arithmetic; planning = the move
phrases of `lexicon.tsv` (and the strategy names). See docs/world.md.
"""

from hicra.tasks.countdown.config import CountdownConfig
from hicra.tasks.countdown.corpus import SFTExample, sft_response
from hicra.tasks.countdown.task import CountdownTask, lexicon_path, summarize_diagnostics

__all__ = [
    "CountdownConfig",
    "CountdownTask",
    "SFTExample",
    "lexicon_path",
    "sft_response",
    "summarize_diagnostics",
]
