"""Training: LightningCLI runs, exact resume after kill -9, DDP, divergence, export, data."""

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
from omnicodec.train.step import warmup_cosine

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "image" / "hyperprior-tiny.yaml"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for i, img in enumerate(smooth_images(6, 80, seed=1)):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def train_args(run: Path, data: Path, steps: int, every: int = 1, *extra: str) -> list[str]:
    """``omnicodec train`` arguments: the tiny config, redirected into ``run``."""
    import yaml

    config = yaml.safe_load(TINY.read_text())
    trainer = config["trainer"]
    trainer.update(max_steps=steps, accelerator="cpu", enable_progress_bar=False, val_check_interval=None,
                   limit_val_batches=0)
    trainer["logger"] = [{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(run)}}]
    trainer["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {
        "dirpath": f"{run}/checkpoints", "every_n_train_steps": every, "save_last": True, "save_top_k": -1}}]
    config["model"]["init_args"].update(total_steps=8, lr=0.003)
    config["data"]["init_args"].update(train_dirs=[str(data)], val_dir=None)
    run.mkdir(parents=True, exist_ok=True)
    path = run / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["train", "--config", str(path), *extra]


def run_cli(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "omnicodec.cli", *args], capture_output=True, text=True, env=env, **kwargs)


def codec_state(checkpoint: Path) -> dict:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {k: v for k, v in state["state_dict"].items()}, state


