"""The GPU burst on the CPU: packer, resident data, time-budget learning rate, init from exported
weights, and the whole ``burst run`` with a tiny model and a few-second budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from omnicodec.errors import InputError, OutputExistsError, WeightsError

REPO = Path(__file__).resolve().parents[1]


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _smooth(size: int, seed: int) -> np.ndarray:
    from conftest import smooth_images

    return (smooth_images(1, size, seed)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory) -> Path:
    """A tiny folder laid out like ../shared/data."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("data")
    _png(root / "kodak" / "kodim01.png", _smooth(64, 1))
    for k in range(3):
        _png(root / "train_images" / f"a{k}.png", _smooth(96, 10 + k))
        _png(root / "train_photos" / f"b{k}.png", _smooth(128, 20 + k))
    rng = np.random.default_rng(0)
    for folder, n in (("speech/vctk", 1), ("speech_train/vctk", 2)):
        (root / folder).mkdir(parents=True)
        for k in range(n):
            tone = 0.3 * np.sin(np.arange(22050) * 2 * np.pi * 220 / 22050) + 0.01 * rng.standard_normal(22050)
            sf.write(root / folder / f"p{k}.wav", tone.astype(np.float32), 22050)
    for k in range(4):
        _png(root / "video" / "clip" / f"frame_{k + 1:03d}.png", _smooth(64, 30 + k))
        _png(root / "video_train" / "seq" / f"frame_{k + 1:03d}.png", _smooth(80, 40 + k))
    return root


@pytest.fixture(scope="module")
def pack(shared_data, tmp_path_factory) -> Path:
    from omnicodec.train.pack import pack_data

    out = tmp_path_factory.mktemp("packed") / "pack"
    manifest = pack_data(shared_data, out, max_mib=0.6, crop=64, speech_mib=0.02, video_mib=0.05, progress=lambda m: None)
    assert manifest["contents"]["images"]["files"] >= 2
    return out


def test_pack_layout_and_budget(pack, shared_data, tmp_path):
    from PIL import Image

    from omnicodec.train.pack import pack_data

    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["bytes"] <= 0.6 * (1 << 20)
    assert sum(f.stat().st_size for f in pack.rglob("*") if f.is_file()) <= 0.6 * (1 << 20)
    crops = sorted((pack / "images").glob("*.jpg"))
    assert {Image.open(p).size for p in crops} == {(64, 64)}
    assert (pack / "eval" / "kodak" / "kodim01.png").read_bytes() == (shared_data / "kodak" / "kodim01.png").read_bytes()
    assert len(list((pack / "eval" / "video" / "clip").glob("*.png"))) == 4
    import soundfile as sf

    info = sf.info(next((pack / "speech").glob("*.flac")))
    assert (info.samplerate, info.channels) == (16000, 1)
    # a second pack into the same folder needs force; a folder that is not a pack is never replaced
    with pytest.raises(OutputExistsError, match="--force"):
        pack_data(shared_data, pack, max_mib=0.6, crop=64, progress=lambda m: None)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not a data pack"):
        pack_data(shared_data, foreign, force=True, progress=lambda m: None)
    assert (foreign / "keep.txt").read_text() == "mine"
    # training images all smaller than the crop: a clear error, not an endless search
    with pytest.raises(InputError, match="no training image is at least"):
        pack_data(shared_data, tmp_path / "small", max_mib=0.6, crop=4096, progress=lambda m: None)
    assert not (tmp_path / "small").exists()


def test_resident_image_batches_are_flipped_crops_of_the_pack(tmp_path):
    from omnicodec.train.resident import PackedImageDataModule

    rng = np.random.default_rng(0)
    for k in range(3):  # noise: every 8x8 window (and its flips) is unique
        _png(tmp_path / "images" / f"{k}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    data = PackedImageDataModule(str(tmp_path), crop=8, batch_size=32, channels_last=True, seed=1)
    data.setup()
    images = data.images  # [3, 3, 16, 16] uint8
    batch = next(iter(data.train_dataloader()))
    assert batch.shape == (32, 3, 8, 8) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)
    found = set()
    for x in (batch * 255).round().to(torch.uint8):
        match = None
        for k, img in enumerate(images):
            for fh in (False, True):
                for fv in (False, True):
                    view = img.flip(-1) if fh else img
                    view = view.flip(-2) if fv else view
                    windows = view.unfold(1, 8, 1).unfold(2, 8, 1)  # [3, 9, 9, 8, 8]
                    hit = (windows == x[:, None, None]).flatten(3).all(-1).all(0).nonzero()
                    if len(hit):
                        match = (k, fh, fv, *hit[0].tolist())
        assert match is not None, "a sample is not a (flipped) window of a packed crop"
        found.add(match)
    assert {m[0] for m in found} == {0, 1, 2}  # every crop drawn
    assert {m[1:3] for m in found} == {(False, False), (False, True), (True, False), (True, True)}  # every flip
    assert len({m[3:] for m in found}) > 8  # many offsets
    assert not torch.equal(batch, next(iter(data.train_dataloader())))


