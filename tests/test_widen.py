"""Widening an image model's latent: more channels, the same decoded image until trained, and gradients to the new ones."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import VARIABLE_IMAGE, smooth_images
from omnicodec.codecs import create_codec
from omnicodec.errors import WeightsError
from omnicodec.train.convert import add_context, main
from omnicodec.train.widen import widen_latent
from omnicodec.zoo import load_file_entry, save_weights

M, WIDE = VARIABLE_IMAGE["M"], 40


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float(torch.mean((a - b) ** 2)))


def _large_latents(codec):
    """The codec with latents as large as a trained model's (the untrained tiny one's round to zero)."""
    with torch.no_grad():
        codec.g_a[-1].weight.mul_(10)
    return codec


def _with_context(codec):
    """The codec with a checkerboard context whose corrections are not zero (as after training)."""
    out = add_context(codec)
    torch.manual_seed(1)
    with torch.no_grad():
        out.latent.y_codec.entropy_parameters[-1].weight.normal_(0, 0.02)
    return out.eval().freeze()


@pytest.mark.parametrize("context", [False, True])
def test_a_widened_model_decodes_the_same_image(variable_image_codec, context):
    source = _large_latents(variable_image_codec)
    source = _with_context(source) if context else source
    wide = widen_latent(source, WIDE).eval().freeze()
    assert wide.config() == {**source.config(), "M": WIDE}
    x = smooth_images(1, 64, seed=7)
    for quality in (1.0, 2.5, 4.0):
        before, after = source.compress(x, quality), wide.compress(x, quality)
        y_before, y_after = source.decode_latent(before), wide.decode_latent(after)
        assert y_after.shape[1] == WIDE
        # the old channels decode to the same values, and the image to the same pixels: g_s reads the new
        # ones, not zero, through zero weights
        assert torch.equal(y_after[:, :M], y_before)
        assert quality < 2 or (y_after[:, M:] != 0).any()
        assert torch.equal(wide.decompress(after), source.decompress(before))


def test_the_side_features_keep_their_scales_and_means(variable_image_codec):
    source = _with_context(variable_image_codec)
    wide = widen_latent(source, WIDE).eval()
    y = torch.randn(1, M, 8, 8)
    y_wide = torch.cat([y, torch.randn(1, WIDE - M, 8, 8)], dim=1)  # the new channels feed nothing old
    with torch.no_grad():
        z = torch.round(source.latent.h_a(y))
        assert torch.equal(torch.round(wide.latent.h_a(y_wide)), z)
        side, side_wide = source.latent.h_s(z), wide.latent.h_s(z)
    scales, means = side.chunk(2, dim=1)
    wide_scales, wide_means = side_wide.chunk(2, dim=1)
    assert torch.allclose(wide_scales[:, :M], scales, atol=1e-5)
    assert torch.allclose(wide_means[:, :M], means, atol=1e-5)
    # the new channels: mean 0 and the old channels' mean scale, wherever it is
    assert torch.allclose(wide_scales[:, M:], scales.mean(dim=1, keepdim=True).expand(-1, WIDE - M, -1, -1), atol=1e-5)
    assert torch.equal(wide_means[:, M:], torch.zeros_like(wide_means[:, M:]))
    # each level's gain for the new channels: the mean of its old ones (in the log domain)
    for table in ("log_gain", "log_inverse_gain"):
        old, new = getattr(source.gains, table), getattr(wide.gains, table)
        assert torch.equal(new[:, :M], old)
        assert torch.allclose(new[:, M:], old.mean(dim=1, keepdim=True).expand(-1, WIDE - M))


def test_training_reaches_the_new_channels(variable_image_codec):
    """``g_s`` reads the new channels through zero weights, but they are not zero, so the distortion's
    gradient reaches those weights at once, and through them ``g_a``'s new outputs."""
    wide = widen_latent(_large_latents(variable_image_codec), WIDE).train()
    x = smooth_images(2, 64, seed=8)
    with torch.no_grad():  # a projection of g_a's features as strong as the old channels
        ratio = wide.g_a[-1].weight[M:].norm() / wide.g_a[-1].weight[:M].norm() * math.sqrt(M / (WIDE - M))
    assert abs(float(ratio) - 1) < 0.05
    quality = torch.tensor([4.0, 3.0])
    out = wide(x, quality)
    assert float((out.extras["y_hat"][:, M:] != 0).float().mean()) > 0.05
    torch.mean((out.x_hat - x) ** 2).backward()
    assert wide.g_s[0].weight.grad[M:].abs().sum() > 0
    with torch.no_grad():
        wide.g_s[0].weight[M:] = 0.01 * torch.randn_like(wide.g_s[0].weight[M:])  # as after a step
    wide.zero_grad()
    torch.mean((wide(x, quality).x_hat - x) ** 2).backward()
    assert wide.g_a[-1].weight.grad[M:].abs().sum() > 0


def test_widening_refuses_what_it_cannot_do(variable_image_codec):
    with pytest.raises(WeightsError, match="needs more"):
        widen_latent(variable_image_codec, M)
    other = create_codec("image/feds-student", {})
    with pytest.raises(WeightsError, match="only image/hyperprior"):
        widen_latent(other, 64)


def test_the_widen_command_writes_weights_that_load(tmp_path, variable_image_codec, capsys):
    source = save_weights(variable_image_codec, tmp_path / "src", "tiny", 2.0, "float32", {"lambda_levels": [1, 2, 3, 4]})
    assert main(["widen", str(source), str(tmp_path / "out"), "--latent-channels", str(WIDE)]) == 0
    loaded = load_file_entry(tmp_path / "out" / "tiny-m40.json")
    assert loaded.codec.config()["M"] == WIDE
    assert main(["widen", str(source), str(tmp_path / "out"), "--latent-channels", "8"]) == 2
    assert "needs more" in capsys.readouterr().err
