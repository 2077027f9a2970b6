"""Encode on one device and decode on another, for every Kodak image (needs CUDA for the real check).

    python benchmarks/cross_device.py [--data ../shared/data/kodak] [--codec image/hyperprior]
                                      [--weights W.json] [--a cuda] [--b cpu] [--limit N]

Each image is compressed with the model on device ``a`` and decompressed on device ``b``,
and the other way round. A pair counts as exact when the latents decoded on the other
device equal the encoder's bit for bit (the entropy parameters are integer arithmetic, so
they must) and the file decodes without a ``DecodeError``. The reconstructions also go
through the float synthesis, which may differ by an ulp; the largest pixel difference
between the devices' reconstructions (0..255 scale) is printed for information.

With ``--a cpu --b cpu`` (no GPU) it exercises the same path with one thread against two.

The last line reads ``cross_device: a_to_b_exact=<n>/<N> b_to_a_exact=<n>/<N> max_pixel_diff=<x>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from omnicodec.datasets.image_io import read_image
from omnicodec.errors import DecodeError
from omnicodec.zoo import default_entry, load, load_file_entry

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak"


def model_on(args, device: str):
    if args.weights:
        return load_file_entry(args.weights, device).codec.eval()
    entry = default_entry("image")
    return load(args.codec or entry["codec_id"], entry["quality"] if not args.codec else None, device=device).codec.eval()


def one_way(x, encoder, decoder, threads: tuple[int, int]) -> tuple[bool, torch.Tensor | None, torch.Tensor]:
    """(exact, image decoded on the decoder's device or None, image decoded on the encoder's device).

    Coded through the codec's own ``compress`` (gains and all, at its default quality); the
    latents decoded on each device are compared."""
    torch.set_num_threads(threads[0])
    with torch.no_grad():
        bitstream = encoder.compress(x.to(encoder.device))
        y_hat = encoder.decode_latent(bitstream)
        own = encoder.decompress(bitstream).cpu()
        torch.set_num_threads(threads[1])
        try:
            decoded = decoder.decode_latent(bitstream)
        except DecodeError:
            return False, None, own
        image = decoder.decompress(bitstream).cpu()
    return torch.equal(decoded.cpu(), y_hat.cpu()), image, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DIR))
    parser.add_argument("--codec")
    parser.add_argument("--weights")
    parser.add_argument("--a", default="cuda")
    parser.add_argument("--b", default="cpu")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    for device in (args.a, args.b):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit(f"{device} is not available here; run with --a cpu --b cpu for the thread check")
    files = sorted(Path(args.data).glob("*.png"))[: args.limit]
    if not files:
        raise SystemExit(f"no PNG files in {args.data}")
    a, b = model_on(args, args.a), model_on(args, args.b)
    threads = (1, 2) if args.a == args.b == "cpu" else (torch.get_num_threads(),) * 2
    exact_ab = exact_ba = 0
    max_diff = 0.0
    for path in files:
        array, _ = read_image(path)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].float().div(255)
        ok_ab, image_b, image_a = one_way(x, a, b, threads)
        ok_ba, _, _ = one_way(x, b, a, threads[::-1])
        exact_ab += ok_ab
        exact_ba += ok_ba
        if image_b is not None:
            max_diff = max(max_diff, float((image_b - image_a).abs().max()) * 255)
        print(f"{path.name}: {args.a}->{args.b} {'exact' if ok_ab else 'DIFFERS'}  "
              f"{args.b}->{args.a} {'exact' if ok_ba else 'DIFFERS'}", flush=True)
    n = len(files)
    print(f"cross_device: a_to_b_exact={exact_ab}/{n} b_to_a_exact={exact_ba}/{n} max_pixel_diff={max_diff:.3f}")


if __name__ == "__main__":
    main()
