"""Generation backends: sample n continuations of each context string, batched.

`BuiltinBackend` runs hicra's KV-cached sampler (`hicra.models.sampling.sample_responses`) on
any local Hugging Face causal LM; `VLLMBackend` runs vLLM's offline `LLM.generate` when vLLM is
installed (imported lazily). Both return, for contexts [c_0, .., c_{k-1}] and n samples,
k * n `Continuation`s, context-major (rows j*n .. j*n+n-1 continue c_j).

A continuation's text is what the tokenizer decodes after the context, leading whitespace
included: it is decode(context_ids + new_ids) minus decode(context_ids), so word-level
tokenizers (whose decoder joins tokens with spaces) and byte-level BPE both give
`context + text` == the decoded whole.

    >>> backend = BuiltinBackend(model, tokenizer, max_new_tokens=64)   # doctest: +SKIP
    >>> rows = backend.sample(["numbers 3 5 2 target 4 :"], n=4, seed=0)  # doctest: +SKIP
    >>> len(rows), rows[0].ended                                        # doctest: +SKIP
    (4, True)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Continuation:
    """One sampled continuation: its text, its number of new tokens, and whether it ended
    (an end-of-sequence token, or vLLM's finish_reason "stop") before the token budget."""

    text: str
    n_tokens: int
    ended: bool


class Backend(Protocol):
    name: str

    def sample(self, contexts: list[str], n: int, seed: int) -> list[Continuation]:
        """k * n continuations of k contexts, context-major, reproducible from `seed`."""


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class BuiltinBackend:
    """hicra's KV-cached sampler on a loaded model (any HF causal LM), on its device."""

    name = "builtin"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
    ) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        if tokenizer.eos_token_id is None:
            from hicra.errors import InputError

            raise InputError(
                "--model: the tokenizer has no end-of-sequence token: "
                "the model cannot end a response"
            )

    def sample(self, contexts: list[str], n: int, seed: int) -> list[Continuation]:
        import torch

        from hicra.models.sampling import sample_responses

        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)
        batch = sample_responses(
            self.model,
            self.tokenizer,
            contexts,
            n,
            self.max_new_tokens,
            self.temperature,
            generator,
            top_p=self.top_p,
            share_prefill=True,
        )
        decode = self.tokenizer.decode
        prompt_ids, prompt_mask = batch.prompt_ids.cpu(), batch.prompt_mask.cpu()
        response_ids, response_mask = batch.response_ids.cpu(), batch.response_mask.cpu()
        heads: dict[int, tuple[list[int], str]] = {}
        out = []
        for row in range(len(batch)):
            j = row // n
            if j not in heads:
                ids = prompt_ids[row][prompt_mask[row]].tolist()
                heads[j] = (ids, decode(ids, skip_special_tokens=True))
            ids, head = heads[j]
            new = response_ids[row][response_mask[row]].tolist()
            whole = decode(ids + new, skip_special_tokens=True)
            text = whole[len(head) :] if whole.startswith(head) else batch.texts[row]
            out.append(Continuation(text, len(new), not bool(batch.truncated_mask[row])))
        return out


class VLLMBackend:
    """vLLM's offline engine (`vllm.LLM`): one `generate` call per batch of contexts, n samples
    each (`SamplingParams(n=..., seed=...)`). Only constructed when vLLM is installed; written
    against vLLM's documented offline API and not run in hicra's CPU test suite."""

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        **engine_options: Any,
    ) -> None:
        from vllm import LLM

        self.llm = LLM(model=str(model_path), **engine_options)
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens

    def sample(self, contexts: list[str], n: int, seed: int) -> list[Continuation]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_new_tokens,
            seed=seed,
        )
        outputs = self.llm.generate(contexts, params, use_tqdm=False)
        return [
            Continuation(c.text, len(c.token_ids), c.finish_reason == "stop")
            for request in outputs
            for c in request.outputs
        ]


def make_backend(
    kind: str,
    model_spec: str,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    device: str = "cpu",
) -> tuple[Backend, Any]:
    """(backend, tokenizer) for `kind` "builtin", "vllm" or "auto" (vLLM when installed and
    the device is a GPU). The model is resolved by `hicra.models.load_model_and_tokenizer`,
    the one loader of local checkpoints and model aliases."""
    if kind not in ("auto", "builtin", "vllm"):
        raise ValueError(f"unknown backend {kind!r}: expected auto, builtin or vllm")
    use_vllm = kind == "vllm" or (kind == "auto" and vllm_available() and device.startswith("cuda"))
    if kind == "vllm" and not vllm_available():
        raise ValueError(
            "backend 'vllm': vLLM is not installed (pip install vllm), use --backend builtin"
        )
    from hicra.models import load_model_and_tokenizer, resolve_model

    if use_vllm:  # aliases and .gguf files resolve to the converted local checkpoint first
        backend = VLLMBackend(resolve_model(model_spec), temperature, top_p, max_new_tokens)
        return backend, backend.llm.get_tokenizer()
    model, tokenizer = load_model_and_tokenizer(model_spec)
    model.to(device)
    return BuiltinBackend(model, tokenizer, temperature, top_p, max_new_tokens), tokenizer
