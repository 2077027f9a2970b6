"""Entropy skip in the image model: elements predicted below τ are not coded, files carry τ, and the
decoder follows the file."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_images, with_side_info
from omnicodec import compress_file, decompress_file, zoo
from omnicodec.codecs import create_codec
from omnicodec.errors import CorruptFileError

TAU = 0.5


@pytest.fixture(scope="module")
def skipping(tiny_codec):
    """The tiny trained codec, configured to skip elements predicted below ``TAU``."""
    codec = create_codec("image/hyperprior", {**tiny_codec.config(), "skip_threshold": TAU})
    codec.load_state_dict(tiny_codec.state_dict())
    return codec.eval().freeze()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("skip") / "smooth.png"
    Image.fromarray((smooth_images(1, 96, seed=21)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_skipped_elements_cost_nothing_and_decode_to_their_means(tiny_codec, skipping):
    x = smooth_images(1, 96, seed=21)
    plain, skipped = tiny_codec.compress(x), skipping.compress(x)
    assert skipped.stats["skip_rate"] > 0.1 and plain.stats.get("skip_rate", 0) == 0
    assert skipped.num_bytes < plain.num_bytes
    assert skipped.side_info["skip_tau"] == TAU and "skip_tau" not in plain.side_info
    with torch.no_grad():  # the evaluation pass skips the same elements the coder does
        torch.testing.assert_close(skipping.decompress(skipped), skipping(x).x_hat.clamp(0, 1), rtol=0, atol=1e-5)
        assert not torch.allclose(skipping(x).x_hat, tiny_codec(x).x_hat, atol=1e-4)


def test_the_threshold_survives_export_and_files_decode_with_either_config(tmp_path, tiny_codec, skipping, photo):
    plain_w = zoo.save_weights(tiny_codec, tmp_path / "plain", "tiny", 1)
    skip_w = zoo.save_weights(skipping, tmp_path / "skip", "tiny", 1)
    assert zoo.load_file_entry(skip_w).codec.config()["skip_threshold"] == TAU
    assert "skip_threshold" not in zoo.load_file_entry(plain_w).codec.config()  # older configs stay as they were
    for coded_with in (plain_w, skip_w):
        name = coded_with.parent.name
        compress_file(photo, tmp_path / f"{name}.omc", weights=coded_with)
        decoded = []
        for decoder in (plain_w, skip_w):  # same tensors, one sha256: either model decodes the file as coded
            out = tmp_path / f"{name}-by-{decoder.parent.name}.png"
            decompress_file(tmp_path / f"{name}.omc", out, weights=decoder)
            decoded.append(np.asarray(Image.open(out)))
        assert np.array_equal(*decoded), name
    assert (tmp_path / "skip.omc").stat().st_size < (tmp_path / "plain.omc").stat().st_size


@pytest.mark.parametrize("tau", ["0.5", -0.5, True, None, [0.5]])
def test_a_malformed_threshold_in_a_file_is_refused(tmp_path, skipping, photo, tau):
    weights = zoo.save_weights(skipping, tmp_path / "w", "tiny", 1)
    compress_file(photo, tmp_path / "a.omc", weights=weights)
    with_side_info(tmp_path / "a.omc", tmp_path / "bad.omc", "skip_tau", tau)
    with pytest.raises(CorruptFileError, match="skip threshold"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.png", weights=weights)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("tau", [-0.1, 10.5])
def test_a_threshold_out_of_range_is_refused(tau):
    with pytest.raises(ValueError, match="skip_threshold"):
        create_codec("image/hyperprior", {"N": 8, "M": 12, "skip_threshold": tau})
