"""One model for every rate: gain units, real qualities, size targets, training with a λ per sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_images
from omnicodec.api import compress_file, decompress_file
from omnicodec.cli import main
from omnicodec.coding import container
from omnicodec.errors import CorruptFileError, InputError, WeightsError
from omnicodec.layers import GainUnits
from omnicodec.train.lit import LitCodec
from omnicodec.train.losses import image_rd_loss
from omnicodec.zoo import load_file_entry, read_entry, save_weights

LAMBDAS = [0.01, 0.03, 0.09, 0.27]


@pytest.fixture(scope="module")
def vr_codec():
    """A tiny variable-rate hyperprior trained briefly as LitCodec trains it: a quality and a λ per sample."""
    torch.manual_seed(0)
    lit = LitCodec("image/hyperprior", {"N": 16, "M": 24, "levels": 4, "default_quality": 2}, lmbda_levels=LAMBDAS)
    lit.codec.gains.set_level_scales([math.sqrt(lam / LAMBDAS[1]) for lam in LAMBDAS])
    data = smooth_images(32, 64, seed=3)
    opt = torch.optim.Adam(lit.codec.main_parameters(), lr=3e-3)
    aux = torch.optim.Adam(lit.codec.aux_parameters(), lr=0.3)
    lit.codec.train()
    for step in range(250):
        x = data[(step * 8) % 32 : (step * 8) % 32 + 8]
        loss = lit.losses(x)["loss"] + lit.codec.aux_loss()
        opt.zero_grad()
        aux.zero_grad()
        loss.backward()
        opt.step()
        aux.step()
    return lit.codec.eval().freeze()


@pytest.fixture(scope="module")
def test_image():
    return smooth_images(1, 96, seed=11)[:, :, :80, :]


def _size(codec, x, quality):
    return sum(len(s) for s in codec.compress(x, quality).streams.values())


def test_rate_rises_with_quality_and_fractions_land_between_levels(vr_codec, test_image):
    sizes = {q: _size(vr_codec, test_image, q) for q in (1, 1.5, 2, 2.5, 3, 3.5, 4)}
    ordered = [sizes[q] for q in sorted(sizes)]
    assert ordered == sorted(ordered) and ordered[0] < ordered[-1], sizes
    for q in (1.5, 2.5, 3.5):
        assert sizes[q - 0.5] < sizes[q] < sizes[q + 0.5], sizes


def test_psnr_rises_from_the_lowest_to_the_highest_quality(vr_codec, test_image):
    # a briefly trained tiny model is not monotonic level by level in PSNR; the Kodak curve of the
    # shipped model is what shows that (results/kodak/)
    def psnr(q):
        x_hat = vr_codec.decompress(vr_codec.compress(test_image, q))
        return -10 * math.log10(float(((x_hat - test_image) ** 2).mean()))

    assert psnr(1) + 0.3 < psnr(2.5) and psnr(1) + 0.3 < psnr(4)


def test_round_trip_at_a_real_quality_matches_the_forward_pass(vr_codec, test_image):
    bitstream = vr_codec.compress(test_image, 2.7)
    assert bitstream.side_info["quality"] == 2.7
    with torch.no_grad():
        expected = vr_codec(test_image, 2.7).x_hat.clamp(0, 1)
    assert torch.allclose(vr_codec.decompress(bitstream), expected, atol=1e-5)


def test_interpolation_is_exponential_between_levels():
    units = GainUnits(3, 4)
    units.set_level_scales([1.0, 2.0, 8.0, 16.0])
    g = units.gain(torch.tensor([1.0, 2.5, 4.0, 3.25]))
    assert torch.allclose(g[:, 0], torch.tensor([1.0, 4.0, 16.0, 8.0 * 2**0.25]))
    assert torch.allclose(units.inverse_gain(torch.tensor([2.5]))[0], torch.full((3,), 0.25))


def test_lambda_follows_quality_in_the_logarithm():
    lit = LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=LAMBDAS)
    lam = lit.lmbda_at(torch.tensor([1.0, 2.5, 4.0]))
    assert torch.allclose(lam, torch.tensor([0.01, math.sqrt(0.03 * 0.09), 0.27]))
    q = lit.sample_qualities(1000, "cpu")
    assert float(q.min()) >= 1 and float(q.max()) <= 4
    assert 0.3 < float((q == q.round()).float().mean()) < 0.8  # integer levels and real qualities both drawn


def test_per_sample_lambda_loss_equals_the_scalar_loss_when_all_are_equal(vr_codec, test_image):
    x = smooth_images(4, 64, seed=5)
    torch.manual_seed(1)
    out = vr_codec.train()(x, torch.full((4,), 2.0))
    vr_codec.eval()
    scalar = image_rd_loss(out, x, 0.03)["loss"]
    per_sample = image_rd_loss(out, x, torch.full((4,), 0.03))["loss"]
    assert torch.allclose(scalar, per_sample, rtol=1e-5)


def test_variable_rate_config_needs_lambda_levels_of_the_right_length():
    with pytest.raises(ValueError, match="lmbda_levels"):
        LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4})
    with pytest.raises(ValueError, match="4 levels"):
        LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=[0.01, 0.02])
    with pytest.raises(ValueError, match="variable-rate"):
        LitCodec("image/hyperprior", {"N": 8, "M": 8}, lmbda_levels=[0.01, 0.02])


def test_a_fresh_model_starts_with_its_levels_apart():
    """Before any step, a higher level quantizes more finely: gains at sqrt(λ / λ_mid), inverse gains their inverse."""
    torch.manual_seed(0)
    lit = LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=LAMBDAS)
    gain = lit.codec.gains.gain(torch.arange(1.0, 5.0))[:, 0]
    mid = math.exp(sum(math.log(v) for v in LAMBDAS) / len(LAMBDAS))
    assert torch.allclose(gain, torch.tensor([math.sqrt(v / mid) for v in LAMBDAS]), rtol=1e-5)
    assert torch.allclose(lit.codec.gains.inverse_gain(torch.arange(1.0, 5.0))[:, 0], 1 / gain, rtol=1e-5)


def test_one_training_step_trains_the_gains():
    lit = LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=LAMBDAS)
    terms = lit.losses(smooth_images(4, 64, seed=2))
    terms["loss"].backward()
    assert lit.codec.gains.log_gain.grad is not None and lit.codec.gains.log_gain.grad.abs().sum() > 0
    assert lit.codec.gains.log_inverse_gain.grad.abs().sum() > 0


def test_decoder_refuses_a_quality_outside_the_range(vr_codec, test_image):
    bitstream = vr_codec.compress(test_image, 2.0)
    for bad in (0.5, 4.5, float("nan"), "3", None, True):
        bitstream.side_info["quality"] = bad
        with pytest.raises(CorruptFileError, match="quality"):
            vr_codec.decompress(bitstream)
    with pytest.raises(ValueError, match="from 1 to 4"):
        vr_codec.compress(test_image, 9)


@pytest.fixture(scope="module")
def vr_weights(tmp_path_factory, vr_codec):
    out = tmp_path_factory.mktemp("vr-weights")
    return save_weights(vr_codec, out, "tiny-vr", quality=2, extra={"lambda_levels": LAMBDAS})


def test_levels_and_interpolation_survive_export_and_reload(vr_codec, vr_weights, test_image):
    entry = read_entry(vr_weights)
    assert entry["quality_range"] == [1, 4] and entry["quality"] == 2
    record = load_file_entry(vr_weights, quality=3.3)
    assert record.quality == 3.3 and record.quality_range == (1.0, 4.0)
    loaded = record.codec
    assert torch.equal(loaded.gains.log_gain, vr_codec.gains.log_gain.half().float())
    a = loaded.compress(test_image, 3.3)
    assert a.side_info["quality"] == 3.3
    # float16 storage moves the network slightly: same reconstruction up to that rounding
    original = vr_codec.decompress(vr_codec.compress(test_image, 3.3))
    assert (loaded.decompress(a) - original).abs().mean() < 0.01
    with pytest.raises(WeightsError, match="1 to 4"):
        load_file_entry(vr_weights, quality=5)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, test_image):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    rgb = (test_image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_files_at_real_qualities_record_and_decode_them(tmp_path, photo, vr_weights):
    sizes = {}
    for q in (1.0, 2.5, 4.0):
        out = tmp_path / f"q{q}.omc"
        result = compress_file(photo, out, weights=vr_weights, quality=q)
        assert result.quality == q
        assert container.unpack(out.read_bytes()).header["quality"] == q
        sizes[q] = out.stat().st_size
        back = decompress_file(out, tmp_path / f"q{q}.png", weights=vr_weights)
        assert back.quality == q
    assert sizes[1.0] < sizes[2.5] < sizes[4.0], sizes


def test_size_target_meets_its_bpp_within_five_percent(tmp_path, photo, vr_weights):
    pixels = 96 * 80
    lo = 8 * compress_file(photo, tmp_path / "lo.omc", weights=vr_weights, quality=1).num_bytes / pixels
    hi = 8 * compress_file(photo, tmp_path / "hi.omc", weights=vr_weights, quality=4).num_bytes / pixels
    for target in (lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo)):
        out = tmp_path / f"t{target:.3f}.omc"
        result = compress_file(photo, out, weights=vr_weights, bpp=target)
        reached = 8 * out.stat().st_size / pixels
        assert 0.95 * target <= reached <= target, (target, reached, result.notes)
        assert 1 < result.quality < 4
        assert any("trial encodes" in n for n in result.notes)
        decompress_file(out, tmp_path / f"t{target:.3f}.png", weights=vr_weights)


def test_unreachable_size_target_is_refused_and_writes_nothing(tmp_path, photo, vr_weights):
    out = tmp_path / "tiny.omc"
    with pytest.raises(InputError, match="cannot reach"):
        compress_file(photo, out, weights=vr_weights, bpp=0.001)
    assert not out.exists()
    with pytest.raises(InputError, match="not both"):
        compress_file(photo, out, weights=vr_weights, bpp=0.5, quality=2)


def test_cli_quality_and_bpp(tmp_path, photo, vr_weights, capsys):
    assert main(["compress", str(photo), str(tmp_path / "a.omc"), "--weights", str(vr_weights), "--quality", "3.5"]) == 0
    assert "q3.5" in capsys.readouterr().out
    assert main(["compress", str(photo), str(tmp_path / "b.omc"), "--weights", str(vr_weights), "--quality", "7"]) == 2
    assert "1 to 4" in capsys.readouterr().err
    hi = 8 * (tmp_path / "a.omc").stat().st_size / (96 * 80)
    assert main(["compress", str(photo), str(tmp_path / "c.omc"), "--weights", str(vr_weights), "--bpp", f"{hi:.4f}"]) == 0
    assert "size target" in capsys.readouterr().out


def test_evaluate_weights_measures_a_curve_of_a_variable_rate_model(tmp_path, photo, vr_weights):
    from omnicodec.eval.weights import evaluate_weights

    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(photo.read_bytes())
    results = evaluate_weights(vr_weights, folder).results
    assert results["quality"] == [1.0, 3.0, 4.0]
    assert results["bpp"] == sorted(results["bpp"]) and results["bpp"][0] < results["bpp"][-1]
    assert evaluate_weights(vr_weights, folder, qualities=[2.5]).results["quality"] == [2.5]


def test_variable_rate_training_refuses_a_distortion_without_per_sample_lambda():
    with pytest.raises(ValueError, match="ms-ssim"):
        LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=LAMBDAS, distortion="ms-ssim")


@pytest.mark.parametrize("field, value", [
    ("quality", "x"), ("quality", None), ("quality", 1e400), ("quality", True),
    ("quality_range", [1]), ("quality_range", [3, 1]), ("quality_range", [1, "4"]),
    ("weights_file", "../elsewhere.safetensors"), ("weights_file", 7),
])
def test_weights_entries_with_malformed_fields_are_refused(tmp_path, vr_weights, field, value):
    import json

    entry = json.loads(vr_weights.read_text())
    entry[field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(entry))
    with pytest.raises(WeightsError, match=field):
        read_entry(path)
