"""A GPU training burst in one command: pack the data here, run the rotation there.

    python -m omnicodec.train.burst pack [--data ../shared/data] [--out .burst-data]   # here, once
    python -m omnicodec.train.burst run --pack .burst-data --wheels .whl --out $OUT [--budget 480]

``run`` installs the wheels of ``--wheels`` (no network) into a private folder, then trains a
rotation of models (:data:`DEFAULT_PLAN`: image → speech → video), each from its latest committed
weights for its share of the training time, each in its own process through the same
LightningModule and config files as ``omnicodec train`` (the YAML of the plan plus overrides:
resident data, bf16-mixed, channels_last, Lightning's ``max_time``, a warm-restart learning rate
on the wall clock, a finiteness check every N steps instead of every step). Each model is then
exported, evaluated from real files on the packed test data before (committed weights) and after,
and the image model's GPU-encoded Kodak files are decoded on the CPU (``benchmarks/cross_device.py``).

The output folder receives at most 8 files of at most 16 MiB: ``burst.json`` (the summary),
``burst.log``, ``cross_device.txt`` and one ``<model>.tar`` per model (float16 weights, eval
JSON before/after, the derived config, Lightning's CSV log and the training log; over 16 MiB, the
weights and eval JSON alone, gzip-compressed if still needed: ``tar xf`` reads either). Weights are
named like those they started from (``image-hyperprior-variable``), or ``<model>-burst`` from scratch.

A plan is a JSON list of entries like :class:`PlanEntry` (``--plan plan.json``); ``--split`` sets
the shares of the default plan. To switch the image model to another config, edit its line in
:data:`DEFAULT_PLAN` (or pass a plan).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ..errors import InputError, OmnicodecError

REPO = Path(__file__).resolve().parents[3]
WEIGHTS = "src/omnicodec/zoo/weights"
MIB = 1 << 20
MAX_FILE_BYTES = 16 * MIB
MAX_FILES = 8


@dataclasses.dataclass
class PlanEntry:
    """One model of the rotation.

    ``config``: the LightningCLI YAML (relative to the repository); ``init``: exported weights to
    start from (``None``: train from the config's initialisation); ``share``: its part of the
    training time; ``data``: the packed data to train on (``image``, ``speech``, ``video``);
    ``batch_size``/``lr``: for a GPU (the config's are for CPUs); ``data_args``: init args of the
    resident data module; ``set``: dotted config keys to replace (``{"model.init_args.lmbda": 0.01}``);
    ``args``: extra LightningCLI arguments; ``init_strict``: refuse weights that lack tensors;
    ``eval``: the packed test folder; ``compile``: ``torch.compile`` the codec."""

    name: str
    config: str
    init: str | None
    share: float
    data: str
    batch_size: int
    lr: float
    data_args: dict = dataclasses.field(default_factory=dict)
    set: dict = dataclasses.field(default_factory=dict)
    args: list = dataclasses.field(default_factory=list)
    init_strict: bool = True
    eval: str = ""
    warmup_steps: int = 100
    compile: bool = False


# The default rotation. The image line names the default image model: point it at a new
# config (and its latest weights) by editing that one line. Batches are 4x the CPU configs'
# and learning rates grow with the square root of the batch (the committed models ended near
# 1e-4 at batch 16 and 4). Speech continues the shipped variable-rate MDCT model (its entropy model
# on the fixed transform coder); its config ended at 3e-4 at batch 8, kept at batch 64.
DEFAULT_PLAN = [
    PlanEntry("image", "configs/image/hyperprior-variable.yaml", f"{WEIGHTS}/image-hyperprior-variable.json", 0.45, "image",
              batch_size=64, lr=2e-4, data_args={"crop": 256}, eval="eval/kodak"),
    PlanEntry("speech", "configs/speech/ecc-vr.yaml", f"{WEIGHTS}/speech-ecc-variable.json", 0.20, "speech",
              batch_size=64, lr=3e-4, data_args={"segment_seconds": 1.28}, eval="eval/speech"),
    PlanEntry("video", "configs/video/stem-from-image.yaml", f"{WEIGHTS}/video-stem-variable.json", 0.35, "video",
              batch_size=16, lr=2e-4, data_args={"frames": 3, "crop": 256}, eval="eval/video"),
]

DATA_MODULES = {
    "image": "omnicodec.train.resident.PackedImageDataModule",
    "speech": "omnicodec.train.resident.PackedSpeechDataModule",
    "video": "omnicodec.train.resident.PackedVideoDataModule",
}


def load_plan(path: str | None, split: str | None) -> list[PlanEntry]:
    """The plan of ``path`` (a JSON list of entries) or the default one; ``split`` ("0.5,0.2,0.3") resets the shares."""
    if path:
        try:
            raw = json.loads(Path(path).read_text())
            plan = [PlanEntry(**item) for item in raw]
        except (OSError, ValueError, TypeError) as exc:
            fields = ", ".join(f.name for f in dataclasses.fields(PlanEntry))
            raise InputError(f"{path} is not a burst plan (a JSON list of entries with {fields}): {exc}") from exc
    else:
        plan = [dataclasses.replace(e) for e in DEFAULT_PLAN]
    if split:
        try:
            shares = [float(s) for s in split.split(",")]
        except ValueError:
            raise InputError(f"--split takes comma-separated numbers, got {split!r}") from None
        if len(shares) != len(plan) or min(shares) < 0 or sum(shares) <= 0:
            raise InputError(f"--split needs {len(plan)} non-negative shares ({', '.join(e.name for e in plan)}), got {split!r}")
        for entry, share in zip(plan, shares):
            entry.share = share
    plan = [e for e in plan if e.share > 0]
    if not plan:
        raise InputError("the plan trains nothing (all shares are zero)")
    for e in plan:
        if e.data not in DATA_MODULES:
            raise InputError(f"plan entry {e.name!r}: data must be one of {sorted(DATA_MODULES)}, not {e.data!r}")
    return plan


def _set(config: dict, dotted: str, value) -> None:
    node = config
    *path, last = dotted.split(".")
    for key in path:
        node = node.setdefault(key, {})
    node[last] = value


def derive_config(entry: PlanEntry, pack: Path, work: Path, seconds: float, cuda: bool, log_every: int) -> dict:
    """The plan entry's YAML with the burst's overrides: what the child's LightningCLI reads."""
    import yaml

    source = REPO / entry.config
    try:
        config = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"plan entry {entry.name!r}: cannot read config {source}: {exc}") from exc
    init_args = config.setdefault("model", {}).setdefault("init_args", {})
    if entry.init:
        from ..zoo import read_entry

        weights = read_entry(REPO / entry.init)
        # the committed model's size over the YAML's; keys only the YAML has (e.g. new gain levels) stay
        init_args["codec_config"] = {**(init_args.get("codec_config") or {}), **weights["config"]}
        if weights.get("lambda") is not None:
            init_args["lmbda"] = weights["lambda"]
        if weights.get("lambda_levels") is not None:  # a variable-rate model: one lambda per level
            init_args["lmbda_levels"] = weights["lambda_levels"]
    init_args.update(lr=entry.lr, warmup_steps=0, total_steps=0, check_finite_every=log_every)
    callbacks = [
        {"class_path": "omnicodec.train.callbacks.TimeBudgetLR",
         "init_args": {"seconds": seconds, "warmup_steps": entry.warmup_steps}},
        {"class_path": "omnicodec.train.callbacks.StepClock", "init_args": {"warmup": 10}},
    ]
    if cuda and entry.data in ("image", "video"):
        callbacks.append({"class_path": "omnicodec.train.callbacks.ChannelsLast"})
    trainer = config.setdefault("trainer", {})
    for key in ("val_check_interval", "check_val_every_n_epoch"):
        trainer.pop(key, None)
    whole = int(seconds)
    trainer.update(
        max_steps=-1, max_epochs=-1, max_time=f"00:{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}",
        accelerator="cuda" if cuda else "cpu", devices=1, precision="bf16-mixed" if cuda else "32-true",
        log_every_n_steps=log_every, limit_val_batches=0, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, num_sanity_val_steps=0, callbacks=callbacks,
        logger=[{"class_path": "lightning.pytorch.loggers.CSVLogger",
                 "init_args": {"save_dir": str(work), "name": "logs", "version": 0}}],
    )
    config["data"] = {
        "class_path": DATA_MODULES[entry.data],
        "init_args": {"pack": str(pack), "batch_size": entry.batch_size, **entry.data_args},
    }
    for dotted, value in entry.set.items():
        _set(config, dotted, value)
    return config


# --- the child: one model's training ---------------------------------------------------------


def fit(args: list[str], init: str | None, init_strict: bool, checkpoint: Path, stats: Path, compile: bool) -> None:
    """Train through the ``omnicodec train`` LightningCLI; save the last state and step statistics."""
    import warnings

    import torch

    from .callbacks import StepClock
    from .checkpoint import init_from
    from .cli import OmnicodecCLI

    warnings.filterwarnings("ignore", message=".*(does not have many workers|Using ModelCheckpoint with manual).*")
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = True
    import lightning as L

    sys.argv = sys.argv[:1]  # LightningCLI reads ``args``, not this process's command line
    cli = OmnicodecCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                       run=False, args=args, save_config_callback=None)
    missing = init_from(cli.model, init, strict=init_strict) if init else []
    if missing:
        print(f"{init} did not provide {len(missing)} tensors (kept as initialised): {', '.join(missing[:8])}", flush=True)
    if compile:
        cli.model.codec.compile()
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    seconds = time.perf_counter() - start
    # the loss is read back only every few steps: check the weights themselves before keeping them
    bad = [n for n, p in cli.model.codec.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        from ..errors import TrainingDivergedError

        raise TrainingDivergedError(f"training diverged: {len(bad)} parameters hold NaN or infinity ({bad[0]}, …); "
                                    "nothing was saved")
    cli.trainer.save_checkpoint(checkpoint, weights_only=False)  # with the optimizers: a run to resume
    clock = next((c for c in cli.trainer.callbacks if isinstance(c, StepClock)), None)
    batch = int(getattr(cli.datamodule, "batch_size", 0))
    rate = clock.steps_per_second() if clock else float("nan")
    info = {
        "steps": int(cli.trainer.global_step), "seconds": round(seconds, 2), "batch_size": batch,
        "steps_per_s": rate, "samples_per_s": rate * batch, "first_step_s": clock.first_step_seconds if clock else None,
        "device": str(cli.model.device), "precision": str(cli.trainer.precision), "init": init,
        "missing_from_init": missing,
        "peak_memory_mib": torch.cuda.max_memory_allocated() / MIB if torch.cuda.is_available() else None,
    }
    stats.write_text(json.dumps(info, indent=2) + "\n")
    print(f"trained {info['steps']} steps in {seconds:.1f} s ({info['samples_per_s']:.2f} samples/s)", flush=True)


# --- the parent: install, rotate, export, evaluate, collect ------------------------------------


def install_wheels(wheels: Path | None, site: Path, log) -> list[str]:
    """pip-install every wheel of ``wheels`` into ``site`` without network; put ``site`` first on the path."""
    found = sorted(wheels.glob("*.whl")) if wheels and wheels.is_dir() else []
    if not found:
        return []
    site.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", str(site), *map(str, found)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise InputError(f"installing the wheels of {wheels} failed: {done.stderr.strip()[-800:]}")
    sys.path.insert(0, str(site))
    import importlib

    importlib.invalidate_caches()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    names = [w.name.split("-")[0] for w in found]
    log(f"installed {len(found)} wheels: {', '.join(names)}")
    return names


def _child_env() -> dict:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(filter(None, [*os.environ.get("PYTHONPATH", "").split(os.pathsep), src])))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _train_one(entry: PlanEntry, pack: Path, work: Path, seconds: float, cuda: bool, log_every: int, log) -> dict:
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    config = derive_config(entry, pack, work, seconds, cuda, log_every)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "omnicodec.train.burst", "fit", "--checkpoint", str(work / "last.ckpt"),
           "--stats", str(work / "stats.json")]
    if entry.init:
        cmd += ["--init", str(REPO / entry.init)] + ([] if entry.init_strict else ["--partial-init"])
    if entry.compile:
        cmd.append("--compile")
    cmd += ["--", "--config", str(work / "config.yaml"), *map(str, entry.args)]
    log(f"[{entry.name}] training {seconds:.0f} s: {entry.config} from {entry.init or 'scratch'}")
    limit = seconds + 120  # start-up (imports, data decode, CUDA context) and the final checkpoint
    with open(work / "train.log", "w") as out:
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=_child_env(), timeout=limit, cwd=REPO)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code != 0 or not (work / "last.ckpt").is_file():
        tail = (work / "train.log").read_text()[-1500:]
        raise OmnicodecError(f"[{entry.name}] training failed ({code}); the log ends:\n{tail}")
    return json.loads((work / "stats.json").read_text())


