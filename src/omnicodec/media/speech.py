"""Speech for the file driver: recordings in, block by block, and a sink that writes decoded audio.

Input: anything soundfile reads (WAV, FLAC, OGG…), at any sample rate and channel count.
It is read block by block, downmixed to mono by averaging all channels (the stated rule,
recorded in the header), and resampled to 16 kHz with soxr (very high quality). The codec
(``speech/ecc``) codes fixed-length chunks as units, each analysed with a little audio context
on both sides, so only a few chunks are ever in memory. Decoding writes 16 kHz mono (or
``sample_rate``) WAV, FLAC or OGG, also piece by piece. Empty, one-sample and silent
recordings are valid inputs.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..constants import AUDIO_SUFFIXES
from ..constants import SPEECH_RATE as RATE
from ..datasets.audio import mono_blocks
from ..errors import InputError
from ..fileio import AtomicFile
from .driver import SOURCE_TAG


def is_speech_path(path) -> bool:
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def _open_input(path: Path):
    import soundfile as sf

    try:
        f = sf.SoundFile(path)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not an audio file this omnicodec reads ({exc})") from exc
    return f


def open_audio(path):
    """``(pieces, media)``: mono 16 kHz blocks of a recording, read and resampled block by block."""
    f = _open_input(Path(path))
    media = {
        "type": "speech", "sample_rate": RATE, "channels": 1, "source_rate": int(f.samplerate),
        "source_channels": int(f.channels), "source_format": f.format, "downmix": "mean of all channels",
        "resampler": "soxr VHQ" if f.samplerate != RATE else "none",
    }

    def pieces():
        with f:
            yield from mono_blocks(f, RATE)

    return pieces(), media


OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def check_speech_output(path) -> tuple[str, str]:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"cannot write speech as {suffix or 'a file without extension'!r}; use .wav, .flac or .ogg")
    return OUTPUT_FORMATS[suffix]


class AudioSink:
    """Writes decoded audio pieces to a WAV, FLAC or OGG file at ``sample_rate`` (resampled on the fly),
    through a temporary file that :meth:`commit` puts in place."""

    def __init__(self, output, sample_rate: int | None = None, source: str | None = None) -> None:
        import soundfile as sf
        import soxr

        fmt, subtype = check_speech_output(output)
        self.rate = RATE if sample_rate is None else int(sample_rate)
        if not 1000 <= self.rate <= 384000:
            raise InputError(f"unsupported output sample rate {self.rate} Hz")
        self.output = Path(output)
        self.target = AtomicFile(self.output, suffix=self.output.suffix, by_name=True)
        self.resampler = soxr.ResampleStream(RATE, self.rate, 1, dtype="float32", quality="VHQ") if self.rate != RATE else None
        try:
            self.file = sf.SoundFile(self.target.tmp, "w", samplerate=self.rate, channels=1, format=fmt, subtype=subtype)
            if source is not None:  # which coded file this is a decoding of (the file's comment)
                self.file.comment = f"{SOURCE_TAG}={source}"
        except BaseException:
            self.target.abort()
            raise
        self.samples = 0

    def _put(self, audio: np.ndarray, last: bool = False) -> None:
        if self.resampler is not None:
            audio = self.resampler.resample_chunk(audio, last=last)
        with self._as_os_error():
            self.file.write(audio)
        self.samples += audio.size

    def write(self, audio: torch.Tensor) -> None:
        self._put(audio.clamp(-1, 1).reshape(-1).cpu().numpy())

    def commit(self) -> None:
        if self.resampler is not None:
            self._put(np.zeros(0, np.float32), last=True)
        with self._as_os_error():
            self.file.close()
        self.target.commit()

    @contextmanager
    def _as_os_error(self):
        """soundfile's errors (a full disk, a file size limit) as the OSError they are, naming the output."""
        try:
            yield
        except RuntimeError as exc:
            raise OSError(errno.EIO, f"cannot write the audio ({exc})", str(self.output)) from exc

    def abort(self) -> None:
        try:
            self.file.close()
        except RuntimeError:  # the write that failed may fail again on closing; the temporary goes all the same
            pass
        finally:
            self.target.abort()
