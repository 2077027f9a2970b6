"""A context for the image model: added without changing a bit, then trained alone on frozen transforms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import VARIABLE_IMAGE, smooth_images
from omnicodec.codecs import create_codec
from omnicodec.errors import WeightsError
from omnicodec.train import image_prior
from omnicodec.train.convert import add_context, main
from omnicodec.train.image_prior import cache_latents, latent_rate, train_latent_codec
from omnicodec.zoo import load_file_entry, save_weights


def _coded(codec, x, quality):
    bitstream = codec.compress(x, quality)
    return bitstream, codec.decompress(bitstream)


def test_an_added_context_codes_exactly_as_the_model_without_it_until_it_learns(variable_image_codec):
    context = add_context(variable_image_codec).eval().freeze()
    assert context.config() == {**VARIABLE_IMAGE, "default_quality": 2.0, "context": "checkerboard"}
    x = smooth_images(1, 64, seed=3)
    for quality in (1.0, 2.5, 4.0):
        plain, plain_x = _coded(variable_image_codec, x, quality)
        with_context, context_x = _coded(context, x, quality)
        assert torch.equal(plain_x, context_x)
        # the same symbols with the same parameters, only in another order (anchors first)
        assert abs(len(plain.streams["image"]) - len(with_context.streams["image"])) <= 2
    with pytest.raises(WeightsError, match="without a context"):
        add_context(context)


def test_a_trained_context_round_trips_and_lowers_the_rate(variable_image_codec):
    context = add_context(variable_image_codec)
    images = smooth_images(6, 128, seed=4)
    with torch.no_grad():
        latents = [variable_image_codec.g_a(x[None])[0] for x in images]
    before = {k: v.clone() for k, v in context.state_dict().items()}
    y = torch.stack(latents).detach()
    quality = torch.full((len(latents),), 2.0)
    with torch.no_grad():
        start = float(latent_rate(context.eval(), y, quality))
    losses = train_latent_codec(context, latents, steps=80, batch=4, size=4, lr=3e-3)
    with torch.no_grad():
        end = float(latent_rate(context.eval(), y, quality))
    assert end < 0.9 * start, (start, end, losses[:3], losses[-3:])
    after = context.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("latent.y_codec.context.") for k in changed)
    assert changed and all(k.startswith("latent.") for k in changed), sorted(changed)[:5]
    context.freeze()
    x = smooth_images(1, 64, seed=5)
    bitstream, x_hat = _coded(context, x, 3.0)
    assert torch.equal(context.decompress(bitstream), x_hat)  # the context decodes what it encoded
    with torch.no_grad():
        expected = context(x, quality=3.0).x_hat.clamp(0, 1)  # evaluation derives the coder's parameters
    assert torch.allclose(x_hat, expected, atol=1e-5)


def test_an_unknown_context_is_refused():
    with pytest.raises(ValueError, match="context 'causal' is not one of none, checkerboard"):
        create_codec("image/hyperprior", {**VARIABLE_IMAGE, "context": "causal"})


def test_the_commands_add_a_context_train_it_and_go_on(tmp_path, variable_image_codec, capsys):
    plain = save_weights(variable_image_codec, tmp_path / "w", "image-tiny", quality=2)
    assert main(["add-context", str(plain), str(tmp_path / "w")]) == 0
    start = tmp_path / "w" / "image-tiny-checkerboard.json"
    assert json.loads(start.read_text())["converted_from"] == json.loads(plain.read_text())["sha256"]
    data = tmp_path / "photos"
    data.mkdir()
    for i, x in enumerate(smooth_images(3, 80, seed=6)):  # 80 pixels: cached as 64
        Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(data / f"{i}.png")
    args = ["--data", str(data), "--out", str(tmp_path / "out"), "--crop", "64", "--batch", "2", "--export-every", "2"]
    assert image_prior.main(["--init", str(start), "--steps", "3", *args]) == 0
    out = tmp_path / "out" / "image-prior.json"
    entry = json.loads(out.read_text())
    assert entry["training"]["prior_steps"] == 3 and entry["config"]["context"] == "checkerboard"
    capsys.readouterr()
    assert image_prior.main(["--init", str(out), "--steps", "5", *args[:-1], "4"]) == 0  # 2 more steps, exports at steps 4 and 5
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "wrote" in line] == ["step 4", "step 5"]
    assert json.loads(out.read_text())["training"]["prior_steps"] == 5
    assert load_file_entry(out).codec.config()["context"] == "checkerboard"
    assert image_prior.main(["--init", str(out), *args, "--crop", "96"]) == 2
    assert "--crop must be a positive multiple of 64" in capsys.readouterr().err


def test_latents_are_cached_without_padding(variable_image_codec, tmp_path):
    path = tmp_path / "odd.png"
    Image.fromarray(np.zeros((70, 100, 3), np.uint8)).save(path)
    (y,) = cache_latents(variable_image_codec, [path])
    assert y.shape == (24, 4, 6) and y.dtype == torch.float16
