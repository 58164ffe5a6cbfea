"""`CreditSettings`: the credit-assignment options every trainer shares, and the one rule that
decides which of them apply.

The built-in trainer's `TrainConfig`, TRL's `HICRAConfig` and verl's `hicra` section carry the
same four options under the same names: ``credit_mode``, ``alpha``, ``credit_options`` and
``detector``. Each builds a `CreditSettings` from them and calls `resolve()`:

    >>> CreditSettings("hicra", alpha=0.3).resolve().advantage_params
    {'alpha': 0.3}
    >>> CreditSettings("top_entropy", alpha=0.3, options={"rho": 0.1}).resolve().advantage_params
    {'rho': 0.1}

- ``alpha`` applies to the modes whose advantage transform takes an ``alpha`` (``hicra``), and
  must lie in [-1, 1] (negative: reverse HICRA, planning tokens get less credit);
- ``credit_options`` are keyword parameters of the mode's advantage transform (``rho`` for
  ``top_entropy``, ``a`` and ``k`` for ``entropy_adv``); an unknown key, or ``alpha`` there, is
  an error;
- ``detector`` is only carried: a spelling for `hicra.lexicon.load_detector`, resolved by the
  caller (credit/ stays pure tensor maths and imports nothing but torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hicra.credit.registry import CreditMode, advantage_param_names, resolve_credit_mode

ALPHA_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class ResolvedCredit:
    """What a trainer passes to `token_advantages(mode, ..., **advantage_params)`."""

    mode: CreditMode
    advantage_params: dict[str, Any]


@dataclass
class CreditSettings:
    """The credit-assignment options of one run (see the module docstring)."""

    mode: str = "hicra"
    """Credit mode from the `hicra.credit` registry (`credit_mode_names()`)."""
    alpha: float = 0.2
    """HICRA's alpha, in [-1, 1]: planning tokens get A + alpha * |A| (hicra mode only)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword parameters of the mode's advantage transform, e.g. {"rho": 0.2}."""
    detector: str | None = None
    """Planning-detector spelling for `hicra.lexicon.load_detector` (None or "": the task's own)."""

    def resolve(self) -> ResolvedCredit:
        """The credit mode and the advantage parameters that apply to it; ValueError with the
        option's name when an option is wrong."""
        try:
            mode = resolve_credit_mode(self.mode)
        except ValueError as err:
            raise ValueError(f"credit_mode: {err}") from None
        alpha = self.alpha
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha)
            or not ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]
        ):
            raise ValueError(
                f"alpha must lie in [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}], got {alpha!r}"
            )
        if not isinstance(self.options, Mapping):
            raise ValueError(
                "credit_options: expected a mapping of parameter names to values, "
                f"got {self.options!r}"
            )
        accepted = advantage_param_names(mode)
        if "alpha" in self.options:
            raise ValueError(
                "credit_options: set HICRA's alpha with the `alpha` option, not in credit_options"
            )
        unknown = sorted(set(self.options) - accepted)
        if unknown:
            raise ValueError(
                f"credit_options: credit mode {mode.name!r} does not take {unknown}; "
                f"it takes {', '.join(sorted(accepted - {'alpha'})) or 'no options'}"
            )
        params = dict(self.options)
        for name, value in params.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ValueError(
                    f"credit_options: {name!r} of credit mode {mode.name!r} must be a finite number, "
                    f"got {value!r:.40}"
                )
        if "alpha" in accepted:
            params["alpha"] = float(alpha)
        _dry_run(mode, params)
        return ResolvedCredit(mode, params)


def _dry_run(mode: CreditMode, params: dict[str, Any]) -> None:
    """Apply the mode's transform with `params` to a (2, 3) batch, so that a value the transform
    itself refuses (``rho`` outside (0, 1], a negative ``a``) is reported before a run starts."""
    import torch

    from hicra.credit.registry import token_advantages

    mask = torch.ones(2, 3, dtype=torch.bool)
    try:
        token_advantages(
            mode,
            torch.tensor([1.0, -1.0]),
            mask,
            planning_mask=mask,
            entropy=torch.ones(2, 3),
            **params,
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"credit_options of credit mode {mode.name!r}: {err}") from None
