"""STEM on the image model's shoulders: frame transforms, gains and intra codec copied from an image
model; variable-rate video files; training only the temporal part."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_images
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.codecs.video.stem import STEMVideoCodec
from omnicodec.coding import container
from omnicodec.errors import CorruptFileError
from omnicodec.train.lit import LitCodec
from omnicodec.train.losses import image_rd_loss
from omnicodec.zoo import save_weights

IMAGE = {"N": 16, "M": 24, "levels": 4, "default_quality": 2}


@pytest.fixture(scope="module")
def image_codec():
    torch.manual_seed(0)
    codec = create_codec("image/hyperprior", IMAGE)
    codec.gains.set_level_scales([0.5, 1.0, 2.0, 4.0])
    codec.train()
    opt = torch.optim.Adam(codec.main_parameters(), lr=3e-3)
    data = smooth_images(8, 64, seed=1)
    quality = torch.tensor([1.0, 2, 3, 4, 1, 2, 3, 4])
    for _ in range(60):  # a few steps so the weights are not the initial ones
        loss = image_rd_loss(codec(data, quality), data, 0.01 * 2 ** (quality - 1))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return codec.eval().freeze()


@pytest.fixture(scope="module")
def video_codec(image_codec):
    return STEMVideoCodec.from_image(image_codec, intra_period=2).eval().freeze()


def test_intra_frames_are_coded_exactly_as_the_image_model_codes_pictures(image_codec, video_codec):
    x = smooth_images(1, 80, seed=4)[:, :, :64, :]
    for q in (1.0, 2.5, 4.0):
        image = image_codec.compress(x, q)
        clip = video_codec.compress(x, q)  # a clip of one frame
        assert clip.streams == {"frame-0": image.streams["image"]}  # the same bytes, unit for unit
        assert torch.equal(video_codec.decompress(clip), image_codec.decompress(image))


def test_from_image_copies_everything_but_the_temporal_part(image_codec, video_codec):
    image_state, video_state = image_codec.state_dict(), video_codec.state_dict()
    for key in ("g_a.0.weight", "g_s.6.bias", "gains.log_gain", "latent.h_s.4.weight"):
        assert torch.equal(image_state[key], video_state[key.replace("latent.", "intra.")])
    assert video_codec.config()["intra_prior"] == "mean-scale" and video_codec.quality_range == (1.0, 4.0)
    with pytest.raises(ValueError, match="does not fit"):
        STEMVideoCodec.from_image(create_codec("image/feds-student", {}))


def test_to_image_gives_back_the_image_model(image_codec, video_codec):
    back = video_codec.to_image()
    assert back.config() == image_codec.config()
    image_state = image_codec.state_dict()
    assert back.state_dict().keys() == image_state.keys()
    assert all(torch.equal(v, image_state[k]) for k, v in back.state_dict().items())


def test_an_image_model_that_skips_carries_its_threshold_into_intra_frames_and_back(image_codec):
    skipping = create_codec("image/hyperprior", {**IMAGE, "skip_threshold": 0.5})
    skipping.load_state_dict(image_codec.state_dict())
    skipping = skipping.eval().freeze()
    video = STEMVideoCodec.from_image(skipping, intra_period=2).eval().freeze()
    assert video.config()["skip_threshold"] == 0.5
    x = smooth_images(1, 64, seed=6)
    image = skipping.compress(x, 1.5)
    assert image.streams["image"] != image_codec.compress(x, 1.5).streams["image"]  # the skip counts
    clip = video.compress(x, 1.5)
    assert clip.streams == {"frame-0": image.streams["image"]} and clip.side_info["skip_tau"] == 0.5
    assert video.to_image().config() == skipping.config()


def test_an_image_model_with_a_context_carries_it_into_intra_frames_and_back(image_codec):
    from omnicodec.train.convert import add_context

    context = add_context(image_codec)
    with torch.no_grad():  # a context that has learned something
        for p in context.latent.y_codec.parameters():
            p.add_(0.01 * torch.randn_like(p))
    context = context.eval().freeze()
    video = STEMVideoCodec.from_image(context, intra_period=2).eval().freeze()
    assert video.config()["intra_prior"] == "residual-checkerboard"
    x = smooth_images(1, 64, seed=6)
    for q in (1.0, 3.5):
        image = context.compress(x, q)
        assert video.compress(x, q).streams == {"frame-0": image.streams["image"]}
        assert image.streams["image"] != image_codec.compress(x, q).streams["image"]  # the context counts
    back = video.to_image()
    assert back.config() == context.config()
    assert all(torch.equal(v, context.state_dict()[k]) for k, v in back.state_dict().items())


def test_variable_rate_clips_round_trip_and_rise_in_rate(video_codec):
    clip = torch.stack([smooth_images(1, 72, seed=5)[0, :, 2 * t : 2 * t + 64, :64] for t in range(3)])
    sizes = []
    for q in (1.0, 2.5, 4.0):
        bitstream = video_codec.compress(clip, q)
        assert bitstream.side_info["quality"] == q
        with torch.no_grad():
            expected = video_codec(clip[None], q).x_hat[0].clamp(0, 1)
        assert torch.allclose(video_codec.decompress(bitstream), expected, atol=1e-5)
        sizes.append(sum(len(s) for s in bitstream.streams.values()))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes
    bitstream = video_codec.compress(clip, 2.0)
    bitstream.side_info["quality"] = 7
    with pytest.raises(CorruptFileError, match="quality"):
        video_codec.decompress(bitstream)


def test_video_files_carry_their_quality(tmp_path, video_codec):
    weights = save_weights(video_codec, tmp_path / "w", "stem-vr", quality=2)
    folder = tmp_path / "frames"
    folder.mkdir()
    base = (smooth_images(1, 72, seed=6)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    for t in range(3):
        Image.fromarray(np.ascontiguousarray(base[2 * t : 2 * t + 48, :64])).save(folder / f"{t:03d}.png")
    sizes = {}
    for q in (1.5, 3.5):
        out = tmp_path / f"v{q}.omc"
        result = compress_file(folder, out, weights=weights, quality=q)
        header = container.unpack(out.read_bytes()).header
        assert result.quality == q and header["quality"] == q and header["side_info"]["quality"] == q
        back = decompress_file(out, tmp_path / f"v{q}.y4m", weights=weights)
        assert back.frames == 3 and back.quality == q
        sizes[q] = out.stat().st_size
    assert sizes[1.5] < sizes[3.5]


def test_freeze_trains_only_the_temporal_part():
    config = {"N": 8, "M": 8, "intra_period": 4, "levels": 3, "intra_prior": "mean-scale"}
    lit = LitCodec("video/stem", config, lmbda_levels=[0.01, 0.02, 0.04], freeze=["g_a", "g_s", "intra", "gains"])
    main, _ = lit.configure_optimizers()[0]
    trained = {id(p) for group in main.param_groups for p in group["params"]}
    names = [n for n, p in lit.codec.named_parameters() if id(p) in trained]
    assert names and all(n.startswith("inter.") for n in names)
    lit.losses(torch.rand(2, 3, 3, 64, 64))["loss"].backward()
    assert lit.codec.g_a[0].weight.grad is None
    assert lit.codec.inter.temporal_prior.net[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="matches no parameter"):
        LitCodec("video/stem", config, lmbda_levels=[0.01, 0.02, 0.04], freeze=["nothing"])


def test_a_smaller_temporal_prior_is_a_config_choice(tmp_path, image_codec):
    small = STEMVideoCodec.from_image(image_codec, intra_period=2, prior_kernel=3).eval().freeze()
    assert small.config()["prior_kernel"] == 3 and "prior_kernel" not in STEMVideoCodec(8, 8).config()
    assert small.inter.temporal_prior.net[0].weight.shape[-2:] == (3, 3)
    from omnicodec.zoo import load_file_entry

    loaded = load_file_entry(save_weights(small, tmp_path, "small", quality=2)).codec
    assert loaded.inter.temporal_prior.net[2].weight.shape[-2:] == (3, 3)
    with pytest.raises(ValueError, match="prior_kernel"):
        STEMVideoCodec(8, 8, prior_kernel=4)


@pytest.fixture(scope="module")
def context_image_codec(image_codec):
    from omnicodec.train.convert import add_context

    context = add_context(image_codec)
    with torch.no_grad():  # a context that has learned something
        for p in context.latent.y_codec.parameters():
            p.add_(0.01 * torch.randn_like(p, generator=torch.Generator().manual_seed(3)))
    return context.eval().freeze()


def test_a_residual_inter_codec_starts_as_the_intra_codec_whatever_the_reference(context_image_codec):
    from omnicodec.train.video_prior import temporal_parameters

    video = STEMVideoCodec.from_image(context_image_codec, intra_period=4).eval().freeze()
    assert video.config()["inter_prior"] == "residual-checkerboard"
    y = video.gains.scale(3 * torch.randn(1, 24, 4, 8, generator=torch.Generator().manual_seed(1)), 2.5)
    intra_bits, intra_hat = video.intra.compress(y)
    for seed in (2, 3):
        reference = 3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
        bits, y_hat = video.inter.compress(y, reference)
        assert bits.streams == intra_bits.streams and torch.equal(y_hat, intra_hat)
    with torch.no_grad():  # once the temporal inputs weigh something, the reference changes the code
        for p in temporal_parameters(video):
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    video.freeze()
    bits, y_hat = video.inter.compress(y, reference)
    assert bits.streams["y"] != intra_bits.streams["y"]
    assert torch.equal(video.inter.decompress(bits, reference), y_hat)


def test_the_inter_prior_is_a_config_choice_that_survives_export(tmp_path, image_codec, context_image_codec):
    from omnicodec.zoo import load_file_entry

    assert STEMVideoCodec.from_image(image_codec).config().get("inter_prior") is None  # no context: the plain one
    plain = STEMVideoCodec.from_image(context_image_codec, inter_prior="checkerboard")
    assert "inter_prior" not in plain.config() and not plain.inter.residual
    video = STEMVideoCodec.from_image(context_image_codec, intra_period=2).eval().freeze()
    loaded = load_file_entry(save_weights(video, tmp_path, "residual", quality=2, dtype="float32")).codec
    assert loaded.config() == video.config() and loaded.inter.residual
    clip = torch.stack([smooth_images(1, 72, seed=5)[0, :, 2 * t : 2 * t + 64, :64] for t in range(3)])
    assert loaded.compress(clip, 2.0).streams == video.compress(clip, 2.0).streams
    with pytest.raises(ValueError, match="has none"):
        STEMVideoCodec.from_image(image_codec, inter_prior="residual-checkerboard")
    with pytest.raises(ValueError, match="inter_prior"):
        STEMVideoCodec(8, 8, inter_prior="serial")