def test_resident_speech_and_video_batches(pack):
    from omnicodec.train.resident import PackedSpeechDataModule, PackedVideoDataModule

    speech = PackedSpeechDataModule(str(pack), segment_seconds=0.1, batch_size=4)
    speech.setup()
    x = next(iter(speech.train_dataloader()))
    assert x.shape == (4, 1, 1600) and x.abs().max() <= 1 and x.abs().max() > 0.05
    video = PackedVideoDataModule(str(pack), frames=3, crop=64, batch_size=2)
    video.setup()
    clip = next(iter(video.train_dataloader()))
    assert clip.shape == (2, 3, 3, 64, 64) and 0 <= clip.min() and clip.max() <= 1
    assert not torch.equal(clip[:, 0], clip[:, 1])  # consecutive frames, not one frame repeated


def test_time_budget_lr_warms_up_then_follows_the_clock():
    from omnicodec.train.callbacks import TimeBudgetLR

    s = TimeBudgetLR(seconds=100, warmup_steps=4, floor=0.1)
    assert [s.factor(k, 0) for k in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s.factor(10, 0) == pytest.approx(1.0)
    assert s.factor(10, 50) == pytest.approx(0.55)
    assert s.factor(10, 100) == pytest.approx(0.1)
    assert s.factor(10, 1000) == pytest.approx(0.1)


def _tiny_module():
    from omnicodec.train.lit import LitCodec

    return LitCodec("image/hyperprior", {"N": 16, "M": 24})


def test_init_from_exported_weights(tmp_path):
    from omnicodec.codecs import create_codec
    from omnicodec.train.checkpoint import init_from
    from omnicodec.zoo import save_weights

    torch.manual_seed(1)
    source = create_codec("image/hyperprior", {"N": 16, "M": 24})
    entry = save_weights(source, tmp_path, "w", 3)
    for path in (entry, entry.with_suffix(".safetensors")):
        torch.manual_seed(2)
        module = _tiny_module()
        assert init_from(module, path) == []
        for (name, p), q in zip(module.codec.named_parameters(), source.parameters()):
            assert torch.equal(p, q.detach().half().float()), name  # the stored float16 values
    # another size, another codec, or a model with parts the weights lack
    from omnicodec.train.lit import LitCodec

    with pytest.raises(WeightsError, match="does not fit"):
        init_from(LitCodec("image/hyperprior", {"N": 16, "M": 32}), entry)
    with pytest.raises(WeightsError, match="this run trains"):
        init_from(_other_codec_module(), entry)
    module = _tiny_module()
    module.codec.register_parameter("gain", torch.nn.Parameter(torch.full((24,), 0.5)))
    with pytest.raises(WeightsError, match="lacks 1 tensors"):
        init_from(module, entry)
    assert init_from(module, entry, strict=False) == ["gain"]
    assert torch.equal(module.codec.gain, torch.full((24,), 0.5))
    assert torch.equal(module.codec.g_a[0].weight, source.g_a[0].weight.detach().half().float())


def _other_codec_module():
    from omnicodec.train.lit import LitCodec

    return LitCodec("video/stem", {"N": 8, "M": 12, "intra_period": 4})


def test_plan_split_and_errors(tmp_path):
    from omnicodec.errors import InputError
    from omnicodec.train.burst import DEFAULT_PLAN, load_plan

    plan = load_plan(None, "0.5,0,0.5")
    assert [e.name for e in plan] == ["image", "video"]
    assert [e.name for e in load_plan(None, None)] == [e.name for e in DEFAULT_PLAN] == ["image", "speech", "video"]
    with pytest.raises(InputError, match="3 non-negative shares"):
        load_plan(None, "1,2")
    bad = tmp_path / "plan.json"
    bad.write_text('[{"name": "x"}]')
    with pytest.raises(InputError, match="not a burst plan"):
        load_plan(str(bad), None)


def _demo_wheel(folder: Path) -> None:
    """A minimal pure-Python wheel, to check the offline install."""
    folder.mkdir()
    with zipfile.ZipFile(folder / "demo_pkg-0.1-py3-none-any.whl", "w") as whl:
        whl.writestr("demo_pkg/__init__.py", "VALUE = 7\n")
        whl.writestr("demo_pkg-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 0.1\n")
        wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        whl.writestr("demo_pkg-0.1.dist-info/WHEEL", wheel)
        whl.writestr("demo_pkg-0.1.dist-info/RECORD", "")


def test_burst_run_on_cpu_gives_loadable_weights_and_eval_json(pack, tmp_path):
    from omnicodec.codecs import create_codec
    from omnicodec.zoo import load_file_entry, save_weights

    torch.manual_seed(123)  # not the run's seed, so a fresh initialisation differs from these weights
    init = save_weights(create_codec("image/hyperprior", {"N": 16, "M": 24}), tmp_path / "init", "tiny", 3,
                        extra={"lambda": 0.013})
    plan = [{"name": "image", "config": "configs/image/hyperprior-tiny.yaml", "init": str(init), "share": 1.0,
             "data": "image", "batch_size": 2, "lr": 1e-4, "data_args": {"crop": 64}, "eval": "eval/kodak",
             "warmup_steps": 2},
            # a broken entry: its failure is recorded, the rest of the rotation still runs
            {"name": "broken", "config": "configs/none.yaml", "init": None, "share": 0.01, "data": "image",
             "batch_size": 2, "lr": 1e-4}]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    _demo_wheel(tmp_path / "wheels")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "omnicodec.train.burst", "run", "--pack", str(pack), "--wheels", str(tmp_path / "wheels"),
         "--out", str(out), "--work", str(tmp_path / "work"), "--plan", str(tmp_path / "plan.json"), "--budget", "4",
         "--reserve", "0", "--log-every", "5", "--device", "cpu"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # 1: a model failed
    files = sorted(p.name for p in out.iterdir())
    assert files == ["broken.tar", "burst.json", "burst.log", "cross_device.txt", "image.tar"]
    summary = json.loads((out / "burst.json").read_text())
    assert summary["wheels"] == ["demo_pkg"]
    assert "cannot read config" in summary["models"]["broken"]["error"]
    image = summary["models"]["image"]
    assert "error" not in image and image["train"]["steps"] > 0
    assert "a_to_b_exact=1/1" in image["cross_device"]
    with tarfile.open(out / "image.tar") as tar:
        tar.extractall(tmp_path / "back", filter="data")
    back = tmp_path / "back"
    codec = load_file_entry(back / "weights" / "tiny.json").codec  # named like the weights it started from
    assert codec.codec_id == "image/hyperprior" and codec.config() == {"N": 16, "M": 24}
    start = load_file_entry(init).codec
    moved = (codec.g_s[0].weight - start.g_s[0].weight).abs()
    assert 0 < moved.max() < 0.05  # it trained, from those weights (not from a fresh initialisation)
    for name in ("eval-before.json", "eval-after.json"):
        results = json.loads((back / name).read_text())["results"]
        assert results["items"] == [1.0] and results["bpp"][0] > 0 and np.isfinite(results["psnr-rgb"][0])
    assert json.loads((back / "stats.json").read_text())["steps"] == image["train"]["steps"]
    assert "trained" in (back / "train.log").read_text()  # the child's log; Lightning's CSV needs more steps
    assert "PackedImageDataModule" in (back / "config.yaml").read_text()


def test_the_pack_takes_the_room_the_tree_leaves(tmp_path):
    """The shipped weights grow the repository: the default pack shrinks so that repository + pack + wheels
    stay under the limit, keeping room for wheels not downloaded yet."""
    from omnicodec.train.burst import REPO
    from omnicodec.train.pack import MIB, PACK_MIB, WHEELS_MIB, pack_room, tree_bytes

    repo = tree_bytes(REPO, []) / MIB
    assert pack_room(REPO, repo + 20, tmp_path / "none") == pytest.approx(20 - WHEELS_MIB - 0.5)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"\0" * (2 * MIB))
    assert pack_room(REPO, repo + 20, wheels) == pytest.approx(20 - 2 - 0.5)  # the wheels as they are
    assert pack_room(REPO, repo + 200, wheels) == PACK_MIB


