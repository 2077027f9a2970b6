"""Video codecs."""

from .stem import STEMVideoCodec

__all__ = ["STEMVideoCodec"]
