"""`hicra tag`: show which tokens of a text are planning tokens.

    hicra tag "But wait, let's try a different approach."
    hicra tag --file trace.txt --tokenizer path/to/hf_tokenizer_dir --json
    hicra tag --detector my_lexicon.txt "Let me double-check."

Without --tokenizer the text is split into words and punctuation marks (no download, no
model needed). Planning tokens are shown in colour on a terminal and as [[token]] otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from hicra.cli_args import ArgumentParser
from hicra.errors import InputError, command, first_line

# ---------------------------------------------------------------------------------------------
# hicra tag
# ---------------------------------------------------------------------------------------------

_WORDS = re.compile(r"\w+|[^\w\s]")
_HIGHLIGHT = "\033[1;33m"
_RESET = "\033[0m"


def _tag_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="hicra tag",
        description="Highlight planning tokens (tokens inside a Strategic-Gram phrase) in a text.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="the text to tag")
    source.add_argument(
        "--file", type=Path, help="read the text from this UTF-8 file ('-' for stdin)"
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="a model alias (e.g. smollm2-135m), a local Hugging Face tokenizer directory or a .gguf file "
        "(default: split into words and punctuation)",
    )
    parser.add_argument(
        "--detector",
        default=None,
        help="planning detector: a registered name (lexicon: the published 249 Strategic Grams, the "
        "default) or a lexicon file, one phrase a line",
    )
    parser.add_argument(
        "--lexicon", dest="detector", help=argparse.SUPPRESS
    )  # the old name of --detector
    parser.add_argument(
        "--json", action="store_true", help="print {tokens, planning_mask, spans} as JSON"
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="ANSI colour for planning tokens (auto: only on a terminal; otherwise [[brackets]])",
    )
    return parser


def _read_text(args: argparse.Namespace) -> str:
    if args.file is None:
        return args.text
    if str(args.file) == "-":
        try:
            return (
                sys.stdin.buffer.read().decode("utf-8")
                if hasattr(sys.stdin, "buffer")
                else sys.stdin.read()
            )
        except UnicodeDecodeError:
            raise InputError("cannot read --file - (standard input): not UTF-8 text") from None
    try:
        return args.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"cannot read --file {args.file}: not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"cannot read --file {args.file}: {err.strerror or err}") from None


def _local_tokenizer(path: str):
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise ValueError("not a local tokenizer directory")
    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as err:  # whatever transformers raises on a directory that is no tokenizer
        raise ValueError(first_line(err)) from None


def _word_tokens(text: str) -> tuple[list[str], np.ndarray]:
    """Words and punctuation marks with their character offsets: (T tokens, (T, 2) offsets)."""
    matches = list(_WORDS.finditer(text))
    offsets = np.array([m.span() for m in matches], dtype=np.int64).reshape(-1, 2)
    return [m.group() for m in matches], offsets


def _render(text: str, offsets: np.ndarray, planning_mask: np.ndarray, color: bool) -> str:
    """The text with each run of planning tokens wrapped in colour or [[...]].

    Planning tokens separated only by whitespace form one run: "[[But wait]], ...".
    """
    open_, close = (_HIGHLIGHT, _RESET) if color else ("[[", "]]")
    runs: list[list[int]] = []
    for (start, end), planning in zip(offsets.tolist(), planning_mask.tolist()):
        if not planning or end <= start:
            continue
        if runs and (start <= runs[-1][1] or not text[runs[-1][1] : start].strip()):
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    out, cursor = [], 0
    for start, end in runs:
        start = max(start, cursor)
        out += [text[cursor:start], open_, text[start:end], close]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


@command("hicra tag")
def tag_main(argv: list[str], load_tokenizer=None) -> int:
    """`hicra tag`: print the text with planning tokens highlighted, or JSON with --json.

    load_tokenizer: spelling of --tokenizer -> tokenizer, raising ValueError with one line
    (`hicra tag` passes `hicra.models.load_tokenizer`, which knows model aliases; this layer
    may not import it). Default: `AutoTokenizer.from_pretrained` of a local directory."""
    if any(a == "--lexicon" or a.startswith("--lexicon=") for a in argv):
        print("hicra tag: --lexicon is deprecated; use --detector", file=sys.stderr)
    args = _tag_parser().parse_args(argv)
    from hicra.lexicon import load_detector
    from hicra.lexicon.tagging import overlap_mask

    text = _read_text(args)
    try:
        lexicon = load_detector(args.detector or "lexicon")
    except ValueError as err:  # LexiconFormatError too
        raise InputError(f"--detector: {err}") from None
    if args.tokenizer is None:
        tokens, offsets = _word_tokens(text)
        starts, ends, _ = lexicon.span_arrays(text)
        planning_mask = overlap_mask(starts, ends, offsets[:, 0], offsets[:, 1])
        spans = lexicon.find_spans(text)
    else:
        try:
            tokenizer = (load_tokenizer or _local_tokenizer)(args.tokenizer)
        except ValueError as err:  # ModelLoadError / LexiconFormatError too: one line
            raise InputError(f"cannot use --tokenizer {args.tokenizer}: {err}") from None
        try:
            result = lexicon.tag(text, tokenizer)
        except Exception as err:  # whatever transformers raises on a directory that is no tokenizer
            raise InputError(
                f"cannot use --tokenizer {args.tokenizer}: {first_line(err)}"
            ) from None
        tokens, offsets, planning_mask, spans = (
            result.tokens,
            result.offsets,
            result.planning_mask,
            result.spans,
        )
    if args.json:
        payload = {
            "tokens": tokens,
            "planning_mask": [bool(x) for x in planning_mask],
            "spans": [{"start": s.start, "end": s.end, "phrase": s.phrase} for s in spans],
        }
        print(json.dumps(payload, ensure_ascii=False))
        return 0
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(_render(text, offsets, planning_mask, color))
    return 0
