"""Notebook 10: the solution's Gram matrix and style loss against independent computations (einsum, a plain
loop, autograd), and the notebook's VGG-19 section run with an untrained torchvision VGG-19.
(The helpers of course_utils.textures are tested in test_textures.py.)
"""
import numpy as np
import pytest
import torch
import torchvision

from course_utils import (check, layer_features, load_model, load_texture, optimize_image, out_of_range, shapes_extractor,
                          vgg19_extractor)
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb10():
    return solution_functions("10_style_transfer")


@pytest.fixture(scope="module")
def cnn():
    return shapes_extractor(load_model("shapes-cnn", device="cpu"))


def loop_style_loss(features, target_grams, weights):
    """The style loss with explicit loops over images, layers and Gram entries (float64)."""
    n = next(iter(features.values())).shape[0]
    losses = []
    for i in range(n):
        total = 0.0
        for layer, weight in weights.items():
            f = features[layer][i].double().flatten(1)          # (C, M)
            c, m = f.shape
            squared = 0.0
            for a in range(c):
                for b in range(c):
                    g = float((f[a] * f[b]).sum()) / m
                    squared += (g - float(target_grams[layer][a, b])) ** 2
            total += weight * squared / c ** 2
        losses.append(total)
    return torch.tensor(losses, dtype=torch.float64)


# ------------------------------------------------------------------------------------------------ exercises
def test_self_checks_pass(nb10):
    assert check(nb10["gram_matrix"], quiet=True).passed
    assert check(nb10["style_loss"], quiet=True).passed
    assert check(nb10["content_loss"], quiet=True).passed
    assert check(nb10["lbfgs_evaluations"], quiet=True).passed


def test_content_loss_against_float64_and_its_properties(nb10):
    g = torch.Generator().manual_seed(5)
    features, target = torch.randn(3, 4, 5, 6, generator=g), torch.randn(1, 4, 5, 6, generator=g)
    got = nb10["content_loss"](features, target)
    f64, t64 = features.double().numpy(), target.double().numpy()
    expected = [((f64[i] - t64[0]) ** 2).mean() / (t64 ** 2).mean() for i in range(3)]
    assert got.shape == (3,)
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-5)
    edge = nb10["content_loss"](torch.cat([target, torch.zeros_like(target)]), target)
    torch.testing.assert_close(edge, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(nb10["content_loss"](7 * features, 7 * target), got, rtol=1e-5, atol=1e-7)


def test_lbfgs_evaluations_counts_every_call_and_takes_torchs_first_step(nb10):
    g = torch.Generator().manual_seed(6)
    target, start = torch.rand(1, 3, 5, 5, generator=g), torch.rand(1, 3, 5, 5, generator=g)
    calls = []

    def loss_fn(x):
        calls.append(1)
        return ((x - target) ** 2).sum() + 0.5 * ((x - target) ** 4).sum()

    image, evaluations = nb10["lbfgs_evaluations"](loss_fn, start, 3, max_iter=6)
    assert isinstance(evaluations, int) and evaluations == len(calls) <= 3 * 6   # at most max_iter per step
    assert image.shape == start.shape and not image.requires_grad
    assert float(loss_fn(image)) < 0.01 * float(loss_fn(start))
    # One iteration of one step: torch's first L-BFGS step is the gradient times min(1, 1 / ||g||_1) (lr 1).
    x = start.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(x), x)
    image, evaluations = nb10["lbfgs_evaluations"](loss_fn, start, 1, max_iter=1)
    torch.testing.assert_close(image, start - min(1.0, 1.0 / float(grad.abs().sum())) * grad)
    assert evaluations == 1


@pytest.mark.parametrize("shape", [(2, 4, 5, 6), (1, 1, 3, 7), (3, 16, 8, 8)])
def test_gram_matrix_matches_einsum(nb10, shape):
    features = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    n, c, h, w = shape
    expected = torch.einsum("nchw,ndhw->ncd", features.double(), features.double()) / (h * w)
    got = nb10["gram_matrix"](features)
    assert got.shape == (n, c, c)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got, got.transpose(1, 2))       # symmetric
    assert torch.linalg.eigvalsh(got.double()).min() > -1e-6    # positive semi-definite


