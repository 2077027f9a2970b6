"""CPU encode/decode time of each shared entropy component, and what entropy skip saves.

Components are timed on the latent of a 768×512 image (48×32 at 1/16 resolution, a 12×8
hyper-latent) with M=192 and M=320 channels, with freshly initialised networks (time does
not depend on training). The checkerboard's decode is compared with a serial 5×5
autoregressive context decoded position by position (the mbt2018 procedure) on the same
latent. Entropy skip is measured on the shipped image model's latents of a real image:
bits saved and the PSNR change of the decoded image, for a few thresholds τ.

    python benchmarks/entropy_models.py [--image PATH] [--repeats 3]

The last line reads exactly
``entropy_models: checkerboard_vs_serial_decode_speedup=<x> channelwise_decode_ms=<x> skip_bits_saved_pct=<x>``
(channel-wise: M=320 in 10 slices of 32 with LRP; skip: τ=0.25 on the image).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _timing import best_of  # next to this script
from torch import nn

from omnicodec.coding import SymbolDecoder, SymbolEncoder
from omnicodec.entropy_models import (
    ChannelwiseLatentCodec,
    CheckerboardLatentCodec,
    HyperpriorLatentCodec,
    MeanScaleHyperprior,
    SpatiotemporalLatentCodec,
    elic_slices,
    equal_slices,
    hyper_transforms,
)
from omnicodec.layers import conv_stack

H, W, N = 32, 48, 128
KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak" / "kodim23.png"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "omnicodec" / "samples" / "parrots.png"




def ready(codec: nn.Module) -> nn.Module:
    codec.eval()
    for m in codec.modules():
        if hasattr(m, "freeze") and m is not codec:
            m.freeze()
    return codec


def components(M: int) -> dict[str, HyperpriorLatentCodec]:
    side = 2 * M
    out = {"mean-scale hyperprior": MeanScaleHyperprior(*hyper_transforms(M, N, 2 * M), N, M)}
    out["checkerboard"] = HyperpriorLatentCodec(*hyper_transforms(M, N, side), N, CheckerboardLatentCodec(M, side))
    slices = equal_slices(M, M // 32)
    out[f"channel-wise {len(slices)}x32 + LRP"] = HyperpriorLatentCodec(
        *hyper_transforms(M, N, side), N, ChannelwiseLatentCodec(slices, side)
    )
    out[f"channel-wise {len(slices)}x32 + checkerboard + LRP"] = HyperpriorLatentCodec(
        *hyper_transforms(M, N, side), N, ChannelwiseLatentCodec(slices, side, spatial="checkerboard")
    )
    out["channel-wise ELIC groups + checkerboard + LRP"] = HyperpriorLatentCodec(
        *hyper_transforms(M, N, side), N, ChannelwiseLatentCodec(elic_slices(M), side, spatial="checkerboard")
    )
    out["spatiotemporal (STEM, P-frame)"] = SpatiotemporalLatentCodec(M, N)
    out["mean-scale + entropy skip τ=0.25"] = MeanScaleHyperprior(
        *hyper_transforms(M, N, 2 * M), N, M, skip_threshold=0.25
    )
    return {k: ready(v) for k, v in out.items()}


class SerialContext(nn.Module):
    """mbt2018's serial context: a masked 5×5 convolution, decoded one position at a time."""

    def __init__(self, M: int, side: int) -> None:
        super().__init__()
        self.context = nn.Conv2d(M, 2 * M, 5, padding=2)
        mask = torch.ones(5, 5)
        mask[2, 2:] = 0
        mask[3:] = 0
        self.register_buffer("mask", mask)
        self.entropy_parameters = conv_stack(2, [side + 2 * M, side, side, 2 * M])

    def _params(self, side, ctx):
        return self.entropy_parameters(torch.cat([side, ctx], 1)).chunk(2, 1)

    @torch.no_grad()
    def encode(self, encoder, y, side, gaussian):
        weight = self.context.weight * self.mask
        y_hat = torch.zeros_like(y)
        for i in range(y.shape[2]):  # the encoder knows y, but codes in the decoder's order
            for j in range(y.shape[3]):
                ctx = F.conv2d(F.pad(y_hat, (2, 2, 2, 2))[:, :, i : i + 5, j : j + 5], weight, self.context.bias)
                scales, means = self._params(side[:, :, i : i + 1, j : j + 1], ctx)
                y_hat[:, :, i : i + 1, j : j + 1], _ = gaussian.encode_into(
                    encoder, y[:, :, i : i + 1, j : j + 1], scales, means
                )
        return y_hat

    @torch.no_grad()
    def decode(self, decoder, side, gaussian, M):
        weight = self.context.weight * self.mask
        y_hat = side.new_zeros(side.shape[0], M, *side.shape[2:])
        for i in range(side.shape[2]):
            for j in range(side.shape[3]):
                ctx = F.conv2d(F.pad(y_hat, (2, 2, 2, 2))[:, :, i : i + 5, j : j + 5], weight, self.context.bias)
                scales, means = self._params(side[:, :, i : i + 1, j : j + 1], ctx)
                y_hat[:, :, i : i + 1, j : j + 1] = gaussian.decode_from(decoder, scales, means)
        return y_hat