def test_a_smaller_pack_keeps_every_second_test_image_and_less_speech_and_video(shared_data, tmp_path):
    import shutil

    from omnicodec.train.pack import PACK_MIB, pack_data, pack_shares

    assert pack_shares(PACK_MIB) == {"eval_images": None, "speech_mib": 4.0, "video_mib": 5.0}
    small, smaller = pack_shares(18.0), pack_shares(16.0)
    assert small["eval_images"] == 12 and small["speech_mib"] < 4.0 and small["video_mib"] < 5.0
    assert smaller["eval_images"] == 8 and smaller["speech_mib"] < small["speech_mib"]
    assert smaller["video_mib"] < small["video_mib"]
    data = tmp_path / "data"
    shutil.copytree(shared_data, data)
    for k in range(2, 7):
        shutil.copyfile(data / "kodak" / "kodim01.png", data / "kodak" / f"kodim{k:02d}.png")
    manifest = pack_data(data, tmp_path / "pack", max_mib=0.8, crop=64, speech_mib=0.02, video_mib=0.05,
                         eval_images=3, progress=lambda m: None)
    assert manifest["contents"]["eval/kodak"]["files"] == 3
    assert sorted(p.name for p in (tmp_path / "pack" / "eval" / "kodak").iterdir()) == [
        "kodim01.png", "kodim03.png", "kodim05.png"]


