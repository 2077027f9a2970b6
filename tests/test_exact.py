"""Exact entropy parameters: the fixed-point hyper-synthesis equals an integer reference,
does not depend on threads or dtypes, and the codec that uses it decodes identically."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from omnicodec.codecs import create_codec
from omnicodec.entropy_models import (
    ChannelwiseLatentCodec,
    CheckerboardLatentCodec,
    HyperpriorLatentCodec,
    MeanScaleLatentCodec,
    TemporalPrior,
    hyper_transforms,
)
from omnicodec.entropy_models.exact import ACT_BITS, EXACT_LIMIT, SCHEME, SLOPE_BITS, WEIGHT_BITS, ExactNetwork
from omnicodec.errors import UnsupportedVersionError
from omnicodec.layers.gdn import GDN
from omnicodec.layers.gdn_transforms import gdn_analysis, gdn_synthesis


def reference(net: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """The fixed-point network in numpy int64, written out loop by loop (one image)."""
    h = np.round(x[0].double().numpy() * 2.0**ACT_BITS).astype(np.int64)
    for m in net:
        if isinstance(m, GDN):
            h = gdn_reference(m, h)
            continue
        if isinstance(m, nn.LeakyReLU):
            slope = round(m.negative_slope * 2**SLOPE_BITS)
            h = np.where(h < 0, (h * slope) // 2**SLOPE_BITS, h)
            continue
        transposed = isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d))
        w = np.round(m.weight.detach().double().numpy() * 2.0**WEIGHT_BITS).astype(np.int64)
        b = np.round(m.bias.detach().double().numpy() * 2.0 ** (WEIGHT_BITS + ACT_BITS)).astype(np.int64)
        if transposed:
            w = w.swapaxes(0, 1)  # [out, in, k...]
        l1 = np.abs(w).reshape(w.shape[0], -1).sum(1).max()
        limit = (EXACT_LIMIT - int(np.abs(b).max())) // int(l1)
        h = np.clip(h, -limit, limit)
        k, s, p = m.kernel_size, m.stride, m.padding
        spatial = h.shape[1:]
        if transposed:
            full = [(n - 1) * st + kk for n, st, kk in zip(spatial, s, k)]
            out = np.zeros((w.shape[0], *full), dtype=np.int64)
            for offs in itertools.product(*(range(kk) for kk in k)):
                idx = tuple(slice(o, o + st * (n - 1) + 1, st) for o, st, n in zip(offs, s, spatial))
                out[(slice(None), *idx)] += np.tensordot(w[(slice(None), slice(None), *offs)], h, axes=(1, 0))
            size = [(n - 1) * st - 2 * pp + kk + op for n, st, pp, kk, op in zip(spatial, s, p, k, m.output_padding)]
            out = np.pad(out, [(0, 0)] + [(0, max(0, pp + n - f)) for pp, n, f in zip(p, size, full)])
            h = out[(slice(None), *(slice(pp, pp + n) for pp, n in zip(p, size)))]
        else:
            padded = np.pad(h, [(0, 0)] + [(pp, pp) for pp in p])
            size = [(n + 2 * pp - kk) // st + 1 for n, pp, kk, st in zip(spatial, p, k, s)]
            out = np.zeros((w.shape[0], *size), dtype=np.int64)
            for offs in itertools.product(*(range(kk) for kk in k)):
                idx = tuple(slice(o, o + st * (n - 1) + 1, st) for o, st, n in zip(offs, s, size))
                out += np.tensordot(w[(slice(None), slice(None), *offs)], padded[(slice(None), *idx)], axes=(1, 0))
            h = out
        h = (h + b.reshape(-1, *([1] * len(spatial)))) // 2**WEIGHT_BITS
    return h


def gdn_reference(m: GDN, h: np.ndarray) -> np.ndarray:
    """GDN / IGDN on int64 activations [C, H, W] with Python's integer square root, from the
    module's float parameters by the rule of ``entropy_models.exact_gdn``."""
    def param(reparam, v):
        v = np.maximum(v.detach().double().numpy(), float(reparam.lower_bound.bound))
        return v * v - float(reparam.pedestal)

    beta = np.round(param(m.beta_reparam, m.beta) * 2.0 ** (WEIGHT_BITS + ACT_BITS)).astype(np.int64)
    gamma = np.round(param(m.gamma_reparam, m.gamma) * 2.0**WEIGHT_BITS).astype(np.int64)
    limit = (EXACT_LIMIT - int(np.abs(beta).max())) // int(np.abs(gamma).sum(1).max())
    h = np.clip(h, -(2**26), 2**26)
    squares = np.minimum((h * h) // 2**ACT_BITS, limit)
    norm = (np.tensordot(gamma, squares, axes=(1, 0)) + beta[:, None, None]) // 2 ** (WEIGHT_BITS - ACT_BITS)
    root = np.vectorize(lambda n: max(math.isqrt(int(n)), 1))(norm).astype(np.int64)
    return (h * root) // 2**ACT_BITS if m.inverse else (h * 2**ACT_BITS) // root


def hyper_synthesis(dims: int, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    _, h_s = hyper_transforms(8, 6, 16, dims)
    with torch.no_grad():
        for p in h_s.parameters():
            p.mul_(3.0)  # larger than an initialised network's: values of every size occur
    return h_s


def z_corpus(n: int, dims: int, scale: float = 4.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    shape = (1, 6, 5, 7) if dims == 2 else (1, 6, 19)
    return [torch.round(torch.randn(shape, generator=g) * scale * (1 + i % 3)) for i in range(n)]


@pytest.mark.parametrize("dims", [1, 2])
def test_fixed_point_network_equals_an_integer_reference(dims):
    h_s = hyper_synthesis(dims)
    exact = ExactNetwork(h_s)
    for z in z_corpus(6, dims):
        out = exact(z)
        assert out.dtype == torch.float64
        as_int = (out[0] * 2.0**ACT_BITS).numpy()
        assert np.array_equal(as_int, np.round(as_int))
        np.testing.assert_array_equal(as_int.astype(np.int64), reference(h_s, z))


def test_huge_inputs_are_clamped_and_stay_exact():
    h_s = hyper_synthesis(2)
    z = torch.full((1, 6, 3, 3), 1e9)
    z[..., 1, :] = -1e9
    out = ExactNetwork(h_s)(z)
    assert torch.isfinite(out).all()
    np.testing.assert_array_equal((out[0] * 2.0**ACT_BITS).numpy().astype(np.int64), reference(h_s, z))


def test_one_and_two_threads_and_float32_and_float64_give_identical_tables():
    """On a corpus of latents: the same integers, so the same table indices, whatever the
    thread count or the dtype the network's parameters and input are held in."""
    from omnicodec.entropy_models import GaussianConditional

    h_s = hyper_synthesis(2, seed=3)
    wide = nn.Sequential(*[m for m in h_s])  # same modules
    g = torch.Generator().manual_seed(2)
    corpus = [torch.round(torch.randn(1, 6, 12, 16, generator=g) * s) for s in (0.5, 2, 8, 30)]
    gaussian = GaussianConditional()
    threads = torch.get_num_threads()
    try:
        results = {}
        for n_threads, dtype in [(1, torch.float32), (2, torch.float32), (1, torch.float64), (2, torch.float64)]:
            torch.set_num_threads(n_threads)
            net = ExactNetwork(wide.to(dtype))
            results[n_threads, dtype] = [net(z.to(dtype)) for z in corpus]
        wide.float()
    finally:
        torch.set_num_threads(threads)
    base = results[1, torch.float32]
    indices = [gaussian.table_index(out.chunk(2, dim=1)[0]) for out in base]
    assert len({int(i.max()) - int(i.min()) for i in indices}) > 1  # many different tables in use
    for key, outs in results.items():
        for a, b, idx in zip(outs, base, indices):
            assert torch.equal(a, b), key
            np.testing.assert_array_equal(gaussian.table_index(a.chunk(2, dim=1)[0]), idx)


def test_only_plain_networks_qualify():
    assert ExactNetwork.supports(hyper_synthesis(2))
    assert ExactNetwork.supports(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.GELU(), nn.Sequential(nn.Tanh())))
    assert not ExactNetwork.supports(nn.Sequential(nn.ConvTranspose2d(4, 4, 3, groups=2)))
    assert not ExactNetwork.supports(nn.Sequential(nn.Conv2d(4, 4, 3, dilation=2)))
    assert not ExactNetwork.supports(nn.Sequential(nn.Conv2d(4, 4, 3), nn.GELU(approximate="tanh")))
    assert not ExactNetwork.supports(nn.Sequential(nn.Conv2d(4, 4, 3), nn.Sigmoid()))
    assert ExactNetwork.supports(nn.Conv2d(4, 4, 3)) and not ExactNetwork.supports(nn.GELU())
    with pytest.raises(ValueError, match="exactly"):
        ExactNetwork(nn.Sequential(nn.Sigmoid()))
    h_a, h_s = hyper_transforms(8, 6, 16, 2)
    assert HyperpriorLatentCodec(h_a, h_s, 6, CheckerboardLatentCodec(8, 16)).exact_parameters
    assert HyperpriorLatentCodec(h_a, h_s, 6, ChannelwiseLatentCodec([4, 4], 16)).exact_parameters
    sigmoid_context = lambda i, side, previous, out: nn.Sequential(nn.Conv2d(side + previous, out, 1), nn.Sigmoid())  # noqa: E731
    y_codec = ChannelwiseLatentCodec([4, 4], 16, context_factory=sigmoid_context)
    assert not HyperpriorLatentCodec(h_a, h_s, 6, y_codec).exact_parameters
    assert ExactNetwork.supports(nn.Sequential(nn.Conv1d(2, 2, 3), nn.ELU(), nn.Conv1d(2, 2, 1), nn.Tanh()))
    assert not ExactNetwork.supports(nn.Sequential(nn.Conv1d(2, 2, 3), nn.ELU(alpha=0.5)))


def test_latent_codecs_declare_their_exact_parameters():
    h_a, h_s = hyper_transforms(8, 6, 16, 2)
    plain, learned = MeanScaleLatentCodec(8), MeanScaleLatentCodec(8, nn.Conv2d(16, 16, 1))
    assert plain.supports_exact() and not learned.supports_exact()
    assert plain.entropy_param_options(True) == {}  # no network of its own: the side features are the parameters
    checkerboard = CheckerboardLatentCodec(8, 16)
    assert checkerboard.entropy_param_options(True) == {"exact": True} and checkerboard.entropy_param_options(False) == {}
    assert HyperpriorLatentCodec(h_a, h_s, 6, plain).exact_parameters
    assert not HyperpriorLatentCodec(h_a, h_s, 6, learned).exact_parameters

    class FloatPrior(TemporalPrior):
        def supports_exact(self) -> bool:
            return False

    assert not HyperpriorLatentCodec(h_a, h_s, 6, CheckerboardLatentCodec(8, 16), temporal_prior=FloatPrior()).exact_parameters


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = create_codec("image/hyperprior", {"N": 8, "M": 12}).eval()
    return model.freeze()


def test_decoding_with_one_or_two_threads_gives_identical_images(codec):
    assert codec.latent.exact_parameters
    x = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(5))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        bitstream = codec.compress(x)
        two = codec.decompress(bitstream)
        torch.set_num_threads(1)
        one = codec.decompress(bitstream)
    finally:
        torch.set_num_threads(threads)
    assert bitstream.side_info["entropy_params"] == SCHEME
    assert torch.equal(one, two)
    # evaluation measures exactly what coding does
    y = codec.analysis(torch.nn.functional.pad(x, (0, 38, 0, 58), mode="replicate"))
    y_hat, _, _ = codec.latent(y)
    _, coded = codec.latent.compress(y)
    assert torch.equal(y_hat, coded)


def test_a_stream_from_another_parameter_scheme_is_refused(codec):
    bitstream = codec.compress(torch.rand(1, 3, 64, 64))
    del bitstream.side_info["entropy_params"]
    with pytest.raises(UnsupportedVersionError, match="floating point"):
        codec.decompress(bitstream)
    bitstream.side_info["entropy_params"] = "fixed99"
    with pytest.raises(UnsupportedVersionError, match="fixed99"):
        codec.decompress(bitstream)


def test_checkerboard_and_spatiotemporal_parameters_are_exact_and_thread_independent():
    from omnicodec.entropy_models import SpatiotemporalLatentCodec

    torch.manual_seed(4)
    stem = SpatiotemporalLatentCodec(8, 6).eval()
    with torch.no_grad():
        for p in stem.parameters():
            p.mul_(2.0)  # more varied scales than at initialisation
    stem.entropy_bottleneck.freeze()
    stem.gaussian_conditional.freeze()
    assert stem.exact_parameters and stem.entropy_params == SCHEME
    g = torch.Generator().manual_seed(6)
    frames = [torch.randn(1, 8, 16, 20, generator=g) * 3 for _ in range(3)]
    coded = code_with_threads(stem, frames)
    # evaluation sees exactly what coding does, context and temporal prior included
    with torch.no_grad():
        assert torch.equal(stem(frames[1], coded[0][1])[0], coded[1][1])


def test_cached_integer_weights_follow_parameter_updates():
    h_s = hyper_synthesis(2, seed=7)
    exact = ExactNetwork(h_s)
    z = z_corpus(1, 2)[0]
    before = exact(z)
    assert torch.equal(exact(z), before)  # from the cache
    with torch.no_grad():
        h_s[0].weight.mul_(0.5)  # in place, as an optimizer step or load_state_dict does
    after = exact(z)
    assert not torch.equal(after, before)
    np.testing.assert_array_equal((after[0] * 2.0**ACT_BITS).numpy().astype(np.int64), reference(h_s, z))
    h_s[2].weight = nn.Parameter(h_s[2].weight.detach() * 2)  # replaced
    np.testing.assert_array_equal((exact(z)[0] * 2.0**ACT_BITS).numpy().astype(np.int64), reference(h_s, z))


def test_tanh_and_elu_tables_round_the_true_values():
    from omnicodec.entropy_models.exact import exact_elu, exact_tanh

    k = torch.arange(-60000.0, 60001.0, 7.0, dtype=torch.float64)
    unit = 2.0**ACT_BITS
    tanh, elu = exact_tanh(k), exact_elu(k)
    assert torch.equal(tanh, torch.round(tanh)) and torch.equal(elu, torch.round(elu))
    assert (tanh / unit - torch.tanh(k / unit)).abs().max() <= 0.5 / unit + 1e-12
    assert (elu / unit - torch.nn.functional.elu(k / unit)).abs().max() <= 0.5 / unit + 1e-12
    assert bool((tanh[1:] >= tanh[:-1]).all()) and bool((elu[1:] >= elu[:-1]).all())
    assert exact_tanh(torch.tensor([0.0, 1e9, -1e9], dtype=torch.float64)).tolist() == [0.0, unit, -unit]


def code_with_threads(codec, frames):
    """Compress with 2 threads, decompress with 1 and with 2; every decode must equal the encoder's y_hat."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference, coded = None, []
        for y in frames:
            bitstream, y_hat = codec.compress(y, reference) if codec.temporal_prior is not None else codec.compress(y)
            assert bitstream.side_info["entropy_params"] == SCHEME
            coded.append((bitstream, y_hat))
            reference = y_hat
        for n in (1, 2):
            torch.set_num_threads(n)
            reference = None
            for bitstream, y_hat in coded:
                args = (bitstream, reference) if codec.temporal_prior is not None else (bitstream,)
                decoded = codec.decompress(*args)
                assert torch.equal(decoded, y_hat)
                reference = decoded
    finally:
        torch.set_num_threads(threads)
    return coded


@pytest.mark.parametrize("spatial, dims", [("none", 2), ("checkerboard", 2), ("none", 1)])
def test_channelwise_with_lrp_is_exact_and_thread_independent(spatial, dims):
    torch.manual_seed(8)
    h_a, h_s = hyper_transforms(8, 6, 16, dims)
    codec = HyperpriorLatentCodec(h_a, h_s, 6, ChannelwiseLatentCodec([2, 2, 4], 16, dims, spatial=spatial)).eval()
    with torch.no_grad():
        for p in codec.parameters():
            p.mul_(2.0)
    codec.entropy_bottleneck.freeze()
    codec.gaussian_conditional.freeze()
    assert codec.exact_parameters
    g = torch.Generator().manual_seed(9)
    y = torch.randn(1, 8, *((12, 16) if dims == 2 else (64,)), generator=g) * 3
    ((_, y_hat),) = code_with_threads(codec, [y])
    with torch.no_grad():
        assert torch.equal(codec(y)[0], y_hat)  # evaluation sees exactly what coding does, LRP included


def test_ecc_chunks_are_exact_with_the_temporal_summary():
    from omnicodec.codecs import create_codec

    torch.manual_seed(10)
    model = create_codec("speech/ecc", {"channels": [8, 8, 8, 8], "M": 8, "N": 8, "slices": [4, 4],
                                        "chunk_frames": 16, "context_frames": 4}).eval()
    with torch.no_grad():
        for p in model.latent.parameters():
            p.mul_(2.0)
    model.freeze()
    assert model.latent.exact_parameters
    g = torch.Generator().manual_seed(11)
    code_with_threads(model.latent, [torch.randn(1, 8, 16, generator=g) * 3 for _ in range(3)])


def gdn_pair(seed: int = 0) -> tuple[nn.Sequential, nn.Sequential]:
    """A small analysis and synthesis transform whose GDN parameters are far from their start."""
    torch.manual_seed(seed)
    g_a, g_s = gdn_analysis(8, 6), gdn_synthesis(6, 8)
    with torch.no_grad():
        for net in (g_a, g_s):
            for m in net:
                if isinstance(m, GDN):
                    m.beta.uniform_(0.2, 1.5)
                    m.gamma.copy_(torch.rand_like(m.gamma) * 0.4)
    return g_a, g_s


def test_gdn_transforms_run_exactly_and_equal_an_integer_reference():
    g_a, g_s = gdn_pair()
    assert ExactNetwork.supports(g_a) and ExactNetwork.supports(g_s)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 3, 32, 48, generator=g)
    y = ExactNetwork(g_a)(x)
    np.testing.assert_array_equal((y[0] * 2.0**ACT_BITS).numpy().astype(np.int64), reference(g_a, x))
    y_hat = torch.round(y * 4)  # latents of every size
    out = ExactNetwork(g_s)(y_hat)
    np.testing.assert_array_equal((out[0] * 2.0**ACT_BITS).numpy().astype(np.int64), reference(g_s, y_hat))
    # and they compute the float transforms, up to fixed-point rounding
    with torch.no_grad():
        torch.testing.assert_close(y.float(), g_a(x), atol=2e-2, rtol=1e-2)
        torch.testing.assert_close(out.float(), g_s(y_hat.float()), atol=2e-2, rtol=1e-2)


def test_gdn_transforms_give_the_same_integers_with_one_or_two_threads():
    g_a, g_s = gdn_pair(1)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            y = ExactNetwork(g_a)(x)
            outs.append((y, ExactNetwork(g_s)(torch.round(y))))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
