import numpy as np
import pytest
import torch

from omnicodec.entropy_models import EntropyBottleneck, GaussianConditional
from omnicodec.errors import StaleTablesError


def trained_bottleneck(channels=4, steps=300):
    torch.manual_seed(0)
    eb = EntropyBottleneck(channels)
    opt = torch.optim.Adam(eb.parameters(), lr=0.05)
    data = torch.randn(16, channels, 8, 8) * torch.tensor([0.5, 2.0, 5.0, 1.0])[:channels].view(1, -1, 1, 1)
    for _ in range(steps):
        _, lik = eb(data)
        loss = -torch.log2(lik).mean() + eb.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return eb.eval()


def test_bottleneck_round_trip_matches_eval_forward():
    eb = trained_bottleneck()
    eb.freeze()
    z = torch.randn(2, 4, 8, 8) * 3
    z_hat, lik = eb(z)
    stream, z_hat_enc = eb.compress(z)
    decoded = eb.decompress(stream)
    torch.testing.assert_close(decoded, z_hat, rtol=0, atol=0)
    torch.testing.assert_close(z_hat_enc, z_hat, rtol=0, atol=0)
    ideal = -torch.log2(lik).sum().item()
    assert 8 * len(stream.streams[""]) <= 1.01 * ideal + 64


def test_bottleneck_without_tables_or_with_stale_tables_refuses():
    eb = trained_bottleneck(steps=5)
    with pytest.raises(StaleTablesError, match="freeze"):
        eb.compress(torch.zeros(1, 4, 2, 2))
    eb.freeze()
    eb.compress(torch.zeros(1, 4, 2, 2))
    with torch.no_grad():
        eb.biases[0].add_(0.1)  # training went on after freezing
    with pytest.raises(StaleTablesError, match="older than its parameters"):
        eb.compress(torch.zeros(1, 4, 2, 2))


def test_aux_loss_moves_only_the_quantiles():
    eb = EntropyBottleneck(3)
    eb.aux_loss().backward()
    assert eb.quantiles.grad is not None and eb.quantiles.grad.abs().sum() > 0
    for name, p in eb.named_parameters():
        if name != "quantiles":
            assert p.grad is None, name


def test_tables_survive_a_state_dict_round_trip():
    eb = trained_bottleneck(steps=20)
    eb.freeze()
    fresh = EntropyBottleneck(4)
    fresh.load_state_dict(eb.state_dict())
    z = torch.randn(1, 4, 5, 5) * 2
    stream, _ = eb.compress(z)
    torch.testing.assert_close(fresh.decompress(stream), eb(z)[0], rtol=0, atol=0)


def test_gaussian_round_trip_and_rate():
    torch.manual_seed(1)
    gc = GaussianConditional().eval()
    gc.freeze()
    scales = torch.exp(torch.empty(1, 8, 16, 16).uniform_(-2, 3))
    means = torch.randn(1, 8, 16, 16) * 3
    y = means + scales * torch.randn_like(scales)
    y_hat, lik = gc(y, scales, means)
    stream, y_hat_enc = gc.compress(y, scales, means)
    decoded = gc.decompress(stream, scales, means)
    torch.testing.assert_close(decoded, y_hat, rtol=0, atol=0)
    torch.testing.assert_close(y_hat_enc, y_hat, rtol=0, atol=0)
    ideal = -torch.log2(lik).sum().item()
    assert 8 * len(stream.streams[""]) <= 1.01 * ideal + 64


def test_gaussian_table_index_picks_the_nearest_scale_in_log_domain():
    gc = GaussianConditional()
    table = gc.scale_table
    ratio = float(table[1] / table[0])
    probes = torch.stack(
        [table[0] / 2, table[3], table[3] * ratio**0.4, table[3] * ratio**0.6, table[-1] * 10]
    )
    np.testing.assert_array_equal(gc.table_index(probes), [0, 3, 3, 4, len(table) - 1])


def test_gaussian_training_passes_ste_rounding_to_the_decoder():
    gc = GaussianConditional().train()
    y = torch.randn(1, 2, 4, 4, requires_grad=True)
    means = torch.full_like(y, 0.3)
    y_hat, _ = gc(y, torch.ones_like(y), means)
    torch.testing.assert_close(y_hat - means, torch.round(y - means).detach())
    y_hat.sum().backward()
    torch.testing.assert_close(y.grad, torch.ones_like(y))


def test_gaussian_scale_bound_passes_only_gradients_that_raise_a_scale():
    gaussian = GaussianConditional()
    y = torch.zeros(4)
    for sign, expect_grad in ((1.0, False), (-1.0, True)):  # a loss that wants smaller / larger scales
        scales = torch.full((4,), gaussian.scale_bound / 4, requires_grad=True)
        (sign * -torch.log(gaussian.likelihood(y, scales, None)).sum()).backward()
        assert bool((scales.grad != 0).all()) == expect_grad
        assert bool((scales.grad <= 0).all())
