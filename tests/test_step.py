"""train/step.RDStep: the one step both training modules take moves the network, the quantiles
and the learning-rate schedule, once per batch."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import smooth_images
from omnicodec.train.distill import LitDistill
from omnicodec.train.lit import LitCodec

STUDENT = {"N": 8, "M": 32, "hyper_channels": 8, "context_hidden": 8}
TEACHER = {"N": 16, "M": 64, "hyper_channels": 16, "depth": 1, "heads": 2, "window": 4, "context_hidden": 16}


def variable_rate():
    return LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=[0.002, 0.01, 0.05, 0.2],
                    lr=1e-3, aux_lr=1e-2)


def distill_phase3():
    return LitDistill("image/feds-teacher", TEACHER, "image/feds-student", STUDENT, phase=3, lr=1e-3, aux_lr=1e-2)


@pytest.mark.parametrize("make", [variable_rate, distill_phase3])
def test_one_step_moves_network_quantiles_and_schedule(make):
    torch.manual_seed(0)
    module = make()
    network, quantiles = (list(ps) for ps in module.trained_parameters())
    before = [p.detach().clone() for p in network + quantiles]
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(module, DataLoader(smooth_images(2, 64, seed=3), batch_size=2))
    assert trainer.global_step == 1  # the quantiles' step is not counted as a second one
    moved = [not torch.equal(b, p.detach()) for b, p in zip(before, network + quantiles)]
    assert any(moved[: len(network)]) and any(moved[len(network) :])
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 1
    assert torch.isfinite(trainer.callback_metrics["train/loss"]) and "train/aux" in trainer.callback_metrics


def test_a_decoder_only_run_trains_with_every_quantile_frozen():
    """freeze that covers the entropy model leaves no quantile: the step runs with one optimizer and
    moves only the synthesis transform."""
    torch.manual_seed(0)
    module = LitCodec("image/hyperprior", {"N": 8, "M": 8, "levels": 4}, lmbda_levels=[0.002, 0.01, 0.05, 0.2],
                      lr=1e-3, freeze=["g_a", "latent", "gains"])
    network, quantiles = (list(ps) for ps in module.trained_parameters())
    assert quantiles == [] and network == list(module.codec.g_s.parameters())
    before = {n: p.detach().clone() for n, p in module.codec.named_parameters()}
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(module, DataLoader(smooth_images(2, 64, seed=3), batch_size=2))
    assert trainer.global_step == 1
    moved = {n for n, p in module.codec.named_parameters() if not torch.equal(before[n], p.detach())}
    assert moved and all(n.startswith("g_s.") for n in moved)


def test_freezing_every_network_parameter_is_refused():
    module = LitCodec("image/hyperprior", {"N": 8, "M": 8}, lmbda=0.01, freeze=["g_a", "g_s", "latent"])
    with pytest.raises(ValueError, match="no network parameter is left to train"):
        module.configure_optimizers()
