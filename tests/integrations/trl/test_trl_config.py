"""HICRAConfig: defaults, validation with one-line errors, parsing from flags and YAML."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")


def make(tmp_path, **kwargs):
    from hicra.integrations.trl import HICRAConfig

    return HICRAConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **kwargs)


def test_defaults_are_the_papers(tmp_path):
    args = make(tmp_path)
    assert args.alpha == 0.2 and args.credit_mode == "hicra" and args.detector is None
    assert args.log_dynamics_metrics and args.write_run_dir


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"credit_mode": "nope"}, "HICRAConfig.credit_mode: unknown credit mode 'nope'"),
        (
            {"credit_mode": "kl_cov"},
            "HICRAConfig.credit_mode: 'kl_cov' needs hicra's 'kl_cov' policy loss",
        ),
        (
            {"credit_mode": "clip_cov"},
            "HICRAConfig.credit_mode: 'clip_cov' needs hicra's 'clip_cov' policy loss",
        ),
        ({"alpha": -1.5}, "HICRAConfig.alpha must lie in [-1, 1], got -1.5"),
        ({"alpha": float("nan")}, "HICRAConfig.alpha must lie in [-1, 1], got nan"),
        ({"credit_options": "{bad"}, "HICRAConfig.credit_options: not valid JSON"),
        ({"credit_options": "[1]"}, "HICRAConfig.credit_options: expected a JSON object"),
        (
            {"credit_options": {"alpha": 0.3}},
            "HICRAConfig.credit_options: set HICRA's alpha with the `alpha` option",
        ),
        (
            {"credit_mode": "top_entropy", "credit_options": {"rh": 0.3}},
            "HICRAConfig.credit_options: credit mode 'top_entropy' does not take ['rh']",
        ),
    ],
)
def test_bad_options_fail_with_one_line(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as info:
        make(tmp_path, **kwargs)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_reverse_hicra_and_old_names(tmp_path):
    assert make(tmp_path, alpha=-0.5).credit_settings().resolve().advantage_params == {
        "alpha": -0.5
    }
    with pytest.warns(DeprecationWarning, match="hicra_alpha is deprecated; use alpha"):
        args = make(
            tmp_path,
            hicra_alpha=0.3,
            credit_params={"rho": 0.1},
            credit_mode="top_entropy",
            lexicon_path="x.txt",
        )
    assert (args.alpha, args.credit_options, args.detector) == (0.3, {"rho": 0.1}, "x.txt")
    assert args.hicra_alpha is None and args.credit_params is None and args.lexicon_path is None


def test_entropy_reg_uses_trls_entropy_bonus(tmp_path):
    assert make(tmp_path, credit_mode="entropy_reg").entropy_coef == pytest.approx(1e-3)
    assert make(tmp_path, credit_mode="entropy_reg", entropy_coef=0.01).entropy_coef == 0.01
    assert make(tmp_path, credit_mode="hicra").entropy_coef == 0.0


def test_flags_and_yaml_recipe_parse(tmp_path):
    from trl import TrlParser

    from hicra.integrations.trl import HICRAConfig

    recipe = tmp_path / "r.yaml"
    recipe.write_text("alpha: 0.1\ncredit_mode: top_entropy\ncredit_options: '{\"rho\": 0.3}'\n")
    (args,) = TrlParser((HICRAConfig,)).parse_args_and_config(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(tmp_path),
            "--alpha",
            "0.25",
            "--use_cpu",
            "true",
        ]
    )
    assert (
        args.alpha == 0.25
        and args.credit_mode == "top_entropy"
        and args.credit_options == {"rho": 0.3}
    )


def test_kebab_case_and_old_flags_parse(tmp_path):
    """HfArgumentParser accepts --credit-mode as well as --credit_mode; the old --hicra_alpha still works."""
    from trl import TrlParser

    from hicra.integrations.trl import HICRAConfig

    (args,) = TrlParser((HICRAConfig,)).parse_args_and_config(
        [
            "--output-dir",
            str(tmp_path),
            "--credit-mode",
            "grpo",
            "--credit-options",
            "{}",
            "--detector",
            "lexicon",
            "--no-write-run-dir",
            "--use-cpu",
            "true",
        ]
    )
    assert args.credit_mode == "grpo" and args.detector == "lexicon" and not args.write_run_dir
    with pytest.warns(DeprecationWarning, match="hicra_alpha"):
        (args,) = TrlParser((HICRAConfig,)).parse_args_and_config(
            ["--output_dir", str(tmp_path), "--hicra_alpha", "-0.2", "--use_cpu", "true"]
        )
    assert args.alpha == -0.2


def test_trainer_refuses_a_plain_grpo_config_and_untested_trl(tmp_path, monkeypatch):
    from trl import GRPOConfig

    from hicra.integrations.trl import HICRATrainer
    from hicra.integrations.trl.trainer import check_trl_version

    with pytest.raises(TypeError, match="args must be an HICRAConfig"):
        HICRATrainer(
            model="unused", reward_funcs=[], args=GRPOConfig(output_dir=str(tmp_path), use_cpu=True)
        )
    with pytest.raises(ImportError, match=r"trl>=1.16.0,<1.17.0 but trl 1.17.0 is installed"):
        check_trl_version("1.17.0")
    check_trl_version("1.16.3")
    monkeypatch.setenv("HICRA_ALLOW_UNTESTED_TRL", "1")
    check_trl_version("2.0.0")


def test_importing_the_adapter_package_does_not_import_trl():
    import subprocess
    import sys

    code = "import sys, hicra.integrations, hicra.integrations.trl; print('trl' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
