"""GDN: the normalisation it defines, non-negative parameters, and CompressAI's state layout."""

import pytest
import torch

from omnicodec.layers import GDN


def test_gdn_divides_by_the_root_of_beta_plus_weighted_squares_and_igdn_multiplies():
    torch.manual_seed(0)
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    gamma = torch.rand(4, 4) * 0.3
    with torch.no_grad():
        for m in (gdn, igdn):
            m.beta.copy_(m.beta_reparam.init(torch.tensor([1.0, 0.5, 2.0, 0.1])))
            m.gamma.copy_(m.gamma_reparam.init(gamma))
    x = torch.randn(2, 4, 3, 5)
    beta, gamma = gdn.beta_reparam(gdn.beta), gdn.gamma_reparam(gdn.gamma)
    assert torch.allclose(beta, torch.tensor([1.0, 0.5, 2.0, 0.1]), atol=1e-6)
    norm = torch.sqrt(beta.view(1, 4, 1, 1) + torch.einsum("ij,bjhw->bihw", gamma, x**2))
    assert torch.allclose(gdn(x), x / norm, atol=1e-6)
    assert torch.allclose(igdn(x), x * norm, atol=1e-6)


def test_reparametrised_parameters_stay_non_negative_and_can_recover():
    gdn = GDN(3)
    with torch.no_grad():
        gdn.gamma.fill_(-5.0)  # far below the bound
    assert bool((gdn.gamma_reparam(gdn.gamma) >= 0).all())
    x = torch.randn(1, 3, 4, 4)
    gdn(x).abs().sum().backward()  # a loss that wants larger gamma gets a gradient at the bound
    assert bool((gdn.gamma.grad < 0).all())
    gdn.gamma.grad = None
    (-gdn(x).abs().sum()).backward()  # one that wants it smaller (below zero) gets none
    assert bool((gdn.gamma.grad == 0).all())
    assert float(gdn.beta_reparam(torch.tensor([-1.0]))) >= 1e-6 - 1e-9  # beta_min


@pytest.mark.parametrize("inverse", [False, True])
def test_state_and_results_match_compressai(inverse):
    compressai = pytest.importorskip("compressai.layers")
    torch.manual_seed(1)
    theirs, ours = compressai.GDN(6, inverse=inverse), GDN(6, inverse=inverse)
    assert set(theirs.state_dict()) == set(ours.state_dict())
    assert all(torch.equal(theirs.state_dict()[k], ours.state_dict()[k]) for k in ours.state_dict())  # same init
    with torch.no_grad():
        theirs.beta.add_(torch.randn(6) * 0.3)
        theirs.gamma.add_(torch.rand(6, 6) * 0.1 - 0.02)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 6, 5, 5, requires_grad=True)
    a, b = theirs(x), ours(x)
    assert torch.equal(a, b)
    grads_a = torch.autograd.grad(a.pow(3).sum(), [x, theirs.beta, theirs.gamma])
    grads_b = torch.autograd.grad(b.pow(3).sum(), [x, ours.beta, ours.gamma])
    assert all(torch.equal(p, q) for p, q in zip(grads_a, grads_b))
