"""Folders and datasets on the batch engine: two CPU processes (gloo) give the same files as one, a
killed run resumes to the same complete set, damaged inputs and foreign outputs are reported, and
eval on two processes gives the same results."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_images
from omnicodec.batch import compress_folder, decompress_folder
from omnicodec.batch.engine import Engine
from omnicodec.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
TWO = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
TIMINGS = {"encoding_time", "decoding_time"}


def _weights(folder: Path, name: str, seed: int) -> Path:
    from omnicodec.codecs import create_codec
    from omnicodec.zoo import save_weights

    torch.manual_seed(seed)
    return save_weights(_distinct(create_codec("image/hyperprior", {"N": 8, "M": 12})), folder, name, quality=1)


def _distinct(codec):
    """An untrained codec whose latent is large enough that different images code to different streams."""
    with torch.no_grad():
        for p in codec.g_a[-1].parameters():
            p.mul_(40)
    return codec.eval().freeze()


def _images(folder: Path, n: int) -> list[Path]:
    paths = []
    for i, x in enumerate(smooth_images(n, 32, seed=1)):
        path = folder / ("sub" if i % 3 == 0 else "") / f"im{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """12 images in two folders, tiny weights, and the single-process outputs: ``(images, weights, reference)``."""
    root = tmp_path_factory.mktemp("batch")
    _images(root / "images", 12)
    weights = _weights(root, "tiny", 0)
    summary = compress_folder(root / "images", root / "reference", weights=weights, engine=Engine(progress=False))
    assert (summary.count("done"), summary.count("failed")) == (12, 0)
    return root / "images", weights, root / "reference"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(args: list[str], script: Path | None = None, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    command = [sys.executable, str(script)] if script else [sys.executable, "-m", "omnicodec.cli"]
    return subprocess.Popen(command + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc: subprocess.Popen, timeout: int = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_two_processes_write_each_file_once_with_the_same_bytes(dataset, tmp_path):
    images, weights, reference = dataset
    expected = {str(p.relative_to(images).with_suffix(".omc")) for p in images.rglob("*.png")}
    assert set(_tree(reference)) == expected
    out = _finish(_cli(["compress", str(images), str(tmp_path / "out"), "--weights", str(weights), *TWO]))
    assert "batch: 12 done, 0 skipped, 0 failed" in out  # each file once, across both ranks
    assert _tree(tmp_path / "out") == _tree(reference)
    # decoding the folder: every image back at its size, and a rerun skips them all
    summary = decompress_folder(reference, tmp_path / "decoded", engine=Engine(progress=False), weights=weights)
    assert (summary.count("done"), summary.count("failed")) == (12, 0)
    for path in images.rglob("*.png"):
        assert Image.open(tmp_path / "decoded" / path.relative_to(images)).size == Image.open(path).size
    again = decompress_folder(reference, tmp_path / "decoded", engine=Engine(progress=False), weights=weights)
    assert again.count("skipped") == 12


def test_more_processes_than_files_run_each_file_once(dataset, tmp_path):
    images, weights, reference = dataset
    few = tmp_path / "few"
    few.mkdir()
    (few / "im01.png").write_bytes((images / "im01.png").read_bytes())
    out = _finish(_cli(["compress", str(few), str(tmp_path / "out"), "--weights", str(weights), *TWO]))  # one idle
    assert "batch: 1 done, 0 skipped, 0 failed" in out
    assert _tree(tmp_path / "out") == {"im01.omc": _tree(reference)["im01.omc"]}


SLOW_COMMIT = """
import sys, time
import omnicodec.fileio as fileio

commit = fileio.commit_file

def slow_commit(tmp, path):
    time.sleep(0.3)  # a temporary file stays on disk while this waits
    commit(tmp, path)