def test_cli_train_checkpoint_resume_export_and_use(tmp_path, image_dir):
    run = tmp_path / "run"
    done = run_cli(train_args(run, image_dir, 3))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "weights_only" not in done.stdout + done.stderr  # our own saves say what they keep: no notice
    last = run / "checkpoints" / "last.ckpt"
    assert codec_state(last)[1]["global_step"] == 3
    resumed = run_cli(train_args(run, image_dir, 5, 1, f"--resume={last}"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert codec_state(last)[1]["global_step"] == 5
    export = run_cli(["export", str(last), str(tmp_path / "zoo"), "--quality", "2"])
    assert export.returncode == 0, export.stderr
    entry = tmp_path / "zoo" / "image-hyperprior-q2.json"
    src = image_dir / "0.png"
    for args in (["compress", src, tmp_path / "a.omc"], ["decompress", tmp_path / "a.omc", tmp_path / "a.png"]):
        r = run_cli([*map(str, args), "--weights", str(entry)])
        assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "a.png").size == (80, 80)


def test_resume_after_kill_9_continues_exactly(tmp_path, image_dir):
    steps = 8
    reference = run_cli(train_args(tmp_path / "ref", image_dir, steps))
    assert reference.returncode == 0, reference.stderr[-2000:]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnicodec.cli", *train_args(run, image_dir, steps)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    target = run / "checkpoints" / "epoch=0-step=3.ckpt"
    deadline = time.time() + 120
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoints = sorted(run.glob("checkpoints/epoch=*.ckpt"), key=lambda p: int(p.stem.split("step=")[1]))
    newest = None
    for ckpt in reversed(checkpoints):  # the newest complete checkpoint
        try:
            torch.load(ckpt, map_location="cpu", weights_only=False)
            newest = ckpt
            break
        except Exception:
            continue
    assert newest is not None
    resumed_from = codec_state(newest)[1]["global_step"]
    assert 3 <= resumed_from < steps, resumed_from  # killed in the middle of the run
    resumed = run_cli(train_args(run, image_dir, steps, 1, f"--resume={newest}"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final, meta = codec_state(run / "checkpoints" / "last.ckpt")
    expected, expected_meta = codec_state(tmp_path / "ref" / "checkpoints" / "last.ckpt")
    assert meta["global_step"] == expected_meta["global_step"] == steps
    for key, value in expected.items():
        assert torch.equal(final[key], value), key  # same weights, bit for bit
    sched, ref_sched = meta["lr_schedulers"][0], expected_meta["lr_schedulers"][0]
    assert sched["last_epoch"] == ref_sched["last_epoch"] == steps


def test_ddp_on_cpu_with_two_processes(tmp_path, image_dir):
    done = run_cli(
        train_args(tmp_path / "ddp", image_dir, 2, 1, "--trainer.strategy=ddp", "--trainer.devices=2"), timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, image_dir, monkeypatch):
    from omnicodec.errors import TrainingDivergedError
    from omnicodec.train.cli import main
    from omnicodec.train.lit import LitCodec

    original = LitCodec.losses

    def poisoned(self, batch):
        terms = original(self, batch)
        if self.global_step >= 2:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(LitCodec, "losses", poisoned)
    run = tmp_path / "nan"
    with pytest.raises(TrainingDivergedError, match="step 2"):
        main(train_args(run, image_dir, 6)[1:])
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_training_losses_for_every_medium():
    from omnicodec.codecs import CodecOutput
    from omnicodec.train.losses import rd_loss

    torch.manual_seed(0)
    lik = {"y": torch.full((1, 4, 8, 8), 0.5)}
    speech = torch.randn(2, 1, 4000) * 0.1
    near = rd_loss("speech", "stft-mel", CodecOutput(speech + 0.001 * torch.randn_like(speech), lik), speech, 1.0)
    far = rd_loss("speech", "stft-mel", CodecOutput(torch.randn_like(speech) * 0.1, lik), speech, 1.0)
    assert near["distortion"] < far["distortion"]
    assert near["kbps"].item() == pytest.approx(256 / (2 * 4000 / 16000) / 1000)
    video = torch.rand(2, 3, 3, 16, 16)
    v = rd_loss("video", "frame-mse", CodecOutput(video * 0.9, lik), video, 0.01)
    assert v["bpp"].item() == pytest.approx(256 / (2 * 3 * 16 * 16))
    image = torch.rand(1, 3, 176, 176)
    m = rd_loss("image", "ms-ssim", CodecOutput(image, lik), image, 10.0)
    assert m["ms_ssim"].item() == pytest.approx(1.0) and m["loss"].item() == pytest.approx(m["bpp"].item())
    with pytest.raises(ValueError, match="does not apply"):
        rd_loss("image", "stft-mel", CodecOutput(image, lik), image, 1.0)


def test_samples_are_a_function_of_their_index(tmp_path, image_dir):
    import soundfile as sf

    from omnicodec.datasets.audio import load_mono
    from omnicodec.train.data import RandomCropDataset, SpeechSegmentDataset, VideoClipDataset, list_images

    crops = RandomCropDataset(list_images([image_dir]), 32, seed=3, length=10)
    assert torch.equal(crops[7], RandomCropDataset(list_images([image_dir]), 32, seed=3, length=10)[7])
    assert not torch.equal(crops[7], crops[8])
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).normal(0, 0.1, (44100, 2)).astype(np.float32), 44100)
    audio = load_mono(tmp_path / "a.wav")
    assert audio.ndim == 1 and abs(audio.size - 16000) <= 1
    speech = SpeechSegmentDataset([audio], 4000, seed=1, length=5)
    assert speech[2].shape == (1, 4000) and torch.equal(speech[2], SpeechSegmentDataset([audio], 4000, 1, 5)[2])
    frames = [np.full((40, 40, 3), 10 * i, np.uint8) for i in range(6)]
    clips = VideoClipDataset([frames], list_images([image_dir]), frames=3, crop=32, seed=2, length=20)
    shapes = {tuple(clips[i].shape) for i in range(20)}
    assert shapes == {(3, 3, 32, 32)}


def test_synthetic_camera_motion_moves():
    from omnicodec.train.data import synthetic_clip

    image = (smooth_images(1, 128, seed=4)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    clip = synthetic_clip(image, 4, 64, np.random.default_rng(0))
    assert clip.shape == (4, 64, 64, 3) and clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 1  # the camera moved


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 100, 0.1) == 0.1
    assert warmup_cosine(9, 10, 100, 0.1) == 1.0
    assert abs(warmup_cosine(100, 10, 100, 0.1) - 0.1) < 1e-12
    assert warmup_cosine(55, 10, 100, 0.1) < 1.0


def _lr_after(module, steps: int) -> float:
    (main, _aux), (schedule,) = module.configure_optimizers()
    for _ in range(steps):
        main.step()
        schedule.step()
    return main.param_groups[0]["lr"]


def test_max_steps_stretches_the_learning_rate_schedule():
    import lightning as L

    from omnicodec.errors import InputError
    from omnicodec.train.lit import LitCodec

    def module(max_steps: int, **kwargs):
        m = LitCodec("image/hyperprior", {"N": 8, "M": 8}, lr=1e-3, lr_floor=0.05, **kwargs)
        m.trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                              enable_progress_bar=False, enable_model_summary=False)
        return m

    floor = 1e-3 * 0.05
    assert _lr_after(module(20), 20) == pytest.approx(floor)  # decayed over its 20 steps
    assert _lr_after(module(30), 20) > 2 * floor  # 30 steps: still decaying at step 20
    assert _lr_after(module(30), 30) == pytest.approx(floor)
    assert _lr_after(module(30, total_steps=40), 30) > 2 * floor  # explicit and longer: kept
    with pytest.raises(InputError, match="max_steps"):
        module(30, total_steps=20).configure_optimizers()  # would sit at its floor for 10 steps


