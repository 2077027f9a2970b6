"""Speech codecs."""

from .ecc import ECC

__all__ = ["ECC"]
