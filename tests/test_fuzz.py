"""Fuzzing every decoder: damaged files whose checksums are *recomputed*, so the damage
reaches the header checks, the stream parsers and the range decoder itself.

Each case must decode or raise an ``OmnicodecError``; nothing else may escape, nothing may
hang (a per-case alarm), and a failed decode leaves no output behind. The number of cases
per medium is ``OMNICODEC_FUZZ_CASES`` (default 20; set it higher for a longer session).
"""

import json
import os
import signal
from contextlib import contextmanager

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, smooth_images
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.coding import container
from omnicodec.datasets.video_io import VideoWriter
from omnicodec.errors import OmnicodecError
from omnicodec.zoo import save_weights

CASES = int(os.environ.get("OMNICODEC_FUZZ_CASES", "20"))
SECONDS_PER_CASE = 60
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@contextmanager
def alarm(seconds: int):
    def timeout(*_):
        raise AssertionError(f"a decode ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_image(folder):
    from PIL import Image

    path = folder / "in.png"
    array = (smooth_images(1, 80, seed=3)[0, :, :72].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def make_video(folder):
    path = folder / "clip"
    frames = smooth_images(3, 48, seed=5)
    writer = VideoWriter(path, 48, 40, (25, 1))
    for f in frames:
        writer.write((f[:, :40].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    writer.commit()
    return path


def make_speech(folder):
    audio, rate = sf.read(FIXTURES / "voice-22k-stereo.wav")
    path = folder / "in.wav"
    sf.write(path, audio[: rate * 3 // 2], rate)  # 1.5 s: one full chunk and a partial one
    return path


MEDIA = {
    "image": ("image/hyperprior", {"N": 8, "M": 12}, make_image, "out.png"),
    "image-s2lic": ("image/s2lic", {"N": 16, "M": 32, "hyper_channels": 16, "slice_channels": 16,
                                    "depths": [1, 1, 1, 1, 1], "heads": [2, 2, 2, 2, 2], "window": 4,
                                    "context_dim": 16, "couplings": 1}, make_image, "out.png"),
    "video": ("video/stem", {"N": 8, "M": 12, "intra_period": 2}, make_video, "out.y4m"),
    "speech": ("speech/ecc", {"channels": [8, 8, 8, 8], "M": 8, "N": 8, "slices": [4, 4], "chunk_frames": 16,
                              "context_frames": 4}, make_speech, "out.wav"),
}


@pytest.fixture(scope="module", params=sorted(MEDIA))
def coded(request, tmp_path_factory):
    codec_id, config, make, out_name = MEDIA[request.param]
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    torch.manual_seed(0)
    weights = save_weights(create_codec(codec_id, config).eval().freeze(), folder, "fuzz", quality=1)
    compress_file(make(folder), folder / "good.omc", weights=weights)
    data = (folder / "good.omc").read_bytes()
    decompress_file(folder / "good.omc", folder / out_name, weights=weights)  # the undamaged file decodes
    return {"weights": weights, "data": data, "out": out_name, "parsed": container.unpack(data)}


def mutate_payload(parsed, data):
    chunks = dict(parsed.chunks)
    name = data.draw(st.sampled_from(sorted(chunks)))
    raw = bytearray(chunks[name])
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "random"]))
    if kind == "flip" and raw:
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif kind == "extend":
        raw += bytes(data.draw(st.binary(min_size=1, max_size=64)))
    else:
        raw = bytearray(data.draw(st.binary(max_size=2 * len(raw) + 8)))
    chunks[name] = bytes(raw)
    return parsed.header, chunks


HOSTILE_VALUES = st.one_of(
    st.integers(-(2**63), 2**63),
    st.sampled_from([0, -1, 1, 2**31, 2**40, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.none(),
    st.lists(st.integers(-(2**40), 2**40), max_size=6),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def mutate_header(parsed, data):
    header = json.loads(json.dumps(parsed.header))
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append(path + (k,))
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append(path + (i,))
                walk(v, path + (i,))

    walk(header, ())
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = header
        try:
            for key in path[:-1]:
                node = node[key]
            if data.draw(st.booleans()) and isinstance(node, dict):
                del node[path[-1]]
            else:
                node[path[-1]] = data.draw(HOSTILE_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    return header, parsed.chunks


@FUZZ
@given(data=st.data())
def test_damaged_files_with_valid_checksums_decode_or_raise_named_errors(coded, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("case")
    parsed = container.unpack(coded["data"])
    if data.draw(st.booleans()):
        header, chunks = mutate_payload(parsed, data)
    else:
        header, chunks = mutate_header(parsed, data)
    try:
        raw = container.pack(header, chunks)
    except OmnicodecError:
        return  # not even representable as a file (e.g. a NaN, which the writer refuses)
    (folder / "bad.omc").write_bytes(raw)
    out = folder / coded["out"]
    with alarm(SECONDS_PER_CASE):
        try:
            decompress_file(folder / "bad.omc", out, weights=coded["weights"])
        except OmnicodecError:
            assert not out.exists()
            assert [p.name for p in folder.iterdir()] == ["bad.omc"]  # no temporary left behind
        else:
            assert out.exists()


@pytest.mark.parametrize("field, value", [("side_info", None), ("quality", "3"), ("weights", 7), ("media", [])])
def test_header_fields_of_the_wrong_type_are_corrupt_files(coded, tmp_path, field, value):
    """Cases the fuzzer found, kept as fixed regressions for every medium."""
    from omnicodec.errors import CorruptFileError

    parsed = container.unpack(coded["data"])
    (tmp_path / "bad.omc").write_bytes(container.pack({**parsed.header, field: value}, parsed.chunks))
    with pytest.raises(CorruptFileError, match="malformed"):
        decompress_file(tmp_path / "bad.omc", tmp_path / coded["out"], weights=coded["weights"])
    assert not (tmp_path / coded["out"]).exists()
