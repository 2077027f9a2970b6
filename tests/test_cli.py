"""The command line on committed fixtures.

Most tests call ``omnicodec.cli.main`` in-process (fast); one runs the installed
``python -m omnicodec.cli`` in a subprocess to check the real exit code and stderr.
"""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES

SMALL = FIXTURES / "small.png"


def run(*args):
    from omnicodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def run_subprocess(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "omnicodec.cli", *map(str, args)], capture_output=True, text=True, env=env
    )


def assert_clean_error(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("omnicodec: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


def test_round_trip_with_the_default_model(tmp_path):
    out, back = tmp_path / "small.omc", tmp_path / "small.png"
    r = run("compress", SMALL, out)
    assert r.returncode == 0, r.stderr
    assert "bpp" in r.stdout and "bits" in r.stdout
    r = run("decompress", out, back)
    assert r.returncode == 0, r.stderr
    original = np.asarray(Image.open(SMALL).convert("RGB"))
    decoded = np.asarray(Image.open(back))
    assert decoded.shape == original.shape
    assert psnr(original, decoded) > 20
    info = run("info", out)
    assert info.returncode == 0 and '"codec": "image/hyperprior"' in info.stdout


def test_round_trip_with_exported_weights(tmp_path, tiny_weights):
    out, back = tmp_path / "a.omc", tmp_path / "a.png"
    assert run("compress", SMALL, out, "--weights", tiny_weights).returncode == 0
    # without the weights the decoder cannot know the model, and says so
    assert_clean_error(run("decompress", out, back), "not shipped", "--weights")
    assert not back.exists()
    assert run("decompress", out, back, "--weights", tiny_weights).returncode == 0
    assert Image.open(back).size == Image.open(SMALL).size


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "x.omc"
    out.write_bytes(b"precious")
    assert_clean_error(run("compress", SMALL, out), "exists", "--force")
    assert out.read_bytes() == b"precious"
    assert run("compress", SMALL, out, "--force").returncode == 0
    assert out.read_bytes()[:4] == b"\x89OMC"
    png = tmp_path / "x.png"
    png.write_bytes(b"keep")
    assert_clean_error(run("decompress", out, png), "exists")
    assert png.read_bytes() == b"keep"
    assert run("decompress", out, png, "--force").returncode == 0


def test_real_process_exit_codes(tmp_path):
    out = tmp_path / "s.omc"
    ok = run_subprocess("compress", SMALL, out)
    assert ok.returncode == 0, ok.stderr
    assert "bpp" in ok.stdout
    bad = run_subprocess("decompress", SMALL, tmp_path / "s.png")
    assert_clean_error(bad, "not an omnicodec file")
    assert not (tmp_path / "s.png").exists()


def test_clean_errors_for_bad_inputs(tmp_path):
    assert_clean_error(run("compress", tmp_path / "missing.png", tmp_path / "o.omc"), "no such file")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    assert_clean_error(run("compress", text, tmp_path / "o.omc"), "not an image")
    assert_clean_error(run("decompress", text, tmp_path / "o.png"), "not an omnicodec file")
    assert_clean_error(run("decompress", tmp_path / "missing.omc", tmp_path / "o.png"), "no such file")
    assert not (tmp_path / "o.omc").exists() and not (tmp_path / "o.png").exists()


def test_truncated_and_corrupted_files_leave_no_output(tmp_path):
    good = tmp_path / "good.omc"
    assert run("compress", SMALL, good).returncode == 0
    data = good.read_bytes()
    truncated = tmp_path / "cut.omc"
    truncated.write_bytes(data[: len(data) // 2])
    assert_clean_error(run("decompress", truncated, tmp_path / "cut.png"), "truncated")
    corrupt = tmp_path / "bad.omc"
    corrupt.write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    assert_clean_error(run("decompress", corrupt, tmp_path / "bad.png"), "corrupt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.omc", "cut.omc", "good.omc"]


def test_unsupported_output_format(tmp_path):
    good = tmp_path / "good.omc"
    assert run("compress", SMALL, good).returncode == 0
    assert_clean_error(run("decompress", good, tmp_path / "out.xyz"), "cannot write images")


def test_list_shows_codecs_and_shipped_weights():
    r = run("list")
    assert r.returncode == 0
    assert "image/hyperprior" in r.stdout and "(default)" in r.stdout
    shipped = r.stdout.split("shipped weights:")[1].strip().splitlines()
    # every shipped model states its measurement, level by level for a variable-rate one
    assert shipped and all(("bpp" in line and "dB" in line) or ("kbit/s" in line and "PESQ-WB" in line)
                           for line in shipped)
    assert "not measured" not in r.stdout


@pytest.mark.parametrize("bad", [["compress"], ["nope"], ["compress", "a", "b", "--quality", "x"]])
def test_usage_errors_exit_nonzero(bad):
    assert run(*bad).returncode == 2


DEVICE_ERRORS = [("foo", "unknown device 'foo'")]
if not __import__("torch").cuda.is_available():
    DEVICE_ERRORS.append(("cuda", "no CUDA GPU"))


@pytest.mark.parametrize("device,words", DEVICE_ERRORS)
def test_device_errors_are_one_line(tmp_path, device, words):
    good = tmp_path / "good.omc"
    assert run("compress", SMALL, good).returncode == 0
    assert_clean_error(run("compress", SMALL, tmp_path / "x.omc", "--device", device), words, "cpu")
    assert_clean_error(run("decompress", good, tmp_path / "x.png", "--device", device), words, "cpu")
    assert not (tmp_path / "x.omc").exists() and not (tmp_path / "x.png").exists()


def test_device_error_in_a_real_process(tmp_path):
    assert_clean_error(run_subprocess("compress", SMALL, tmp_path / "x.omc", "--device", "foo"), "unknown device")


def test_every_argument_and_option_has_help():
    import argparse

    from omnicodec.cli import build_parser

    parser = build_parser()
    missing = [f"omnicodec {a.dest}" for a in parser._actions if not a.help]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        if not helps.get(name):
            missing.append(f"omnicodec {name} (no summary)")
        missing += [f"omnicodec {name} {a.dest}" for a in sub._actions if not a.help]
    assert not missing, missing
    assert "speech" in helps["compress"]


def test_train_help_starts_with_our_usage_and_common_options():
    r = run("train", "--help")
    assert r.returncode == 0, r.stderr[-1000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("usage: omnicodec train --config")
    summary = r.stdout.split("Lightning's full list")[0]
    for option in ("--trainer.max_steps", "--data.train_dirs", "--resume", "--init"):
        assert option in summary, option
    full = r.stdout.split("Lightning's full list")[1]
    assert "usage: omnicodec train" in full and "--trainer.precision" in full
    assert "not recommended" not in r.stderr


def test_train_without_a_config_is_one_line():
    assert_clean_error(run("train"), "no training config", "omnicodec train --config")


def test_failed_train_leaves_no_run_folder(tmp_path, monkeypatch):
    config = Path(__file__).resolve().parents[1] / "configs" / "image" / "hyperprior-tiny.yaml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep").mkdir()
    r = run("train", "--config", config, "--trainer.accelerator", "cpu", "--data.train_dirs", "[missing]",
            "--data.val_dir", "null")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "omnicodec: error: missing does not exist; expected a folder of images (.png/.jpg…) such as Kodak's kodim01.png"
        " … kodim24.png"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]  # no runs/…, and our own folder kept


def test_any_error_message_is_printed_as_one_line(monkeypatch):
    from omnicodec import cli
    from omnicodec.errors import WeightsError

    def fail(args):
        raise WeightsError("Error(s) in loading:\n\tsize mismatch for g_a\n\x1b[2Jforged line: " + "x" * 2000)

    monkeypatch.setattr(cli, "_cmd_list", fail)
    r = run("list")
    assert_clean_error(r, "Error(s) in loading: size mismatch for g_a [2Jforged line")
    assert "\x1b" not in r.stderr and len(r.stderr.strip()) <= len("omnicodec: error: ") + cli.MAX_ERROR_CHARS


def test_bdrate_refuses_what_is_not_a_results_file(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "folder.json").mkdir()
    for bad in ("deep.json", "folder.json"):
        assert_clean_error(run("bdrate", tmp_path / bad, tmp_path / bad), "not a")


def test_export_never_writes_over_its_checkpoint(tmp_path):
    import torch

    from omnicodec.codecs import create_codec

    codec = create_codec("image/hyperprior", {"N": 8, "M": 12})
    state = {"state_dict": {f"codec.{k}": v for k, v in codec.state_dict().items()},
             "hyper_parameters": {"codec_id": "image/hyperprior", "codec_config": {"N": 8, "M": 12}}, "global_step": 1}
    torch.save(state, tmp_path / "x.json")  # a checkpoint under the name the export would write
    before = (tmp_path / "x.json").read_bytes()
    assert_clean_error(run("export", tmp_path / "x.json", tmp_path, "--name", "x", "--force"), "are the same file")
    assert (tmp_path / "x.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
    (tmp_path / "fake.safetensors").write_bytes(b"not tensors at all")
    assert_clean_error(run("export", tmp_path / "fake.safetensors", tmp_path / "out"), "cannot read checkpoint")


def test_bdrate_refuses_points_that_are_not_numbers_and_a_rate_that_is_the_metric(tmp_path):
    import json

    good = {"name": "a", "results": {"bpp": [0.2, 0.4, 0.8], "psnr-rgb": [28.0, 31.0, 34.0]}}
    (tmp_path / "a.json").write_text(json.dumps(good))
    for bad in ([0.2, True, 0.8], [0.2, "0.4", 0.8]):
        (tmp_path / "b.json").write_text(json.dumps({"name": "b", "results": {**good["results"], "bpp": bad}}))
        assert_clean_error(run("bdrate", tmp_path / "b.json", tmp_path / "a.json"), "point 1 of 'bpp'", "not a number")
    assert_clean_error(run("bdrate", tmp_path / "a.json", tmp_path / "a.json", "--rate", "psnr-rgb"),
                       "both 'psnr-rgb'")
    assert run("bdrate", tmp_path / "a.json", tmp_path / "a.json").returncode == 0
    with_nan = {"name": "n", "results": {**good["results"], "psnr-rgb": [28.0, 31.0, float("nan")]}}
    (tmp_path / "n.json").write_text(json.dumps(with_nan))
    r = run("bdrate", tmp_path / "n.json", tmp_path / "a.json")
    assert r.returncode == 0 and "note: n: 1 of 3 points have no finite bpp or psnr-rgb and are left out" in r.stdout
    assert "falls" not in r.stdout
    dipping = {"name": "d", "results": {"bpp": [0.2, 0.4, 0.6, 0.8], "psnr-rgb": [28.0, 31.0, 30.0, 34.0]}}
    (tmp_path / "d.json").write_text(json.dumps(dipping))
    r = run("bdrate", tmp_path / "d.json", tmp_path / "a.json")
    assert r.returncode == 0 and "note: d: psnr-rgb falls as bpp rises at 1 of 3 steps" in r.stdout


def test_info_shows_a_chunk_name_escaped_unless_printable(tmp_path):
    from omnicodec.coding import container

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    assert run("compress", tmp_path / "a.png", tmp_path / "a.omc").returncode == 0
    parsed = container.unpack((tmp_path / "a.omc").read_bytes())
    forged = "a\nfile: 1 bytes; chunks: none\x1b[2J"
    (tmp_path / "b.omc").write_bytes(container.pack(parsed.header, {**parsed.chunks, forged: b"x"}))
    r = run("info", tmp_path / "b.omc")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and ascii(forged) in r.stdout
    assert sum(line.startswith("file: ") for line in r.stdout.splitlines()) == 1  # no forged line
