"""Converting trained weights into a new model's start: fixed to variable rate, image to video."""

from __future__ import annotations

import pytest
import torch

from conftest import smooth_images
from omnicodec.errors import WeightsError
from omnicodec.train.checkpoint import init_from
from omnicodec.train.convert import main, to_variable
from omnicodec.train.lit import LitCodec
from omnicodec.zoo import load_file_entry, read_entry

LAMBDAS = [0.0125, 0.025, 0.05, 0.1]


def test_the_trained_level_codes_exactly_as_the_fixed_rate_model(tiny_codec):
    variable = to_variable(tiny_codec, 0.05, LAMBDAS).eval().freeze()
    assert variable.default_quality == 3.0 and variable.quality_range == (1.0, 4.0)
    assert torch.allclose(variable.gains.gain(torch.tensor([1.0]))[0], torch.full((24,), 0.5))
    x = smooth_images(1, 64, seed=9)
    assert variable.compress(x, 3).streams == tiny_codec.compress(x).streams
    sizes = [sum(len(s) for s in variable.compress(x, q).streams.values()) for q in (1, 2, 3, 4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    with pytest.raises(WeightsError, match="already variable-rate"):
        to_variable(variable, 0.05, LAMBDAS)


def test_command_line_writes_weights_that_init_a_run(tmp_path, tiny_weights):
    assert main(["to-variable", str(tiny_weights), str(tmp_path), "--lambdas", ",".join(map(str, LAMBDAS))]) == 0
    variable = tmp_path / "tiny-variable.json"
    entry = read_entry(variable)
    assert entry["quality_range"] == [1, 4] and entry["lambda_levels"] == LAMBDAS
    assert main(["image-to-video", str(variable), str(tmp_path), "--intra-period", "4"]) == 0
    video = tmp_path / "video-stem-from-tiny-variable.json"
    stem = load_file_entry(video).codec
    assert stem.codec_id == "video/stem" and stem.quality_range == (1.0, 4.0) and stem.intra_period == 4
    lit = LitCodec("video/stem", stem.config(), lmbda_levels=LAMBDAS, freeze=["g_a", "g_s", "gains", "intra"])
    assert init_from(lit, video) == []
    assert torch.equal(lit.codec.g_a[0].weight, stem.g_a[0].weight)
    assert main(["to-variable", str(variable), str(tmp_path)]) == 2  # already variable-rate
