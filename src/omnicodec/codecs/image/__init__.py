"""Image codecs."""

from .hyperprior import HyperpriorImageCodec

__all__ = ["HyperpriorImageCodec"]
