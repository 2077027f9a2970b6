"""Rate-distortion losses for images, speech and video.

- Images, ``"mse"``: ``R + λ·255²·MSE`` with R in bits per pixel (CompressAI's convention:
  λ = 0.0018 … 0.18 spans its qualities 1 … 8; 0.013 gives about 0.5 bpp on Kodak).
- Images, ``"ms-ssim"``: ``R + λ·(1 − MS-SSIM)`` (CompressAI's λ for MS-SSIM, e.g. 2.4 … 120.5);
  crops must exceed 160 pixels for the five MS-SSIM scales.
- Speech, ``"stft-mel"``: ``R + λ·D`` with R in kbit/s at 16 kHz and D the multi-resolution
  STFT loss (spectral convergence + log-magnitude L1 at FFT sizes 512, 1024, 2048) plus an
  L1 distance of 80-band log-mel spectrograms.
- Video, ``"frame-mse"``: ``R + λ·255²·mean_t MSE_t`` with R in bits per pixel over all frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..codecs import CodecOutput
from ..constants import SPEECH_RATE

# CompressAI's lambda for quality 1..8 (MSE), reused so qualities compare across libraries.
COMPRESSAI_MSE_LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}
DISTORTIONS = {"image": ("mse", "ms-ssim"), "speech": ("stft-mel",), "video": ("frame-mse",)}


def bits_from_likelihoods(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    """Total information content ``-sum log2 p`` over all latents, in bits."""
    return sum((-torch.log2(lik)).sum() for lik in likelihoods.values())


def image_rd_loss(
    out: CodecOutput, x: torch.Tensor, lmbda: float | torch.Tensor, distortion: str = "mse"
) -> dict[str, torch.Tensor]:
    """``lmbda``: one λ, or (``mse`` only) a ``[B]`` tensor with one λ per sample, as a variable-rate
    codec trains with; the loss is then the mean over samples of ``bpp_i + λ_i·255²·MSE_i``."""
    num_pixels = x.shape[0] * x.shape[-2] * x.shape[-1]
    bpp = bits_from_likelihoods(out.likelihoods) / num_pixels
    mse = F.mse_loss(out.x_hat.float(), x)
    if distortion == "mse" and isinstance(lmbda, torch.Tensor) and lmbda.dim() > 0:
        bits = sum((-torch.log2(lik)).flatten(1).sum(1) for lik in out.likelihoods.values())
        sample_mse = ((out.x_hat.float() - x) ** 2).flatten(1).mean(1)
        loss = (bits / (x.shape[-2] * x.shape[-1]) + lmbda.to(sample_mse) * 255**2 * sample_mse).mean()
        terms = {}
    elif distortion == "mse":
        loss = bpp + lmbda * 255**2 * mse
        terms = {}
    elif distortion == "ms-ssim":
        from pytorch_msssim import ms_ssim

        score = ms_ssim(out.x_hat.float(), x, data_range=1.0)
        loss = bpp + lmbda * (1 - score)
        terms = {"ms_ssim": score}
    else:
        raise ValueError(f"unknown image distortion {distortion!r}; use 'mse' or 'ms-ssim'")
    psnr = 10 * torch.log10(1.0 / mse.detach().clamp_min(1e-10))
    return {"loss": loss, "bpp": bpp, "mse": mse, "psnr": psnr, **terms}


def _stft_mag(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True)
    return spec.abs().clamp_min(1e-7)


def multi_resolution_stft_loss(
    x_hat: torch.Tensor, x: torch.Tensor, sizes=(512, 1024, 2048), per_sample: bool = False
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over FFT sizes; inputs [B, T]. ``per_sample``:
    a ``[B]`` tensor, one value per signal (their mean is the default's scalar)."""
    total = x.new_zeros(x.shape[0])
    for n in sizes:
        a, b = _stft_mag(x_hat, n), _stft_mag(x, n)
        sc = torch.linalg.norm(b - a, dim=(-2, -1)) / torch.linalg.norm(b, dim=(-2, -1)).clamp_min(1e-7)
        total = total + sc + (torch.log(a) - torch.log(b)).abs().mean(dim=(-2, -1))
    total = total / len(sizes)
    return total if per_sample else total.mean()


