"""nn.Modules that predict probabilities of latents and code them with frozen tables.

Entropy coders (factorized prior, Gaussian conditional) hold the integer tables; latent
codecs compose them: a hyperprior around a conditional codec (mean-scale, checkerboard,
channel-wise with LRP), optionally with a temporal prior (STEM), optionally with entropy skip.
"""

from . import (
    exact_gdn,  # noqa: F401 - registers GDN's integer form (whole GDN transforms run exactly)
    exact_swin,  # noqa: F401 - registers the SwinV2 blocks' integer form
)
from .attention import ACGCContext
from .channelwise import ChannelwiseLatentCodec, elic_slices, equal_slices
from .checkerboard import CheckerboardLatentCodec, anchor_mask
from .conditional import ConditionalLatentCodec, LatentOutput, MeanScaleLatentCodec
from .factorized import EntropyBottleneck
from .frozen import FrozenTables
from .gaussian import GaussianConditional, default_scale_table
from .hyperprior import HyperpriorLatentCodec, MeanScaleHyperprior, TemporalPrior, hyper_transforms
from .spatiotemporal import SpatiotemporalLatentCodec

__all__ = [
    "ACGCContext",
    "ChannelwiseLatentCodec", "CheckerboardLatentCodec", "ConditionalLatentCodec", "EntropyBottleneck", "FrozenTables",
    "GaussianConditional", "HyperpriorLatentCodec", "LatentOutput", "MeanScaleHyperprior", "MeanScaleLatentCodec",
    "SpatiotemporalLatentCodec", "TemporalPrior", "anchor_mask", "default_scale_table", "elic_slices", "equal_slices",
    "hyper_transforms",
]
