"""Three-phase distillation of a student image codec from a teacher (FEDS, Fu et al. 2025).

1. **Feature alignment**: the outputs of the student's first ``g_a`` stages are projected
   (1×1 convolutions) onto the teacher's channel counts and pulled towards the teacher's
   features (MSE, summed over stages).
2. **Channel-level distillation**: the student's latent, projected onto the teacher's
   latent channels, is pulled towards the teacher's latent with a per-channel weight equal to
   the teacher's share of information in that channel (its bits on the batch, normalised to
   mean 1), so the most informative channels count most. The paper leaves the weighting
   formula open; this is ours.
3. **Fine-tuning** of the student alone on the rate-distortion loss ``R + λ·255²·MSE``.

The teacher is frozen throughout. Each phase is one run of :class:`LitDistill` (select it with
``phase``); a phase starts from the previous phase's checkpoint (``init``) and can itself be
resumed exactly like any Lightning run. Only the student (and the projections) are trained, with
the step every training module takes (:class:`~.step.RDStep`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs import create_codec
from ..codecs.image.padding import pad_to_multiple
from ..constants import IMAGE_STRIDE as STRIDE
from .checkpoint import codec_state, load_checkpoint
from .losses import image_rd_loss
from .step import RDStep

PHASES = (1, 2, 3)


def load_teacher(codec_id: str, config: dict, weights: str | None) -> nn.Module:
    """Teacher codec from zoo weights (``.json``), a training checkpoint (``.ckpt``), or fresh."""
    if weights is None:
        return create_codec(codec_id, config)
    if str(weights).endswith(".ckpt"):
        state = load_checkpoint(weights, "teacher checkpoint")  # weights_only: no code from the file
        codec = create_codec(codec_id, config)
        codec.load_state_dict(codec_state(state))
        return codec
    from ..zoo import load_file_entry

    return load_file_entry(weights).codec


class LitDistill(RDStep):
    def __init__(
        self,
        teacher_id: str = "image/feds-teacher",
        teacher_config: dict | None = None,
        student_id: str = "image/feds-student",
        student_config: dict | None = None,
        phase: int = 1,
        teacher_weights: str | None = None,
        aligned_stages: int = 3,
        lmbda: float = 0.013,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        clip_norm: float = 1.0,
        warmup_steps: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__()
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase}")
        self.save_hyperparameters()
        self.teacher = load_teacher(teacher_id, teacher_config or {}, teacher_weights).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student = create_codec(student_id, student_config or {})
        with torch.no_grad():  # channel counts of the tapped features, from a dry run
            probe = torch.zeros(1, 3, STRIDE, STRIDE)
            t_feats = self.teacher.analysis_features(probe)
            s_feats = self.student.analysis_features(probe)
        if len(t_feats) < aligned_stages + 1 or len(s_feats) < aligned_stages + 1:
            raise ValueError("teacher and student need at least aligned_stages + 1 analysis stages")
        self.feature_proj = nn.ModuleList(
            nn.Conv2d(s.shape[1], t.shape[1], 1) for s, t in zip(s_feats[:aligned_stages], t_feats[:aligned_stages])
        )
        self.latent_proj = nn.Conv2d(s_feats[-1].shape[1], t_feats[-1].shape[1], 1)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: never in training mode (no noise, no batch statistics)
        return self

    # --- the three losses -------------------------------------------------------------------

    def feature_loss(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_to_multiple(x, STRIDE)
        with torch.no_grad():
            teacher = self.teacher.analysis_features(x)
        student = self.student.analysis_features(x)
        return sum(F.mse_loss(p(s), t) for p, s, t in zip(self.feature_proj, student, teacher))

    def channel_weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher latent and per-channel weights (its bits per channel, mean 1)."""
        with torch.no_grad():
            out = self.teacher(x)
            bits = (-torch.log2(out.likelihoods["y"])).sum(dim=(0, 2, 3))
            weights = bits / bits.mean().clamp_min(1e-9)
        return out.extras["y"], weights

    def channel_loss(self, x: torch.Tensor) -> torch.Tensor:
        y_teacher, weights = self.channel_weights(x)
        y_student = self.student.analysis_features(pad_to_multiple(x, STRIDE))[-1]
        per_channel = ((self.latent_proj(y_student) - y_teacher) ** 2).mean(dim=(0, 2, 3))
        return (weights * per_channel).mean()

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        phase = self.hparams.phase
        if phase == 1:
            return {"loss": self.feature_loss(x)}
        if phase == 2:
            return {"loss": self.channel_loss(x)}
        return image_rd_loss(self.student(x), x, self.hparams.lmbda)

    def aux_loss(self) -> torch.Tensor:
        """The quantiles matter once the student codes (phase 3)."""
        return self.student.aux_loss() if self.hparams.phase == 3 else torch.zeros((), device=self.device)

    def trained_parameters(self):
        network = self.student.main_parameters() + list(self.feature_proj.parameters())
        return network + list(self.latent_proj.parameters()), self.student.aux_parameters()
