"""Every training config under configs/ trains: one real step through ``omnicodec train``, with
every callback it configures (real bitrates included), on tiny models and synthetic data."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import smooth_images

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

S2LIC = {"N": 16, "M": 32, "hyper_channels": 16, "slice_channels": 16, "depths": [1, 1, 1, 1, 1],
         "heads": [2, 2, 2, 2, 2], "window": 4, "context_dim": 16, "couplings": 1}
TINY = {  # codec dims that replace the config's; other keys (levels, intra_prior, …) stay
    "image/hyperprior": {"N": 8, "M": 12},
    "image/s2lic": S2LIC,
    "image/s2lic-small": S2LIC,
    "image/feds-teacher": {"N": 16, "M": 64, "hyper_channels": 16, "depth": 1, "heads": 2, "window": 4,
                           "context_hidden": 16},
    "image/feds-student": {"N": 8, "M": 32, "hyper_channels": 8, "context_hidden": 8},
    "speech/ecc": {"channels": [8, 8, 16, 16], "M": 16, "N": 8, "slices": [4, 4, 8], "chunk_frames": 16,
                   "context_frames": 4},
    "video/stem": {"N": 8, "M": 12},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import soundfile as sf

    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    for i, img in enumerate(smooth_images(3, 64, seed=5)):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(root / "images" / f"{i}.png")
    (root / "speech").mkdir()
    sf.write(root / "speech" / "p225_001.wav", np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    return root


def tiny(config: dict, run: Path, data: Path) -> dict:
    """``config`` shrunk to one step of a tiny model on ``data``, writing into ``run``."""
    trainer = config["trainer"]
    trainer.update(max_steps=1, accelerator="cpu", devices=1, enable_progress_bar=False, log_every_n_steps=1,
                   limit_val_batches=0)
    for logger in trainer["logger"]:
        logger["init_args"]["save_dir"] = str(run)
    for callback in trainer["callbacks"]:
        args = callback["init_args"]
        args.update({k: 1 for k in args if k.startswith("every_n")})
        if "dirpath" in args:
            args["dirpath"] = str(run / "checkpoints")
        if "images" in args:
            args["images"] = 1
    model = config["model"]["init_args"]
    for key in ("codec", "teacher", "student"):
        if f"{key}_id" in model:
            model[f"{key}_config"] = {**(model.get(f"{key}_config") or {}), **TINY[model[f"{key}_id"]]}
            if model[f"{key}_config"].get("transform") == "mdct":  # one latent channel per MDCT coefficient
                model[f"{key}_config"].update(M=160, slices=[32, 32, 96])
    if "teacher_weights" in model:
        model["teacher_weights"] = None  # a fresh teacher: the step is what is tested
    args = config["data"]["init_args"]
    media = model.get("codec_id", "image/").split("/")[0]
    if media == "speech":
        args.update(train_dirs=[str(data / "speech")], segment_seconds=0.32, batch_size=1)
    else:  # a folder of PNG frames is also one video sequence
        args.update(train_dirs=[str(data / "images")], crop=64, batch_size=1)
    if "val_dir" in args:
        args.update(val_dir=str(data / "images"), val_limit=1)
    if "still_dirs" in args:
        args.update(still_dirs=[str(data / "images")], frames=2)
    return config


def logged(run: Path) -> dict[str, list[float]]:
    """The CSV logger's metrics: name -> values."""
    values: dict[str, list[float]] = {}
    for path in run.rglob("metrics.csv"):
        with path.open() as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    if v not in ("", None):
                        values.setdefault(k, []).append(float(v))
    return values


@pytest.mark.parametrize("name", sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml")))
def test_every_config_trains_a_step_with_its_callbacks(name, tmp_path, data):
    import torch

    from omnicodec.train.cli import main

    config = tiny(yaml.safe_load((CONFIGS / name).read_text()), tmp_path / "run", data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["--config", str(path)])
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 1
    metrics = logged(tmp_path / "run")
    assert math.isfinite(metrics["train/loss"][0])
    callbacks = [c["class_path"].rsplit(".", 1)[-1] for c in config["trainer"]["callbacks"]]
    if "RealBitrateCallback" in callbacks:
        bpp = metrics.get("val/bpp_real", [])
        assert bpp and all(math.isfinite(v) and v > 0 for v in bpp), bpp
