"""Exact entropy parameters for S2LIC: the fixed-point operations behind its SwinV2 block and
ACGC context are exact integer arithmetic, follow the float modules closely, and do not
depend on threads or dtypes; S2LIC files decode identically with any thread count."""

import copy
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnicodec.codecs import create_codec
from omnicodec.entropy_models import ACGCContext
from omnicodec.entropy_models import fixedpoint as fx
from omnicodec.entropy_models.exact import SCHEME, ExactNetwork
from omnicodec.layers import RSTB

UNIT = 2.0**fx.ACT_BITS


def test_floor_and_round_division_equal_integer_arithmetic():
    rng = random.Random(0)
    nums = [rng.randrange(-(2**51), 2**51) for _ in range(3000)] + [2**51 - 1, -(2**51), 0, 7, -7]
    dens = [rng.choice([1, 2, 3, 7, 4096, rng.randrange(1, 2**26), rng.randrange(1, 2**50)]) for _ in nums]
    n, d = torch.tensor(nums, dtype=torch.float64), torch.tensor(dens, dtype=torch.float64)
    assert fx.floor_div(n, d).long().tolist() == [a // b for a, b in zip(nums, dens)]
    small = [a >> 2 for a in nums]
    assert fx.round_div(torch.tensor(small, dtype=torch.float64), d).long().tolist() == [
        (2 * a + b) // (2 * b) for a, b in zip(small, dens)
    ]


def test_integer_square_root_is_the_floor_of_the_true_root():
    rng = random.Random(1)
    values = [rng.randrange(0, 2**62) for _ in range(3000)]
    values += [s * s + e for s in (1, 2**20 + 3, 2**31 - 1, 3037000499) for e in (-1, 0, 1) if s * s + e < 2**62]
    values += [0, 1, 2, 3]
    assert fx.isqrt(torch.tensor(values)).tolist() == [math.isqrt(v) for v in values]


def test_float_square_root_is_the_floor_of_the_true_root_below_2_to_52():
    rng = random.Random(2)
    values = [rng.randrange(0, 2**52) for _ in range(3000)]
    values += [s * s + e for s in (1, 2**20 + 3, 2**26 - 1, 67108863) for e in (-1, 0, 1) if s * s + e < 2**52]
    values += [0, 1, 2, 3, 2**52 - 1]
    roots = fx.isqrt_float(torch.tensor(values, dtype=torch.float64))
    assert roots.dtype == torch.float64 and roots.long().tolist() == [math.isqrt(v) for v in values]


@pytest.mark.parametrize("name", ["gelu", "exp", "sigmoid", "tanh", "elu"])
def test_tables_equal_decimal_arithmetic_and_round_the_true_values(name):
    first, last, bits = fx._TABLES[name]
    values = fx.table(name)
    ks = torch.arange(first, last + 1, dtype=torch.float64)
    exact = {"gelu": lambda x: F.gelu(x), "exp": torch.exp, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
             "elu": F.elu}[name](ks / UNIT) * 2.0**bits
    assert (values - exact).abs().max() <= 0.5 + 1e-6
    # Every entry close to a rounding tie, and a stride of all others, equal the decimal computation.
    near_tie = ((exact - exact.floor() - 0.5).abs() < 1e-3).nonzero().flatten().tolist()
    for i in sorted(set(near_tie) | set(range(0, len(ks), 977))):
        assert int(values[i]) == fx.rounded_decimal(name, first + i, bits), (name, first + i)
    assert bool((values[1:] >= values[:-1]).all()) if name != "gelu" else True


def test_gelu_is_the_identity_and_zero_beyond_its_table():
    h = torch.tensor([-1e9, -fx.GELU_RANGE - 1.0, 0.0, fx.GELU_RANGE + 1.0, 1e9], dtype=torch.float64)
    assert fx.gelu(h).tolist() == [0.0, 0.0, 0.0, fx.GELU_RANGE + 1.0, 1e9]


def test_softmax_rounds_each_probability_and_respects_the_mask():
    g = torch.Generator().manual_seed(2)
    logits = torch.round(torch.randn(50, 64, generator=g, dtype=torch.float64) * 3 * UNIT)
    probs = fx.softmax(logits, -1)
    reference = torch.softmax(logits / UNIT, -1) * 2**fx.PROB_BITS
    assert torch.equal(probs, probs.round())
    # one rounding, the numerator's half unit from the exp table, and up to n/2 units in the sum (>= 2**16)
    bound = 1.0 + 32 * reference / 2**fx.PROB_BITS
    assert bool(((probs - reference).abs() <= bound).all())
    mask = torch.zeros(50, 64, dtype=torch.bool)
    mask[:, 10:] = True
    masked = fx.softmax(logits, -1, mask)
    assert bool((masked[:, 10:] == 0).all())
    ref = torch.softmax(logits[:, :10] / UNIT, -1) * 2**fx.PROB_BITS
    assert bool(((masked[:, :10] - ref).abs() <= 1.0 + 5 * ref / 2**fx.PROB_BITS).all())


def test_layer_norm_and_l2_normalisation_follow_the_float_operations():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 24, generator=g, dtype=torch.float64) * 5 + 2
    h = torch.round(x * UNIT)
    weight, bias = torch.randn(24, generator=g, dtype=torch.float64), torch.randn(24, generator=g, dtype=torch.float64)
    out = fx.layer_norm(h, torch.round(weight * 2.0**fx.WEIGHT_BITS), torch.round(bias * UNIT), 1e-5)
    assert torch.equal(out, out.round())
    assert (out / UNIT - F.layer_norm(x, (24,), weight, bias)).abs().max() < 4 / UNIT
    normed = fx.l2_normalize(h, -1)
    assert (normed / UNIT - F.normalize(x, dim=-1)).abs().max() < 2 / UNIT
    assert bool((fx.l2_normalize(torch.zeros(3, 5, dtype=torch.float64), -1) == 0).all())