@torch.no_grad()
def time_codec(codec: HyperpriorLatentCodec, y: torch.Tensor, repeats: int) -> tuple[float, float]:
    reference = torch.round(y) if isinstance(codec, SpatiotemporalLatentCodec) else None
    enc_s, (bitstream, _) = best_of(lambda: codec.compress(y, reference), repeats)
    dec_s, _ = best_of(lambda: codec.decompress(bitstream, reference), repeats)
    return enc_s, dec_s


def serial_vs_checkerboard(M: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    side = torch.randn(1, 2 * M, H, W)
    y = torch.randn(1, M, H, W) * 2
    checker = CheckerboardLatentCodec(M, 2 * M).eval()
    serial = SerialContext(M, 2 * M).eval()
    gaussian = MeanScaleHyperprior(*hyper_transforms(M, N, 2 * M), N, M).gaussian_conditional
    gaussian.freeze()

    with torch.no_grad():
        enc = SymbolEncoder()
        checker.encode(enc, y, side, gaussian, 0.0)
        data_c = enc.finish()
        enc = SymbolEncoder()
        serial.encode(enc, y, side, gaussian)
        data_s = enc.finish()

        def dec_c():
            d = SymbolDecoder(data_c)
            out = checker.decode(d, side, gaussian, 0.0)
            d.finish()
            return out

        def dec_s():
            d = SymbolDecoder(data_s)
            out = serial.decode(d, side, gaussian, M)
            d.finish()
            return out

        t_c, _ = best_of(dec_c, repeats)
        t_s, _ = best_of(dec_s, max(1, repeats // 3))
    return t_c, t_s


def skip_on_image(image: Path, taus: list[float]) -> list[tuple[float, float, float, float]]:
    """(τ, skip rate, bits saved %, PSNR change dB) with the shipped image model."""
    from PIL import Image

    from omnicodec import zoo

    codec = zoo.load(zoo.default_entry("image")["codec_id"]).codec
    x = torch.from_numpy(np.array(Image.open(image).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    rows = []
    base = None
    for tau in [0.0, *taus]:
        with torch.no_grad():
            bitstream = codec.compress(x) if tau == 0 else _compress_with_tau(codec, x, tau)
            x_hat = codec.decompress(bitstream)
        psnr = float(10 * torch.log10(1 / F.mse_loss((x_hat * 255).round() / 255, x)))
        if base is None:
            base = (bitstream.num_bytes, psnr)
            continue
        saved = 100 * (1 - bitstream.num_bytes / base[0])
        rows.append((tau, bitstream.stats["skip_rate"], saved, psnr - base[1]))
    return rows


def _compress_with_tau(codec, x, tau):
    from omnicodec.codecs.image.hyperprior import STRIDE
    from omnicodec.codecs.image.padding import pad_to_multiple

    h, w = x.shape[-2:]
    bitstream, _ = codec.latent.compress(codec.g_a(pad_to_multiple(x, STRIDE)), tau=tau)
    bitstream.side_info["size"] = [h, w]
    return bitstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=str(KODAK if KODAK.exists() else SAMPLE))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)

    channelwise_ms = None
    print(f"latent {H}x{W} (a 768x512 image at 1/16), hyper-latent {H // 4}x{W // 4}, N={N}, {torch.get_num_threads()} threads")
    for M in (192, 320):
        y = torch.randn(1, M, H, W) * 2
        for name, codec in components(M).items():
            enc_s, dec_s = time_codec(codec, y, args.repeats)
            print(f"M={M:3d}  {name:48s} encode {enc_s * 1e3:7.1f} ms  decode {dec_s * 1e3:7.1f} ms")
            if M == 320 and name.startswith("channel-wise 10x32 + LRP"):
                channelwise_ms = dec_s * 1e3

    t_c, t_s = serial_vs_checkerboard(192, args.repeats)
    print(f"M=192  checkerboard decode {t_c * 1e3:.1f} ms, serial 5x5 autoregressive decode {t_s * 1e3:.1f} ms")

    print(f"entropy skip on {Path(args.image).name} with the shipped image model:")
    rows = skip_on_image(Path(args.image), [0.15, 0.25, 0.35])
    for tau, rate, saved, dpsnr in rows:
        print(f"  τ={tau:.2f}: skip rate {100 * rate:5.1f} %, bits saved {saved:5.2f} %, PSNR change {dpsnr:+.3f} dB")
    saved_025 = next(saved for tau, _, saved, _ in rows if tau == 0.25)
    print(
        f"entropy_models: checkerboard_vs_serial_decode_speedup={t_s / t_c:.1f} "
        f"channelwise_decode_ms={channelwise_ms:.1f} skip_bits_saved_pct={saved_025:.2f}"
    )


if __name__ == "__main__":
    main()
