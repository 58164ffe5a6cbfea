"""Every field of every user-facing config is checked by the one mechanism,
`hicra.cli_args.check_fields`: a wrong type, NaN, inf or an absurd number in any field is one
InputError naming that field, and a numeric field without a declared range cannot exist."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import get_type_hints

import pytest

from hicra.anchors.run import AnchorsConfig
from hicra.anchors.run import validate as validate_anchors
from hicra.cli_args import _numeric, _strip_none
from hicra.errors import InputError
from hicra.evaluation import EvalConfig, check_config
from hicra.mining.mining import MiningConfig
from hicra.tasks.countdown import CountdownConfig
from hicra.tasks.word_arith import WordArithConfig
from hicra.trainer.config import TrainConfig
from hicra.trainer.config import validate as validate_train
from hicra.trainer.sft import SFTConfig, validate_sft

# config class -> a function that checks one changed field (raises InputError on bad input)
CHECKS = {
    TrainConfig: lambda **kw: validate_train(
        replace(TrainConfig(model="m"), **kw), environment=False
    ),
    SFTConfig: lambda **kw: validate_sft(replace(SFTConfig(), **kw)),
    EvalConfig: lambda **kw: check_config(replace(EvalConfig(model="m", data=["d"]), **kw)),
    AnchorsConfig: lambda **kw: validate_anchors(replace(AnchorsConfig(), **kw)),
    MiningConfig: lambda **kw: MiningConfig(**kw),
    CountdownConfig: lambda **kw: CountdownConfig(**kw),
    WordArithConfig: lambda **kw: WordArithConfig.from_dict(kw),
}
SKIP = {TrainConfig: {"lexicon"}, CountdownConfig: {"extra"}}  # deprecated alias; free-form notes


def fields_of(kind: str):
    out = []
    for cls in CHECKS:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in SKIP.get(cls, ()):
                continue
            if _numeric(_strip_none(hints[f.name])) == (kind == "numeric"):
                out.append(pytest.param(cls, f.name, id=f"{cls.__name__}.{f.name}"))
    return out


def refused(cls, name, value) -> str:
    with pytest.raises(InputError) as info:
        CHECKS[cls](**{name: value})
    message = str(info.value)
    assert name in message.replace("-", "_") and "\n" not in message, message
    return message


@pytest.mark.parametrize(("cls", "name"), fields_of("numeric"))
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1e30, 1e30, "3", True, [1]])
def test_every_numeric_field_refuses_non_numbers_and_absurd_values(cls, name, value):
    hint = _strip_none(get_type_hints(cls)[name])
    if dataclasses.fields(cls) and getattr(hint, "__origin__", None) is tuple:
        value = (value, value)
    refused(cls, name, value)


@pytest.mark.parametrize(("cls", "name"), fields_of("other"))
def test_every_other_field_refuses_a_wrong_type(cls, name):
    refused(cls, name, 3.5)


@pytest.mark.parametrize("cls", list(CHECKS))
def test_the_defaults_pass(cls):
    if cls is EvalConfig:
        pytest.skip("needs a model and data files (tests/test_evaluation.py)")
    if cls is SFTConfig:
        pytest.skip("checks the cache folder (tests/trainer/test_sft.py)")
    CHECKS[cls]()


def test_a_numeric_field_without_a_range_is_a_programming_error():
    from hicra.cli_args import check_fields

    @dataclasses.dataclass
    class Opts:
        steps: int = 1

    with pytest.raises(TypeError, match="without a declared Range"):
        check_fields(Opts(), {})
