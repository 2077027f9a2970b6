"""nn.Modules that predict probabilities of latents and code them with frozen tables."""

from .factorized import EntropyBottleneck
from .frozen import FrozenTables
from .gaussian import GaussianConditional, default_scale_table
from .hyperprior import MeanScaleHyperprior

__all__ = ["EntropyBottleneck", "FrozenTables", "GaussianConditional", "MeanScaleHyperprior", "default_scale_table"]
