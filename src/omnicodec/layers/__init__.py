"""Reusable network blocks."""

from .blocks import DenseBlock, ResidualBlock
from .conv import conv, conv_nd, conv_stack, deconv, deconv_nd
from .enhancement import EnhancementModule
from .gain import GainUnits
from .gdn import GDN
from .swin import RSTB, SwinV2Block

__all__ = [
    "GDN", "RSTB", "GainUnits", "DenseBlock", "EnhancementModule", "ResidualBlock", "SwinV2Block", "conv", "conv_nd", "conv_stack",
    "deconv", "deconv_nd",
]
