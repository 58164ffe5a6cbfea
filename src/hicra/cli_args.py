"""Command-line flags generated from a dataclass: the one generator behind `hicra train`,
`hicra sft` and `hicra lexicon mine`.

Each field becomes ``--kebab-case-name`` (with a prefix for a nested config:
``--task.backtrack-rate``) and its docstring (`hicra.fielddocs.field_docs`) the help; a boolean
is ``--x`` / ``--no-x``; a mapping is set from YAML only. A flag left out parses to None, so a
caller can tell "not given" from a value and layer defaults < recipe < flags.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Opts:
    ...     batch_size: int = 32
    ...     '''Examples per step.'''
    ...     progress: bool = True
    ...     '''Show a progress bar.'''
    >>> parser = ArgumentParser(prog="demo")
    >>> add_dataclass_flags(parser, Opts)
    >>> dataclass_values(parser.parse_args(["--batch-size", "8", "--no-progress"]), Opts)
    {'batch_size': 8, 'progress': False}

`ArgumentParser` also reads the spellings of earlier releases, with one line on stderr each:
snake case (``--batch_size 8``) and a boolean given a value (``--progress false``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from hicra.errors import InputError, check_number
from hicra.fielddocs import field_docs

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, reading old flag spellings with a deprecation line on stderr, and
    reporting a bad command line in one line (not the whole usage block): ``PROG: MESSAGE
    (PROG --help lists the options)``, exit status 2.

    Subparsers made with ``add_subparsers().add_parser`` are of this class too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "-1e-4" and "-inf" are values, not flags (argparse knows only "-1" and "-1.5")
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$")

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: {message} ({self.prog} --help lists the options)\n")

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self._modernise(args), namespace)

    def _modernise(self, args: list[str]) -> list[str]:
        known = self._option_string_actions
        booleans = {
            opt
            for opt, action in known.items()
            if isinstance(action, argparse.BooleanOptionalAction) and not opt.startswith("--no-")
        }
        out: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                out += args[i:]
                break
            if not arg.startswith("--") or arg in known:
                if arg in booleans and i + 1 < len(args) and args[i + 1].lower() in _TRUE + _FALSE:
                    out.append(self._boolean(arg, args[i + 1]))
                    i += 2
                    continue
                out.append(arg)
                i += 1
                continue
            name, eq, value = arg.partition("=")
            modern = "--" + name[2:].replace("_", "-")
            if modern in known and modern != name:
                self._warn(name, modern)
            elif modern not in known:
                modern = name
            if eq and modern in booleans and value.lower() in _TRUE + _FALSE:
                out.append(self._boolean(modern, value))
            elif (
                modern in booleans
                and not eq
                and i + 1 < len(args)
                and args[i + 1].lower() in _TRUE + _FALSE
            ):
                out.append(self._boolean(modern, args[i + 1]))
                i += 1
            else:
                out.append(modern + eq + value)
            i += 1
        return out

    def _boolean(self, flag: str, value: str) -> str:
        modern = flag if value.lower() in _TRUE else "--no-" + flag[2:]
        self._warn(f"{flag} {value}", modern)
        return modern

    def _warn(self, old: str, new: str) -> None:
        print(f"{self.prog}: {old} is deprecated; use {new}", file=sys.stderr)


def _unwrap_optional(hint: Any) -> Any:
    """X for X | None (a union of several types: str)."""
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else str
    return hint


def _converter(kind: Any):
    """str -> kind for int / float / str; "none" gives None for an optional field."""
    if kind not in (int, float, str):
        return str

    def convert(text: str):
        if text.lower() in ("none", "null"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an' if kind is int else 'a'} {kind.__name__}, got {text!r}"
            ) from None

    convert.__name__ = kind.__name__
    return convert


def bounded(kind: type, **bounds: Any):
    """An argparse ``type`` for a number with a range (`hicra.errors.check_number` bounds:
    low, high, low_open, high_open), so a value out of range is a one-line usage error:

        p.add_argument("--temperature", type=bounded(float, low=0), default=1.0)
    """

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        try:
            return check_number("value", value, integer=kind is int, **bounds)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("value: ")) from None

    convert.__name__ = kind.__name__
    return convert


def add_dataclass_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    prefix: str = "",
    skip: Iterable[str] = (),
    deprecated: Mapping[str, str] | None = None,
    raw: bool = False,
    title: str | None = None,
) -> None:
    """One flag per field of dataclass `cls` (see the module docstring); dest = prefix + name.

    deprecated: field -> the field that replaces it (the flag parses but is hidden from --help).
    raw: scalar values stay strings, for a caller that converts them itself (with its own
    messages); otherwise int / float fields are converted here.
    """
    hints, docs = get_type_hints(cls), field_docs(cls)
    deprecated = dict(deprecated or {})
    target = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        kind = _unwrap_optional(hint)
        origin, args = get_origin(kind), get_args(kind)
        if origin is dict or kind is dict or origin is Mapping:
            continue  # mappings come from YAML only
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        flag = f"--{prefix}{f.name.replace('_', '-')}"
        help_ = f"{docs.get(f.name, '')} (default: {default!r})".replace("%", "%%")
        if f.name in deprecated:
            help_ = argparse.SUPPRESS
        common: dict[str, Any] = {"dest": prefix + f.name, "default": None, "help": help_}
        if kind is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif origin is tuple:
            n = "+" if len(args) == 2 and args[1] is Ellipsis else len(args)
            target.add_argument(
                flag, nargs=n, type=_converter(args[0]) if args else str, metavar="X", **common
            )
        elif origin is Literal:
            target.add_argument(flag, choices=list(args), **common)
        else:
            converter = str if raw else _converter(kind)
            target.add_argument(flag, type=converter, metavar=f.name.upper(), **common)


def dataclass_values(namespace: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    """{field: value} of the flags given on the command line (lists become tuples)."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(namespace, prefix + f.name, None)
        if value is not None:
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def given_deprecated(
    namespace: argparse.Namespace, deprecated: Mapping[str, str], prog: str
) -> None:
    """One stderr line per deprecated field flag that was given."""
    for old, new in deprecated.items():
        if getattr(namespace, old, None) is not None:
            print(
                f"{prog}: --{old.replace('_', '-')} is deprecated; use --{new.replace('_', '-')}",
                file=sys.stderr,
            )
