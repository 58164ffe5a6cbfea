"""The vLLM backend where vLLM is not installed (the case this CPU-only suite can run).

The VLLMBackend itself needs vLLM and a CUDA GPU and is not run here (docs/anchors.md, "vLLM");
these tests pin what a user without vLLM gets: `--backend vllm` is one line, `auto` is the
built-in sampler.
"""

from __future__ import annotations

import pytest
from anchors_helpers import one_torch_thread, tiny_countdown_model  # noqa: F401 (fixtures)

from hicra.anchors.backends import BuiltinBackend, make_backend, vllm_available

pytestmark = pytest.mark.skipif(vllm_available(), reason="vLLM is installed here")


def test_make_backend_vllm_without_vllm_is_one_line_before_loading(tmp_path):
    # the model path does not exist: the refusal comes before any model is loaded
    with pytest.raises(ValueError) as err:
        make_backend("vllm", str(tmp_path / "no-model"), 1.0, 1.0, 8)
    assert str(err.value) == (
        "backend 'vllm': vLLM is not installed (pip install vllm), use --backend builtin"
    )
    assert "\n" not in str(err.value)


def test_auto_without_vllm_is_the_builtin_sampler(tiny_countdown_model):  # noqa: F811
    backend, tokenizer = make_backend("auto", str(tiny_countdown_model), 1.0, 1.0, 8)
    assert isinstance(backend, BuiltinBackend) and backend.tokenizer is tokenizer
    rows = backend.sample(["numbers 3 5 2 target 4 :"], n=3, seed=0)
    assert len(rows) == 3 and all(0 < r.n_tokens <= 8 for r in rows)
