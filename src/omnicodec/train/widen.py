"""Widen an image model's latent: ``y`` of ``M`` channels becomes ``y`` of ``M' > M``, keeping what it learnt.

The latent's width caps what the highest qualities can reach: with ``M`` channels for every
16×16×3 pixels, the analysis and synthesis transforms, even unquantized, reconstruct no better than
a fixed PSNR, and the top levels of a variable-rate model sit on that cap. Widening adds channels
instead of training a wider model from scratch:

- every trained tensor is copied into the wider one at the positions its channels keep (scales and
  means of the side features and of the context's corrections stay in their halves);
- weights from a new channel into an old one are zero, so every old channel, the side features and
  the entropy model compute what they computed before;
- ``g_s`` reads the new latent channels through zero weights, so the image decodes exactly as
  before; the new channels start as statistical copies of the old ones: ``g_a`` gives them a random
  projection of its last features with the old channels' mean weight norm, the hyperprior predicts
  for each the old channels' mean scale (the mean of ``h_s``'s scale outputs, so it follows the
  quality as theirs does) and a mean 0, and their gains are each level's mean gain. They cost rate
  from the start (about what the old channels cost each), and because they are not zero, the
  distortion's gradient reaches ``g_s``'s weights that read them at once. Two starts that cost
  almost nothing were tried and measured first (new channels rounding to zero under the smallest
  scale, or under a fixed scale of 0.25, with ``g_s`` reading them through small or zero weights):
  the rate's pull at a scale that does not fit them shrank them towards zero (their spread halved
  or more in 250 steps, the unquantized reconstruction did not improve) before they carried anything;
- new hidden units of the hyper and context networks start as in a fresh layer, feeding nothing yet.

The result decodes every image as the source did, at a higher rate until training makes the new
channels pay: a start for a long run (500 CPU steps of the default model widened from 128 to 192
channels had not yet lifted its cap; README *Widening the image model's latent*). Only
``image/hyperprior`` (with or without the checkerboard context) is supported.
"""

from __future__ import annotations

import torch
from torch import nn

from ..codecs import Codec, create_codec
from ..errors import WeightsError


def _maps(M: int, M2: int) -> dict[str, torch.Tensor]:
    """Where the old indices of each kind of channel axis land in the widened one."""
    y = torch.arange(M)
    sides = torch.cat([y, y + M2])  # (scales, means): each half keeps its place
    return {
        "y": y,
        "side": sides,
        "hidden": None,  # plain prefix (hidden units, the context's features)
        "params_in": torch.cat([sides, 2 * M2 + torch.arange(2 * M)]),  # [side (2M) | context (2M)]
    }


# key -> (axis kind of dim 0, axis kind of dim 1); a bias takes its outputs' kind
_AXES = {
    "gains.log_gain": (None, "y"),
    "gains.log_inverse_gain": (None, "y"),
    "g_a.6": ("y", None),
    "g_s.0": ("y", None),  # transposed: (in, out)
    "latent.h_a.0": (None, "y"),
    "latent.h_s.0": (None, "hidden"),  # transposed
    "latent.h_s.2": ("hidden", "hidden"),  # transposed
    "latent.h_s.4": ("side", "hidden"),
    "latent.y_codec.context": ("hidden", "y"),
    "latent.y_codec.entropy_parameters.0": ("hidden", "params_in"),
    "latent.y_codec.entropy_parameters.2": ("hidden", "hidden"),
    "latent.y_codec.entropy_parameters.4": ("side", "hidden"),
}
_FINAL = ("latent.h_s.4", "latent.y_codec.entropy_parameters.4")  # outputs are scales and means (new: see below)


def _index(kind: str | None, old: int, new: int, maps: dict) -> torch.Tensor:
    m = maps.get(kind) if kind else None
    if old == new or m is None:  # unchanged, or a plain prefix
        return torch.arange(old)
    if len(m) != old:
        raise WeightsError(f"cannot map an axis of {old} channels as {kind!r}")
    return m


def _new_mask(index: torch.Tensor, new: int) -> torch.Tensor:
    mask = torch.ones(new, dtype=torch.bool)
    mask[index] = False
    return mask


def widen_latent(codec: Codec, M: int) -> Codec:
    """A copy of an ``image/hyperprior`` ``codec`` whose latent has ``M`` channels (more than now)."""
    config = codec.config()
    if codec.codec_id != "image/hyperprior":
        raise WeightsError(f"only image/hyperprior models can be widened, not {codec.codec_id}")
    old_M = int(config["M"])
    if M <= old_M:
        raise WeightsError(f"the latent has {old_M} channels; widening needs more, not {M}")
    wide = create_codec(codec.codec_id, {**config, "M": int(M)})
    maps = _maps(old_M, int(M))
    modules = dict(wide.named_modules())
    old_state, state = codec.state_dict(), wide.state_dict()
    if set(old_state) != set(state):
        raise WeightsError("the widened model holds other tensors than the source")
    with torch.no_grad():
        for key, new in state.items():
            old = old_state[key]
            owner, _, name = key.rpartition(".")
            if name.startswith("_"):  # frozen coding tables (of networks widening leaves alone)
                state[key] = old.clone()
                continue
            if old.shape == new.shape:
                new.copy_(old)
                continue
            axes = _AXES.get(owner) or _AXES.get(key)
            if axes is None or old.dim() != new.dim():
                raise WeightsError(f"no rule to widen {key} {tuple(old.shape)} -> {tuple(new.shape)}")
            transposed = isinstance(modules.get(owner), (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
            if name == "bias":  # along the outputs: dim 1 of a transposed convolution's weight
                axes = (axes[1] if transposed else axes[0],)
            index = [_index(kind, o, n, maps) for kind, o, n in zip(axes, old.shape, new.shape)]
            if owner == "g_a.6" or owner in _FINAL:  # new outputs: new latents, their scales and means
                fresh = new.clone()
                new.zero_()
                if owner == "g_a.6" and name == "weight":  # a random projection, as strong as the old ones
                    norms = fresh[old_M:].flatten(1).norm(dim=1)
                    target = old.flatten(1).norm(dim=1).mean()
                    new[old_M:] = fresh[old_M:] * (target / norms).view(-1, *([1] * (new.dim() - 1)))
                if owner == "latent.h_s.4":  # the new scales (first half, new end): the old scales' mean
                    rows = slice(old_M, new.shape[0] // 2)
                    if name == "weight":  # reading the old hidden units only
                        new[rows, : old.shape[1]] = old[:old_M].mean(dim=0)
                    else:
                        new[rows] = old[:old_M].mean()
            elif owner == "g_s.0" and name == "weight":  # new inputs: read through zero weights
                new[old_M:] = 0
            elif name == "weight" and not owner.startswith("gains"):
                out_axis, in_axis = (1, 0) if transposed else (0, 1)
                new_in = _new_mask(index[in_axis], new.shape[in_axis])
                old_out = index[out_axis]
                if in_axis == 1:
                    new[old_out.unsqueeze(1), new_in.nonzero().T] = 0
                else:
                    new[new_in.nonzero(), old_out.unsqueeze(0)] = 0
            if key.startswith("gains."):  # new channels: each level's mean (in the log domain)
                new.copy_(old.mean(dim=1, keepdim=True).expand_as(new))
            grid = torch.meshgrid(*index, indexing="ij") if len(index) > 1 else (index[0],)
            new[grid] = old
    wide.load_state_dict(state)
    return wide
