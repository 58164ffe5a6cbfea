"""The TRL adapter's credit step: TRL's (B,) advantages -> hicra's (B, T) token advantages.

``TrlCredit`` holds what the step needs across batches (the credit mode, its parameters, the
lexicon and tokenizer) and calls the shared registry, ``hicra.credit.token_advantages``, so the
TRL trainer and hicra's built-in trainer compute the same numbers for the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hicra.credit.registry import CreditMode, token_advantages
from hicra.lexicon import load_detector


@dataclass
class TrlCredit:
    """One credit mode bound to a planning detector and a tokenizer.

    mode: the resolved credit mode.
    params: keyword overrides of the mode's advantage parameters (``alpha`` for hicra).
    lexicon: the planning detector (used for the planning mask and the metrics).
    tokenizer: a fast tokenizer (its offsets align phrases with token ids).
    """

    mode: CreditMode
    params: dict[str, Any]
    lexicon: Any
    tokenizer: Any

    @classmethod
    def from_config(cls, args: Any, tokenizer: Any) -> TrlCredit:
        """From an ``HICRAConfig``: its ``credit_settings()``, resolved, and its ``detector``."""
        settings = args.credit_settings()
        resolved = settings.resolve()
        return cls(
            resolved.mode, resolved.advantage_params, load_detector(settings.detector), tokenizer
        )

    @property
    def needs_planning_mask(self) -> bool:
        return "planning_mask" in self.mode.requires

    @property
    def needs_entropy(self) -> bool:
        """True when the mode's advantage transform reads the (detached) token entropy
        (entropy_adv, top_entropy).

        entropy_reg's entropy enters the loss with gradient (`entropy_needs_grad`); TRL computes
        it there itself, so no extra no-grad forward is needed for it.
        """
        return "entropy" in self.mode.requires and not self.mode.entropy_needs_grad

    def planning_mask(self, completion_ids: Tensor, response_mask: Tensor) -> Tensor:
        """(B, T) bool planning mask of TRL's right-padded completion ids, on their device."""
        mask = self.lexicon.tag_batch(completion_ids.cpu(), self.tokenizer, response_mask.cpu())
        return torch.as_tensor(mask, dtype=torch.bool).to(completion_ids.device)

    def advantages(
        self,
        advantages: Tensor,
        response_mask: Tensor,
        planning_mask: Tensor | None,
        entropy: Tensor | None,
    ) -> Tensor:
        """(B,) sequence advantages -> (B, T) token advantages (0 on padding), TRL's dtype."""
        token = token_advantages(
            self.mode,
            advantages,
            response_mask,
            planning_mask=planning_mask,
            entropy=entropy,
            **self.params,
        )
        return token.to(advantages.dtype)
