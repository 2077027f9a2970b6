import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicodec.coding import container
from omnicodec.errors import (
    ContainerError,
    CorruptFileError,
    ForeignFileError,
    TruncatedFileError,
    UnsupportedVersionError,
)

HEADER = {"codec": "image/hyperprior", "quality": 3, "weights": "0123456789abcdef", "media": {"height": 5}}
CHUNKS = {"z": b"\x01\x02\x03\x04", "y": bytes(range(40))}
VALID = container.pack(HEADER, CHUNKS)


def test_round_trip_keeps_order_and_content():
    parsed = container.unpack(VALID)
    assert parsed.header == HEADER
    assert list(parsed.chunks) == ["z", "y"]
    assert parsed.chunks == CHUNKS
    assert VALID[:4] == container.MAGIC and VALID[0] >= 0x80


def test_empty_chunk_and_no_chunks():
    assert container.unpack(container.pack({}, {})).chunks == {}
    assert container.unpack(container.pack({"a": 1}, {"e": b""})).chunks == {"e": b""}


def test_every_single_byte_change_is_detected():
    for position in range(len(VALID)):
        for delta in (1, 0x80, 0xFF):
            damaged = bytearray(VALID)
            damaged[position] = (damaged[position] + delta) % 256
            with pytest.raises(ContainerError):
                container.unpack(bytes(damaged))


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(VALID) - 1), value=st.integers(0, 255))
def test_any_byte_value_anywhere_raises_a_named_error(position, value):
    damaged = bytearray(VALID)
    if damaged[position] == value:
        return
    damaged[position] = value
    with pytest.raises(ContainerError):
        container.unpack(bytes(damaged))


def test_every_truncation_is_detected():
    for length in range(len(VALID)):
        with pytest.raises((TruncatedFileError, CorruptFileError, ForeignFileError)):
            container.unpack(VALID[:length])


def test_truncation_names_itself():
    with pytest.raises(TruncatedFileError, match="truncated"):
        container.unpack(VALID[:-10])


def test_foreign_and_future_files():
    with pytest.raises(ForeignFileError):
        container.unpack(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ForeignFileError):
        container.unpack(b"")
    future = bytearray(VALID)
    struct.pack_into("<H", future, 4, container.FORMAT_VERSION + 1)
    with pytest.raises(UnsupportedVersionError, match="newer"):
        container.unpack(bytes(future))


def test_huge_declared_lengths_are_refused_without_allocating():
    damaged = bytearray(VALID)
    struct.pack_into("<I", damaged, 6, 0xFFFFFFFF)
    with pytest.raises(CorruptFileError):
        container.unpack(bytes(damaged))
    # a chunk that claims 4 GiB in a tiny file
    tiny = container.pack({}, {"a": b"xy"})
    head_len = struct.unpack_from("<I", tiny, 6)[0]
    pos = 10 + head_len + 4 + 1 + 1  # preamble, header, header CRC, name length, name
    damaged = bytearray(tiny)
    struct.pack_into("<I", damaged, pos, 0xFFFFFFF0)
    with pytest.raises(TruncatedFileError):
        container.unpack(bytes(damaged))


def test_pack_refuses_bad_input():
    with pytest.raises(ContainerError):
        container.pack({"x": float("nan")}, {})
    with pytest.raises(ContainerError):
        container.pack({}, {"": b""})
    with pytest.raises(ContainerError):
        container.pack({}, {"ü": b""})


def test_streaming_writer_and_reader(tmp_path):
    from omnicodec.coding.container import ContainerReader, ContainerWriter

    path = tmp_path / "v.omc"
    with ContainerWriter(path, {"frames": 3}) as writer:
        for i in range(3):
            writer.add(f"frame-{i}", bytes([i]) * (10 + i))
    assert path.read_bytes() == container.pack({"frames": 3}, {f"frame-{i}": bytes([i]) * (10 + i) for i in range(3)})
    reader = ContainerReader(path)
    assert reader.header == {"frames": 3}
    assert [n for n, _ in reader.chunks()] == ["frame-0", "frame-1", "frame-2"]
    # damage inside frame 1: the reader delivers frame 0, then names frame 1
    data = bytearray(path.read_bytes())
    data[data.index(b"frame-1") + 7 + 4 + 3] ^= 0x40
    (tmp_path / "bad.omc").write_bytes(bytes(data))
    reader = ContainerReader(tmp_path / "bad.omc")
    chunks = reader.chunks()
    assert next(chunks)[0] == "frame-0"
    with pytest.raises(CorruptFileError, match="frame-1") as info:
        next(chunks)
    assert info.value.chunk == "frame-1"


def test_streaming_writer_leaves_nothing_on_error(tmp_path):
    from omnicodec.coding.container import ContainerWriter

    with pytest.raises(RuntimeError):
        with ContainerWriter(tmp_path / "x.omc", {}) as writer:
            writer.add("a", b"1")
            raise RuntimeError("encoder failed")
    assert list(tmp_path.iterdir()) == []
