"""Speed and overhead of omnicodec's range coder against CompressAI's rANS.

Both coders get the same int32 symbols and the same 16-bit integer CDF tables (a 64-level
Gaussian scale table, as the image codecs use); symbols are drawn like real latents, with
log-uniform scales between 0.11 and 20 and a few far outliers that need the escape.

    python benchmarks/coder.py [--symbols 1000000] [--repeats 3]

Overhead is the file size over the information content of the symbols under the continuous
Gaussian model (``-sum log2 p``), in percent. The last line reads exactly
``coder: overhead_pct=<x> enc_msym_s=<x> dec_msym_s=<x> enc_vs_rans=<ratio> dec_vs_rans=<ratio>``
(a ratio above 1 means omnicodec is faster).
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import best_of  # next to this script
from scipy.stats import norm

from omnicodec.coding import decode, encode
from omnicodec.entropy_models.gaussian import default_scale_table


def gaussian_tables():
    from omnicodec.entropy_models import GaussianConditional

    return GaussianConditional(default_scale_table())._build_tables()




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from compressai.ans import BufferedRansEncoder, RansDecoder

    rng = np.random.default_rng(args.seed)
    tables = gaussian_tables()
    scale_table = default_scale_table().double().numpy()
    n = args.symbols
    scales = np.exp(rng.uniform(np.log(0.11), np.log(20.0), n))
    boundaries = np.sqrt(scale_table[1:] * scale_table[:-1])
    index = np.searchsorted(boundaries, scales).astype(np.int32)  # nearest table in the log domain
    symbols = np.round(rng.normal(0.0, scales)).astype(np.int32)
    outliers = rng.random(n) < 1e-4
    symbols[outliers] = rng.integers(-5000, 5000, int(outliers.sum()))
    p = norm.cdf((symbols + 0.5) / scales) - norm.cdf((symbols - 0.5) / scales)
    model_bits = float(-np.log2(np.maximum(p, 1e-9)).sum())
    table_bits = tables.bits(symbols, index)

    enc_s, data = best_of(lambda: encode(symbols, index, tables), args.repeats)
    dec_s, decoded = best_of(lambda: decode(data, index, tables), args.repeats)
    assert np.array_equal(decoded, symbols), "omnicodec round trip failed"

    cdfs = [tables.row(t).tolist() for t in range(tables.num_tables)]
    cdf_lengths = (tables.lengths + 1).tolist()
    offsets = tables.offsets.tolist()

    def rans_encode():
        enc = BufferedRansEncoder()
        enc.encode_with_indexes(symbols.tolist(), index.tolist(), cdfs, cdf_lengths, offsets)
        return enc.flush()

    def rans_decode():
        return RansDecoder().decode_with_indexes(rans_data, index.tolist(), cdfs, cdf_lengths, offsets)

    rans_enc_s, rans_data = best_of(rans_encode, args.repeats)
    rans_dec_s, rans_out = best_of(rans_decode, args.repeats)
    assert np.array_equal(np.asarray(rans_out, dtype=np.int32), symbols), "rANS round trip failed"

    ours_bits, rans_bits = 8 * len(data), 8 * len(rans_data)
    print(f"symbols: {n:,} ({int(outliers.sum())} escaped outliers), 64 tables, 16-bit precision")
    print(f"model information content : {model_bits / 8:,.0f} bytes")
    print(f"table information content : {table_bits / 8:,.0f} bytes (before escape payloads)")
    print(f"omnicodec range coder     : {len(data):,} bytes  enc {enc_s * 1e3:.1f} ms  dec {dec_s * 1e3:.1f} ms")
    print(f"compressai rANS           : {len(rans_data):,} bytes  enc {rans_enc_s * 1e3:.1f} ms  dec {rans_dec_s * 1e3:.1f} ms")
    print(f"rANS overhead_pct={100 * (rans_bits / model_bits - 1):.3f}")
    print(
        f"coder: overhead_pct={100 * (ours_bits / model_bits - 1):.3f} enc_msym_s={n / enc_s / 1e6:.2f} "
        f"dec_msym_s={n / dec_s / 1e6:.2f} enc_vs_rans={rans_enc_s / enc_s:.2f} dec_vs_rans={rans_dec_s / dec_s:.2f}"
    )


if __name__ == "__main__":
    main()
