"""Shared fixtures: a tiny image codec trained for a few steps on synthetic images."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

FIXTURES = Path(__file__).parent / "fixtures"

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Natural-looking test images: upsampled random colours plus mild noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(size // 16, 2), max(size // 16, 2), generator=g)
    x = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.03 * torch.randn(n, 3, size, size, generator=g)
    return x.clamp(0, 1)


def train_tiny_codec(steps: int = 150, seed: int = 0):
    from omnicodec.codecs import create_codec
    from omnicodec.train.losses import image_rd_loss

    torch.manual_seed(seed)
    codec = create_codec("image/hyperprior", {"N": 16, "M": 24}).train()
    opt = torch.optim.Adam(codec.main_parameters(), lr=3e-3)
    aux_opt = torch.optim.Adam(codec.aux_parameters(), lr=0.5)
    data = smooth_images(64, 64, seed)
    for step in range(steps):
        x = data[(step * 8) % 64 : (step * 8) % 64 + 8]
        loss = image_rd_loss(codec(x), x, 0.05)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        aux = codec.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
    return codec.eval().freeze()


def fit(model, batch_at, loss_of, steps: int, lr: float = 3e-3, aux_lr: float = 0.3):
    """Train ``model`` for ``steps`` on ``batch_at(step)`` with ``loss_of(output, x)`` plus its
    auxiliary loss; returns it frozen, in eval mode."""
    opt = torch.optim.Adam(model.main_parameters(), lr=lr)
    aux = torch.optim.Adam(model.aux_parameters(), lr=aux_lr)
    model.train()
    for step in range(steps):
        x = batch_at(step)
        loss = loss_of(model(x), x) + model.aux_loss()
        opt.zero_grad()
        aux.zero_grad()
        loss.backward()
        opt.step()
        aux.step()
    return model.eval().freeze()


@pytest.fixture(scope="session")
def tiny_codec():
    return train_tiny_codec()


VARIABLE_IMAGE = {"N": 16, "M": 24, "levels": 4, "default_quality": 2}


@pytest.fixture()
def variable_image_codec():
    """An untrained tiny variable-rate ``image/hyperprior`` (``VARIABLE_IMAGE``, gains 0.5 to 4), frozen."""
    from omnicodec.codecs import create_codec

    torch.manual_seed(0)
    codec = create_codec("image/hyperprior", VARIABLE_IMAGE)
    codec.gains.set_level_scales([0.5, 1.0, 2.0, 4.0])
    return codec.eval().freeze()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_codec):
    """The tiny codec exported in the zoo format; returns the JSON entry path."""
    from omnicodec.zoo import save_weights

    out = tmp_path_factory.mktemp("weights")
    return save_weights(tiny_codec, out, "tiny", quality=1, extra={"lambda": 0.05})


# tiny codecs of every medium, one coded file each: {media: (codec id, configuration)}
CONFIGS = {
    "image": ("image/hyperprior", {"N": 8, "M": 12}),
    "video": ("video/stem", {"N": 8, "M": 12, "intra_period": 2}),
    "speech": ("speech/ecc", {"channels": [8, 8, 8, 8], "M": 8, "N": 8, "slices": [4, 4], "chunk_frames": 16,
                              "context_frames": 4}),
}


def make_input(media, folder):
    """A small input file of ``media`` in ``folder``."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    from omnicodec.datasets.video_io import VideoWriter

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


@pytest.fixture(scope="session")
def coded(tmp_path_factory):
    """One small file per medium, with the weights that decode it: ``{media: (omc, weights)}``
    (test_fuzz.py has a ``coded`` of its own)."""
    from omnicodec import compress_file
    from omnicodec.codecs import create_codec
    from omnicodec.zoo import save_weights

    folder = tmp_path_factory.mktemp("coded")
    out = {}
    for media, (codec_id, config) in CONFIGS.items():
        torch.manual_seed(0)
        weights = save_weights(create_codec(codec_id, config).eval().freeze(), folder, media, quality=1)
        compress_file(make_input(media, folder), folder / f"{media}.omc", weights=weights)
        out[media] = (folder / f"{media}.omc", weights)
    return out


def address_space_bytes() -> int:
    """This process's current virtual memory size (Linux), the base of a memory limit."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_limited(fn, extra_bytes: int = 3 << 30, seconds: int = 120) -> str:
    """Run ``fn()`` in a forked child whose address space may grow by ``extra_bytes`` at most
    (``RLIMIT_AS``) and return how it ended: ``"ok"``, ``"omnicodec: <error class>"``,
    ``"other: <exception>"``, ``"signal <n>"`` or ``"timeout"``. Tests assert on it."""
    import os
    import resource
    import select
    import signal
    import traceback

    limit = address_space_bytes() + extra_bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = "other: no result"
        try:
            os.close(read_end)
            # the parent's OpenMP worker threads do not exist in a forked child: a parallel region
            # there would wait for them forever, so the child computes on its one thread
            torch.set_num_threads(1)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            from omnicodec.errors import OmnicodecError

            try:
                fn()
                status = "ok"
            except OmnicodecError as exc:
                status = f"omnicodec: {type(exc).__name__}"
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
                status = f"other: {type(exc).__name__}: {str(exc)[:300]}\n{traceback.format_exc()[-1500:]}"
            os.write(write_end, status.encode("utf-8", "replace")[:4000])
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], seconds)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        _, wait_status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(wait_status):
            return f"signal {os.WTERMSIG(wait_status)}"
        return b"".join(chunks).decode() or "other: the child wrote nothing"
    finally:
        os.close(read_end)


def with_side_info(omc, out, key: str, value) -> None:
    """Write to ``out`` the omnicodec file ``omc`` with its codec header's ``key`` set to ``value`` (a file
    whose CRCs are right but whose header says something else)."""
    from omnicodec.coding import container

    parsed = container.unpack(Path(omc).read_bytes())
    parsed.header["side_info"][key] = value
    Path(out).write_bytes(container.pack(parsed.header, parsed.chunks))