fileio.commit_file = slow_commit
from omnicodec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_to_the_same_complete_set(dataset, tmp_path):
    images, weights, reference = dataset
    script, out = tmp_path / "slow.py", tmp_path / "out"
    script.write_text(SLOW_COMMIT)
    proc = _cli(["compress", str(images), str(out), "--weights", str(weights), *TWO], script, start_new_session=True)
    deadline = time.monotonic() + 120

    def midway() -> bool:  # two files done and one being written
        names = [p.name for p in out.rglob("*")]
        return sum(n.endswith(".omc") for n in names) >= 2 and any(".omc-tmp-" in n for n in names)

    while not midway() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # both ranks, at once
    proc.communicate()
    while time.monotonic() < deadline:  # a rerun comes after the crash: wait until the other rank is gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    at_kill = _tree(out)
    complete = {k for k in at_kill if not Path(k).name.startswith(".")}
    assert 2 <= len(complete) < 12, "the run was not killed midway"
    assert len(at_kill) > len(complete), "no temporary file was left to clean up"
    summary = compress_folder(images, out, weights=weights, engine=Engine(progress=False))
    assert (summary.count("skipped"), summary.count("done"), summary.count("failed")) == (len(complete), 12 - len(complete), 0)
    assert _tree(out) == _tree(reference)  # complete, byte-identical, nothing temporary left


def test_damaged_inputs_and_outputs_are_reported_and_the_rest_is_done(dataset, tmp_path):
    _, weights, _ = dataset
    src, out = tmp_path / "in", tmp_path / "out"
    _images(src, 5)  # im01, im02, im04 at the top, im00 and im03 in sub/
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    (src / "notes.txt").write_text("not an input")
    summary = compress_folder(src, out, weights=weights, engine=Engine(progress=False))
    assert (summary.count("done"), summary.count("failed")) == (5, 1)
    assert summary.failures[0].input.endswith("broken.png") and "broken.png" in summary.failures[0].message
    assert not (out / "broken.omc").exists() and not (out / "notes.omc").exists()

    damaged, foreign = out / "im01.omc", out / "im02.omc"
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 1
    damaged.write_bytes(bytes(data))
    foreign.write_bytes(b"the user's own file")
    other_weights = _weights(tmp_path, "other", 1)
    compress_folder(src / "sub", out / "sub", weights=other_weights, force=True, engine=Engine(progress=False))  # another model
    rerun = compress_folder(src, out, weights=weights, engine=Engine(progress=False))
    failed = {Path(r.output).name: r.message for r in rerun.failures}
    assert set(failed) == {"broken.omc", "im01.omc", "im02.omc", "im00.omc", "im03.omc"}
    assert "damaged" in failed["im01.omc"] and "--force" in failed["im00.omc"] and "not replaced" in failed["im02.omc"]
    assert rerun.count("skipped") == 1  # im04, the one output left as it was

    forced = compress_folder(src, out, weights=weights, force=True, engine=Engine(progress=False))
    assert {Path(r.output).name for r in forced.failures} == {"broken.omc", "im02.omc"}
    assert foreign.read_bytes() == b"the user's own file"  # never replaced: omnicodec did not write it
    assert forced.count("done") == 4  # --force recodes everything but the foreign file


def test_decoded_outputs_are_verified_before_they_are_skipped(dataset, tmp_path):
    _, weights, reference = dataset
    decoded = tmp_path / "decoded"
    decompress_folder(reference, decoded, weights=weights, engine=Engine(progress=False))
    small = decoded / "im01.png"
    Image.new("RGB", (8, 8)).save(small)  # readable, but not this file's size: not a decoding of it
    summary = decompress_folder(reference, decoded, weights=weights, force=True, engine=Engine(progress=False))
    assert [Path(r.output).name for r in summary.failures] == ["im01.png"]
    assert Image.open(small).size == (8, 8)
    assert summary.count("done") == 11


def test_eval_on_two_processes_gives_the_same_results(dataset, tmp_path):
    images, weights, _ = dataset
    base = ["eval", "image/hyperprior", str(images), "--weights", str(weights), "--quiet"]
    assert main(base + ["-o", str(tmp_path / "one")]) == 0
    _finish(_cli(base + ["-o", str(tmp_path / "two"), *TWO]))

    def results(folder: Path) -> str:
        [path] = folder.glob("tiny.json")
        data = json.loads(path.read_text())
        return json.dumps({k: v for k, v in data["results"].items() if k not in TIMINGS}, sort_keys=True)

    assert results(tmp_path / "one") == results(tmp_path / "two")
    assert json.loads((tmp_path / "one" / "tiny.json").read_text())["results"]["bpp"]


