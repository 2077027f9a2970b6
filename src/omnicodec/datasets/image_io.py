"""Reading and writing image files, with every colour conversion made explicit.

The image codecs code 8-bit RGB. :func:`read_image` converts whatever Pillow opens and
says what it did, so the CLI can state it and the container can record it:

- RGB: used as is.  L (grayscale): repeated into three channels; decoded back to grayscale.
- 16-bit grayscale: divided by 257; float grayscale in [0, 1]: times 255; other 32-bit
  grayscale: stretched from its minimum..maximum to 0..255. Decoded as 8-bit grayscale.
- RGBA / LA / PA and palette images with transparency: the alpha channel is dropped.
- P (palette), CMYK, YCbCr, LAB, HSV, 1-bit: converted to RGB by Pillow.
- An EXIF orientation tag is applied, so the pixels are stored upright.
- Multi-frame files (GIF, APNG, TIFF): the first frame only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError
from ..fileio import atomic_file

WRITABLE_FORMATS = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM", ".webp": "WEBP"}


@dataclass
class ImageInfo:
    height: int
    width: int
    source_mode: str
    source_format: str | None
    output_mode: str  # "RGB" or "L": what decoding writes
    notes: list[str] = field(default_factory=list)

    def media(self) -> dict:
        """The media description stored in a container header."""
        return {
            "type": "image",
            "height": self.height,
            "width": self.width,
            "bit_depth": 8,
            "colour_space": "RGB",
            "source_mode": self.source_mode,
            "source_format": self.source_format,
            "output_mode": self.output_mode,
            "conversion": self.notes,
        }


def _to_uint8_gray(im: Image.Image) -> tuple[Image.Image, str]:
    """Scale deep grayscale to 8 bits; returns the image and how it was scaled."""
    a = np.nan_to_num(np.asarray(im, dtype=np.float64))
    lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
    if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and hi <= 65535):
        a, how = a / 257.0, "16-bit grayscale scaled to 8 bits"
    elif im.mode == "F" and lo >= 0 and hi <= 1:
        a, how = a * 255.0, "float grayscale in [0, 1] scaled to 8 bits"
    else:
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        how = f"{im.mode} grayscale stretched from [{lo:g}, {hi:g}] to 8 bits"
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L"), how


def read_image(path: str | Path, check_size=None) -> tuple[np.ndarray, ImageInfo]:
    """Open ``path`` with Pillow and return ``(uint8 array H×W×3, ImageInfo)``.

    ``check_size(height, width)``, if given, runs on the declared size before the pixels are
    decoded (to refuse an image too large for memory before allocating it).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                notes: list[str] = []
                n_frames = getattr(im, "n_frames", 1)
                if n_frames > 1:
                    notes.append(f"first of {n_frames} frames")
                if check_size is not None:
                    check_size(im.height, im.width)
                im.load()
                if _has_orientation(im):
                    notes.append("EXIF orientation applied")
                im = ImageOps.exif_transpose(im)
                mode = im.mode
                output_mode = "RGB"
                if mode == "RGB":
                    rgb = im
                elif mode == "L":
                    rgb, output_mode = im.convert("RGB"), "L"
                    notes.append("grayscale coded as RGB, decoded as grayscale")
                elif mode.startswith("I;16") or mode in ("I", "F"):
                    gray, how = _to_uint8_gray(im)
                    rgb, output_mode = gray.convert("RGB"), "L"
                    notes.append(how)
                elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
                    rgb = im.convert("RGBA").convert("RGB")
                    notes.append(f"{mode}: alpha channel dropped")
                else:
                    rgb = im.convert("RGB")
                    notes.append(f"{mode} converted to RGB")
                array = np.asarray(rgb, dtype=np.uint8).copy()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: image is too large to open safely ({exc})") from exc
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from exc
    h, w = array.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"{path}: image has no pixels")
    return array, ImageInfo(h, w, mode, fmt, output_mode, notes)


def _has_orientation(im: Image.Image) -> bool:
    try:
        return im.getexif().get(0x0112, 1) not in (1, None)
    except Exception:  # malformed EXIF is not our problem; the pixels still decode
        return False


def check_image_output(path: str | Path) -> str:
    """The Pillow format for an output path, or :class:`InputError` naming the accepted ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITABLE_FORMATS:
        accepted = ", ".join(sorted(WRITABLE_FORMATS))
        raise InputError(f"cannot write images as {suffix or 'a file without extension'!r}; use one of {accepted}")
    return WRITABLE_FORMATS[suffix]


def write_image(path: str | Path, array: np.ndarray, mode: str = "RGB", note: tuple[str, str] | None = None) -> None:
    """Write an H×W×3 uint8 array atomically (temporary file, then rename). ``note`` ``(key, value)``
    goes into a PNG text chunk; the other formats leave it out."""
    path = Path(path)
    fmt = check_image_output(path)
    im = Image.fromarray(np.ascontiguousarray(array), "RGB")
    if mode == "L":
        im = im.convert("L")
    options = {"lossless": True} if fmt == "WEBP" else {}
    if note is not None and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        options["pnginfo"] = PngInfo()
        options["pnginfo"].add_text(*note)
    with atomic_file(path) as f:
        im.save(f, format=fmt, **options)