def test_every_plan_entry_fits_the_weights_it_starts_from():
    """A burst starts each model from its shipped weights with its config: they must fit, or the burst
    fails on the GPU machine."""
    import yaml

    from omnicodec.codecs import create_codec
    from omnicodec.train.burst import DEFAULT_PLAN
    from omnicodec.train.checkpoint import _init_from_weights

    for entry in DEFAULT_PLAN:
        model = yaml.safe_load((REPO / entry.config).read_text())["model"]["init_args"]
        run = torch.nn.Module()
        run.codec = create_codec(model["codec_id"], model["codec_config"])
        assert _init_from_weights(run, REPO / entry.init, strict=True) == [], entry.name


def test_results_over_the_file_limit_drop_the_logs_then_compress(tmp_path, monkeypatch):
    from omnicodec.train import burst

    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "w.safetensors").write_bytes(bytes(range(256)) * 400)  # 100 KiB, compressible
    (folder / "train.log").write_bytes(b"x" * 50_000)
    target = tmp_path / "model.tar"
    monkeypatch.setattr(burst, "MAX_FILE_BYTES", 10 * 1024 * 1024)
    burst._pack_results(folder, target)
    with tarfile.open(target) as tar:
        assert "train.log" in tar.getnames()
    monkeypatch.setattr(burst, "MAX_FILE_BYTES", 120_000)  # the weights fit, the log does not
    burst._pack_results(folder, target)
    with tarfile.open(target, "r:") as tar:
        assert "train.log" not in tar.getnames() and "weights/w.safetensors" in tar.getnames()
    monkeypatch.setattr(burst, "MAX_FILE_BYTES", 50_000)  # only compressed
    assert burst._pack_results(folder, target) <= 50_000
    with tarfile.open(target) as tar:  # read as tar xf reads it: the compression is detected
        assert tar.extractfile("weights/w.safetensors").read() == bytes(range(256)) * 400


def test_an_export_codes_as_the_entry_it_started_from(tmp_path, tiny_weights):
    """Training runs without entropy skip; the burst's export takes the shipped entry's skip, so before and
    after compare the weights alone, and the tensors (and sha256) stay as exported."""
    import shutil

    from omnicodec import zoo
    from omnicodec.train.burst import with_coding_settings

    for suffix in (".json", ".safetensors"):
        shutil.copy(tiny_weights.with_suffix(suffix), tmp_path)
    exported = tmp_path / tiny_weights.name
    before = exported.read_bytes()
    start = json.loads(before)
    assert with_coding_settings(exported, start).read_bytes() == before  # nothing to carry: untouched
    start["config"]["skip_threshold"] = 0.3
    with_coding_settings(exported, start)
    loaded = zoo.load_file_entry(exported)  # the sha256 still holds
    assert loaded.codec.config()["skip_threshold"] == 0.3
    assert json.loads(exported.read_text())["sha256"] == json.loads(before)["sha256"]
