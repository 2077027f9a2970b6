"""Every kind of image Pillow opens is converted explicitly and round-trips through a file."""

import numpy as np
import pytest
from PIL import Image

from omnicodec import compress_file, decompress_file
from omnicodec.datasets import read_image
from omnicodec.errors import InputError


def make(tmp_path, name, mode, size=(20, 13), **save):
    rng = np.random.default_rng(0)
    w, h = size
    if mode in ("I;16",):
        im = Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16))
    elif mode == "F":
        im = Image.fromarray(rng.random((h, w)).astype(np.float32), "F")
    else:
        im = Image.fromarray(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), "RGB").convert(mode)
    path = tmp_path / name
    im.save(path, **save)
    return path


CASES = [
    ("rgb.png", "RGB", "RGB", None),
    ("gray.png", "L", "L", "grayscale"),
    ("rgba.png", "RGBA", "RGB", "alpha channel dropped"),
    ("la.png", "LA", "RGB", "alpha channel dropped"),
    ("palette.png", "P", "RGB", "converted to RGB"),
    ("deep.png", "I;16", "L", "16-bit grayscale scaled to 8 bits"),
    ("float.tif", "F", "L", "float grayscale in [0, 1] scaled to 8 bits"),
    ("cmyk.jpg", "CMYK", "RGB", "converted to RGB"),
    ("bw.png", "1", "RGB", "converted to RGB"),
]


@pytest.mark.parametrize("name,mode,out_mode,note", CASES)
def test_conversions_are_stated_and_round_trip(tmp_path, tiny_weights, name, mode, out_mode, note):
    src = make(tmp_path, name, mode)
    array, info = read_image(src)
    assert array.dtype == np.uint8 and array.shape == (13, 20, 3)
    assert info.output_mode == out_mode
    if note is None:
        assert info.notes == []
    else:
        assert any(note in n for n in info.notes), info.notes
    result = compress_file(src, tmp_path / "c.omc", weights=tiny_weights)
    assert result.notes == info.notes
    decompress_file(tmp_path / "c.omc", tmp_path / "d.png", weights=tiny_weights)
    back = Image.open(tmp_path / "d.png")
    assert back.size == (20, 13) and back.mode == out_mode


def test_deep_grayscale_values(tmp_path):
    Image.fromarray(np.array([[0, 65535], [257, 32896]], dtype=np.uint16)).save(tmp_path / "d.png")
    array, _ = read_image(tmp_path / "d.png")
    np.testing.assert_array_equal(array[..., 0], [[0, 255], [1, 128]])
    Image.fromarray(np.array([[-5.0, 5.0]], dtype=np.float32), "F").save(tmp_path / "f.tif")
    array, info = read_image(tmp_path / "f.tif")
    np.testing.assert_array_equal(array[..., 0], [[0, 255]])
    assert "stretched from [-5, 5]" in info.notes[0]


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    im.save(tmp_path / "o.jpg", exif=exif)
    array, info = read_image(tmp_path / "o.jpg")
    assert array.shape == (30, 10, 3)
    assert "EXIF orientation applied" in info.notes


@pytest.mark.parametrize("size", [(1, 1), (1, 97), (65, 1)])
def test_tiny_and_thin_images(tmp_path, tiny_weights, size):
    src = make(tmp_path, "t.png", "RGB", size=size)
    compress_file(src, tmp_path / "t.omc", weights=tiny_weights)
    decompress_file(tmp_path / "t.omc", tmp_path / "t2.png", weights=tiny_weights)
    assert Image.open(tmp_path / "t2.png").size == size


def test_unreadable_inputs(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="not an image"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)
    good = make(tmp_path, "cut.png", "RGB", size=(64, 64))
    good.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError):
        read_image(good)


def test_input_is_never_modified(tmp_path, tiny_weights):
    src = make(tmp_path, "keep.png", "RGBA")
    before = src.read_bytes()
    compress_file(src, tmp_path / "k.omc", weights=tiny_weights)
    assert src.read_bytes() == before
