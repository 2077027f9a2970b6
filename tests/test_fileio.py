"""The atomic writer (:mod:`omnicodec.fileio`): every output gets the permissions of a plain
write under the umask of the moment, and a write that fails leaves the target as it was and
no temporary file behind."""

import os

import pytest

from conftest import make_input
from omnicodec import compress_file, decompress_file
from omnicodec.fileio import atomic_file


@pytest.fixture(params=[0o022, 0o077], ids=["umask-022", "umask-077"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def all_outputs(coded, folder):
    """Every kind of output omnicodec writes, in ``folder``, through the public API."""
    compress_file(make_input("image", folder), folder / "image.omc", weights=coded["image"][1])
    decompress_file(coded["image"][0], folder / "image.png", weights=coded["image"][1])
    decompress_file(coded["video"][0], folder / "video.y4m", weights=coded["video"][1])
    decompress_file(coded["video"][0], folder / "frames", weights=coded["video"][1])
    decompress_file(coded["speech"][0], folder / "speech.wav", weights=coded["speech"][1])
    compress_file(make_input("speech", folder), folder / "speech.omc", weights=coded["speech"][1])
    return ["image.omc", "image.png", "video.y4m", "frames", "frames/frame_00001.png", "speech.wav", "speech.omc"]


def test_outputs_get_the_permissions_of_a_plain_write(coded, tmp_path, umask):
    names = all_outputs(coded, tmp_path)
    with open(tmp_path / "plain", "w"):
        pass
    (tmp_path / "plain-folder").mkdir()
    for name in names:
        plain = tmp_path / ("plain-folder" if (tmp_path / name).is_dir() else "plain")
        mode, expected = (tmp_path / name).stat().st_mode & 0o777, plain.stat().st_mode & 0o777
        assert mode == expected, f"{name}: {oct(mode)} where a plain write gives {oct(expected)} (umask {oct(umask)})"


def test_writers_never_touch_the_umask(coded, tmp_path, monkeypatch):
    """Changing the umask is process-wide: another thread's plain open() would get mode 0666."""

    def forbidden(_mask):
        raise AssertionError("os.umask was called")

    monkeypatch.setattr(os, "umask", forbidden)
    all_outputs(coded, tmp_path)


def test_a_failed_write_keeps_the_old_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"new")
        raise RuntimeError("the writer failed half-way")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    (tmp_path / "out").mkdir()  # a file cannot replace a folder
    with pytest.raises(OSError), atomic_file(tmp_path / "out") as f:
        f.write(b"data")
    assert os.listdir(tmp_path) == ["out"]


def test_a_library_that_writes_by_name_gets_a_temporary_path_with_the_suffix(tmp_path):
    target = tmp_path / "out.wav"
    with atomic_file(target, suffix=".wav", by_name=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".wav" and not target.exists()
        with open(tmp, "wb") as f:
            f.write(b"RIFF")
    assert target.read_bytes() == b"RIFF"
    assert os.listdir(tmp_path) == ["out.wav"]


@pytest.mark.parametrize("make", ["make_temp_file", "make_temp_dir"])
def test_a_folder_we_cannot_write_in_is_named_by_the_output_not_our_temporary(tmp_path, monkeypatch, make):
    import errno

    from omnicodec import fileio

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))

    monkeypatch.setattr(os, "open" if make == "make_temp_file" else "mkdir", refuse)
    with pytest.raises(PermissionError) as info:
        getattr(fileio, make)(tmp_path / "out.png")
    assert info.value.filename == str(tmp_path / "out.png") and "Permission denied" in info.value.strerror