def test_configs_leave_the_schedule_to_max_steps():
    import yaml

    for path in CONFIGS.glob("*/*.yaml"):
        config = yaml.safe_load(path.read_text())
        assert "total_steps" not in config["model"]["init_args"], path


@pytest.mark.parametrize("native, given, expected", [
    (False, None, "32-true"),  # emulated bfloat16: float32 instead, said once
    (True, None, "bf16-mixed"),  # native: the config's precision
    (False, "bf16-mixed", "bf16-mixed"),  # chosen on the command line: kept
])
def test_bf16_configs_train_in_float32_where_the_cpu_would_emulate_it(tmp_path, image_dir, monkeypatch, capsys,
                                                                       native, given, expected):
    import yaml

    from omnicodec.train import cli

    args = train_args(tmp_path / "run", image_dir, 1)
    config = Path(args[2])
    data = yaml.safe_load(config.read_text())
    data["trainer"]["precision"] = "bf16-mixed"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(cli, "native_bf16", lambda: native)
    used = []
    monkeypatch.setattr(cli.L.Trainer, "fit", lambda trainer, *a, **k: used.append(str(trainer.precision)))
    cli.main(args[1:] + (["--trainer.precision", given] if given else []))
    assert used == [expected]
    assert ("no native bfloat16" in capsys.readouterr().out) == (expected != "bf16-mixed")


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    from omnicodec.train.cli import native_bf16

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert not native_bf16(str(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert native_bf16(str(info))
    info.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")  # Arm
    assert native_bf16(str(info))
    assert native_bf16(str(tmp_path / "absent"))  # unknown: the config's precision stands


def test_the_last_checkpoint_holds_the_step_training_ended_on(tmp_path, image_dir):
    run = tmp_path / "run"
    done = run_cli(train_args(run, image_dir, 5, 2))  # checkpoints every 2 steps: 2 and 4, then the end
    assert done.returncode == 0, done.stderr[-2000:]
    assert codec_state(run / "checkpoints" / "last.ckpt")[1]["global_step"] == 5
    resumed = run_cli(train_args(run, image_dir, 7, 2, f"--resume={run / 'checkpoints' / 'last.ckpt'}"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert codec_state(run / "checkpoints" / "last.ckpt")[1]["global_step"] == 7


@pytest.mark.parametrize("flag, compiled", [([], False), (["--compile", "true"], True)])
def test_compile_compiles_the_codec_in_place_before_training(tmp_path, image_dir, monkeypatch, flag, compiled):
    from omnicodec.train import cli

    calls = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda module, *a, **k: calls.append(module))
    fitted = []
    monkeypatch.setattr(cli.L.Trainer, "fit", lambda trainer, model, *a, **k: fitted.append((model, list(calls))))
    cli.main(train_args(tmp_path / "run", image_dir, 1)[1:] + flag)
    (model, before_fit), = fitted
    assert before_fit == ([model.codec] if compiled else [])


@pytest.mark.slow
def test_a_compiled_run_trains_and_its_checkpoint_resumes_uncompiled(tmp_path, image_dir):
    run = tmp_path / "run"
    done = run_cli(train_args(run, image_dir, 2, 1, "--compile", "true"))
    assert done.returncode == 0, done.stderr[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    assert codec_state(last)[1]["global_step"] == 2
    resumed = run_cli(train_args(run, image_dir, 3, 1, f"--resume={last}"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert codec_state(last)[1]["global_step"] == 3