@pytest.mark.parametrize("suffix", ["/../../victim.png", "./../x.png", "../x.png", ".png/x", "", ". png"])
def test_a_decoding_suffix_that_is_not_an_extension_is_refused(dataset, tmp_path, suffix):
    from omnicodec.errors import InputError

    _, weights, reference = dataset
    (tmp_path / "out").mkdir()
    (tmp_path / "victim.png").write_bytes(b"the user's")
    with pytest.raises(InputError, match="the suffix must be a file extension"):
        decompress_folder(reference, tmp_path / "out" / "d", suffix=suffix, weights=weights, force=True,
                          engine=Engine(progress=False))
    assert (tmp_path / "victim.png").read_bytes() == b"the user's"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "victim.png"]


def test_two_coded_files_for_one_decoded_name_are_refused_not_skipped(dataset, tmp_path):
    _, weights, reference = dataset
    src = tmp_path / "in"
    src.mkdir()
    first, second = sorted(reference.rglob("*.omc"))[:2]
    (src / "a.omc").write_bytes(first.read_bytes())
    (src / "a.OMC").write_bytes(second.read_bytes())
    summary = decompress_folder(src, tmp_path / "out", suffix="bmp", weights=weights, engine=Engine(progress=False))
    assert summary.count("done") == 1 and summary.count("skipped") == 0
    assert len(summary.failures) == 1 and "decodes to the same output" in summary.failures[0].message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bmp"]


def test_two_inputs_for_one_output_are_refused_not_overwritten(dataset, tmp_path):
    images, weights, reference = dataset
    src = tmp_path / "in"
    src.mkdir()
    Image.open(images / "im01.png").save(src / "photo.bmp")
    Image.open(images / "im02.png").save(src / "photo.png")
    summary = compress_folder(src, tmp_path / "out", weights=weights, engine=Engine(progress=False))
    assert summary.count("done") == 1 and [r.input for r in summary.failures] == [str(src / "photo.png")]
    assert "photo.bmp writes the same output" in summary.failures[0].message
    from omnicodec.api import read_header

    # the first input's coded pixels (the header also names its format)
    assert read_header(tmp_path / "out" / "photo.omc").chunks == read_header(reference / "im01.omc").chunks


def _calls(monkeypatch, name: str) -> list[int]:
    """Records the batch size of every call of ``LatentImageCodec.<name>``."""
    from omnicodec.codecs.image.base import LatentImageCodec

    sizes, original = [], getattr(LatentImageCodec, name)

    def recorded(self, items, *args, **kwargs):
        sizes.append(len(items))
        return original(self, items, *args, **kwargs)

    monkeypatch.setattr(LatentImageCodec, name, recorded)
    return sizes


def test_images_coded_together_give_the_files_of_each_alone(dataset, tmp_path, monkeypatch):
    images, weights, reference = dataset
    from omnicodec.api import read_header

    codings = {str(read_header(p).chunks) for p in reference.rglob("*.omc")}
    assert len(codings) == 12  # twelve images, twelve different codings
    encoded, decoded = _calls(monkeypatch, "compress_batch"), _calls(monkeypatch, "decompress_batch")
    assert main(["compress", str(images), str(tmp_path / "out"), "--weights", str(weights), "--batch-size", "5"]) == 0
    assert sorted(encoded) == [2, 5, 5]  # 12 images of one size in batches of at most 5
    assert _tree(tmp_path / "out") == _tree(reference)  # byte for byte the files coded one by one
    alone = decompress_folder(reference, tmp_path / "alone", weights=weights, engine=Engine(progress=False))
    together = decompress_folder(reference, tmp_path / "together", weights=weights, engine=Engine(progress=False),
                                 batch_size=4)
    assert alone.count("done") == together.count("done") == 12 and sorted(decoded) == [4, 4, 4]
    assert _tree(tmp_path / "together") == _tree(tmp_path / "alone")
    again = decompress_folder(reference, tmp_path / "together", weights=weights, engine=Engine(progress=False),
                              batch_size=4)
    assert again.count("skipped") == 12 and sorted(decoded) == [4, 4, 4]  # verified and skipped, nothing decoded