def test_gram_matrix_ignores_positions_and_is_differentiable(nb10):
    g = torch.Generator().manual_seed(1)
    features = torch.randn(1, 5, 6, 7, generator=g)
    shuffled = features.flatten(2)[:, :, torch.randperm(42, generator=g)].reshape(1, 5, 6, 7)
    torch.testing.assert_close(nb10["gram_matrix"](shuffled), nb10["gram_matrix"](features), rtol=1e-5, atol=1e-6)
    x = features.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nb10["gram_matrix"](x)[0, 1, 2], x)
    # d G[1, 2] / d F[1, k] = F[2, k] / M and d G[1, 2] / d F[2, k] = F[1, k] / M
    torch.testing.assert_close(grad[0, 1], features[0, 2] / 42)
    torch.testing.assert_close(grad[0, 2], features[0, 1] / 42)


def test_style_loss_matches_a_loop(nb10):
    g = torch.Generator().manual_seed(2)
    features = {"a": torch.randn(2, 3, 4, 5, generator=g), "b": torch.randn(2, 4, 3, 3, generator=g),
                "unused": torch.randn(2, 2, 2, 2, generator=g)}
    targets = {"a": torch.rand(3, 3, generator=g), "b": torch.rand(4, 4, generator=g), "unused": torch.rand(2, 2, generator=g)}
    weights = {"a": 1.5, "b": 0.25}
    got = nb10["style_loss"](features, targets, weights)
    assert got.shape == (2,)
    torch.testing.assert_close(got.double(), loop_style_loss(features, targets, weights), rtol=1e-5, atol=1e-7)


def test_style_loss_is_zero_at_the_target_and_its_gradient_is_autograd_of_the_loop(nb10, cnn):
    image = load_texture("gravel", 24)
    layers = ["relu1_1", "relu2_1"]
    with torch.no_grad():
        targets = {k: nb10["gram_matrix"](f)[0] for k, f in layer_features(cnn, image, layers).items()}
    weights = {"relu1_1": 1.0, "relu2_1": 2.0}
    zero = nb10["style_loss"](layer_features(cnn, image, layers), targets, weights)
    assert float(zero.abs().max()) < 1e-10

    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(3), requires_grad=True)
    (grad,) = torch.autograd.grad(nb10["style_loss"](layer_features(cnn, x, layers), targets, weights).sum(), x)
    x64 = x.detach().double().requires_grad_(True)
    cnn64 = shapes_extractor(load_model("shapes-cnn", device="cpu")).double()
    feats = layer_features(cnn64, x64, layers)
    reference = sum(w * ((feats[k].flatten(2) @ feats[k].flatten(2).transpose(1, 2) / feats[k][0, 0].numel()
                          - targets[k].double()) ** 2).mean() for k, w in weights.items())
    (grad64,) = torch.autograd.grad(reference, x64)
    torch.testing.assert_close(grad.double(), grad64, rtol=1e-3, atol=1e-3 * float(grad64.abs().max()))


# ------------------------------------------------------------------------- the notebook's VGG-19 section
@pytest.fixture(scope="module")
def untrained_vgg19():
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).eval()


def test_vgg19_section_synthesizes_with_an_untrained_vgg19(nb10, untrained_vgg19):
    """The notebook's VGG-19 section, run with an untrained VGG-19: the style loss falls."""
    gram_matrix, style_loss = nb10["gram_matrix"], nb10["style_loss"]
    extractor = vgg19_extractor(untrained_vgg19, last="conv5_1")
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    style = load_texture("swirl", 32)
    with torch.no_grad():
        grams = {k: gram_matrix(f)[0] for k, f in layer_features(extractor, style, layers).items()}
    weights = {k: 1.0 / (len(grams) * float(g.pow(2).mean())) for k, g in grams.items()}
    start = 0.4 + 0.2 * torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = optimize_image(lambda x: (style_loss(layer_features(extractor, x, layers), grams, weights)
                                       + 100 * out_of_range(x)).sum(), start, method="lbfgs", max_evals=15)
    assert result.evaluations >= 15 and result.best_losses[-1] < 0.5 * result.losses[0]
