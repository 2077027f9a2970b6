"""compress_file / decompress_file on real files: sizes, damage, and the Python API."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import smooth_images
from omnicodec import compress_file, decompress_file, zoo
from omnicodec.coding import container
from omnicodec.errors import OmnicodecError, WeightsMismatchError


def as_tensor(path):
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "smooth.png"
    array = (smooth_images(1, 160, seed=11)[0, :, :120].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def test_file_size_is_the_estimate_plus_the_header(tmp_path, image_file, tiny_weights):
    from omnicodec.coding import information_meter

    with information_meter() as meter:  # the information content of what the coder codes, escapes included
        result = compress_file(image_file, tmp_path / "a.omc", weights=tiny_weights)
    data = (tmp_path / "a.omc").read_bytes()
    assert result.num_bytes == len(data)
    parsed = container.unpack(data)
    codec = zoo.load_file_entry(tiny_weights).codec
    x = as_tensor(image_file)
    with torch.no_grad():  # the float likelihoods: close, but they charge escaped outliers differently
        float_estimate = sum((-torch.log2(lik)).sum().item() for lik in codec(x).likelihoods.values())
    payload = sum(len(c) for c in parsed.chunks.values())
    framing = len(data) - payload  # magic, version, JSON header, chunk names and lengths, CRC
    assert framing < 700
    # each chunk frames two streams (z, y), each with a 32-bit length and up to 64 bits of coder flush
    # (the overhead measured 104 bits over 3,480 with one thread, within the old 64 bits per chunk with two)
    assert abs(8 * payload - meter.bits) <= 0.01 * meter.bits + 2 * 96 * len(parsed.chunks)
    assert abs(8 * payload - float_estimate) <= 0.1 * float_estimate + 64 * len(parsed.chunks)
    assert result.bpp == pytest.approx(8 * len(data) / (120 * 160))


def test_decoded_file_equals_the_codec_reconstruction(tmp_path, image_file, tiny_weights):
    compress_file(image_file, tmp_path / "a.omc", weights=tiny_weights)
    decompress_file(tmp_path / "a.omc", tmp_path / "a.png", weights=tiny_weights)
    codec = zoo.load_file_entry(tiny_weights).codec
    x = as_tensor(image_file)
    with torch.no_grad():
        expected = (codec(x).x_hat.clamp(0, 1)[0] * 255).round().byte().permute(1, 2, 0).numpy()
    decoded = np.asarray(Image.open(tmp_path / "a.png"))
    assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 1


def test_other_weights_are_refused(tmp_path, image_file, tiny_weights):
    compress_file(image_file, tmp_path / "a.omc", weights=tiny_weights)
    with pytest.raises(WeightsMismatchError, match="weights"):
        decompress_file(tmp_path / "a.omc", tmp_path / "a.png")  # the shipped default is another model
    assert not (tmp_path / "a.png").exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_real_files_raise_named_errors(tmp_path_factory, image_file, tiny_weights, data):
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.omc"
    compress_file(image_file, good, weights=tiny_weights)
    raw = bytearray(good.read_bytes())
    if data.draw(st.booleans()):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = (raw[pos] + data.draw(st.integers(1, 255))) % 256
    else:
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    bad = folder / "bad.omc"
    bad.write_bytes(bytes(raw))
    with pytest.raises(OmnicodecError):
        decompress_file(bad, folder / "out.png", weights=tiny_weights)
    assert not (folder / "out.png").exists()


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h["side_info"].update(size=[256000, 256000]),  # a huge latent behind a small media size
        lambda h: h["side_info"].update(size=[5, 5]),
        lambda h: h["side_info"].update(size="120x80"),
        lambda h: h["media"].update(height=10**6, width=10**6),
        lambda h: h.pop("side_info"),
        lambda h: h["coder"].update(name="another-coder"),
    ],
)
def test_crafted_headers_with_valid_crc_are_refused(tmp_path, image_file, tiny_weights, edit):
    compress_file(image_file, tmp_path / "a.omc", weights=tiny_weights)
    parsed = container.unpack((tmp_path / "a.omc").read_bytes())
    edit(parsed.header)
    (tmp_path / "b.omc").write_bytes(container.pack(parsed.header, parsed.chunks))
    with pytest.raises(OmnicodecError):
        decompress_file(tmp_path / "b.omc", tmp_path / "b.png", weights=tiny_weights)
    assert not (tmp_path / "b.png").exists()


def test_the_api_names_its_own_way_to_overwrite(tmp_path, image_file, tiny_weights):
    from omnicodec.errors import OutputExistsError

    out, back = tmp_path / "a.omc", tmp_path / "a.png"
    compress_file(image_file, out, weights=tiny_weights)
    with pytest.raises(OutputExistsError, match="overwrite=True") as caught:
        compress_file(image_file, out, weights=tiny_weights)
    assert "--force" not in str(caught.value)
    compress_file(image_file, out, weights=tiny_weights, overwrite=True)
    decompress_file(out, back, weights=tiny_weights)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        decompress_file(out, back, weights=tiny_weights)
    decompress_file(out, back, weights=tiny_weights, overwrite=True)
    decompress_file(out, back, tiny_weights, True)  # the older positional force still works


@pytest.mark.parametrize("device", ["foo", "cuda:99", "meta"])
def test_unusable_devices_are_named_before_anything_runs(tmp_path, image_file, device):
    from omnicodec.errors import InputError

    with pytest.raises(InputError, match="cpu"):
        compress_file(image_file, tmp_path / "a.omc", device=device)
    assert not (tmp_path / "a.omc").exists()


def test_files_of_retired_weights_say_so(tmp_path, image_file, tiny_weights, monkeypatch):
    from omnicodec import zoo
    from omnicodec.zoo.format import read_entry

    compress_file(image_file, tmp_path / "a.omc", weights=tiny_weights)
    sha = read_entry(tiny_weights)["sha256"]
    monkeypatch.setattr(zoo, "RETIRED", {sha[:16]: "tiny test model of release 0.0"})
    with pytest.raises(WeightsMismatchError, match="tiny test model of release 0.0 weights, which this omnicodec no longer"):
        decompress_file(tmp_path / "a.omc", tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
