"""What decoding and encoding may write: never the input, never a folder we did not write,
atomic folder replacement, and temporary files that a rerun cleans up after a ``kill -9``
(permissions: test_fileio.py)."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import CONFIGS, make_input
from omnicodec import compress_file, decompress_file, fileio
from omnicodec.errors import InputError, OutputExistsError

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


# --- defect 6: leftovers -----------------------------------------------------------


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


def test_sigterm_while_writing_leaves_neither_output_nor_temporary(tmp_path):
    """``kill`` (SIGTERM, as ``docker stop`` and batch schedulers send) stops the command like Ctrl-C:
    the file being written is removed, one line says so, and the status is 128 + 15."""
    import signal
    import time

    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "talk.wav", (0.1 * np.random.default_rng(0).standard_normal(16000 * 120)).astype("float32"), 16000)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "omnicodec.cli", "compress", str(tmp_path / "talk.wav"),
                             str(tmp_path / "talk.omc")], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".talk.omc.omc-tmp-*")):  # the writer is open: the kill lands mid-file
        assert proc.poll() is None and time.monotonic() < deadline, "the encoding ended before it could be stopped"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].endswith("omnicodec: terminated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.wav"]


def test_an_output_below_a_file_is_one_clear_line(tmp_path):
    from test_cli import assert_clean_error, run

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    (tmp_path / "afile").write_bytes(b"mine")
    assert_clean_error(run("compress", tmp_path / "a.png", tmp_path / "afile" / "x.omc"), "is a file, not a folder")
    assert (tmp_path / "afile").read_bytes() == b"mine"


@pytest.mark.parametrize("name", ["out.wav", "out.png", "out.jpg", "out.omc"])
def test_video_is_not_decoded_into_a_folder_named_like_another_kind_of_file(coded, tmp_path, name):
    omc, weights = coded["video"]
    with pytest.raises(InputError, match="cannot write .* video; use .y4m, .mp4 or a folder name"):
        decompress_file(omc, tmp_path / name, weights=weights)
    assert list(tmp_path.iterdir()) == []
    decompress_file(omc, tmp_path / "frames.v1", weights=weights)  # a folder name with a dot is still a folder
    assert (tmp_path / "frames.v1").is_dir()


def test_a_header_whose_media_is_not_its_codecs_is_refused(coded, tmp_path):
    from omnicodec.coding import container
    from omnicodec.errors import CorruptFileError

    omc, weights = coded["image"]
    parsed = container.unpack(omc.read_bytes())
    parsed.header["media"] = {"type": "speech", "sample_rate": 16000, "channels": 1, "samples": 1600}
    (tmp_path / "bad.omc").write_bytes(container.pack(parsed.header, parsed.chunks))  # a valid CRC
    with pytest.raises(CorruptFileError, match="declares speech media, but its codec image/hyperprior codes image"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.wav", weights=weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.omc"]


def test_audio_and_y4m_decodings_record_their_source(coded, tmp_path):
    import numpy as np
    import soundfile as sf

    from omnicodec.batch.complete import decoded_state
    from omnicodec.media.driver import SOURCE_TAG, source_id

    omc, weights = coded["speech"]
    decompress_file(omc, tmp_path / "a.wav", weights=weights)
    assert sf.SoundFile(tmp_path / "a.wav").comment == f"{SOURCE_TAG}={source_id(omc)}"
    assert decoded_state(tmp_path / "a.wav", omc).complete
    audio, rate = sf.read(tmp_path / "a.wav", dtype="int16")
    sf.write(tmp_path / "mine.wav", np.asarray(audio), rate, subtype="PCM_16")  # the same samples, no note
    state = decoded_state(tmp_path / "mine.wav", omc)
    assert not state.complete and state.ours and "not recorded as a decoding" in state.reason

    omc, weights = coded["video"]
    decompress_file(omc, tmp_path / "v.y4m", weights=weights)
    header = (tmp_path / "v.y4m").read_bytes().split(b"\n", 1)[0]
    assert f"X{SOURCE_TAG}={source_id(omc)}".encode() in header.split()
    assert decoded_state(tmp_path / "v.y4m", omc).complete
    plain = tmp_path / "plain.y4m"  # the same frames, without the X parameter
    plain.write_bytes(b" ".join(header.split()[:-1]) + b"\n" + (tmp_path / "v.y4m").read_bytes().split(b"\n", 1)[1])
    assert not decoded_state(plain, omc).complete