CODING_SETTINGS = ("skip_threshold",)  # config keys that choose how a model codes, not what it learnt


def with_coding_settings(exported: Path, start: dict) -> Path:
    """``exported`` coding as the entry it started from (``start``): settings that training leaves out
    (entropy skip: training runs without it) are copied into its config, so the evaluation before and
    after compares the weights alone and a copied-over entry keeps coding as the shipped one did. The
    tensors, and so the sha256, stay as exported."""
    from ..fileio import atomic_write_bytes

    entry = json.loads(exported.read_text())
    wanted = {k: start["config"][k] for k in CODING_SETTINGS if k in start.get("config", {})}
    if all(entry["config"].get(k) == v for k, v in wanted.items()):
        return exported
    entry["config"].update(wanted)
    atomic_write_bytes(exported, (json.dumps(entry, indent=2) + "\n").encode())
    return exported


def _evaluate(weights: Path, dataset: Path, device: str, log, name: str, limit: int | None) -> dict:
    from ..eval.weights import evaluate_weights

    try:
        metrics_ok = True
        try:
            import pesq  # noqa: F401
            import pystoi  # noqa: F401
        except ImportError:
            metrics_ok = False
        result = evaluate_weights(weights, dataset, device, limit=limit, speech_metrics=metrics_ok).to_dict()
    except Exception as exc:  # an evaluation failure must not lose the trained weights
        log(f"[{name}] evaluating {weights.name} failed: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    summary = {k: [round(x, 4) for x in v] if len(v) > 1 else round(v[0], 4) for k, v in result["results"].items()}
    log(f"[{name}] {weights.stem} on {dataset.name}: {summary}")
    return result


def _cross_device(weights: Path, kodak: Path, cuda: bool, limit: int | None, log) -> str:
    cmd = [sys.executable, str(REPO / "benchmarks" / "cross_device.py"), "--data", str(kodak), "--weights", str(weights),
           "--a", "cuda" if cuda else "cpu", "--b", "cpu"] + (["--limit", str(limit)] if limit else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=REPO, timeout=300)
        text = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        text = f"{exc.stdout or ''}\ncross_device: timed out after 300 s\n"
    last = next((line for line in reversed(text.splitlines()) if line.startswith("cross_device:")), "cross_device: failed")
    log(last)
    return text


def _tar(folder: Path, names: list[str], target: Path, compress: bool = False) -> int:
    with tarfile.open(target, "w:gz" if compress else "w") as tar:
        for name in names:
            if (folder / name).exists():
                tar.add(folder / name, arcname=name)
    return target.stat().st_size


def _pack_results(folder: Path, target: Path) -> int:
    """One model's results as ``target`` (a tar) under :data:`MAX_FILE_BYTES` where possible: everything;
    else the weights and eval JSON; else those gzip-compressed (float16 weights shrink about 8 %)."""
    size = _tar(folder, ["weights", "eval-before.json", "eval-after.json", "config.yaml", "stats.json",
                         "train.log", "logs"], target)
    essential = ["weights", "eval-before.json", "eval-after.json", "stats.json"]
    if size > MAX_FILE_BYTES:  # keep the weights, drop the logs
        size = _tar(folder, essential, target)
    if size > MAX_FILE_BYTES:
        size = _tar(folder, essential, target, compress=True)
    return size


def run(
    pack: Path, out: Path, wheels: Path | None, plan: list[PlanEntry], budget: float, reserve: float, work: Path,
    device: str, log_every: int, eval_limit: int | None, force: bool,
) -> dict:
    t0 = time.monotonic()
    if not (pack / "manifest.json").is_file():
        raise InputError(f"{pack} is not a data pack (no manifest.json); run: python -m omnicodec.train.burst pack")
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError(f"{out} is not empty; choose an empty output folder or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def log(message: str) -> None:
        stamp = f"[{time.monotonic() - t0:6.1f}s] {message}"
        print(stamp, flush=True)
        log_lines.append(stamp)

    installed = install_wheels(wheels, work / "site", log)
    import torch

    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    eval_device = "cuda" if cuda else "cpu"
    log(f"device: {torch.cuda.get_device_name(0) if cuda else 'cpu'}; torch {torch.__version__}; plan: "
        + ", ".join(f"{e.name} {e.share:g}" for e in plan))
    summary: dict = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
                     "budget_s": budget, "wheels": installed, "models": {}}
    total_share = sum(e.share for e in plan)
    from .export import export_checkpoint

    for i, entry in enumerate(plan):
        left = budget - reserve - (time.monotonic() - t0)
        later = sum(e.share for e in plan[i:])
        seconds = max(1.0, left * entry.share / later) if later else 0
        folder = work / entry.name
        if folder.exists():  # a scratch folder of an earlier run: never mix its files into this one
            if not (folder / "config.yaml").is_file():
                raise InputError(f"{folder} exists and was not written by a burst; choose another --work folder")
            shutil.rmtree(folder)
        record: dict = {"config": entry.config, "init": entry.init, "share": entry.share / total_share}
        summary["models"][entry.name] = record
        try:
            record["train"] = _train_one(entry, pack, folder, seconds, cuda, log_every, log)
            log(f"[{entry.name}] {record['train']['steps']} steps, {record['train']['samples_per_s']:.1f} samples/s")
            # named like the weights it started from, so a gain is committed by copying both files over them
            extra = {"burst": {"device": summary["device"], "steps": record["train"]["steps"],
                               "seconds": record["train"]["seconds"], "batch_size": record["train"]["batch_size"],
                               "from": entry.init, "config": entry.config}}
            stem, quality = f"{entry.name}-burst", 1
            if entry.init:
                from ..zoo import read_entry

                start = read_entry(REPO / entry.init)
                stem, quality = Path(entry.init).stem, start["quality"]
                extra["default"] = bool(start.get("default", False))
            exported = export_checkpoint(
                folder / "last.ckpt", folder / "weights", name=stem, quality=quality, overwrite=True, extra=extra
            )
            if entry.init:
                exported = with_coding_settings(exported, start)
            record["weights"] = exported.name
            dataset = pack / entry.eval if entry.eval else None
            if dataset is not None and dataset.exists():
                if entry.init:
                    record["eval_before"] = _evaluate(REPO / entry.init, dataset, eval_device, log, entry.name, eval_limit)
                    (folder / "eval-before.json").write_text(json.dumps(record["eval_before"], indent=2) + "\n")
                record["eval_after"] = _evaluate(exported, dataset, eval_device, log, entry.name, eval_limit)
                (folder / "eval-after.json").write_text(json.dumps(record["eval_after"], indent=2) + "\n")
            if entry.data == "image" and (pack / "eval" / "kodak").is_dir():
                text = _cross_device(exported, pack / "eval" / "kodak", cuda, eval_limit, log)
                (out / "cross_device.txt").write_text(text)
                record["cross_device"] = text.strip().splitlines()[-1] if text.strip() else ""
        except Exception as exc:  # one model's failure must not cost the others' results
            record["error"] = f"{type(exc).__name__}: {exc}"
            log(f"[{entry.name}] failed: {record['error']}")
        record["tar_bytes"] = _pack_results(folder, out / f"{entry.name}.tar")
    summary["seconds"] = round(time.monotonic() - t0, 1)
    log(f"burst done in {summary['seconds']} s")
    (out / "burst.log").write_text("\n".join(log_lines) + "\n")
    (out / "burst.json").write_text(json.dumps(summary, indent=2) + "\n")
    files = [p for p in out.rglob("*") if p.is_file()]
    big = [p.name for p in files if p.stat().st_size > MAX_FILE_BYTES]
    if len(files) > MAX_FILES or big:
        print(f"warning: {len(files)} files in {out} (at most {MAX_FILES} come back); over 16 MiB: {big}", flush=True)
    return summary


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m omnicodec.train.burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="pack ../shared/data into a folder that travels with the tree (here)")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / ".burst-data"))
    p.add_argument("--max-mib", type=float, help="size of the pack (default: what the tree leaves, at most 40)")
    p.add_argument("--tree-mib", type=float, default=62.0,
                   help="the whole travelling tree (repository + pack + wheels) must stay under this (default 62)")
    p.add_argument("--wheels", default=str(REPO / ".whl"), help="wheel folder counted in the tree size")
    p.add_argument("--crop", type=int, default=320)
    p.add_argument("--force", action="store_true", help="replace an existing pack")
    r = sub.add_parser("run", help="train, export, evaluate (on the GPU machine)")
    r.add_argument("--pack", default=str(REPO / ".burst-data"))
    r.add_argument("--wheels", default=str(REPO / ".whl"))
    r.add_argument("--out", required=True)
    r.add_argument("--budget", type=float, default=480, help="wall-clock seconds for the whole run (default 480)")
    r.add_argument("--reserve", type=float, default=200,
                   help="seconds of the budget kept for start-up, export, evaluation and the cross-device check")
    r.add_argument("--plan", help="a JSON plan instead of the default rotation")
    r.add_argument("--split", help="shares of the default plan's models, e.g. 0.5,0.2,0.3")
    r.add_argument("--work", default="/tmp/omnicodec-burst", help="scratch folder (checkpoints, logs)")
    r.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    r.add_argument("--log-every", type=int, default=50, help="log and check the loss every N steps")
    r.add_argument("--eval-limit", type=int, help="evaluate and cross-check only the first N test items")
    r.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    e = sub.add_parser("evaluate", help="evaluate exported weights from real files (e.g. returned ones, on the CPU)")
    e.add_argument("weights", help="the .json entry of exported weights")
    e.add_argument("--data", required=True, help="test folder: Kodak-style images, recordings or video sequences")
    e.add_argument("--device", default="cpu")
    e.add_argument("--limit", type=int)
    e.add_argument("--out", help="write the results JSON here as well")
    f = sub.add_parser("fit", help="(internal) one model's training in its own process")
    f.add_argument("--checkpoint", required=True)
    f.add_argument("--stats", required=True)
    f.add_argument("--init")
    f.add_argument("--partial-init", action="store_true")
    f.add_argument("--compile", action="store_true")
    if "fit" in argv[:1] and "--" in argv:
        cut = argv.index("--")
        args, rest = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    else:
        args, rest = parser.parse_args(argv), []
    try:
        if args.command == "pack":
            from .pack import pack_data, pack_room, pack_shares, tree_bytes

            max_mib = args.max_mib if args.max_mib is not None else pack_room(REPO, args.tree_mib, args.wheels)
            print(f"pack: at most {max_mib:.1f} MiB")
            manifest = pack_data(args.data, args.out, max_mib, args.crop, force=args.force, **pack_shares(max_mib))
            total = tree_bytes(REPO, [args.out, args.wheels])
            print(f"pack: {args.out} {manifest['bytes'] / MIB:.1f} MiB; the tree that travels "
                  f"(repository + pack + wheels): {total / MIB:.1f} MiB of at most {args.tree_mib:g}")
            if total > args.tree_mib * MIB:
                raise InputError(f"the travelling tree is {total / MIB:.1f} MiB, over {args.tree_mib:g} MiB; "
                                 "pack less (--max-mib) or carry fewer wheels")
        elif args.command == "evaluate":
            from ..eval.weights import evaluate_weights

            result = evaluate_weights(args.weights, args.data, args.device, limit=args.limit)
            if args.out:
                result.save_json(args.out)
            print(json.dumps(result.to_dict(), indent=2))
            print("evaluate: " + " ".join(f"{k}={','.join(f'{x:.4f}' for x in v)}" for k, v in result.results.items()))
        elif args.command == "fit":
            fit(rest, args.init, not args.partial_init, Path(args.checkpoint), Path(args.stats), args.compile)
        else:
            plan = load_plan(args.plan, args.split)
            summary = run(Path(args.pack), Path(args.out), Path(args.wheels) if args.wheels else None, plan,
                          args.budget, args.reserve, Path(args.work), args.device, args.log_every, args.eval_limit,
                          args.force)
            failed = [name for name, m in summary["models"].items() if "error" in m]
            return 1 if failed else 0
    except OmnicodecError as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
