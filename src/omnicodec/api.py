"""The Python API: what the CLI does, as functions (``compress_file`` / ``decompress_file`` and the batch
forms), with the result records and the checks a caller may want first. The work is done in
:mod:`omnicodec.media.files`; this module is the stable place to import it from.
"""

from __future__ import annotations

from .media.files import (
    CompressResult,
    DecompressResult,
    check_device,
    compress_file,
    compress_images,
    decompress_file,
    decompress_images,
    load_codec,
    media_of,
    memory_check,
    read_header,
    read_media_type,
)

__all__ = [
    "CompressResult",
    "DecompressResult",
    "check_device",
    "compress_file",
    "compress_images",
    "decompress_file",
    "decompress_images",
    "load_codec",
    "media_of",
    "memory_check",
    "read_header",
    "read_media_type",
]
