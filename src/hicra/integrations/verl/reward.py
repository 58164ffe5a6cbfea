"""verl's custom reward function, backed by hicra's math reward.

    reward.custom_reward_function.path=$(python -c "import hicra.integrations.verl.reward as m; print(m.__file__)")
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.format_reward=0.1     # optional

verl calls it from a thread pool (`loop.run_in_executor`), where math-verify's signal-based
timeout fails; hicra's check runs in worker subprocesses with a deadline, so it is safe there.
"""

from __future__ import annotations

from typing import Any

from hicra.tasks.math_reward import compute_score as _math_compute_score

_SCORE_OPTIONS = ("correct_reward", "incorrect_reward", "format_reward", "timeout_s")


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """{"score", "acc", "pred", "format_ok", "timed_out"} for one response.

    data_source: ignored (every source is scored as math with a final \\boxed{} answer).
    ground_truth: the reference answer (a worked solution's last box is used); a list of
        acceptable answers counts as correct if any matches.
    kwargs: correct_reward, incorrect_reward, format_reward, timeout_s (from reward_kwargs);
        other keys verl passes (reward_router_address, ...) are ignored.
    """
    options = {key: kwargs[key] for key in _SCORE_OPTIONS if key in kwargs}
    if hasattr(ground_truth, "tolist"):  # a numpy array or scalar read back from parquet
        ground_truth = ground_truth.tolist()
    golds = list(ground_truth) if isinstance(ground_truth, (list, tuple)) else [ground_truth]
    results = [_math_compute_score(solution_str, str(gold), **options) for gold in golds]
    return max(results, key=lambda result: (result["acc"], result["score"]))
