"""Speech input as the codec sees it: any file soundfile reads, downmixed to mono by the mean
of all channels and resampled with soxr at very high quality (VHQ). :func:`mono_blocks`
streams an open file block by block; :func:`load_mono` reads a whole file the same way, so a
reference signal in evaluation or training equals what the codec codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..constants import SPEECH_RATE


def mono_blocks(f, rate: int = SPEECH_RATE, block: int = 1 << 16) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``rate`` from an open ``soundfile.SoundFile`` (streaming resampler)."""
    import soxr

    resampler = soxr.ResampleStream(f.samplerate, rate, 1, dtype="float32", quality="VHQ") if f.samplerate != rate else None
    while True:
        data = f.read(block, dtype="float32", always_2d=True)
        last = data.shape[0] < block
        mono = data.mean(axis=1).astype(np.float32)
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=last)
        if mono.size:
            yield mono
        if last:
            return


def load_mono(path: str | Path, rate: int = SPEECH_RATE) -> np.ndarray:
    """A whole recording as one mono float32 array at ``rate``."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        return np.concatenate([np.zeros(0, np.float32), *mono_blocks(f, rate)])
