"""Rate-distortion losses."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..codecs import CodecOutput


def bits_from_likelihoods(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    """Total information content ``-sum log2 p`` over all latents, in bits."""
    return sum((-torch.log2(lik)).sum() for lik in likelihoods.values())


def image_rd_loss(out: CodecOutput, x: torch.Tensor, lmbda: float) -> dict[str, torch.Tensor]:
    """``R + lambda * 255**2 * MSE`` with R in bits per pixel (CompressAI's convention).

    With this scaling, lambda = 0.0130 gives roughly 0.5 bpp on Kodak for a converged
    mean-scale hyperprior, and 0.0018 ... 0.18 spans CompressAI's qualities 1 ... 8.
    """
    num_pixels = x.shape[0] * x.shape[-2] * x.shape[-1]
    bpp = bits_from_likelihoods(out.likelihoods) / num_pixels
    mse = F.mse_loss(out.x_hat, x)
    loss = bpp + lmbda * 255**2 * mse
    psnr = 10 * torch.log10(1.0 / mse.detach().clamp_min(1e-10))
    return {"loss": loss, "bpp": bpp, "mse": mse, "psnr": psnr}


# CompressAI's lambda for quality 1..8 (MSE), reused so qualities compare across libraries.
COMPRESSAI_MSE_LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    return 10 * math.log10(peak**2 / mse) if mse > 0 else float("inf")
