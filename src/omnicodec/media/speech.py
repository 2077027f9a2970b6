"""Speech to omnicodec files and back, in chunks with bounded memory.

Input: anything soundfile reads (WAV, FLAC, OGG…), at any sample rate and channel count.
It is read block by block, downmixed to mono by averaging all channels (the stated rule,
recorded in the header), and resampled to 16 kHz with soxr (very high quality). The codec
codes fixed-length chunks, each analysed with a little audio context on both sides, so only
a few chunks are ever in memory. The file holds one chunk per audio chunk (``chunk-0`` …:
the ``z`` stream length, ``z``, ``y``) and a final ``end`` chunk with the number of samples.
Decoding writes 16 kHz mono (or ``sample_rate``) WAV, FLAC or OGG, also chunk by chunk.
Empty, one-sample and silent recordings are valid inputs.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from ..coding import Bitstream
from ..coding.container import ContainerReader, ContainerWriter
from ..errors import CorruptFileError, InputError, OmnicodecError
from ..fileio import commit_file, make_temp_file

RATE = 16000
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_LEN = struct.Struct("<I")
_END = struct.Struct("<Q")
MAX_SAMPLES = 1 << 40


def is_speech_path(path) -> bool:
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def _open_input(path: Path):
    import soundfile as sf

    try:
        f = sf.SoundFile(path)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not an audio file this omnicodec reads ({exc})") from exc
    return f


def _mono_16k_blocks(f, block: int = 1 << 16):
    """Mono float32 blocks at 16 kHz from an open soundfile (streaming resampler)."""
    import soxr

    resampler = soxr.ResampleStream(f.samplerate, RATE, 1, dtype="float32", quality="VHQ") if f.samplerate != RATE else None
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


def compress_speech(model, input, output, header: dict, device: str, progress: bool) -> tuple[int, dict, int]:
    """Code a recording into ``output``; returns (file bytes, media, samples at 16 kHz)."""
    f = _open_input(Path(input))
    media = {
        "type": "speech", "sample_rate": RATE, "channels": 1, "source_rate": int(f.samplerate),
        "source_channels": int(f.channels), "source_format": f.format, "downmix": "mean of all channels",
        "resampler": "soxr VHQ" if f.samplerate != RATE else "none",
    }
    chunk, margin = model.chunk_samples, model.context_frames * 160
    # τ of entropy skip: the decoder must skip exactly the same elements
    side_info = {"chunk_samples": chunk, "skip_tau": model.skip_threshold}
    if model.latent.entropy_params is not None:  # one scheme for all chunks, kept in the header
        side_info["entropy_params"] = model.latent.entropy_params
    header = dict(header, media=media, side_info=side_info)
    bar = None
    if progress:
        from tqdm import tqdm

        # seconds of audio, printed to 1/100 s (the count is a float sum of chunk lengths)
        bar = tqdm(desc="encoding", unit="s", leave=False, bar_format="{desc}: {n:.2f} s [{elapsed}]")
    buffer, buffer_start, next_start, total, k, reference = np.zeros(0, np.float32), 0, 0, 0, 0, None
    try:
        with f, ContainerWriter(output, header) as writer:
            blocks = _mono_16k_blocks(f)
            exhausted = False
            while True:
                while not exhausted and buffer_start + buffer.size < next_start + chunk + margin:
                    block = next(blocks, None)
                    if block is None:
                        exhausted = True
                        break
                    buffer = np.concatenate([buffer, block])
                    total += block.size
                if next_start >= total:  # every sample is in a coded chunk
                    break
                # the chunk at next_start, with context, from the buffer (zeros outside the audio)
                lo = next_start - margin
                window = np.zeros(chunk + 2 * margin, np.float32)
                a, b = max(lo, buffer_start), min(next_start + chunk + margin, buffer_start + buffer.size)
                if b > a:
                    window[a - lo : b - lo] = buffer[a - buffer_start : b - buffer_start]
                x = torch.from_numpy(window).view(1, 1, -1).to(device)
                with torch.no_grad():
                    y = model.analyse_chunk(x, margin)
                bitstream, reference = model.compress_chunk(y, reference)
                z, yb = bitstream.streams["z"], bitstream.streams["y"]
                writer.add(f"chunk-{k}", _LEN.pack(len(z)) + z + yb)
                k, next_start = k + 1, next_start + chunk
                keep_from = next_start - margin
                if keep_from > buffer_start:
                    buffer, buffer_start = buffer[keep_from - buffer_start :], keep_from
                if bar is not None:
                    bar.update(chunk / RATE)
            writer.add("end", _END.pack(total))
    finally:
        if bar is not None:
            bar.close()
    media["samples"] = total
    return writer.size, media, total


def _bitstream(payload: bytes, k: int, shapes: dict, side_info: dict) -> Bitstream:
    if len(payload) < _LEN.size:
        raise CorruptFileError(f"audio chunk {k} is too short")
    (z_len,) = _LEN.unpack_from(payload)
    if _LEN.size + z_len > len(payload):
        raise CorruptFileError(f"audio chunk {k}: its z stream overruns the chunk")
    streams = {"z": payload[4 : 4 + z_len], "y": payload[4 + z_len :]}
    return Bitstream(streams, {k_: list(v) for k_, v in shapes.items()}, dict(side_info))


OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def check_speech_output(path) -> tuple[str, str]:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"cannot write speech as {suffix or 'a file without extension'!r}; use .wav, .flac or .ogg")
    return OUTPUT_FORMATS[suffix]


def decompress_speech(model, reader: ContainerReader, output, sample_rate: int | None, progress: bool) -> tuple[int, int]:
    """Decode chunk by chunk into ``output``; returns (samples written, sample rate)."""
    import os

    import soundfile as sf
    import soxr

    fmt, subtype = check_speech_output(output)
    rate = int(sample_rate or RATE)
    if not 1000 <= rate <= 384000:
        raise InputError(f"unsupported output sample rate {rate} Hz")
    side = reader.header.get("side_info", {})
    if side.get("chunk_samples") != model.chunk_samples:
        raise CorruptFileError("the file's chunk length does not match its codec")
    shapes = model.stream_shapes()
    try:
        tau = float(side.get("skip_tau", 0.0))
    except (TypeError, ValueError) as exc:
        raise CorruptFileError("the file's skip threshold is malformed") from exc
    chunk_info = {"skip_tau": tau}
    if "entropy_params" in side:
        chunk_info["entropy_params"] = side["entropy_params"]
    output = Path(output)
    fd, tmp = make_temp_file(output, suffix=output.suffix)  # permissions of a plain write
    os.close(fd)
    resampler = soxr.ResampleStream(RATE, rate, 1, dtype="float32", quality="VHQ") if rate != RATE else None
    written, total = 0, None
    try:
        with sf.SoundFile(tmp, "w", samplerate=rate, channels=1, format=fmt, subtype=subtype) as out:

            def emit(previous, current, following, index: int, final: bool) -> None:
                nonlocal written
                with torch.no_grad():
                    audio = model.synthesise_chunk(previous, current, following)
                audio = audio.clamp(-1, 1).view(-1).cpu().numpy()
                if final:
                    audio = audio[: max(total - index * model.chunk_samples, 0)]
                if resampler is not None:
                    audio = resampler.resample_chunk(audio, last=final)
                out.write(audio)
                written += audio.size

            k, reference, window = 0, None, []  # the latents of the last three chunks
            # read to the end of the file: the reader checks the file CRC after the last chunk
            for name, payload in reader.chunks():
                if total is not None:
                    raise CorruptFileError(f"the file holds a chunk {name!r} after its end chunk")
                if name == "end":
                    if len(payload) != _END.size:
                        raise CorruptFileError("the end chunk is malformed")
                    (total,) = _END.unpack(payload)
                    continue
                if name != f"chunk-{k}":
                    raise CorruptFileError(f"expected audio chunk {k}, found {name!r}")
                try:
                    reference = model.decompress_chunk(_bitstream(payload, k, shapes, chunk_info), reference)
                except OmnicodecError as exc:
                    raise CorruptFileError(f"audio chunk {k} does not decode: {exc}") from exc
                window = (window + [reference])[-3:]
                if len(window) >= 2:  # chunk k-1 has its right-hand context now
                    emit(window[-3] if len(window) == 3 else None, window[-2], window[-1], k - 1, final=False)
                k += 1
            if total is None:
                raise CorruptFileError("the file has no end chunk (truncated?)")
            if total > MAX_SAMPLES or -(-total // model.chunk_samples) != k:
                raise CorruptFileError(f"the file declares {total} samples but holds {k} chunks")
            if window:
                emit(window[-2] if len(window) >= 2 else None, window[-1], None, k - 1, final=True)
            elif resampler is not None:
                out.write(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        commit_file(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written, rate
