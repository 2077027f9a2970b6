"""Generalized divisive normalization (Ballé et al. 2016), taken from CompressAI."""

from compressai.layers import GDN

__all__ = ["GDN"]
