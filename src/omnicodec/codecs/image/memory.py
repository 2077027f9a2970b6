"""Estimate of the peak memory of coding one image (or one video frame), computed from its size alone.

Used to refuse a size before allocating anything that large (see :mod:`omnicodec.memory`).
The estimate counts the memory coding adds to the process (Python, torch and the model are
already there) and errs on the high side. Terms, with ``A`` the image's pixels, ``P`` the
pixels after padding to 64, ``E`` the elements of ``y`` and ``S`` those of the side
parameters (both at 1/16 of the resolution):

- reading a PNG: Pillow's buffer (4 B/pixel), its bytes and our array (3 + 3 B/pixel);
- analysis: the 8-bit image and its padded copy (3 + 3 B/pixel), ``y`` (float32) and one
  tile of the transform;
- entropy coding: ``y``, the side parameters (float64 when computed exactly), the symbols,
  table indices and the range coder's working arrays (about 36 B per element of ``y`` when
  encoding, 24 when decoding, measured with ``/proc`` peaks on 4 M-element latents);
- synthesis: ``y_hat``, the float image (12 B/pixel) and one tile; then the 8-bit image
  and Pillow's copy of it for writing.

A transform's tile costs ``TRANSFORM_BYTES`` per channel and pixel at half resolution
(a convolution's input and output and GDN's temporaries); a transform that cannot be tiled
pays that on the whole image, times ``attention_factor`` for attention blocks.
"""

from __future__ import annotations

TRANSFORM_BYTES = 20  # per channel and half-resolution pixel of a tile (about five float32 maps)
ENCODE_PER_Y = 36  # bytes per element of y while entropy coding (y, symbols, indices, coder arrays, y_hat)
DECODE_PER_Y = 24  # bytes per element of y while entropy decoding
SLACK = 192 << 20  # the exact h_s over tiles of z, allocator slack, small buffers


def coding_bytes(
    height: int,
    width: int,
    direction: str,
    *,
    y_channels: int,
    side_channels: int,
    transform_channels: int,
    tile: int | None,
    halo: int = 0,
    attention_factor: float = 1.0,
    stride: int = 64,
) -> int:
    """Bytes coding one ``height``×``width`` image adds to the process at its peak (an estimate).

    ``tile``: pixels per side of a transform tile, ``halo`` its halo in pixels; None: the
    transforms run on the whole image.
    """
    if direction not in ("encode", "decode"):
        raise ValueError(f"direction must be 'encode' or 'decode', got {direction!r}")
    ph, pw = -(-height // stride) * stride, -(-width // stride) * stride
    pixels, padded = height * width, ph * pw
    y_elems, side_elems = y_channels * padded // 256, side_channels * padded // 256
    work = padded if tile is None else min(padded, (tile + 2 * halo) ** 2)
    transform = int(TRANSFORM_BYTES * transform_channels * work / 4 * (attention_factor if tile is None else 1.0))
    if direction == "encode":
        read = 10 * pixels
        analysis = 3 * pixels + 3 * padded + 4 * y_elems + transform
        entropy = 3 * pixels + 8 * side_elems + ENCODE_PER_Y * y_elems
        return max(read, analysis, entropy) + SLACK
    entropy = 8 * side_elems + DECODE_PER_Y * y_elems
    synthesis = 4 * y_elems + 12 * padded + transform
    write = 12 * padded + 3 * pixels  # the 8-bit image, made in bands from the float one
    store = 3 * pixels + 4 * pixels + pixels  # our array, Pillow's copy, the PNG encoder
    return max(entropy, synthesis, write, store) + SLACK


def widest(*nets) -> int:
    """The most output channels of any convolution in ``nets``."""
    return max((m.out_channels for net in nets for m in net.modules() if hasattr(m, "out_channels")), default=3)
