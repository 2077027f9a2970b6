"""What decoding and encoding may write: never the input, never a folder we did not write,
outputs with the permissions of a plain write, atomic folder replacement, and temporary
files that a rerun cleans up after a ``kill -9``."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from conftest import FIXTURES, smooth_images
from omnicodec import compress_file, decompress_file, fileio
from omnicodec.codecs import create_codec
from omnicodec.datasets.video_io import VideoWriter
from omnicodec.errors import InputError, OutputExistsError
from omnicodec.zoo import save_weights

CONFIGS = {
    "image": ("image/hyperprior", {"N": 8, "M": 12}),
    "video": ("video/stem", {"N": 8, "M": 12, "intra_period": 2}),
    "speech": ("speech/ecc", {"channels": [8, 8, 8, 8], "M": 8, "N": 8, "slices": [4, 4], "chunk_frames": 16,
                              "context_frames": 4}),
}


def make_input(media, folder):
    if media == "image":
        path = folder / "in.png"
        array = (smooth_images(1, 48, seed=3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(path)
    elif media == "video":
        path = folder / "in.y4m"
        writer = VideoWriter(path, 32, 32, (25, 1))
        for f in smooth_images(2, 32, seed=5):
            writer.write((f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        writer.commit()
    else:
        audio, rate = sf.read(FIXTURES / "voice-22k-stereo.wav")
        path = folder / "in.wav"
        sf.write(path, audio[: rate // 2], rate)
    return path


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """One small file per medium, with the weights that decode it."""
    folder = tmp_path_factory.mktemp("coded")
    out = {}
    for media, (codec_id, config) in CONFIGS.items():
        torch.manual_seed(0)
        weights = save_weights(create_codec(codec_id, config).eval().freeze(), folder, media, quality=1)
        compress_file(make_input(media, folder), folder / f"{media}.omc", weights=weights)
        out[media] = (folder / f"{media}.omc", weights)
    return out


# --- defect 1: decoding to a folder of frames ------------------------------------------------


def test_force_never_deletes_a_folder_omnicodec_did_not_write(coded, tmp_path):
    omc, weights = coded["video"]
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    (folder / "frame_00001.png").write_bytes(b"mine too")
    with pytest.raises(OutputExistsError, match="did not write"):
        decompress_file(omc, folder, weights=weights, force=True)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_00001.png", "holiday.jpg"]
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # no temporary folder left


def test_force_into_the_current_directory_is_refused(coded, tmp_path, monkeypatch):
    omc, weights = coded["video"]
    (tmp_path / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError):
        decompress_file(omc, ".", weights=weights, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_previous_frame_output_is_replaced_and_anything_added_to_it_is_kept(coded, tmp_path):
    omc, weights = coded["video"]
    frames = tmp_path / "frames"
    decompress_file(omc, frames, weights=weights)
    first = sorted(p.name for p in frames.iterdir())
    assert fileio.FRAME_MANIFEST in first and "frame_00002.png" in first
    (frames / "frame_00001.png").write_bytes(b"stale")  # a file of ours, changed: ours to replace
    decompress_file(omc, frames, weights=weights, force=True)
    assert sorted(p.name for p in frames.iterdir()) == first
    assert Image.open(frames / "frame_00001.png").size == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # the old folder is gone
    (frames / "notes.txt").write_text("added by the user")
    with pytest.raises(OutputExistsError, match="notes.txt"):
        decompress_file(omc, frames, weights=weights, force=True)
    assert (frames / "notes.txt").read_text() == "added by the user"


def test_a_kill_during_the_folder_swap_leaves_one_complete_output(coded, tmp_path, monkeypatch):
    """Simulated kills (an exception that skips the rest) just before and just after the swap."""
    omc, weights = coded["video"]
    frames = tmp_path / "frames"
    decompress_file(omc, frames, weights=weights)
    (frames / "frame_00001.png").write_bytes(b"old")  # marks the old output

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as m:  # before the exchange: the old output stays in place
        m.setattr(fileio, "_exchange", killed)
        with pytest.raises(KeyboardInterrupt):
            decompress_file(omc, frames, weights=weights, force=True)
    assert (frames / "frame_00001.png").read_bytes() == b"old"
    with monkeypatch.context() as m:  # after the exchange, before the old one is removed
        m.setattr(fileio.shutil, "rmtree", killed)
        with pytest.raises(KeyboardInterrupt):
            decompress_file(omc, frames, weights=weights, force=True)
    assert (frames / "frame_00001.png").read_bytes() != b"old"
    assert fileio.check_frame_folder(frames) is None  # complete: manifest and every frame


@pytest.mark.parametrize("name", ["clip.y4m", "frames-file"])
def test_force_never_replaces_a_folder_by_a_file_or_a_file_by_a_folder(coded, tmp_path, name):
    omc, weights = coded["video"]
    target = tmp_path / name
    if name.endswith(".y4m"):
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine")
    with pytest.raises(OutputExistsError):
        decompress_file(omc, target, weights=weights, force=True)
    assert (target / "keep.txt" if target.is_dir() else target).read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


# --- defect 2: the input is never the output ----------------------------------------------------

OUT_SUFFIX = {"image": ".png", "video": ".y4m", "speech": ".wav"}


@pytest.mark.parametrize("media", sorted(CONFIGS))
@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
def test_decompress_refuses_to_overwrite_its_input(coded, tmp_path, media, how):
    omc, weights = coded[media]
    source = tmp_path / f"k{OUT_SUFFIX[media]}"  # an omnicodec file named like its output
    source.write_bytes(omc.read_bytes())
    output = source
    if how == "symlink":
        output = tmp_path / f"link{OUT_SUFFIX[media]}"
        output.symlink_to(source)
    elif how == "hard link":
        output = tmp_path / f"hard{OUT_SUFFIX[media]}"
        os.link(source, output)
    with pytest.raises(InputError, match="same file"):
        decompress_file(source, output, weights=weights, force=True)
    assert source.read_bytes() == omc.read_bytes()


def test_compress_refuses_a_hard_link_to_its_input(coded, tmp_path):
    source = make_input("image", tmp_path)
    os.link(source, tmp_path / "copy.omc")
    before = source.read_bytes()
    with pytest.raises(InputError, match="same file"):
        compress_file(source, tmp_path / "copy.omc", weights=coded["image"][1], force=True)
    assert source.read_bytes() == before


# --- defect 6: permissions and leftovers -----------------------------------------------------------


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield 0o027
    os.umask(previous)


def all_outputs(coded, folder):
    """Every kind of output omnicodec writes, in ``folder``."""
    compress_file(make_input("image", folder), folder / "image.omc", weights=coded["image"][1])
    decompress_file(coded["image"][0], folder / "image.png", weights=coded["image"][1])
    decompress_file(coded["video"][0], folder / "video.y4m", weights=coded["video"][1])
    decompress_file(coded["video"][0], folder / "frames", weights=coded["video"][1])
    decompress_file(coded["speech"][0], folder / "speech.wav", weights=coded["speech"][1])
    compress_file(make_input("speech", folder), folder / "speech.omc", weights=coded["speech"][1])
    return ["image.omc", "image.png", "video.y4m", "frames", "frames/frame_00001.png", "speech.wav", "speech.omc"]


def test_outputs_get_the_permissions_of_a_plain_write(coded, tmp_path, umask_027):
    names = all_outputs(coded, tmp_path)
    for name in names:
        mode = (tmp_path / name).stat().st_mode & 0o777
        expected = (0o777 if (tmp_path / name).is_dir() else 0o666) & ~umask_027
        assert mode == expected, f"{name}: {oct(mode)} instead of {oct(expected)}"


def test_writers_never_touch_the_umask(coded, tmp_path, monkeypatch):
    """Changing the umask is process-wide: another thread's plain open() would get mode 0666."""

    def forbidden(_mask):
        raise AssertionError("os.umask was called")

    monkeypatch.setattr(os, "umask", forbidden)
    all_outputs(coded, tmp_path)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_rerun_removes_its_own_leftovers_from_a_kill(coded, tmp_path):
    target = tmp_path / "image.png"
    gone, alive = dead_pid(), os.getppid()
    stale_file = tmp_path / f".image.png.omc-tmp-{gone}-0badf00d"
    stale_dir = tmp_path / f".frames.omc-tmp-{gone}-0badf00d"
    busy = tmp_path / f".image.png.omc-tmp-{alive}-0badf00d"  # another process still writing
    stale_file.write_bytes(b"partial")
    stale_dir.mkdir()
    (stale_dir / "frame_00001.png").write_bytes(b"partial")
    busy.write_bytes(b"in progress")
    (tmp_path / ".image.png.user-file").write_bytes(b"not ours")
    decompress_file(coded["image"][0], target, weights=coded["image"][1])
    decompress_file(coded["video"][0], tmp_path / "frames", weights=coded["video"][1])
    assert not stale_file.exists() and not stale_dir.exists()
    assert busy.exists() and (tmp_path / ".image.png.user-file").exists()


@pytest.mark.slow
def test_kill_9_at_any_moment_leaves_a_complete_frame_folder(coded, tmp_path):
    """Real ``kill -9`` at spread-out moments of a ``--force`` decode onto a previous output."""
    import json
    import signal
    import time

    omc, weights = coded["video"]
    frames = tmp_path / "frames"
    decompress_file(omc, frames, weights=weights)
    script = (f"from omnicodec import decompress_file; "
              f"decompress_file({str(omc)!r}, {str(frames)!r}, weights={str(weights)!r}, force=True)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    full = time.perf_counter() - start
    for k in range(10):
        proc = subprocess.Popen([sys.executable, "-c", script], env=env)
        time.sleep(full * (0.5 + 0.07 * k))  # from inside the imports to the end of the run
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manifest = json.loads((frames / fileio.FRAME_MANIFEST).read_text())
        fileio.check_frame_folder(frames)
        assert all((frames / name).is_file() for name in manifest["files"]) and len(manifest["files"]) == 2
    decompress_file(omc, frames, weights=weights, force=True)  # a rerun removes the leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
