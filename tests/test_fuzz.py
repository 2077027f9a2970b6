"""Fuzzing every decoder: damaged files whose checksums are *recomputed*, so the damage
reaches the header checks, the stream parsers and the range decoder itself, and headers
holding JSON that omnicodec's own writer cannot produce (deep nesting, huge integers,
NaN / Infinity), written byte by byte around it, and huge declared sizes with a valid ``z``
stream.

Each case runs in a forked child under a memory limit (``RLIMIT_AS``: the parent's address
space plus 3 GiB) and a time limit. It must decode or raise an ``OmnicodecError``; nothing
else may escape (an allocation failure too is an outcome the test refuses), nothing may
hang, and a failed decode leaves no output behind. The number of cases per medium is
``OMNICODEC_FUZZ_CASES`` (default 20; set it higher for a longer session).
"""

import json
import os
import struct
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, run_limited, smooth_images
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


def decode_limited(folder, coded) -> str:
    """Decode ``folder/bad.omc`` in a memory-limited child; check what it left behind."""
    out = folder / coded["out"]
    status = run_limited(lambda: decompress_file(folder / "bad.omc", out, weights=coded["weights"]),
                         seconds=SECONDS_PER_CASE)
    assert status == "ok" or status.startswith("omnicodec: "), status
    if status == "ok":
        assert out.exists()
    else:
        assert not out.exists()
        assert [p.name for p in folder.iterdir()] == ["bad.omc"]  # no temporary left behind
    return status


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
    return {"weights": weights, "data": data, "out": out_name, "parsed": container.unpack(data),
            "medium": request.param.split("-")[0], "name": request.param}


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


def value_paths(node, path=()) -> list[tuple]:
    """The path (keys and indices) of every value in a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    paths = []
    for key, value in items:
        paths += [path + (key,), *value_paths(value, path + (key,))]
    return paths


def mutate_header(parsed, data):
    header = json.loads(json.dumps(parsed.header))
    paths = value_paths(header)
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
    decode_limited(folder, coded)


# --- JSON no writer of ours produces -----------------------------------------------------------

_U32 = struct.Struct("<I")


def pack_raw_header(head: bytes, chunks: dict[str, bytes]) -> bytes:
    """A file around arbitrary header bytes, every CRC valid."""
    body = container._PREAMBLE.pack(container.MAGIC, container.FORMAT_VERSION, len(head)) + head
    body += _U32.pack(zlib.crc32(head)) + b"".join(container._chunk_bytes(n, p) for n, p in chunks.items())
    return body + _U32.pack(zlib.crc32(body))


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "0" + "}" * depth


RAW_JSON_VALUES = st.one_of(
    st.builds(_nested, st.sampled_from([15, 17, 100, 1000, 100_000]), st.sampled_from(["list", "object"])),
    st.builds(lambda sign, n: sign + "9" * n, st.sampled_from(["", "-"]), st.sampled_from([19, 20, 41, 400, 5000, 100_000])),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e308", "-1e308", "4.9e-324",
                     "1" + "0" * 39 + ".5", "0." + "0" * 50 + "1", "true", "null", '""', "[]", "{}"]),
    st.builds(lambda n: "[" + ",".join(["1"] * n) + "]", st.sampled_from([0, 7, 10_000])),
)


@FUZZ
@given(data=st.data())
def test_hostile_json_values_in_headers_raise_named_errors(coded, tmp_path_factory, data):
    """Replace 1-3 header values with raw JSON tokens (bypassing ``json.dumps``)."""
    folder = tmp_path_factory.mktemp("case")
    parsed = container.unpack(coded["data"])
    header = json.loads(json.dumps(parsed.header))
    paths = value_paths(header)
    tokens = {}
    for i in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = header
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = f"@@RAW{i}@@"
        except (KeyError, IndexError, TypeError):
            continue
        tokens[f'"@@RAW{i}@@"'] = data.draw(RAW_JSON_VALUES)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    for placeholder, token in tokens.items():
        text = text.replace(placeholder, token)
    (folder / "bad.omc").write_bytes(pack_raw_header(text.encode(), parsed.chunks))
    decode_limited(folder, coded)


def _valid_z(weights, rows: int, cols: int) -> bytes:
    """A ``z`` stream of zeros that the file's own model decodes."""
    from omnicodec.entropy_models import EntropyBottleneck
    from omnicodec.zoo import load_file_entry

    model = load_file_entry(weights).codec
    bottleneck = next(m for m in model.modules() if isinstance(m, EntropyBottleneck))  # the intra one for video
    shape = [1, bottleneck.channels, rows, cols]
    stream, _ = bottleneck.compress(torch.zeros(shape))
    return stream.streams[""]


HUGE_SIZES = [(4096, 4096), pytest.param(8192, 8192, marks=pytest.mark.slow),
              pytest.param(16384, 16384, marks=pytest.mark.slow), pytest.param(64, 1 << 22, marks=pytest.mark.slow)]
# Cases that run out of time or memory before any error: they need the memory estimate made
# before allocating for a declared size (issue 16, defect 3), which is not in yet.
NEEDS_MEMORY_CHECKS = {("image-s2lic", 16384, 16384), ("image-s2lic", 64, 1 << 22)}


@pytest.mark.parametrize("height, width", HUGE_SIZES)
def test_huge_declared_sizes_with_a_valid_z_stream(coded, tmp_path, request, height, width):
    """A small file declaring a huge image (or video frame) whose ``z`` stream decodes."""
    if coded["medium"] not in ("image", "video"):
        pytest.skip("speech declares no frame size")
    if (coded["name"], height, width) in NEEDS_MEMORY_CHECKS:
        request.applymarker(pytest.mark.xfail(
            strict=False, reason="no memory estimate before allocating for declared sizes yet (issue 16, defect 3)"))
    parsed = container.unpack(coded["data"])
    header = json.loads(json.dumps(parsed.header))
    header["media"].update(height=height, width=width)
    header["side_info"]["size"] = [height, width]
    ph, pw = -(-height // 64) * 64, -(-width // 64) * 64
    z = _valid_z(coded["weights"], ph // 64, pw // 64)
    unit = "image" if coded["medium"] == "image" else "frame-0"  # its z stream, then its y stream
    first = parsed.chunks[unit]
    (z_len,) = _U32.unpack_from(first)
    chunks = {unit: _U32.pack(len(z)) + z + first[4 + z_len :]}
    (tmp_path / "bad.omc").write_bytes(container.pack(header, chunks))
    status = decode_limited(tmp_path, coded)
    assert status.startswith("omnicodec: "), status


@pytest.mark.parametrize("field, value", [("side_info", None), ("quality", "3"), ("weights", 7), ("media", [])])
def test_header_fields_of_the_wrong_type_are_corrupt_files(coded, tmp_path, field, value):
    """Cases the fuzzer found, kept as fixed regressions for every medium."""
    from omnicodec.errors import CorruptFileError

    parsed = container.unpack(coded["data"])
    (tmp_path / "bad.omc").write_bytes(container.pack({**parsed.header, field: value}, parsed.chunks))
    with pytest.raises(CorruptFileError, match="malformed"):
        decompress_file(tmp_path / "bad.omc", tmp_path / coded["out"], weights=coded["weights"])
    assert not (tmp_path / coded["out"]).exists()
