"""ECC's waveform, STFT and MDCT transforms trained for the same CPU time, then measured from real files.

The models have the same entropy model design (slices, chunking) and the default widths (the MDCT
model has one latent channel per coefficient, M = 160, so its entropy networks are wider); each
trains for ``--seconds`` of process CPU time (one thread) on the same batches of
``../shared/data/speech_train`` with the same loss (R + λ·(multi-resolution STFT + mel)), is frozen
and exported, and codes the first ``--files`` recordings of ``../shared/data/speech/vctk`` through
``compress_file`` / ``decompress_file``; kbit/s from the file sizes, PESQ-WB, STOI and ViSQOL on
the decoded 16 kHz output.

    nice -n 19 python benchmarks/speech_transforms.py [--seconds 240] [--files 4] [--lmbda 5] [--transforms mdct]

The last line reads
``speech_transforms: waveform_pesq=<x> stft_pesq=<x> mdct_pesq=<x> waveform_kbps=<x> stft_kbps=<x> mdct_kbps=<x> seconds=<s>``
(the transforms chosen with ``--transforms``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# the default widths; the MDCT transform codes one latent channel per coefficient (M = 160) and trains without
# entropy skip (a skipped element passes no gradient; at M = 160 the untrained scales would skip everything)
CONFIGS = {
    "waveform": {"transform": "waveform"},
    "stft": {"transform": "stft"},
    "mdct": {"transform": "mdct", "M": 160, "slices": [16, 16, 32, 96], "skip_threshold": 0.0},
}


def train(transform: str, dataset, args) -> tuple[object, int, float]:
    """The model after ``args.seconds`` of CPU time; returns (model, steps, last loss)."""
    import torch

    from omnicodec.codecs import create_codec
    from omnicodec.train.losses import speech_rd_loss

    torch.manual_seed(0)
    model = create_codec("speech/ecc", CONFIGS[transform]).train()
    opt = torch.optim.Adam(model.main_parameters(), lr=args.lr)
    aux = torch.optim.Adam(model.aux_parameters(), lr=1e-3)
    start, step, loss = time.process_time(), 0, float("nan")
    while time.process_time() - start < args.seconds:
        x = torch.stack([dataset[step * args.batch + j] for j in range(args.batch)])
        terms = speech_rd_loss(model(x), x, args.lmbda)
        opt.zero_grad()
        aux.zero_grad()
        (terms["loss"] + model.aux_loss()).backward()
        torch.nn.utils.clip_grad_norm_(model.main_parameters(), 1.0)
        opt.step()
        aux.step()
        step, loss = step + 1, float(terms["loss"].detach())
        if step % 50 == 0:
            print(f"  {transform} step {step}: loss {loss:.3f}, {float(terms['kbps'].detach()):.2f} kbit/s", flush=True)
    return model.eval().freeze(), step, loss


def measure(model, files: list[Path], tmp: Path) -> dict[str, float]:
    import soundfile as sf

    from omnicodec import compress_file, decompress_file
    from omnicodec.datasets.audio import load_mono
    from omnicodec.eval.metrics import speech_quality
    from omnicodec.zoo import save_weights

    weights = save_weights(model, tmp, f"ecc-{model.transform}", quality=1)
    rows = []
    for f in files:
        reference = load_mono(f)
        sf.write(tmp / "in.wav", reference, 16000, subtype="FLOAT")
        result = compress_file(tmp / "in.wav", tmp / "a.omc", weights=weights, overwrite=True)
        decompress_file(tmp / "a.omc", tmp / "out.wav", weights=weights, overwrite=True)
        decoded, _ = sf.read(tmp / "out.wav", dtype="float32")
        rows.append({"kbps": result.kbps, **speech_quality(reference, decoded)})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=240.0, help="CPU seconds of training per transform")
    parser.add_argument("--files", type=int, default=4, help="VCTK recordings to measure")
    parser.add_argument("--lmbda", type=float, default=5.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--transforms", nargs="+", default=["waveform", "stft", "mdct"], choices=sorted(CONFIGS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=float, default=0.64, help="seconds per training segment")
    parser.add_argument("--train", default=str(DATA / "speech_train"))
    parser.add_argument("--vctk", default=str(DATA / "speech" / "vctk"))
    args = parser.parse_args()

    import torch

    from omnicodec.datasets.folders import speech_folder
    from omnicodec.train.data import SpeechDataModule

    torch.set_num_threads(1)
    data = SpeechDataModule(args.train, segment_seconds=args.segment, batch_size=args.batch)
    data.setup()
    data.train_set.length = 10**9
    files = speech_folder(args.vctk)[: args.files]
    print(f"{len(data.train_set.recordings)} training recordings; measuring on {len(files)} VCTK files; "
          f"λ={args.lmbda}, lr={args.lr}, batch {args.batch} × {args.segment} s, {args.seconds:.0f} CPU s each")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for transform in args.transforms:
            model, steps, loss = train(transform, data.train_set, args)
            params = sum(p.numel() for p in model.parameters())
            results[transform] = measure(model, files, Path(tmp))
            r = results[transform]
            print(f"{transform}: {params / 1e6:.2f} M parameters, {steps} steps, last loss {loss:.3f}; "
                  f"{r['kbps']:.2f} kbit/s, PESQ-WB {r['pesq-wb']:.3f}, STOI {r['stoi']:.3f}, ViSQOL {r['visqol']:.3f}",
                  flush=True)
    pesq = " ".join(f"{t}_pesq={r['pesq-wb']:.3f}" for t, r in results.items())
    kbps = " ".join(f"{t}_kbps={r['kbps']:.2f}" for t, r in results.items())
    print(f"speech_transforms: {pesq} {kbps} seconds={args.seconds:.0f}")


if __name__ == "__main__":
    main()
