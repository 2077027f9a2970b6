"""Reusable network blocks."""

from .blocks import DenseBlock, ResidualBlock
from .bound import LowerBound, lower_bound
from .conv import SubPixelConv, conv, conv_nd, conv_stack, deconv, deconv_nd, resampling_conv_nd
from .enhancement import EnhancementModule
from .gain import GainUnits
from .gdn import GDN
from .gdn_transforms import gdn_analysis, gdn_synthesis
from .swin import RSTB, SwinV2Block

__all__ = [
    "GDN", "RSTB", "GainUnits", "DenseBlock", "EnhancementModule", "LowerBound", "ResidualBlock", "SubPixelConv",
    "SwinV2Block", "conv", "conv_nd", "conv_stack", "deconv", "deconv_nd", "gdn_analysis", "gdn_synthesis",
    "lower_bound", "resampling_conv_nd",
]
