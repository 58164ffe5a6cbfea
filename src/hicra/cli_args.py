"""Command-line flags generated from a dataclass: the one generator behind `hicra train`,
`hicra sft` and `hicra lexicon mine`; and `check_fields`, the one check of a config's values
against the dataclass's types and each number's declared `Range`.

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
import functools
import operator
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from hicra.errors import InputError, check_number, short_repr
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
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
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


# ---- checking a whole config ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Range:
    """The bounds of a numeric field (`hicra.errors.check_number`'s): low <= x <= high, or
    strict with low_open / high_open; None: unbounded on that side (the value must still be
    finite)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False


MAX_COUNT = 10**9
"""Upper bound of step counts and sizes: far above any run, far below what overflows."""
MAX_SEED = 2**63 - 1
COUNT = Range(0, MAX_COUNT)
"""A size or count that may be 0 (0 often means "off" or "no limit")."""
POSITIVE_COUNT = Range(1, MAX_COUNT)
SEED = Range(0, MAX_SEED)
FRACTION = Range(0, 1)
LARGE = 1e9
"""Upper bound of coefficients, clip ranges and counts given as floats: no setting needs more,
and larger ones (1e30) only overflow into inf and NaN downstream."""
POSITIVE = Range(0, LARGE, low_open=True)
NON_NEGATIVE = Range(0, LARGE)
LEARNING_RATE = Range(0, 10, low_open=True)
"""A learning rate: above 10 every optimizer hicra uses diverges at once (NaN weights)."""
TEMPERATURE = Range(0, 100, low_open=True)
"""A sampling temperature > 0 (above 100 the distribution is uniform to float32 precision)."""


def _numeric(hint: Any) -> bool:
    """Whether a field of this (unwrapped) type holds numbers: int, float or a tuple of them."""
    if hint in (int, float):
        return True
    return get_origin(hint) is tuple and any(a in (int, float) for a in get_args(hint))


def check_fields(
    config: Any,
    bounds: Mapping[str, Range],
    name: Callable[[str], str] = lambda field: field,
    skip: Iterable[str] = (),
) -> None:
    """Check every field of dataclass instance `config` against its declared type, and every
    number against its `Range` in `bounds`; the first failure is an InputError
    "NAME: expected ..., got VALUE" (`name` turns a field into what the user typed, e.g.
    ``lambda f: "--" + f.replace("_", "-")``).

    Types: bool, int (not a bool, not a float), float (finite: NaN and inf never pass), str,
    Literal choices, X | None, tuple[...] element by element, dict. A numeric field missing
    from `bounds` is a programming error (TypeError): every number a user can set has a range
    declared beside its config, so a new field cannot skip the check.

        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Opts:
        ...     steps: int = 10
        ...     lr: float = 1e-3
        >>> check_fields(Opts(steps=-1), {"steps": COUNT, "lr": POSITIVE})
        Traceback (most recent call last):
        ...
        hicra.errors.InputError: steps: expected an integer in [0, 1000000000], got -1
    """
    cls = type(config)
    hints = get_type_hints(cls)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in bounds and f.name not in skip and _numeric(_strip_none(hints[f.name]))
    ]
    if missing:
        raise TypeError(f"{cls.__name__}: numeric field(s) without a declared Range: {missing}")
    for f in dataclasses.fields(cls):
        if f.name not in skip:
            _check_value(name(f.name), getattr(config, f.name), hints[f.name], bounds.get(f.name))


def _strip_none(hint: Any) -> Any:
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else functools.reduce(operator.or_, rest)
    return hint


def _check_value(label: str, value: Any, hint: Any, bound: Range | None) -> None:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return
        hint = _strip_none(hint)
        origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if value not in args:
            raise InputError(
                f"{label}: expected one of {', '.join(map(str, args))}, got {short_repr(value)}"
            )
    elif hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{label}: expected true or false, got {short_repr(value)}")
    elif hint in (int, float):
        limits = dataclasses.asdict(bound) if bound is not None else {}
        check_number(label, value, integer=hint is int, **limits)
    elif hint is str:
        if not isinstance(value, str):
            raise InputError(f"{label}: expected a text, got {short_repr(value)}")
    elif origin is tuple:
        sizes = len(args) if Ellipsis not in args else None
        if not isinstance(value, (tuple, list)) or (sizes is not None and len(value) != sizes):
            count = f"{sizes} values" if sizes is not None else "a list"
            raise InputError(f"{label}: expected {count}, got {short_repr(value)}")
        kinds = [args[0]] * len(value) if sizes is None else list(args)
        for item, kind in zip(value, kinds):
            _check_value(label, item, kind, bound)
    elif hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{label}: expected a mapping, got {short_repr(value)}")
    elif hint is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{label}: expected a list, got {short_repr(value)}")