def mel_loss(
    x_hat: torch.Tensor, x: torch.Tensor, sample_rate: int = SPEECH_RATE, n_mels: int = 80, per_sample: bool = False
) -> torch.Tensor:
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=256, n_mels=n_mels).to(x.device)
    error = (torch.log(mel(x_hat).clamp_min(1e-5)) - torch.log(mel(x).clamp_min(1e-5))).abs()
    return error.mean(dim=(-2, -1)) if per_sample else error.mean()


def speech_rd_loss(
    out: CodecOutput, x: torch.Tensor, lmbda: float | torch.Tensor, sample_rate: int = SPEECH_RATE
) -> dict[str, torch.Tensor]:
    """``x``: [B, 1, T] waveforms in [-1, 1]. ``lmbda``: one λ, or a ``[B]`` tensor with one λ per sample
    (variable-rate training): the loss is then the mean over samples of ``kbit/s_i + λ_i·D_i``."""
    seconds = x.shape[0] * x.shape[-1] / sample_rate
    kbps = bits_from_likelihoods(out.likelihoods) / seconds / 1000
    a, b = out.x_hat.float().flatten(0, -2), x.flatten(0, -2)
    sample = multi_resolution_stft_loss(a, b, per_sample=True) + mel_loss(a, b, sample_rate, per_sample=True)
    # the batch's kbit/s is the mean of the samples' (equal lengths), so mean_i(kbit/s_i + λ_i·D_i) needs no per-sample rate
    loss = kbps + (torch.as_tensor(lmbda).to(sample) * sample).mean()
    return {"loss": loss, "kbps": kbps, "distortion": sample.mean()}


def video_rd_loss(out: CodecOutput, x: torch.Tensor, lmbda: float | torch.Tensor) -> dict[str, torch.Tensor]:
    """``x``: [B, T, 3, H, W] clips; distortion is the mean of the per-frame MSEs. ``lmbda``: one λ,
    or a ``[B]`` tensor with one λ per clip (variable-rate training)."""
    num_pixels = x.shape[0] * x.shape[1] * x.shape[-2] * x.shape[-1]
    bpp = bits_from_likelihoods(out.likelihoods) / num_pixels
    frame_mse = ((out.x_hat.float() - x) ** 2).mean(dim=(0, 2, 3, 4))
    mse = frame_mse.mean()
    psnr = 10 * torch.log10(1.0 / mse.detach().clamp_min(1e-10))
    if isinstance(lmbda, torch.Tensor) and lmbda.dim() > 0:
        bits = sum((-torch.log2(lik)).flatten(1).sum(1) for lik in out.likelihoods.values())
        clip_mse = ((out.x_hat.float() - x) ** 2).flatten(1).mean(1)
        loss = (bits / (x.shape[1] * x.shape[-2] * x.shape[-1]) + lmbda.to(clip_mse) * 255**2 * clip_mse).mean()
    else:
        loss = bpp + lmbda * 255**2 * mse
    return {"loss": loss, "bpp": bpp, "mse": mse, "psnr": psnr}


def rd_loss(
    media: str, distortion: str, out: CodecOutput, x: torch.Tensor, lmbda: float | torch.Tensor
) -> dict[str, torch.Tensor]:
    """Dispatch on the codec's media and the chosen distortion."""
    if distortion not in DISTORTIONS.get(media, ()):
        raise ValueError(f"distortion {distortion!r} does not apply to {media} (use one of {DISTORTIONS.get(media)})")
    if media == "image":
        return image_rd_loss(out, x, lmbda, distortion)
    if media == "speech":
        return speech_rd_loss(out, x, lmbda)
    return video_rd_loss(out, x, lmbda)


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    return 10 * math.log10(peak**2 / mse) if mse > 0 else float("inf")
