"""course_utils.attribution against independent computations: autograd, explicit sums, plain loops."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import capture_activations, load_model
from course_utils.attribution import (cascading_randomization, gradient_x_input, lrp, lrp_relevances,
                                      parameter_layers, pointing_game, positive_share_inside, rank_correlation,
                                      resize_attribution)


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet-mnist", device="cpu")


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).eval()


def test_gradient_x_input_matches_autograd(lenet):
    x = torch.rand(3, 1, 28, 28)
    target = torch.tensor([1, 7, 3])
    got = gradient_x_input(lenet, x, target)
    xr = x.clone().requires_grad_(True)
    grads = [torch.autograd.grad(lenet(xr)[i, target[i]], xr)[0][i] for i in range(3)]
    expected = torch.stack([(g * x[i]).sum(0) for i, g in enumerate(grads)])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert x.grad is None and not x.requires_grad


def test_lrp_epsilon_zero_equals_gradient_x_input(lenet):
    # A known identity for ReLU networks (Montavon et al. 2019): LRP-0 is gradient x input.
    x = torch.rand(2, 1, 28, 28)
    target = torch.tensor([4, 0])
    torch.testing.assert_close(lrp(lenet, x, target, epsilon=1e-12), gradient_x_input(lenet, x, target),
                               rtol=1e-4, atol=1e-5)


def _explicit_lrp(net, x, target, rule, eps):
    # The rules written out as sums with numpy, layer by layer, for a Linear-ReLU-Linear network.
    w1, b1 = net[0].weight.detach().numpy().T, net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy().T, net[2].bias.detach().numpy()
    a0 = x.numpy()
    a1 = np.maximum(a0 @ w1 + b1, 0)
    out = a1 @ w2 + b2
    r2 = np.zeros_like(out)
    r2[np.arange(len(x)), target] = out[np.arange(len(x)), target]

    def step(a, w, b, r):
        res = np.zeros_like(a)
        for n in range(a.shape[0]):
            for k in range(w.shape[1]):
                if rule == "epsilon":
                    contrib = a[n] * w[:, k]
                    z = contrib.sum() + b[k]
                    z = z + eps * (1 if z >= 0 else -1)
                elif rule == "alpha1beta0":
                    contrib = a[n] * np.maximum(w[:, k], 0)
                    z = contrib.sum() + 1e-9
                else:  # alpha2beta1: positive and negative contributions, each normalized on its own
                    positive, negative = a[n] * np.maximum(w[:, k], 0), a[n] * np.minimum(w[:, k], 0)
                    res[n] += (2 * positive / (positive.sum() + 1e-9) - negative / (negative.sum() - 1e-9)) * r[n, k]
                    continue
                res[n] += contrib / z * r[n, k]
        return res

    r1 = step(a1, w2, b2, r2)
    return step(a0, w1, b1, r1)


@pytest.mark.parametrize("rule", ["epsilon", "alpha1beta0", "alpha2beta1"])
def test_lrp_matches_the_rule_written_as_sums(rule):
    net = _tiny_net()
    x = torch.rand(4, 6)[:, :, None, None]  # LRP takes images; a (N, 6, 1, 1) image is a vector
    target = torch.tensor([0, 1, 2, 1])
    flat = nn.Sequential(nn.Flatten(), *net).eval()
    got = lrp_relevances(flat, x, target, rule=rule, epsilon=0.1)[-1][1].reshape(4, 6)
    expected = _explicit_lrp(net, x.reshape(4, 6), target.numpy(), rule, 0.1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_alpha1beta0_conserves_relevance_layer_by_layer():
    model = load_model("shapes-cnn", device="cpu")
    x = torch.rand(2, 3, 64, 64)
    target = model(x).argmax(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sums = [r.flatten(1).sum(1) for _, r in lrp_relevances(model, x, target, rule="alpha1beta0")]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "LRP must not change the weights"
    for s in sums:
        torch.testing.assert_close(s, sums[0], rtol=1e-3, atol=1e-4)
    assert (lrp(model, x, target, rule="alpha1beta0") >= -1e-6).all()


def test_alpha2beta1_conserves_relevance_where_every_unit_has_both_signs():
    # A dense network on inputs > 0 whose weights have both signs in every column: every unit gets positive and
    # negative contributions, so 2 - 1 = 1 of its relevance goes down, at every layer.
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    with torch.no_grad():
        net[1].bias.fill_(0.5)                                       # most hidden units on
    x = 0.5 + torch.rand(5, 12, 1, 1)
    target = torch.tensor([0, 1, 2, 3, 0])
    out = lrp_relevances(net, x, target, rule="alpha2beta1")
    hidden = torch.relu(net[1](x.flatten(1)))
    assert (hidden > 0).float().mean() > 0.3, "the test needs active hidden units"
    sums = [r.flatten(1).sum(1) for _, r in out]
    for s in sums:
        torch.testing.assert_close(s, sums[0], rtol=1e-4, atol=1e-5)
    assert (out[-1][1] < 0).any(), "alpha2beta1 passes negative evidence as negative relevance"


def test_proportional_max_pool_splits_relevance_by_activation():
    # One 2x2 max-pool on a 4x4 map: each window's relevance is shared by its four inputs in proportion to them.
    pool_net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.rand(2, 1, 4, 4) + 0.1
    target = torch.tensor([0, 1])
    relevances = dict(lrp_relevances(pool_net, x, target, rule="epsilon", epsilon=1e-9, max_pool="proportional"))
    pooled_relevance = relevances["1"].reshape(2, 1, 2, 2)           # the relevance at the pool's output
    expected = torch.zeros_like(x)
    for n in range(2):
        for r in range(2):
            for c in range(2):
                window = x[n, 0, 2 * r:2 * r + 2, 2 * c:2 * c + 2]
                expected[n, 0, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = window / window.sum() * pooled_relevance[n, 0, r, c]
    torch.testing.assert_close(relevances["0"], expected, rtol=1e-5, atol=1e-7)
    # The winner-take-all rule puts each window's relevance on its maximum alone.
    winner = dict(lrp_relevances(pool_net, x, target, rule="epsilon", epsilon=1e-9))["0"]
    assert ((winner != 0).reshape(2, 2, 2, 2, 2).sum(dim=(2, 4)) <= 1).all()
    torch.testing.assert_close(winner.sum(dim=(1, 2, 3)), relevances["0"].sum(dim=(1, 2, 3)), rtol=1e-5, atol=1e-6)


def test_lrp_errors(lenet):
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(ValueError, match="Unknown LRP rule"):
        lrp(lenet, x, torch.tensor([0]), rule="gamma")
    with pytest.raises(ValueError, match="Unknown max-pool rule"):
        lrp(lenet, x, torch.tensor([0]), max_pool="average")
    with pytest.raises(ValueError, match="one integer class index per image"):
        lrp(lenet, x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="shape \\(N, C, H, W\\)"):
        lrp(lenet, x[0], torch.tensor([0]))

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x.flatten(1)) * 2

    with pytest.raises(ValueError, match="one after the other"):
        lrp(Skip().eval(), torch.rand(1, 4, 1, 1), torch.tensor([0]))
    with pytest.raises(ValueError, match="eval mode"):
        lrp(_tiny_net().train(), torch.rand(1, 6, 1, 1), torch.tensor([0]))


def test_cascading_randomization_changes_the_top_layers_only(lenet):
    before = {k: v.clone() for k, v in lenet.state_dict().items()}
    names = parameter_layers(lenet)
    assert names == ["conv1", "conv2", "fc1", "fc2"]
    copies = list(cascading_randomization(lenet, seed=3))
    assert [n for n, _ in copies] == names[::-1]
    for k, (_, model) in enumerate(copies, 1):
        for layer in names:
            same = torch.equal(model.get_submodule(layer).weight, lenet.get_submodule(layer).weight)
            assert same == (layer not in names[::-1][:k]), (k, layer)
    assert all(torch.equal(before[k], v) for k, v in lenet.state_dict().items()), "the model itself is untouched"
    again = list(cascading_randomization(lenet, seed=3))
    assert torch.equal(again[-1][1].conv1.weight, copies[-1][1].conv1.weight), "seeded: the same copies twice"


def test_pointing_game_and_share_inside_against_loops():
    g = torch.Generator().manual_seed(0)
    attribution = torch.randn(6, 16, 16, generator=g)
    masks = torch.rand(6, 16, 16, generator=g) > 0.6
    hits = pointing_game(attribution, masks)
    share = positive_share_inside(attribution, masks)
    for n in range(6):
        r, c = divmod(int(np.argmax(attribution[n].numpy())), 16)
        assert bool(hits[n]) == bool(masks[n, r, c])
        pos = np.maximum(attribution[n].numpy(), 0)
        assert abs(float(share[n]) - pos[masks[n].numpy()].sum() / pos.sum()) < 1e-5
    assert hits.dtype == torch.bool and share.shape == (6,)
    assert float(positive_share_inside(-attribution.abs(), masks).max()) == 0.0


def test_scores_upsample_coarse_maps():
    coarse = torch.zeros(1, 4, 4)
    coarse[0, 0, 0] = 1.0  # the top-left cell of a 4x4 map
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, :4, :4] = True
    assert bool(pointing_game(coarse, mask)[0])
    assert resize_attribution(coarse, (16, 16)).shape == (1, 16, 16)


def test_score_errors():
    with pytest.raises(ValueError, match="bool tensor"):
        pointing_game(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="one map per mask"):
        positive_share_inside(torch.zeros(3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))


def test_rank_correlation_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 10, 10, generator=g), torch.randn(3, 10, 10, generator=g)
    b[1] = a[1] * 2 + 0.1 * b[1]
    got = rank_correlation(a, b)
    for n in range(3):
        assert abs(float(got[n]) - stats.spearmanr(a[n].flatten(), b[n].flatten())[0]) < 1e-5
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(a, b[:2])


def test_capture_activations_keeps_gradients_for_grad_cam():
    model = load_model("shapes-cnn", device="cpu")
    x = torch.rand(2, 3, 64, 64)
    with capture_activations(model, "features.relu3_2", detach=False) as acts:
        logits = model(x)
    (grad,) = torch.autograd.grad(logits[:, 1].sum(), acts["features.relu3_2"])
    # independent: the same gradient by splitting the network by hand at that layer
    a = model.features[:14](x).detach().requires_grad_(True)
    (expected,) = torch.autograd.grad(model.classifier(model.features[14:](a))[:, 1].sum(), a)
    torch.testing.assert_close(grad, expected)
    assert not model.features.relu3_2._forward_hooks
