import pytest
import torch
from torch import nn

from hicra.models.packed import mkl_packing_available, packed_linears
from hicra.models.sampling import sample_responses
from hicra.trainer.setup import load_policy

needs_mkl = pytest.mark.skipif(not mkl_packing_available(), reason="no MKL packed GEMM here")


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(24, 96)
        self.down = nn.Linear(96, 24, bias=False)
        self.half = nn.Linear(24, 24).to(torch.bfloat16)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


@needs_mkl
@pytest.mark.parametrize(
    "shape, packed_for",
    [((8, 24), 8), ((5, 1, 24), 8), ((3, 24), 4), ((2, 24), 0), ((3, 5, 24), 0), ((65, 24), 0)],
)
def test_packed_layers_equal_the_plain_ones_and_are_restored(shape, packed_for):
    torch.manual_seed(0)
    model = TwoLayers()
    x = torch.randn(*shape)
    with torch.no_grad():
        plain = model(x)
        with packed_linears(model, min_weights=0):
            assert "forward" in vars(model.up) and "forward" in vars(model.down)
            assert "forward" not in vars(model.half)  # bfloat16: left alone
            packed = model(x)
            # decoding shapes (one position per row, 3 to 64 rows) get a layout for the power
            # of two above; a prefill, 1-2 rows or more than 64 stay plain
            assert model.up.forward.rows == packed_for
    torch.testing.assert_close(packed, plain, rtol=1e-5, atol=1e-5)
    assert all("forward" not in vars(m) for m in model.modules())


@needs_mkl
def test_a_shrinking_batch_keeps_its_layout_until_a_quarter_is_left():
    torch.manual_seed(0)
    model = TwoLayers()
    layouts = []
    with torch.no_grad(), packed_linears(model, min_weights=0):
        for rows in (16, 12, 9, 5, 4, 3, 20, 2):
            x = torch.randn(rows, 24)
            torch.testing.assert_close(
                model(x),
                nn.functional.linear(
                    torch.relu(nn.functional.linear(x, model.up.weight, model.up.bias)),
                    model.down.weight,
                ),
                rtol=1e-5,
                atol=1e-5,
            )
            layouts.append(model.up.forward.rows)
    # padded to 16 down to 4 rows; 3 rows are plain (a quarter of 16 or less); 20 rows repack
    assert layouts == [16, 16, 16, 16, 16, 16, 32, 32]


@needs_mkl
def test_packing_sees_the_current_weights_and_leaves_autograd_plain():
    model = TwoLayers()
    x = torch.randn(4, 24)
    with torch.no_grad():
        model.up.weight.mul_(2.0)  # an optimiser step before the rollout
        expected = model(x)
    with packed_linears(model, min_weights=0):
        with torch.no_grad():
            torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
        out = model(x)  # gradients on: the plain layer, so backward works
        out.sum().backward()
    assert model.up.weight.grad is not None


def test_an_error_inside_the_block_restores_the_layers():
    model = TwoLayers()
    with pytest.raises(ValueError), packed_linears(model, min_weights=0):
        raise ValueError("boom")
    assert all("forward" not in vars(m) for m in model.modules())


@needs_mkl
def test_sampling_through_packed_layers_draws_the_same_tokens(tiny_model_dir):
    model, tokenizer = load_policy(tiny_model_dir, "cpu")
    prompts = ["numbers 1 2 3 target 4 :", "numbers 5 target 6 :"]

    def draw():
        return sample_responses(
            model, tokenizer, prompts, 3, 24, 1.0, torch.Generator().manual_seed(1)
        )

    plain = draw()
    with packed_linears(model, min_weights=0):
        assert sum("forward" in vars(m) for m in model.modules()) >= 4
        packed = draw()
    assert torch.equal(packed.response_ids, plain.response_ids)
    torch.testing.assert_close(packed.sample_logp, plain.sample_logp, rtol=0, atol=1e-5)


def test_small_layers_stay_plain_by_default():
    model = TwoLayers()  # 24 x 96 layers
    with packed_linears(model):
        assert all("forward" not in vars(m) for m in model.modules())


@needs_mkl
def test_the_sampler_packs_large_layers_for_decoding_by_default(tiny_model_dir, monkeypatch):
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.models import packed as packed_module
    from hicra.tasks.countdown import CountdownTask

    tokenizer = build_tokenizer(CountdownTask())
    model = build_tiny_model(tokenizer, hidden=288, layers=1, heads=2, intermediate=320, seed=0)
    model.eval()
    calls = []
    real = packed_module._PackedLinear.__call__

    def spy(self, x):
        calls.append((tuple(x.shape), self.rows))
        return real(self, x)

    monkeypatch.setattr(packed_module._PackedLinear, "__call__", spy)
    prompts = ["numbers 1 2 3 target 4 :", "numbers 5 target 6 :"]

    def draw(**kw):
        generator = torch.Generator().manual_seed(3)
        return sample_responses(model, tokenizer, prompts, 4, 12, 1.0, generator, **kw)

    plain = draw(pack_weights=False)
    assert calls == []
    packed = draw()
    # 288 x 320 MLP layers (92,160 weights) are packed; the prefill (several positions per
    # row) is not: the first packed call is a decoding step of the 8 rows
    assert calls and calls[0] == ((8, 1, 288), 0) and any(rows == 8 for _, rows in calls)
    assert all("forward" not in vars(m) for m in model.modules())
    assert torch.equal(packed.response_ids, plain.response_ids)
    torch.testing.assert_close(packed.sample_logp, plain.sample_logp, rtol=0, atol=1e-4)
