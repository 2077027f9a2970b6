"""What exact (fixed-point) entropy parameters cost and what they prevent, on Kodak.

    python benchmarks/exact_params.py [--data ../shared/data/kodak] [--limit N]

For the shipped image model, over the ``y`` latents of every image:

- how many elements the float32 hyper-synthesis assigns to a different probability table
  than the exact one (each such element is a place where two machines that disagree by an
  ulp could disagree about the table; with float32 on both sides they only agree by luck);
- the information content of ``y`` (bits) under the float and the exact parameters;
- the time of one hyper-synthesis, float32 and exact;
- whether the exact parameters are identical with 1 and with 2 threads.

The last line reads ``exact_params: index_diff_pct=<x> rate_change_pct=<x> float_ms=<x> exact_ms=<x> threads_identical=<0|1>``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from omnicodec.codecs.image.padding import pad_to_multiple
from omnicodec.datasets.image_io import read_image
from omnicodec.zoo import default_entry, load

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak"


def bits(latent, y, side) -> float:
    scales, means = latent.y_codec.params(side)
    _, likelihoods = latent.gaussian_conditional(y, scales, means)
    return float(-torch.log2(likelihoods).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DIR))
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    entry = default_entry("image")
    model = load(entry["codec_id"], entry["quality"]).eval()
    latent = model.latent
    if not latent.exact_parameters:
        raise SystemExit("the shipped model does not use exact entropy parameters")
    files = sorted(Path(args.data).glob("*.png"))[: args.limit]
    if not files:
        raise SystemExit(f"no PNG files in {args.data}")
    differ = total = 0
    bits_float = bits_exact = 0.0
    t_float = t_exact = 0.0
    identical = True
    threads = torch.get_num_threads()
    with torch.no_grad():
        for path in files:
            array, _ = read_image(path)
            x = torch.from_numpy(array).permute(2, 0, 1)[None].float().div(255)
            y = model.analysis(pad_to_multiple(x, 64))
            z_hat = torch.round(latent.h_a(y))
            t0 = time.perf_counter()
            side_float = latent.h_s(z_hat)
            t1 = time.perf_counter()
            side_exact = latent._side(z_hat, None, coding=True)
            t2 = time.perf_counter()
            t_float += t1 - t0
            t_exact += t2 - t1
            gc = latent.gaussian_conditional
            index_float = gc.table_index(latent.y_codec.params(side_float)[0])
            index_exact = gc.table_index(latent.y_codec.params(side_exact)[0])
            differ += int((index_float != index_exact).sum())
            total += index_exact.size
            bits_float += bits(latent, y, side_float)
            bits_exact += bits(latent, y, side_exact)
            torch.set_num_threads(1)
            identical &= torch.equal(latent._side(z_hat, None, coding=True), side_exact)
            torch.set_num_threads(threads)
            print(f"{path.name}: {int((index_float != index_exact).sum())} of {index_exact.size} table indices differ")
    n = len(files)
    print(
        f"exact_params: index_diff_pct={100 * differ / total:.3f} "
        f"rate_change_pct={100 * (bits_exact / bits_float - 1):.3f} "
        f"float_ms={1000 * t_float / n:.1f} exact_ms={1000 * t_exact / n:.1f} threads_identical={int(identical)}"
    )


if __name__ == "__main__":
    main()
