"""Parameters and CPU encode/decode time of every image codec id on a Kodak-size image.

Codecs with shipped weights use them; the others use freshly initialised weights (time and
size do not depend on training). Each codec compresses and decompresses one 768×512 image
(kodim23 when ``../shared/data/kodak`` exists, else a synthetic image); the best of
``--repeats`` runs is reported.

    python benchmarks/image_codecs.py [--repeats 2] [--threads N]

The last line reads exactly
``image_codecs: student_param_ratio=<student/teacher> student_speedup=<teacher_time/student_time> s2lic_small_decode_s=<x>``
(speed-up of encode + decode).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _timing import best_of  # next to this script

from omnicodec import zoo
from omnicodec.codecs import available_codecs, create_codec

KODIM23 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak" / "kodim23.png"


def test_image() -> tuple[torch.Tensor, str]:
    if KODIM23.exists():
        from PIL import Image

        rgb = np.array(Image.open(KODIM23).convert("RGB"))
        return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255, "kodim23 (768x512)"
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 32, 48, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(512, 768), mode="bicubic", align_corners=False)
    return x.clamp(0, 1), "synthetic 768x512"


def load(codec_id: str):
    shipped = [e for e in zoo.shipped_entries() if e["codec_id"] == codec_id]
    if shipped:
        return zoo.load(codec_id).codec, "shipped weights"
    torch.manual_seed(0)
    return create_codec(codec_id).eval().freeze(), "untrained weights"




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, what = test_image()
    print(f"image: {what}; {torch.get_num_threads()} CPU threads")
    rows = {}
    for codec_id in available_codecs():
        if not codec_id.startswith("image/"):
            continue
        codec, source = load(codec_id)
        params = sum(p.numel() for p in codec.parameters())
        with torch.no_grad():
            enc, bitstream = best_of(lambda c=codec: c.compress(x), args.repeats)
            dec, _ = best_of(lambda c=codec, b=bitstream: c.decompress(b), args.repeats)
        rows[codec_id] = (params, enc, dec)
        print(
            f"{codec_id:22s} {params / 1e6:7.2f} M params  encode {enc:6.2f} s  decode {dec:6.2f} s  "
            f"({8 * bitstream.num_bytes / (x.shape[-1] * x.shape[-2]):.3f} bpp, {source})"
        )
    t_params, t_enc, t_dec = rows["image/feds-teacher"]
    s_params, s_enc, s_dec = rows["image/feds-student"]
    print(
        f"image_codecs: student_param_ratio={s_params / t_params:.3f} "
        f"student_speedup={(t_enc + t_dec) / (s_enc + s_dec):.2f} s2lic_small_decode_s={rows['image/s2lic-small'][2]:.3f}"
    )


if __name__ == "__main__":
    main()