def test_bilinear_sampling_matches_grid_sample_at_the_same_positions():
    g = torch.Generator().manual_seed(4)
    v = torch.round(torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64) * UNIT) / UNIT
    pos = torch.round((torch.rand(2, 80, 2, generator=g, dtype=torch.float64) * 16 - 4) * UNIT) / UNIT
    grid = torch.stack([(pos[..., 0] + 0.5) / 9 * 2 - 1, (pos[..., 1] + 0.5) / 7 * 2 - 1], -1).view(2, 80, 1, 2)
    reference = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False).view(2, 3, 80)
    out = fx.bilinear_sample(v * UNIT, pos[..., 0] * UNIT, pos[..., 1] * UNIT)
    assert torch.equal(out, out.round())
    assert (out / UNIT - reference).abs().max() <= 1 / UNIT
    far = fx.bilinear_sample(v * UNIT, torch.full((2, 1), 1e15, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64))
    assert bool((far == 0).all())


def scaled(module, factor=1.5, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)
    return module.eval()


def rstb():
    torch.manual_seed(5)
    return scaled(RSTB(24, 2, 4, 4))  # two blocks: plain and shifted (with the shift mask)


def acgc():
    torch.manual_seed(6)
    context = ACGCContext(16, 32, 32, dim=16)
    with torch.no_grad():
        context.global_inter.offsets.weight.normal_(0, 2)  # sample far away, also outside the map
    return scaled(context)


@pytest.mark.parametrize("make, shape", [(rstb, (1, 24, 11, 13)), (acgc, (1, 48, 9, 14))])
def test_swin_and_acgc_exact_forms_follow_the_float_modules(make, shape):
    module = make()
    assert ExactNetwork.supports(module)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(7)) * 2
    with torch.no_grad():
        reference = module(x).double()
    out = ExactNetwork(module)(x)
    assert torch.equal(out * UNIT, torch.round(out * UNIT))
    assert (out - reference).abs().max() < 2e-3 * reference.abs().max()


@pytest.mark.parametrize("make, shape", [(rstb, (1, 24, 11, 13)), (acgc, (1, 48, 9, 14))])
def test_swin_and_acgc_exact_forms_do_not_depend_on_threads_or_dtypes(make, shape):
    module = make()
    wide = copy.deepcopy(module).double()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(8)) * 2
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ExactNetwork(module)(x)
        torch.set_num_threads(2)
        two, double = ExactNetwork(module)(x), ExactNetwork(wide)(x.double())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two) and torch.equal(one, double)


def test_cached_attention_constants_follow_parameter_updates():
    module = rstb()
    x = torch.randn(1, 24, 8, 8, generator=torch.Generator().manual_seed(9))
    before = ExactNetwork(module)(x)
    attn = module.blocks[0].attn
    for change in (lambda: attn.logit_scale.add_(0.3), lambda: attn.cpb_mlp[2].weight.mul_(-1)):
        with torch.no_grad():
            change()
        after = ExactNetwork(module)(x)
        assert not torch.equal(after, before)
        assert torch.equal(after, ExactNetwork(copy.deepcopy(module))(x))  # a fresh copy has no cache
        before = after


TINY_S2LIC = {"N": 16, "M": 32, "hyper_channels": 16, "slice_channels": 16, "depths": [1, 1, 1, 1, 2],
              "heads": [2, 2, 2, 2, 2], "window": 4, "context_dim": 16, "couplings": 1}


def test_s2lic_decodes_identically_with_one_or_two_threads():
    torch.manual_seed(10)
    model = scaled(create_codec("image/s2lic", TINY_S2LIC), 1.3).freeze()
    assert model.latent.exact_parameters and model.latent.entropy_params == SCHEME
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(11))
    y = model.analysis(x)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        bitstream, y_hat = model.latent.compress(y)
        image = model.decompress(model.compress(x))
        decoded = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            decoded[n] = model.latent.decompress(bitstream)
            assert torch.equal(model.decompress(model.compress(x)), image)
    finally:
        torch.set_num_threads(threads)
    assert bitstream.side_info["entropy_params"] == SCHEME
    assert torch.equal(decoded[1], y_hat) and torch.equal(decoded[2], y_hat)
    with torch.no_grad():
        assert torch.equal(model.latent(y)[0], y_hat)  # evaluation measures exactly what coding does
    # float32 and float64 parameters pick the same table for every element
    side = model.latent._side(torch.round(model.latent.h_a(y)), None, coding=True)
    wide = copy.deepcopy(model.latent).double()
    side64 = wide._side(torch.round(model.latent.h_a(y)).double(), None, coding=True)
    assert torch.equal(side, side64)
    scales = model.latent.y_codec._context(0, side, True).chunk(2, dim=1)[0]
    np.testing.assert_array_equal(
        model.latent.gaussian_conditional.table_index(scales.float()),
        wide.gaussian_conditional.table_index(wide.y_codec._context(0, side64, True).chunk(2, dim=1)[0].float()),
    )
