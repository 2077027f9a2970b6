"""Metrics, BD-rate, results files, dataset readers and a tiny end-to-end evaluation."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from omnicodec.errors import EvaluationError, InputError
from omnicodec.eval.bdrate import bd_psnr, bd_rate
from omnicodec.eval.metrics import ms_ssim, ms_ssim_scales, psnr
from omnicodec.eval.results import RDResults

IMAGES = FIXTURES / "images"


def test_psnr_on_known_arrays():
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr(a, np.full_like(a, 16)) == pytest.approx(10 * math.log10(255**2 / 256))
    b = a.copy()
    b[0, 0, 0] = 255  # one error of 255 in 48 values: MSE = 255**2 / 48
    assert psnr(a, b) == pytest.approx(10 * math.log10(48))
    assert psnr(a, a) == math.inf
    with pytest.raises(EvaluationError):
        psnr(a, np.zeros((4, 5, 3)))


def test_ms_ssim_matches_pytorch_msssim():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    rng = np.random.default_rng(0)
    for shape, noise in (((200, 170, 3), 10), ((256, 300, 3), 30)):
        a = rng.integers(0, 256, shape).astype(np.uint8)
        b = np.clip(a + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)
        ta, tb = (torch.from_numpy(v).permute(2, 0, 1)[None].double() for v in (a, b))
        expected = pytorch_msssim.ms_ssim(ta, tb, data_range=255).item()
        assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-5)


def test_ms_ssim_on_small_images_uses_fewer_scales():
    assert ms_ssim_scales(768, 512) == 5 and ms_ssim_scales(64, 96) == 3 and ms_ssim_scales(8, 8) == 0
    a = np.random.default_rng(1).integers(0, 256, (64, 96, 3)).astype(np.uint8)
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert ms_ssim(a, 255 - a) < 0.5


ANCHOR_R, ANCHOR_D = np.array([0.1, 0.2, 0.4, 0.8]), np.array([28.0, 30.5, 33.0, 35.0])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_hand_computed(method):
    # the same curve at half the rate everywhere: -50 %, whatever the interpolation
    assert bd_rate(ANCHOR_R, ANCHOR_D, ANCHOR_R / 2, ANCHOR_D, method) == pytest.approx(-50.0)
    assert bd_rate(ANCHOR_R, ANCHOR_D, ANCHOR_R * 1.1, ANCHOR_D, method) == pytest.approx(10.0)
    assert bd_psnr(ANCHOR_R, ANCHOR_D, ANCHOR_R, ANCHOR_D + 0.5, method) == pytest.approx(0.5)
    assert bd_rate(ANCHOR_R, ANCHOR_D, ANCHOR_R, ANCHOR_D, method) == pytest.approx(0.0, abs=1e-12)


def test_bd_rate_linear_case_by_hand():
    # two-point curves: pchip is the straight line; log-rate ln(r) = a + b*D
    r_a, d_a = [1.0, np.e], [30.0, 31.0]  # ln r = D - 30
    r_t, d_t = [1.0, np.e**2], [30.0, 31.0]  # ln r = 2 (D - 30)
    # mean over D in [30, 31] of (2(D-30) - (D-30)) = 0.5  ->  exp(0.5) - 1
    assert bd_rate(r_a, d_a, r_t, d_t) == pytest.approx((math.exp(0.5) - 1) * 100)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_agrees_with_the_bjontegaard_package(method):
    bjontegaard = pytest.importorskip("bjontegaard")
    rng = np.random.default_rng(3)
    for _ in range(5):
        r_t = np.sort(rng.uniform(0.08, 1.2, 6))
        d_t = 27 + 6 * np.log2(1 + 3 * r_t) + rng.normal(0, 0.1, 6)
        d_t.sort()
        ours = bd_rate(ANCHOR_R, ANCHOR_D, r_t, d_t, method)
        theirs = bjontegaard.bd_rate(ANCHOR_R, ANCHOR_D, r_t, d_t, method=method, require_matching_points=False, min_overlap=0)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)
        ours = bd_psnr(ANCHOR_R, ANCHOR_D, r_t, d_t, method)
        theirs = bjontegaard.bd_psnr(ANCHOR_R, ANCHOR_D, r_t, d_t, method=method, require_matching_points=False, min_overlap=0)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)


def test_bd_rate_errors():
    with pytest.raises(EvaluationError, match="do not overlap"):
        bd_rate(ANCHOR_R, ANCHOR_D, ANCHOR_R, ANCHOR_D + 20)
    with pytest.raises(EvaluationError, match="at least 4"):
        bd_rate(ANCHOR_R, ANCHOR_D, [0.1, 0.2, 0.3], [28, 29, 30], "cubic")
    with pytest.raises(EvaluationError, match="positive"):
        bd_rate(ANCHOR_R, ANCHOR_D, [0.0, 0.2], [28, 29])


def test_results_json_and_csv_round_trip(tmp_path):
    res = RDResults("mine", "a test", {"bpp": [0.5, 0.25], "psnr-rgb": [32.0, 29.0], "ms-ssim-rgb": [0.97, 0.95]})
    res.save_json(tmp_path / "r.json")
    back = RDResults.load(tmp_path / "r.json")
    assert back == res
    assert back.curve() == ([0.25, 0.5], [29.0, 32.0])
    res.save_csv(tmp_path / "r.csv")
    from omnicodec.eval.results import read_csv

    assert read_csv(tmp_path / "r.csv") == res.results
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(InputError, match="schema"):
        RDResults.load(tmp_path / "bad.json")
    with pytest.raises(EvaluationError, match="differ in length"):
        RDResults("x", "", {"bpp": [1.0], "psnr-rgb": [1.0, 2.0]})


def run_cli(*args):
    import contextlib
    import io

    from omnicodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_end_to_end_eval_of_a_baseline_and_the_shipped_codec(tmp_path):
    anchor = RDResults("anchor", "", {"bpp": [0.3, 0.8, 1.5, 3.0], "psnr-rgb": [24.0, 27.0, 30.0, 34.0]})
    anchor.save_json(tmp_path / "anchor.json")
    code, out, err = run_cli("eval", "jpeg", IMAGES, "-o", tmp_path / "res", "--qualities", "20,50,80", "--quiet",
                             "--anchors", tmp_path / "anchor.json")
    assert code == 0, err
    jpeg = RDResults.load(tmp_path / "res" / "jpeg.json")
    assert jpeg.results["quality"] == [20.0, 50.0, 80.0]
    assert jpeg.results["bpp"] == sorted(jpeg.results["bpp"])
    items = json.loads((tmp_path / "res" / "jpeg-items.json").read_text())
    assert len(items) == 6 and {i["item"] for i in items} == {"kodim05-small.png", "kodim21-small.png"}
    assert (tmp_path / "res" / "jpeg.png").stat().st_size > 1000
    assert "anchor" in (tmp_path / "res" / "jpeg-bdrate.txt").read_text()

    code, out, err = run_cli("eval", "image/hyperprior", IMAGES, "-o", tmp_path / "res", "--quiet", "--qualities", "2,4.5")
    assert code == 0, err
    learned = RDResults.load(tmp_path / "res" / "image-hyperprior.json")
    assert learned.results["quality"] == [2.0, 4.5]  # the shipped default is variable-rate
    assert learned.results["bpp"][0] < learned.results["bpp"][1]
    # rates from real files (header included) sit above the likelihood estimate
    assert all(real > est > 0 for real, est in zip(learned.results["bpp"], learned.results["bpp-est"]))

    code, out, err = run_cli("bdrate", tmp_path / "res" / "jpeg.json", tmp_path / "anchor.json")
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("bdrate: psnr_pct=")


def test_eval_refuses_wrong_folders_and_missing_tools(tmp_path):
    code, _, err = run_cli("eval", "jpeg", tmp_path / "nowhere", "-o", tmp_path / "r")
    assert code == 2 and "does not exist" in err and "expected a folder of images" in err
    code, _, err = run_cli("eval", "jpeg", tmp_path, "-o", tmp_path / "r")
    assert code == 2 and "holds no images" in err
    import shutil

    if shutil.which("ffmpeg") is None:
        code, _, err = run_cli("eval", "opus", tmp_path, "-o", tmp_path / "r")
        assert code == 2 and "skipping opus: ffmpeg is not installed" in err


def test_sha256_verification(tmp_path):
    from omnicodec.datasets import verify_sha256

    (tmp_path / "a.png").write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  a.png\n")
    assert verify_sha256(tmp_path) == 1
    (tmp_path / "a.png").write_bytes(b"abd")
    with pytest.raises(InputError, match="a.png"):
        verify_sha256(tmp_path)


def test_y4m_reader(tmp_path):
    from omnicodec.datasets.video_io import VideoWriter, read_sequence

    w, h = 8, 4
    y = bytes(range(40, 72))  # a ramp across every row and down the rows
    u = bytes([60, 90, 128, 200, 240, 128, 90, 30])  # chroma varies by block, U and V different
    v = bytes([240, 200, 128, 60, 16, 128, 160, 100])
    frame = y + u + v
    (tmp_path / "g.y4m").write_bytes(b"YUV4MPEG2 W8 H4 F30:1 C420jpeg\n" + (b"FRAME\n" + frame) * 3)
    frames, info = read_sequence(tmp_path / "g.y4m")
    assert info["frames"] == 3 and info["fps"] == (30, 1)
    assert frames[0].shape == (4, 8, 3)
    # BT.601 limited range, written out: each pixel from its own Y and its 2×2 block's U and V
    yf = (np.frombuffer(y, np.uint8).reshape(h, w) - 16.0) * 255 / 219
    uf = (np.frombuffer(u, np.uint8).reshape(2, 4).repeat(2, 0).repeat(2, 1) - 128.0) * 255 / 224
    vf = (np.frombuffer(v, np.uint8).reshape(2, 4).repeat(2, 0).repeat(2, 1) - 128.0) * 255 / 224
    rgb = np.stack([yf + 1.402 * vf, yf - 0.344136 * uf - 0.714136 * vf, yf + 1.772 * uf], -1)
    assert np.abs(frames[0].astype(float) - np.clip(rgb, 0, 255)).max() <= 0.5 + 1e-6
    # and a frame written by the writer reads back as itself (strong red and blue, 2×2 blocks)
    rows, cols = np.meshgrid(np.arange(8) // 2 * 64, np.arange(12) // 2 * 40, indexing="ij")
    picture = np.stack([cols + 20, np.full_like(cols, 90), 240 - rows], -1).astype(np.uint8)
    writer = VideoWriter(tmp_path / "w.y4m", 12, 8, (30, 1))
    writer.write(picture)
    writer.commit()
    back, _ = read_sequence(tmp_path / "w.y4m")
    assert np.abs(back[0].astype(int) - picture.astype(int)).max() <= 3
    (tmp_path / "t.y4m").write_bytes(b"YUV4MPEG2 W8 H4 C420jpeg\nFRAME\n" + frame[:10])
    with pytest.raises(InputError, match="truncated"):
        read_sequence(tmp_path / "t.y4m")
    (tmp_path / "c.y4m").write_bytes(b"YUV4MPEG2 W8 H4 C444\n")
    with pytest.raises(InputError, match="4:2:0"):
        read_sequence(tmp_path / "c.y4m")


def test_speech_metrics_on_a_synthetic_voice():
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    from omnicodec.eval.metrics import speech_quality

    t = np.arange(3 * 16000) / 16000
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))  # syllable-like modulation
    voice = envelope * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8) for f0 in (140,))
    voice = (0.3 * voice / np.abs(voice).max()).astype(np.float32)
    clean = speech_quality(voice, voice)
    noisy = speech_quality(voice, voice + np.random.default_rng(0).normal(0, 0.05, voice.size).astype(np.float32))
    assert clean["pesq-wb"] > 4.0 and clean["stoi"] > 0.99
    assert noisy["pesq-wb"] < clean["pesq-wb"] and noisy["stoi"] < clean["stoi"]


ffmpeg_missing = pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="ffmpeg is not installed")


@ffmpeg_missing
def test_ffmpeg_baselines_code_speech_and_video(tmp_path):
    from omnicodec.eval.baselines import FFMPEG_BASELINES

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 4 * t)) / 2).astype(np.float32)
    size, decoded = FFMPEG_BASELINES["opus"].code_speech(speech, 12)
    assert 800 < size < 3000  # about 12 kbit for one second, plus Ogg framing
    assert abs(decoded.size - speech.size) < 2000
    frames = [np.clip(rng.normal(128, 20, (64, 96, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    size, decoded = FFMPEG_BASELINES["x264"].code_video(frames, 28)
    assert size > 0 and len(decoded) == 3 and decoded[0].shape == (64, 96, 3)


def test_eval_weights_measures_an_exported_model_and_bpp_est_counts_what_is_coded(tmp_path, tiny_weights):
    from PIL import Image

    from conftest import smooth_images
    from omnicodec import compress_file
    from omnicodec.coding import container

    folder = tmp_path / "odd"
    folder.mkdir()
    h, w = 150, 203  # not multiples of 64: the codec pads to 192 x 256
    for i in range(2):
        array = smooth_images(1, 208, seed=20 + i)[0, :, :h, :w].permute(1, 2, 0).numpy()
        Image.fromarray((array * 255).round().astype(np.uint8)).save(folder / f"odd{i}.png")
    code, out, err = run_cli("eval", "image/hyperprior", folder, "--weights", tiny_weights, "-o", tmp_path / "res", "--quiet")
    assert code == 0, err
    results = RDResults.load(tmp_path / "res" / f"{tiny_weights.stem}.json")  # named after the weights
    assert results.results["quality"] == [1.0] and "with tiny.json" in results.description
    items = json.loads((tmp_path / "res" / f"{tiny_weights.stem}-items.json").read_text())
    for item in items:
        compress_file(folder / item["item"], tmp_path / "x.omc", weights=tiny_weights, overwrite=True)
        data = (tmp_path / "x.omc").read_bytes()
        assert item["bpp"] == pytest.approx(8 * len(data) / (h * w))
        # the coded streams: the file's one unit less the length field of its z stream
        payload = 8 * (sum(len(c) for c in container.unpack(data).chunks.values()) - 4) / (h * w)
        assert abs(item["bpp-est"] - payload) <= 0.01 * payload, (item["bpp-est"], payload)
        assert item["bpp-est"] < payload  # the streams add their flush and check values


def test_eval_weights_and_shipped_weights_errors(tmp_path, tiny_weights):
    code, _, err = run_cli("eval", "image/s2lic", IMAGES, "-o", tmp_path / "r", "--quiet")
    assert code == 2 and "image/s2lic has no shipped weights;" in err and "None" not in err
    code, _, err = run_cli("eval", "image/s2lic", IMAGES, "--weights", tiny_weights, "-o", tmp_path / "r", "--quiet")
    assert code == 2 and "holds image/hyperprior weights, not image/s2lic" in err
    code, _, err = run_cli("eval", "jpeg", IMAGES, "--weights", tiny_weights, "-o", tmp_path / "r", "--quiet")
    assert code == 2 and "learned codecs only" in err


def test_an_anchor_of_one_point_is_drawn_as_a_marker(tmp_path, monkeypatch):
    import matplotlib.axes

    from omnicodec.eval.plot import plot_rd
    from omnicodec.eval.results import RDResults

    calls = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, *a, **k: calls.append((k["label"], a[2])) or original(self, *a, **k))
    ecc = RDResults("ecc", "", {"kbps": [7.0, 12.0], "pesq-wb": [2.3, 3.0]})
    opus = RDResults("opus", "", {"kbps": [6.5, 8.3], "pesq-wb": [2.4, 3.15]})
    codec2 = RDResults("codec2", "", {"kbps": [3.2], "pesq-wb": [1.64]})
    assert plot_rd([ecc], tmp_path / "rd.png", "pesq-wb", "kbps", "speech", [opus, codec2]).exists()
    assert calls == [("opus", "--"), ("codec2", "s"), ("ecc", "-o")]
