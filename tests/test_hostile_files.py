"""Files crafted to break the reader, with valid checksums: hostile JSON headers (deep nesting,
huge integers, NaN / Infinity) and speech files with a bad file CRC, trailing bytes or chunks
after their end. Each must be refused with a named error, by ``decompress`` and ``info``."""

import json
import struct
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import FIXTURES, smooth_images
from omnicodec import compress_file, decompress_file
from omnicodec.cli import main
from omnicodec.codecs import create_codec
from omnicodec.coding import container
from omnicodec.errors import CorruptFileError
from omnicodec.zoo import save_weights

U32 = struct.Struct("<I")


def pack_raw_header(head: bytes, chunks: dict[str, bytes]) -> bytes:
    """A file around header bytes omnicodec's own writer would refuse, every CRC valid."""
    body = container._PREAMBLE.pack(container.MAGIC, container.FORMAT_VERSION, len(head)) + head
    body += U32.pack(zlib.crc32(head)) + b"".join(container._chunk_bytes(n, p) for n, p in chunks.items())
    return body + U32.pack(zlib.crc32(body))


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("hostile-image")
    torch.manual_seed(0)
    weights = save_weights(create_codec("image/hyperprior", {"N": 8, "M": 12}).eval().freeze(), folder, "w", quality=1)
    array = (smooth_images(1, 40, seed=1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(folder / "in.png")
    compress_file(folder / "in.png", folder / "good.omc", weights=weights)
    return folder / "good.omc", weights


def header_text(parsed) -> str:
    return container._header_bytes(parsed.header)[container._PREAMBLE.size : -4].decode()


HOSTILE = {
    "nested 100,000 deep": lambda text: text[:-1] + ',"x":' + "[" * 100_000 + "]" * 100_000 + "}",
    "a 5,000-digit integer": lambda text: text.replace('"height":40', '"height":' + "9" * 5000),
    "NaN": lambda text: text.replace('"height":40', '"height":NaN'),
    "Infinity": lambda text: text.replace('"height":40', '"height":Infinity'),
    "-Infinity": lambda text: text.replace('"width":40', '"width":-Infinity'),
    "1e999 (infinite as a float)": lambda text: text.replace('"height":40', '"height":1e999'),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_json_headers_are_corrupt_files(image_file, tmp_path, capsys, case):
    good, weights = image_file
    parsed = container.unpack(good.read_bytes())
    text = HOSTILE[case](header_text(parsed))
    assert text != header_text(parsed)
    bad = tmp_path / "bad.omc"
    bad.write_bytes(pack_raw_header(text.encode(), parsed.chunks))
    with pytest.raises(CorruptFileError):
        decompress_file(bad, tmp_path / "out.png", weights=weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.omc"]
    capsys.readouterr()
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnicodec: error:") and err.count("\n") == 1, err


def test_a_fractional_image_size_is_a_corrupt_file(image_file, tmp_path):
    good, weights = image_file
    parsed = container.unpack(good.read_bytes())
    (tmp_path / "bad.omc").write_bytes(container.pack({**parsed.header, "media": {**parsed.header["media"], "height": 40.5}},
                                                      parsed.chunks))
    with pytest.raises(CorruptFileError, match="integers"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.png", weights=weights)


def test_long_numbers_are_refused_before_they_are_converted(speech_file, tmp_path):
    """A 400-digit integer parses in Python, but ``float()`` of it overflows (the speech
    decoder reads its skip threshold that way)."""
    with pytest.raises(CorruptFileError, match="digits"):
        container.parse_header(b'{"a":' + b"1" * (container.MAX_NUMBER_CHARS + 1) + b"}")
    assert container.parse_header(b'{"a":' + b"1" * container.MAX_NUMBER_CHARS + b"}")["a"] > 0
    good, weights = speech_file
    parsed = container.unpack(good.read_bytes())
    text = container._header_bytes(parsed.header)[container._PREAMBLE.size : -4].decode()
    tau = '"skip_tau":' + json.dumps(parsed.header["side_info"]["skip_tau"])
    assert tau in text
    (tmp_path / "bad.omc").write_bytes(pack_raw_header(text.replace(tau, '"skip_tau":' + "7" * 400).encode(),
                                                       parsed.chunks))
    with pytest.raises(CorruptFileError):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.wav", weights=weights)


def test_a_header_nested_just_within_the_bound_is_read(image_file):
    parsed = container.unpack(image_file[0].read_bytes())
    depth = container.MAX_HEADER_DEPTH - 1  # the header object itself is one level
    text = header_text(parsed)[:-1] + ',"x":' + "[" * depth + "]" * depth + "}"
    x = container.unpack(pack_raw_header(text.encode(), parsed.chunks)).header["x"]
    for _ in range(depth - 1):
        x = x[0]
    assert x == []
    text = header_text(parsed)[:-1] + ',"x":' + "[" * (depth + 1) + "]" * (depth + 1) + "}"
    with pytest.raises(CorruptFileError, match="nested"):
        container.unpack(pack_raw_header(text.encode(), parsed.chunks))


# --- speech: the whole file is checked ------------------------------------------------------


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-speech")
    torch.manual_seed(0)
    config = {"channels": [8, 8, 8, 8], "M": 8, "N": 8, "slices": [4, 4], "chunk_frames": 16, "context_frames": 4}
    weights = save_weights(create_codec("speech/ecc", config).eval().freeze(), folder, "w", quality=1)
    audio, rate = sf.read(FIXTURES / "voice-22k-stereo.wav")
    sf.write(folder / "in.wav", audio[: rate // 2], rate)
    compress_file(folder / "in.wav", folder / "good.omc", weights=weights)
    decompress_file(folder / "good.omc", folder / "good.wav", weights=weights)  # the undamaged file decodes
    return folder / "good.omc", weights


def damaged_speech(data: bytes, how: str) -> bytes:
    if how == "1,000 random bytes appended":
        return data + np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    if how == "a wrong file CRC":
        return data[:-4] + U32.pack(zlib.crc32(data[:-4]) ^ 1)
    parsed = container.unpack(data)
    chunks = dict(parsed.chunks)
    if how == "a chunk after the end chunk":
        chunks["extra"] = b"hello"
    else:  # "an audio chunk after the end chunk"
        chunks[f"chunk-{len(chunks) - 1}"] = chunks["chunk-0"]
    return container.pack(parsed.header, chunks)


@pytest.mark.parametrize(
    "how", ["1,000 random bytes appended", "a wrong file CRC", "a chunk after the end chunk",
            "an audio chunk after the end chunk"],
)
def test_speech_decoder_checks_the_whole_file(speech_file, tmp_path, how):
    good, weights = speech_file
    (tmp_path / "bad.omc").write_bytes(damaged_speech(good.read_bytes(), how))
    with pytest.raises(CorruptFileError):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.wav", weights=weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.omc"]
