"""Rate as a codec input: what every variable-rate codec shares.

A codec that mixes this in and sets ``self.gains`` (:class:`~omnicodec.layers.GainUnits`) serves a
continuous quality range from one set of weights: it scales its latent by the gains of a quality
before the entropy model and rescales the decoded latent by the inverse gains before synthesis.
``gains = None`` is a fixed-rate codec. The quality a stream was coded at travels in its side info.
"""

from __future__ import annotations

import torch

from ..layers.gain import GainUnits, check_quality

LEVELS = (0, 64)  # allowed config values: 0 is a fixed-rate codec, else 2 to 64 quality levels
QUALITIES = (1.0, 64.0)


class VariableRate:
    gains: GainUnits | None
    default_quality: float = 1.0

    @property
    def quality_range(self) -> tuple[float, float] | None:
        """``(lowest, highest)`` quality of a variable-rate codec; ``None`` for a fixed-rate one."""
        return self.gains.quality_range if self.gains is not None else None

    def _quality(self, quality: float | None) -> float:
        """A checked quality (``ValueError`` naming the range); ``None``: the codec's default."""
        if quality is None:
            return float(self.default_quality)
        return check_quality(quality, self.gains.levels)

    def _scaled(self, y: torch.Tensor, quality: torch.Tensor | float | None) -> torch.Tensor:
        if self.gains is None:
            return y
        return self.gains.scale(y, quality if isinstance(quality, torch.Tensor) else self._quality(quality))

    def _unscaled(self, y_hat: torch.Tensor, quality: torch.Tensor | float | None) -> torch.Tensor:
        if self.gains is None:
            return y_hat
        q = quality if isinstance(quality, torch.Tensor) else self._quality(quality)
        return self.gains.scale(y_hat, q, inverse=True)

    def _stream_quality(self, side_info: dict) -> float | None:
        """The quality a stream declares (``None`` for a fixed-rate codec); ``ValueError`` if invalid."""
        if self.gains is None:
            return None
        return check_quality(side_info.get("quality"), self.gains.levels)
