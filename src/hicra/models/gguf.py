"""GGUF files -> a dequantized safetensors checkpoint in hicra's cache, built once.

transformers reads a GGUF file (`from_pretrained(dir, gguf_file=name)`, with the `gguf`
package) and dequantizes it to float32, which takes tens of seconds for a 135M model (the
tokenizer alone is rebuilt from the file's metadata). `cached_checkpoint` does that once and
writes the result as an ordinary Hugging Face directory (config.json, model.safetensors,
tokenizer.json, chat template) under `$HICRA_CACHE/models` (default `~/.cache/hicra/models`),
so later loads are a plain `from_pretrained(dir)` of a few seconds. The directory is written
under a temporary name and renamed when complete, so an interrupted build leaves nothing that
looks finished, and two processes building at once both end with the same directory.

The cache key is the GGUF file's resolved path, size and modification time: reinstalling
the package that ships the file rebuilds the copy; nothing else does. `source.json` in the
directory records the file, its sha256 and the versions that converted it.

    >>> cached_checkpoint(Path("SmolLM2-135M-Instruct.Q4_1.gguf"))     # doctest: +SKIP
    PosixPath('/root/.cache/hicra/models/SmolLM2-135M-Instruct.Q4_1-3f0c...')
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from hicra.errors import InputError

CACHE_ENV = "HICRA_CACHE"
SOURCE_FILE = "source.json"
EXTRA = "real-lm"


class ModelLoadError(InputError):
    """A model or tokenizer that cannot be had; the message is one line naming what failed."""


def cache_root() -> Path:
    """Where hicra keeps converted models: $HICRA_CACHE/models or ~/.cache/hicra/models."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/hicra").expanduser() / "models"


def cache_key(gguf_path: Path) -> str:
    """16 hex digits of sha256(resolved path, size, mtime): which copy belongs to which file."""
    path = Path(gguf_path).resolve()
    stat = path.stat()
    blob = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_dir(gguf_path: Path, name: str | None = None, root: Path | None = None) -> Path:
    """The cache directory of a GGUF file (it need not exist yet)."""
    stem = name or Path(gguf_path).stem
    return (root or cache_root()) / f"{stem}-{cache_key(gguf_path)}"


def is_complete(path: Path) -> bool:
    """True when `path` holds a finished conversion (source.json is written last)."""
    return (path / SOURCE_FILE).is_file() and (path / "config.json").is_file()


def require_gguf_package() -> None:
    """One-line ModelLoadError when the `gguf` package (transformers' GGUF reader) is absent."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(
            f"reading GGUF files needs the gguf package: pip install 'hicra[{EXTRA}]'"
        )


def cached_checkpoint(
    gguf_path: Path, name: str | None = None, root: Path | None = None, progress: bool = True
) -> Path:
    """The dequantized Hugging Face directory of `gguf_path`, converting it on first use.

    name: the directory's stem (e.g. the model alias; default: the file's stem).
    root: the cache directory (default: `cache_root()`).
    Raises ModelLoadError (one line naming the file) when the file is missing or unreadable.
    """
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelLoadError(f"GGUF file not found: {gguf_path}")
    out = cached_dir(gguf_path, name, root)
    if is_complete(out):
        return out
    require_gguf_package()
    check_header(gguf_path)  # a file that is no GGUF fails here, before any progress line
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        if progress:
            print(
                f"hicra: converting {gguf_path.name} to a safetensors copy in {out.parent} (once)",
                file=sys.stderr,
            )
        convert_gguf(gguf_path, tmp)
        try:
            os.rename(tmp, out)
        except OSError:
            if not is_complete(out):  # another process finished first otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_header(gguf_path: Path) -> None:
    """Parse the file's header and tensor table (memory-mapped, no weights read): a file that is
    not a GGUF model, or is cut inside its header, is one ModelLoadError naming it."""
    from gguf import GGUFReader

    try:
        GGUFReader(str(gguf_path))
    except Exception as err:  # the reader's errors are untyped (struct.error, ValueError, ...)
        raise ModelLoadError(
            f"{gguf_path}: not a readable GGUF model file ({_first_line(err)})"
        ) from None


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Read `gguf_path` with transformers (dequantized, float32) and save it in `out_dir`.

    Any failure to read the file becomes one ModelLoadError line naming it: a truncated or
    corrupt file fails inside the gguf reader with errors such as "cannot reshape array".
    """
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder, filename = str(gguf_path.parent), gguf_path.name
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename)
    except Exception as err:  # the reader's errors are many and untyped; all mean "unreadable"
        raise ModelLoadError(
            f"{gguf_path}: not a readable GGUF model file ({_first_line(err)})"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    # The weights are plain float32 tensors now; what marks the model as "quantized" would
    # only stop save_pretrained.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    model.config.name_or_path = gguf_path.stem
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    source = {
        "gguf_file": str(gguf_path.resolve()),
        "gguf_sha256": _sha256(gguf_path),
        "gguf_bytes": gguf_path.stat().st_size,
        "transformers": transformers.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "float32",
    }
    (out_dir / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {line[:200]}" if line else type(err).__name__
