"""Reusable network blocks."""

from .conv import conv, conv_nd, conv_stack, deconv, deconv_nd
from .gdn import GDN

__all__ = ["GDN", "conv", "conv_nd", "conv_stack", "deconv", "deconv_nd"]
