"""Quality metrics: PSNR and MS-SSIM on 8-bit RGB, luma PSNR of video frames, PESQ-WB / STOI / ViSQOL for speech.

MS-SSIM follows Wang, Simoncelli & Bovik 2003: an 11-tap Gaussian window (σ = 1.5),
K1 = 0.01, K2 = 0.03, five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
2×2 average pooling between scales, valid (unpadded) filtering, contrast-structure terms
clipped at zero, averaged over the three channels. That is also pytorch-msssim's
convention, and the test suite checks that both agree. Images whose shorter side is at
most 160 pixels are too small for five scales; there we use as many scales as fit and
renormalise their weights (and say so in the returned value's name in reports).

Speech: PESQ-WB (``pesq``), STOI (``pystoi``) and ViSQOL v3 in speech mode (``visqol-python``,
pure Python, with its ``[lattice]`` extra for the reference MOS mapping; ``speequal``, Google's
C++ tool as wheels, has no wheel for Linux x86-64 and its source build needs Bazel).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import SPEECH_RATE
from ..datasets.audio import load_mono
from ..errors import EvaluationError, MissingToolError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def _as_float(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.array(image, dtype=np.float64))
    if t.dim() == 2:
        t = t.unsqueeze(-1)
    if t.dim() != 3:
        raise EvaluationError(f"expected an H×W×C image, got shape {tuple(t.shape)}")
    return t


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two images (or frames) of the same shape; ``inf`` if identical."""
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(decoded, dtype=np.float64)
    if a.shape != b.shape:
        raise EvaluationError(f"cannot compare shapes {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def _gaussian_window(device, dtype) -> torch.Tensor:
    x = torch.arange(_WIN, dtype=dtype, device=device) - _WIN // 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, peak: float) -> tuple[torch.Tensor, torch.Tensor]:
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mu_x**2
    syy = _blur(y * y, g) - mu_y**2
    sxy = _blur(x * y, g) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))  # per image and channel


def ms_ssim(reference: np.ndarray, decoded: np.ndarray, peak: float = 255.0) -> float:
    """MS-SSIM of two H×W×C images (0..peak)."""
    a, b = _as_float(reference), _as_float(decoded)
    if a.shape != b.shape:
        raise EvaluationError(f"cannot compare shapes {tuple(a.shape)} and {tuple(b.shape)}")
    scales = ms_ssim_scales(a.shape[0], a.shape[1])
    if scales == 0:
        raise EvaluationError(f"MS-SSIM needs images of at least {_WIN}×{_WIN} pixels")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    weights = weights / weights.sum()
    x, y = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    g = _gaussian_window(x.device, x.dtype)
    terms = []
    for level in range(scales):
        ssim, cs = _ssim_and_cs(x, y, g, peak)
        if level < scales - 1:
            terms.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
        else:
            terms.append(torch.relu(ssim))
    stacked = torch.stack(terms, dim=0)  # [scales, 1, C]
    value = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0)
    return float(value.mean())


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit: the most (up to 5) with ``min(H, W) > 10 · 2**(scales-1)``."""
    side = min(height, width)
    return max((s for s in range(1, len(MS_SSIM_WEIGHTS) + 1) if side > (_WIN - 1) * 2 ** (s - 1)), default=0)


# --- speech -------------------------------------------------------------------------


def load_recording(path) -> np.ndarray:
    """A recording to measure (16 kHz mono, :func:`~omnicodec.datasets.audio.load_mono`); one without samples
    has nothing to measure and raises :class:`EvaluationError` naming it."""
    reference = load_mono(path)
    if reference.size == 0:
        raise EvaluationError(f"{path} holds no samples: there is nothing to measure (leave it out of the dataset)")
    return reference


def speech_quality(reference: np.ndarray, decoded: np.ndarray, sample_rate: int = SPEECH_RATE) -> dict[str, float]:
    """PESQ wide-band, STOI and ViSQOL (speech mode) at 16 kHz.

    Both signals are mono float arrays; the decoded one is cut or zero-padded to the
    reference's length. Missing packages raise :class:`MissingToolError` naming them.
    """
    if sample_rate != SPEECH_RATE:
        raise EvaluationError(f"speech metrics are computed at 16 kHz, got {sample_rate} Hz")
    ref = np.asarray(reference, dtype=np.float64).ravel()
    deg = np.asarray(decoded, dtype=np.float64).ravel()[: ref.size]
    deg = np.pad(deg, (0, ref.size - deg.size))
    try:
        from pesq import pesq
        from pystoi import stoi
    except ImportError as exc:
        raise MissingToolError(f"speech metrics need the [eval] extras (pip install -e '.[eval]'): {exc}") from exc
    return {"pesq-wb": float(pesq(SPEECH_RATE, ref, deg, "wb")), "stoi": float(stoi(ref, deg, SPEECH_RATE, extended=False)),
            "visqol": visqol(ref, deg)}


@functools.lru_cache(maxsize=1)
def _visqol_speech():
    try:
        from visqol.api import VisqolApi

        api = VisqolApi()
        api.create(mode="speech", use_lattice_model=True)
    except ImportError as exc:
        raise MissingToolError(
            f"ViSQOL needs visqol-python with its lattice mapping (pip install 'visqol-python[lattice]'): {exc}"
        ) from exc
    return api


def visqol(reference: np.ndarray, decoded: np.ndarray) -> float:
    """ViSQOL v3 MOS-LQO in speech mode (16 kHz mono, equally long), from ``visqol-python``.

    It uses the deep-lattice mapping, the C++ tool's default (the polynomial fallback rates
    degraded speech 1 to 2 points higher). A signal against itself scores 4.3 to 4.8 (VCTK
    p225_003: 4.55, as the reference measured here).
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    deg = np.asarray(decoded, dtype=np.float64).ravel()
    if ref.size != deg.size:
        raise EvaluationError(f"ViSQOL compares equally long signals, got {ref.size} and {deg.size} samples")
    try:
        return float(_visqol_speech().measure_from_arrays(ref, deg, SPEECH_RATE).moslqo)
    except (ValueError, RuntimeError) as exc:
        raise EvaluationError(f"ViSQOL could not rate this signal: {exc}") from exc


def frame_psnrs(reference: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
    """Per-frame PSNR (RGB, 8-bit) of two equally long frame sequences."""
    if len(reference) != len(decoded):
        raise EvaluationError(f"{len(reference)} reference frames but {len(decoded)} decoded")
    return [psnr(a, b) for a, b in zip(reference, decoded)]


def frame_psnrs_y(reference: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
    """Per-frame PSNR of the luma (the 8-bit limited-range BT.601 Y plane that 4:2:0 video codes)."""
    from ..datasets.video_io import rgb_to_yuv420

    if len(reference) != len(decoded):
        raise EvaluationError(f"{len(reference)} reference frames but {len(decoded)} decoded")
    return [psnr(rgb_to_yuv420(a)[0], rgb_to_yuv420(b)[0]) for a, b in zip(reference, decoded)]
