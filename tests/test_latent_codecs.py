"""The shared entropy components on tiny shapes: exact round trips, bits that match the
model, decoder-side conditioning only, entropy skip and the spatiotemporal prior."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnicodec.coding import SymbolDecoder, SymbolEncoder
from omnicodec.entropy_models import (
    ChannelwiseLatentCodec,
    CheckerboardLatentCodec,
    GaussianConditional,
    HyperpriorLatentCodec,
    MeanScaleHyperprior,
    SpatiotemporalLatentCodec,
    hyper_transforms,
)

C, N = 8, 8


def latents(n, dims=2, size=None, seed=0):
    """Structured latents: smooth fields with per-channel amplitudes, like a trained g_a's."""
    size = size or (16 if dims == 2 else 128)
    g = torch.Generator().manual_seed(seed)
    spatial = (size,) * dims
    coarse = torch.randn(n, C, *(max(s // 4, 1) for s in spatial), generator=g)
    mode = "bilinear" if dims == 2 else "linear"
    y = F.interpolate(coarse, size=spatial, mode=mode, align_corners=False)
    amplitude = torch.linspace(0.3, 4.0, C).view(1, C, *([1] * dims))
    return y * amplitude + 0.3 * torch.randn(n, C, *spatial, generator=g)


def build(kind, dims=2, skip=0.0):
    side = 2 * C
    if kind == "meanscale":
        h_a, h_s = hyper_transforms(C, N, 2 * C, dims)
        return MeanScaleHyperprior(h_a, h_s, N, C, skip_threshold=skip)
    if kind == "checkerboard":
        h_a, h_s = hyper_transforms(C, N, side, dims)
        return HyperpriorLatentCodec(h_a, h_s, N, CheckerboardLatentCodec(C, side, dims), skip_threshold=skip)
    slices, spatial = {
        "channelwise": ([2, 2, 2, 2], "none"),
        "channelwise-uneven": ([1, 1, 2, 4], "none"),
        "channelwise-checkerboard": ([2, 2, 4], "checkerboard"),
    }[kind]
    h_a, h_s = hyper_transforms(C, N, side, dims)
    y_codec = ChannelwiseLatentCodec(slices, side, dims, spatial=spatial)
    return HyperpriorLatentCodec(h_a, h_s, N, y_codec, skip_threshold=skip)


def fit(codec, batch_loss, steps: int):
    """Adam on ``batch_loss(step)`` plus the quantile loss; then eval mode and frozen tables."""
    main = [p for n, p in codec.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(main, lr=3e-3)
    aux = torch.optim.Adam([codec.entropy_bottleneck.quantiles], lr=0.3)
    codec.train()
    for step in range(steps):
        loss = batch_loss(step) + codec.entropy_bottleneck.aux_loss()
        opt.zero_grad()
        aux.zero_grad()
        loss.backward()
        opt.step()
        aux.step()
    codec.eval()
    codec.entropy_bottleneck.freeze()
    codec.gaussian_conditional.freeze()
    return codec


def rate(likelihoods, elements):
    return sum((-torch.log2(v)).sum() for v in likelihoods.values()) / elements


def train(codec, dims=2, steps=150, seed=0):
    torch.manual_seed(seed)
    data = latents(32, dims, seed=seed)

    def batch_loss(step):
        y = data[(step * 8) % 32 : (step * 8) % 32 + 8]
        y_hat, likelihoods, _ = codec(y)
        return rate(likelihoods, y.numel()) + 4 * F.mse_loss(y_hat, y)

    return fit(codec, batch_loss, steps)


@pytest.fixture(scope="module")
def trained():
    cache = {}

    def get(kind, dims=2):
        if (kind, dims) not in cache:
            cache[kind, dims] = train(build(kind, dims), dims)
        return cache[kind, dims]

    return get


CASES = [
    ("meanscale", 2), ("meanscale", 1), ("checkerboard", 2), ("checkerboard", 1), ("channelwise", 2),
    ("channelwise", 1), ("channelwise-uneven", 2), ("channelwise-checkerboard", 2),
]


@pytest.mark.parametrize("kind,dims", CASES)
def test_round_trip_is_exact_and_costs_what_the_model_says(trained, kind, dims):
    codec = trained(kind, dims)
    y = latents(2, dims, seed=100)
    with torch.no_grad():
        y_hat, likelihoods, _ = codec(y)
    bitstream, y_hat_encoder = codec.compress(y)
    y_hat_decoder = codec.decompress(bitstream)
    assert torch.equal(y_hat_decoder, y_hat_encoder)
    torch.testing.assert_close(y_hat_decoder, y_hat, rtol=0, atol=1e-5)
    ideal = sum((-torch.log2(v)).sum().item() for v in likelihoods.values())
    bits = 8 * bitstream.num_bytes
    assert ideal > 1000
    assert bits <= 1.005 * ideal + 64 * len(bitstream.streams), (bits, ideal)


@pytest.mark.parametrize("kind", ["checkerboard", "channelwise", "channelwise-checkerboard"])
def test_encoder_only_values_cannot_change_the_decoder(trained, kind):
    """Move every element of y anywhere inside its rounding bin: the stream and the
    decoded latent stay identical, because the codec conditions on decoded values only."""
    codec = trained(kind)
    conditional, gaussian = codec.y_codec, codec.gaussian_conditional
    y = latents(1, seed=7)
    side = torch.randn(1, 2 * C, 16, 16)
    with torch.no_grad():
        means = conditional(y, side, gaussian).means
        bins = torch.round(y - means)
        moved = means + bins + (torch.rand_like(y) - 0.5) * 0.9

        def code(latent):
            encoder = SymbolEncoder()
            y_hat, _ = conditional.encode(encoder, latent, side, gaussian, 0.0)
            return encoder.finish(), y_hat

        (data_a, y_hat_a), (data_b, y_hat_b) = code(y), code(moved)
        assert not torch.equal(y, moved)
        assert data_a == data_b
        assert torch.equal(y_hat_a, y_hat_b)
        decoder = SymbolDecoder(data_b)
        assert torch.equal(conditional.decode(decoder, side, gaussian, 0.0), y_hat_a)
        decoder.finish()


def test_checkerboard_training_context_equals_decoding_context(trained):
    """Training's single forward sees exactly the anchors the decoder has."""
    codec = trained("checkerboard")
    y = latents(1, seed=9)
    side = torch.randn(1, 2 * C, 16, 16)
    with torch.no_grad():
        codec.train()
        train_out = codec.y_codec(y, side, codec.gaussian_conditional)
        codec.eval()
        encoder = SymbolEncoder()
        y_hat, _ = codec.y_codec.encode(encoder, y, side, codec.gaussian_conditional, 0.0)
    # training rounds with a straight-through estimator: same values as the decoder's
    torch.testing.assert_close(train_out.y_hat, y_hat, rtol=0, atol=1e-6)


def test_entropy_skip_saves_bits_decodes_exactly_and_reports_its_rate():
    torch.manual_seed(0)
    gc = GaussianConditional(skip_threshold=0.5).eval()
    gc.freeze()
    shape = (1, 4, 32, 32)
    small = torch.rand(shape) < 0.3  # a known 30 % of the scales lie below τ
    scales = torch.where(small, torch.empty(shape).uniform_(0.25, 0.45), torch.empty(shape).uniform_(0.6, 3.0))
    means = torch.randn(shape)
    y = means + torch.randn(shape) * scales
    skip_stream, y_hat_skip = gc.compress(y, scales, means)
    plain_stream, _ = gc.compress(y, scales, means, tau=0.0)
    assert len(skip_stream.streams[""]) < len(plain_stream.streams[""])
    assert skip_stream.side_info == {"skip_tau": 0.5} and plain_stream.side_info == {}
    assert skip_stream.stats["skipped"] == int(small.sum())
    decoded = gc.decompress(skip_stream, scales, means)
    assert torch.equal(decoded, y_hat_skip)
    expected, likelihoods = gc(y, scales, means)
    torch.testing.assert_close(decoded, expected, rtol=0, atol=0)
    assert torch.equal(decoded[small], means[small])  # skipped: reconstructed at the mean
    assert torch.all(likelihoods[small] == 1)  # and free in the rate term


@pytest.mark.parametrize("dims", [2, 1])
def test_entropy_skip_in_a_hyperprior_reports_the_skip_rate(dims):
    codec = train(build("meanscale", dims, skip=0.0), dims, steps=100)
    y = latents(1, dims, seed=3)
    plain, _ = codec.compress(y)
    with torch.no_grad():
        scales, _ = codec.y_codec.params(codec.h_s(torch.round(codec.h_a(y))))
    tau = float(torch.quantile(scales.flatten(), 0.4))
    skipped, y_hat = codec.compress(y, tau=tau)
    assert skipped.side_info["skip_tau"] == tau
    assert skipped.stats["skip_rate"] == pytest.approx(float((scales < tau).float().mean()))
    assert 0.3 < skipped.stats["skip_rate"] < 0.5
    assert len(skipped.streams["y"]) < len(plain.streams["y"])
    assert torch.equal(codec.decompress(skipped), y_hat)


def test_skip_training_surrogate_has_zero_rate_and_mean_reconstruction():
    gc = GaussianConditional(skip_threshold=0.5).train()
    y = torch.randn(1, 2, 8, 8, requires_grad=True)
    means = torch.randn(1, 2, 8, 8, requires_grad=True)
    scales = torch.where(torch.arange(128).view(1, 2, 8, 8) % 2 == 0, 0.1, 2.0)
    y_hat, likelihoods = gc(y, scales, means)
    skipped = scales < 0.5
    assert torch.all(likelihoods[skipped] == 1)
    assert torch.equal(y_hat[skipped], means[skipped])
    y_hat.sum().backward()
    assert torch.all(y.grad[skipped] == 0) and torch.all(means.grad[skipped] == 1)


@pytest.fixture(scope="module")
def stem():
    torch.manual_seed(0)
    codec = SpatiotemporalLatentCodec(C, N)
    data = latents(32, seed=1)

    def batch_loss(step):  # an intra frame, and a P-frame that nearly repeats it
        y1 = data[(step * 8) % 32 : (step * 8) % 32 + 8]
        y2 = y1 + 0.1 * torch.randn_like(y1)
        _, lik1, _ = codec(y1)
        _, lik2, _ = codec(y2, reference=torch.round(y1))
        return rate(lik1, y1.numel()) + rate(lik2, y1.numel())

    return fit(codec, batch_loss, 300)


def test_spatiotemporal_three_frames_round_trip(stem):
    frames = [latents(1, seed=s) for s in (20, 21, 22)]
    reference, streams, encoded = None, [], []
    for y in frames:
        bitstream, y_hat = stem.compress(y, reference)
        streams.append(bitstream)
        encoded.append(y_hat)
        reference = y_hat
    reference = None
    for bitstream, y_hat in zip(streams, encoded):
        decoded = stem.decompress(bitstream, reference)
        assert torch.equal(decoded, y_hat)
        reference = decoded
    # evaluation forward with the same references gives the same latents
    with torch.no_grad():
        torch.testing.assert_close(stem(frames[1], encoded[0])[0], encoded[1], rtol=0, atol=1e-5)


def test_spatiotemporal_identical_frames_are_cheaper_after_the_first(stem):
    y = latents(1, seed=30)
    first, y_hat = stem.compress(y)  # intra: no reference
    second, _ = stem.compress(y, y_hat)
    assert second.num_bytes < 0.9 * first.num_bytes, (second.num_bytes, first.num_bytes)


def test_reference_needs_a_temporal_prior(trained):
    with pytest.raises(ValueError, match="no reference"):
        trained("meanscale")(latents(1), reference=latents(1))


def test_slice_layouts():
    from omnicodec.entropy_models import elic_slices, equal_slices

    assert equal_slices(320, 10) == [32] * 10
    assert elic_slices(320) == [16, 16, 32, 64, 192]
    with pytest.raises(ValueError):
        equal_slices(320, 7)
    assert np.sum(elic_slices(192)) == 192
