"""Reusable network blocks."""

from .conv import conv, deconv
from .gdn import GDN

__all__ = ["GDN", "conv", "deconv"]
