"""Classical codecs measured on this machine, for RD comparisons.

Images go through Pillow (JPEG, WebP, AVIF, and JPEG XL when a Pillow plugin provides it);
speech (Opus, Codec2) and video (x264, x265 with the medium preset and zerolatency tuning)
go through ``ffmpeg``. A baseline whose encoder is missing reports why, and evaluation skips
it with that message. Each function codes one item at one quality setting and returns the
real coded size together with the decoded result.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, features

from ..constants import SPEECH_RATE
from ..errors import MissingToolError

# --- images ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageBaseline:
    name: str
    pillow_format: str
    settings: tuple[int, ...]  # Pillow quality values
    description: str

    def available(self) -> str | None:
        """``None`` if usable here, else the reason it is not."""
        if self.pillow_format == "JPEG":
            return None
        module = {"WEBP": "webp", "AVIF": "avif", "JXL": "jpegxl"}[self.pillow_format]
        try:
            ok = features.check(module)
        except ValueError:
            ok = False
        if self.pillow_format == "JXL" and not ok:
            try:
                import pillow_jxl  # noqa: F401  (registers a JXL plugin)

                ok = True
            except ImportError:
                ok = False
        return None if ok else f"this Pillow has no {self.name} support"

    def code(self, rgb: np.ndarray, quality: int) -> tuple[int, np.ndarray]:
        """(coded bytes, decoded RGB) for one image at one quality."""
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, format=self.pillow_format, quality=int(quality))
        size = buffer.tell()
        buffer.seek(0)
        with Image.open(buffer) as im:
            return size, np.asarray(im.convert("RGB"))


IMAGE_BASELINES = {
    "jpeg": ImageBaseline("jpeg", "JPEG", (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95), "JPEG (libjpeg via Pillow, 4:2:0)"),
    "webp": ImageBaseline("webp", "WEBP", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "WebP lossy (libwebp via Pillow)"),
    "avif": ImageBaseline("avif", "AVIF", (10, 20, 30, 40, 50, 60, 70, 80, 90), "AVIF (libavif via Pillow, default speed)"),
    "jxl": ImageBaseline("jxl", "JXL", (10, 20, 30, 40, 50, 60, 70, 80, 90), "JPEG XL (via a Pillow plugin)"),
}


# --- speech and video through ffmpeg ---------------------------------------------------


def ffmpeg_encoders() -> set[str]:
    """Encoders this ``ffmpeg`` offers (empty when ffmpeg is not installed)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return set()
    out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False).stdout
    return {line.split()[1] for line in out.splitlines() if len(line.split()) > 1 and line.startswith(" ")}


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MissingToolError("ffmpeg is not installed")
    done = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True)
    if done.returncode:
        raise MissingToolError(f"ffmpeg failed: {done.stderr.strip()[-300:]}")


@dataclass(frozen=True)
class FfmpegBaseline:
    name: str
    media: str  # "speech" or "video"
    encoder: str
    settings: tuple  # kbps for speech, CRF for video
    description: str

    def available(self) -> str | None:
        if shutil.which("ffmpeg") is None:
            return "ffmpeg is not installed"
        return None if self.encoder in ffmpeg_encoders() else f"this ffmpeg lacks the {self.encoder} encoder"

    def code_speech(self, samples: np.ndarray, setting) -> tuple[int, np.ndarray]:
        """(coded bytes, decoded 16 kHz mono float) for one 16 kHz mono recording."""
        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            # bare streams (Ogg for Opus, .c2 for Codec2): the size is the codec's, not a container's
            suffix = ".c2" if self.encoder == "libcodec2" else ".opus"
            src, coded, back = Path(tmp) / "in.wav", Path(tmp) / f"coded{suffix}", Path(tmp) / "out.wav"
            sf.write(src, samples, SPEECH_RATE, subtype="PCM_16")
            if self.encoder == "libcodec2":
                _ffmpeg("-i", str(src), "-ar", "8000", "-c:a", "libcodec2", "-mode", str(setting), str(coded))
            else:
                _ffmpeg("-i", str(src), "-c:a", self.encoder, "-b:a", f"{setting}k", "-application", "voip", str(coded))
            _ffmpeg("-i", str(coded), "-ar", str(SPEECH_RATE), "-ac", "1", str(back))
            decoded, _ = sf.read(back, dtype="float32")
            return coded.stat().st_size, decoded

    def code_video(self, frames: list[np.ndarray], setting, fps: tuple[int, int] = (25, 1)) -> tuple[int, list[np.ndarray]]:
        """(coded bytes, decoded RGB frames) for one sequence at one CRF."""
        h, w = frames[0].shape[:2]
        with tempfile.TemporaryDirectory() as tmp:
            for i, frame in enumerate(frames):
                Image.fromarray(frame).save(Path(tmp) / f"f{i:05d}.png")
            # an elementary stream, so the size counts the video bits only
            suffix = ".h264" if self.encoder == "libx264" else ".hevc"
            coded, pattern = Path(tmp) / f"coded{suffix}", str(Path(tmp) / "f%05d.png")
            _ffmpeg(
                "-framerate", f"{fps[0]}/{fps[1]}", "-i", pattern, "-c:v", self.encoder, "-preset", "medium",
                "-tune", "zerolatency", "-threads", "1", "-crf", str(setting), "-pix_fmt", "yuv420p", str(coded),
            )
            out = Path(tmp) / "d%05d.png"
            _ffmpeg("-i", str(coded), "-pix_fmt", "rgb24", str(out))
            decoded = [np.asarray(Image.open(Path(tmp) / f"d{i + 1:05d}.png").convert("RGB")) for i in range(len(frames))]
            if decoded[0].shape[:2] != (h, w):
                raise MissingToolError("ffmpeg returned frames of another size")
            return coded.stat().st_size, decoded


FFMPEG_BASELINES = {
    "opus": FfmpegBaseline("opus", "speech", "libopus", (6, 8, 10, 12, 16, 20, 24), "Opus (libopus, VoIP mode) via ffmpeg"),
    "codec2": FfmpegBaseline("codec2", "speech", "libcodec2", ("700C", "1200", "1600", "2400", "3200"), "Codec2 via ffmpeg"),
    "x264": FfmpegBaseline("x264", "video", "libx264", (18, 23, 28, 33, 38), "x264 medium zerolatency via ffmpeg"),
    "x265": FfmpegBaseline("x265", "video", "libx265", (18, 23, 28, 33, 38), "x265 medium zerolatency via ffmpeg"),
}

BASELINES = {**IMAGE_BASELINES, **FFMPEG_BASELINES}


def baseline_media(name: str) -> str:
    return "image" if name in IMAGE_BASELINES else FFMPEG_BASELINES[name].media