def test_batches_hold_one_size_and_a_damaged_image_fails_alone(dataset, tmp_path, monkeypatch):
    images, weights, reference = dataset
    src = tmp_path / "in"
    src.mkdir()
    for name in ("im01", "im02", "im04", "im05"):
        (src / f"{name}.png").write_bytes((images / f"{name}.png").read_bytes())
    Image.fromarray(np.full((48, 32, 3), 120, np.uint8)).save(src / "tall.png")
    encoded = _calls(monkeypatch, "compress_batch")
    summary = compress_folder(src, tmp_path / "out", weights=weights, engine=Engine(progress=False), batch_size=8)
    assert summary.count("done") == 5 and encoded == [4]  # the four 32x32 images together, the 48x32 one alone
    for name in ("im01", "im02", "im04", "im05"):
        assert (tmp_path / "out" / f"{name}.omc").read_bytes() == (reference / f"{name}.omc").read_bytes()

    good = (images / "im07.png").read_bytes()
    (src / "cut.png").write_bytes(good[: len(good) // 2])  # its header reads as 32x32, its pixels do not
    (src / "im08.png").write_bytes((images / "im08.png").read_bytes())
    summary = compress_folder(src, tmp_path / "out", weights=weights, engine=Engine(progress=False), batch_size=8)
    assert (summary.count("skipped"), summary.count("done"), summary.count("failed")) == (5, 1, 1)
    assert summary.failures[0].input.endswith("cut.png") and "cut.png" in summary.failures[0].message
    assert encoded == [4]  # the damaged image failed the batch of two before coding: each was then coded alone
    assert (tmp_path / "out" / "im08.omc").read_bytes() == (reference / "im08.omc").read_bytes()
    assert not (tmp_path / "out" / "cut.omc").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # nothing temporary left


def test_the_api_refuses_what_cannot_be_coded_together(dataset, tmp_path):
    from omnicodec.api import compress_images, decompress_images
    from omnicodec.errors import InputError

    images, weights, reference = dataset
    tall = tmp_path / "tall.png"
    Image.fromarray(np.full((48, 32, 3), 120, np.uint8)).save(tall)
    with pytest.raises(InputError, match="one size"):
        compress_images([images / "im01.png", tall], [tmp_path / "a.omc", tmp_path / "b.omc"], weights=weights)
    assert not list(tmp_path.glob("*.omc"))
    other = _weights(tmp_path, "other", 1)
    compress_images([images / "im01.png"], [tmp_path / "other.omc"], weights=other)
    with pytest.raises(InputError, match="another model"):
        decompress_images([reference / "im02.omc", tmp_path / "other.omc"], [tmp_path / "a.png", tmp_path / "b.png"],
                          weights=weights)
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()
    with pytest.raises(InputError, match="positive"):
        compress_folder(images, tmp_path / "out", weights=weights, engine=Engine(progress=False), batch_size=0)
    assert main(["compress", str(images / "im01.png"), str(tmp_path / "one.omc"), "--batch-size", "4"]) == 2


def test_batched_codec_calls_equal_single_ones():
    """Variable rate, a fractional quality, and decoding files of two qualities and two sizes at once."""
    from omnicodec.codecs import create_codec

    torch.manual_seed(0)
    codec = create_codec("image/hyperprior", {"N": 8, "M": 12, "levels": 4})
    with torch.no_grad():  # gains that differ by quality, as trained ones do
        codec.gains.log_gain.copy_(torch.linspace(-1, 1, 4)[:, None].expand_as(codec.gains.log_gain))
        codec.gains.log_inverse_gain.copy_(-codec.gains.log_gain)
    codec = _distinct(codec)
    x = smooth_images(3, 64, seed=2)
    together = codec.compress_batch(x, 2.5)
    alone = [codec.compress(x[i : i + 1], 2.5) for i in range(3)]
    assert len({b.streams["image"] for b in alone}) == 3  # three images, three different codings
    assert [b.streams for b in together] == [b.streams for b in alone]
    assert [b.side_info for b in together] == [b.side_info for b in alone]
    mixed = alone[:2] + [codec.compress(x[2:3, :, :48], 1.0), codec.compress(x[:1], 4.0)]
    images = codec.decompress_batch(mixed)
    for got, bitstream in zip(images, mixed):
        assert torch.equal(got, codec.decompress(bitstream))
    # as one batch (what a GPU does): the same images up to the float rounding of other kernels
    for got, bitstream in zip(codec.decompress_batch(mixed, together=True), mixed):
        assert torch.allclose(got, codec.decompress(bitstream), atol=1e-5)
    for got, bitstream in zip(codec.compress_batch(x, 2.5, together=True), alone):
        assert got.side_info == bitstream.side_info
        assert torch.allclose(codec.decompress(got), codec.decompress(bitstream), atol=2e-2)


@pytest.mark.parametrize("kwargs, words", [
    ({"accelerator": "bogus"}, "unknown accelerator"), ({"strategy": "bogus"}, "unknown strategy"),
    ({"devices": "abc"}, "devices must be"), ({"devices": 0}, "devices must be"), ({"devices": "0"}, "devices must be"),
    ({"devices": True}, "devices must be"), ({"devices": []}, "devices must be"), ({"devices": -2}, "devices must be"),
    ({"num_nodes": 0}, "number of nodes"),
])
def test_an_engine_that_cannot_be_is_refused_before_any_work(kwargs, words):
    from omnicodec.errors import InputError

    with pytest.raises(InputError, match=words):
        Engine(progress=False, **kwargs)
    for fine in ({}, {"devices": "auto"}, {"devices": "0,1"}, {"devices": -1}, {"devices": [0, 1]}, {"strategy": "ddp"},
                 {"accelerator": "gpu"}):
        Engine(progress=False, **fine)


@pytest.mark.parametrize("args, words", [
    (["--quality", "nan"], "the quality must be a number"), (["--max-memory", "garbage"], "cannot read the memory size"),
    (["--devices", "0"], "devices must be"), (["--num-nodes", "0"], "number of nodes"),
])
def test_a_bad_folder_request_is_one_error_and_writes_nothing(dataset, tmp_path, args, words):
    from test_cli import assert_clean_error, run

    images, weights, _ = dataset
    assert_clean_error(run("compress", images, tmp_path / "out", "--weights", weights, *args), words)
    assert not (tmp_path / "out").exists()


def test_a_folder_output_that_is_a_file_is_refused(dataset, tmp_path):
    from omnicodec.errors import InputError

    images, weights, reference = dataset
    (tmp_path / "afile").write_bytes(b"mine")
    with pytest.raises(InputError, match="is a file, not an output folder"):
        compress_folder(images, tmp_path / "afile", weights=weights, engine=Engine(progress=False))
    with pytest.raises(InputError, match="is a file, not an output folder"):
        decompress_folder(reference, tmp_path / "afile", weights=weights, engine=Engine(progress=False))
    assert (tmp_path / "afile").read_bytes() == b"mine"


def test_a_users_image_of_the_right_size_is_not_taken_for_a_decoding(dataset, tmp_path):
    """A file where a decoding goes, of the size the coded file declares but not recorded as its decoding
    (the user's own picture), is never skipped as done: the run says so, and only --force replaces it."""
    _, weights, reference = dataset
    first = sorted(reference.rglob("*.omc"))[0]
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.omc").write_bytes(first.read_bytes())
    decompress_folder(src, tmp_path / "done", weights=weights, engine=Engine(progress=False))
    (tmp_path / "out").mkdir()
    mine = tmp_path / "out" / "a.png"
    Image.new("RGB", Image.open(tmp_path / "done" / "a.png").size, (9, 9, 9)).save(mine)
    before = mine.read_bytes()
    summary = decompress_folder(src, tmp_path / "out", weights=weights, engine=Engine(progress=False))
    assert summary.count("skipped") == 0 and len(summary.failures) == 1
    assert "not recorded as a decoding" in summary.failures[0].message and "--force" in summary.failures[0].message
    assert mine.read_bytes() == before
    summary = decompress_folder(src, tmp_path / "out", weights=weights, force=True, engine=Engine(progress=False))
    assert summary.count("done") == 1 and mine.read_bytes() == (tmp_path / "done" / "a.png").read_bytes()
    again = decompress_folder(src, tmp_path / "out", weights=weights, engine=Engine(progress=False))
    assert again.count("skipped") == 1  # now it is its decoding


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_decodings_record_their_source_where_the_format_can(dataset, tmp_path, suffix):
    """PNG outputs name the coded file they decode, so another coded file of the same size is not taken
    for their source; BMP records nothing, and its size alone decides."""
    from omnicodec import decompress_file
    from omnicodec.batch.complete import decoded_state
    from omnicodec.media.driver import SOURCE_TAG, source_id

    _, weights, reference = dataset
    first, second = sorted(reference.rglob("*.omc"))[:2]  # both 32x32
    decoded = tmp_path / f"a{suffix}"
    decompress_file(first, decoded, weights=weights)
    assert Image.open(decoded).info.get(SOURCE_TAG) == (source_id(first) if suffix == ".png" else None)
    assert decoded_state(decoded, first).complete
    assert decoded_state(decoded, second).complete == (suffix == ".bmp")
