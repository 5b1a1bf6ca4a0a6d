"""Notebook 03: the solution's t-SNE affinities and leave-one-out k-NN accuracy against independent computations."""
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb03():
    return solution_functions("03_tsne")


def squared_distances(points):
    return torch.cdist(points, points) ** 2


def points(seed, n=40, dim=6, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    clusters = torch.randint(0, 3, (n,), generator=g)
    return scale * (4 * torch.randn(3, dim, generator=g, dtype=dtype)[clusters] + torch.randn(n, dim, generator=g, dtype=dtype))


def row_affinities(row_distances, beta):
    """p_{j|i} of one row (the point itself left out) for precision beta, in float64 numpy, shifted so nothing overflows."""
    logits = -beta * (row_distances - row_distances.min())
    weights = np.exp(logits)
    return weights / weights.sum()


def row_entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def reference_affinities(distances, perplexity):
    """Each row on its own: scipy's Brent root finder on ln(beta) for entropy(beta) = ln(perplexity)."""
    d = distances.double().numpy()
    n = len(d)
    P = np.zeros((n, n))
    target = math.log(perplexity)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        f = lambda log_beta: row_entropy(row_affinities(d[i, others], math.exp(log_beta))) - target  # noqa: E731
        low, high = -1.0, 1.0                   # the entropy decreases as beta grows: widen until the root is inside
        while f(low) < 0:
            low -= 5.0
        while f(high) > 0:
            high += 5.0
        log_beta = brentq(f, low, high, xtol=1e-14, rtol=1e-15, maxiter=500)
        P[i, others] = row_affinities(d[i, others], math.exp(log_beta))
    return torch.from_numpy(P)


def perplexities(P):
    P = P.double()
    return torch.exp(-(P * torch.log(P.clamp_min(1e-300))).sum(dim=1))


# ---------------------------------------------------------------- 03.1 conditional_affinities

@pytest.mark.parametrize("seed,perplexity,scale", [(0, 5.0, 1.0), (1, 15.0, 1.0), (2, 30.0, 40.0), (3, 2.5, 0.05)])
def test_affinities_are_distributions_with_the_wanted_perplexity(nb03, seed, perplexity, scale):
    D = squared_distances(points(seed, scale=scale))
    P = nb03["conditional_affinities"](D, perplexity)
    assert P.shape == D.shape and P.dtype == torch.float64
    assert torch.all(P.diagonal() == 0) and torch.all(P >= 0)
    torch.testing.assert_close(P.sum(dim=1), torch.ones(len(P), dtype=P.dtype), rtol=0, atol=1e-12)
    torch.testing.assert_close(perplexities(P), torch.full((len(P),), perplexity, dtype=torch.float64), rtol=1e-8, atol=0)


@pytest.mark.parametrize("seed,perplexity,scale", [(4, 8.0, 1.0), (5, 20.0, 30.0)])
def test_affinities_equal_a_root_finder_row_by_row(nb03, seed, perplexity, scale):
    D = squared_distances(points(seed, n=30, scale=scale))
    torch.testing.assert_close(nb03["conditional_affinities"](D, perplexity), reference_affinities(D, perplexity),
                               rtol=1e-6, atol=1e-9)


def test_affinities_are_gaussian_in_the_distances_with_one_bandwidth_per_row(nb03):
    # ln p_{j|i} = -beta_i * d_ij + const_i: within a row, ln P is an affine function of the distances, slope < 0.
    D = squared_distances(points(6, n=25))
    P = nb03["conditional_affinities"](D, 6.0)
    for i in range(len(D)):
        others = [j for j in range(len(D)) if j != i]
        x, y = D[i, others].numpy(), np.log(P[i, others].numpy())
        slope, intercept = np.polyfit(x, y, 1)
        assert slope < 0
        np.testing.assert_allclose(y, slope * x + intercept, atol=1e-6 * np.abs(y).max())


def test_affinities_ignore_the_scale_and_order_of_the_points(nb03):
    D = squared_distances(points(7, n=20))
    P = nb03["conditional_affinities"](D, 7.0)
    # Scaling every distance by c only rescales the bandwidths: the same P.
    torch.testing.assert_close(nb03["conditional_affinities"](25.0 * D, 7.0), P, rtol=1e-7, atol=1e-10)
    order = torch.randperm(len(D), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(nb03["conditional_affinities"](D[order][:, order], 7.0), P[order][:, order], rtol=1e-7, atol=1e-10)


def test_affinities_keep_float32(nb03):
    D = squared_distances(points(8, n=20, dtype=torch.float32))
    P = nb03["conditional_affinities"](D, 5.0)
    assert P.dtype == torch.float32
    torch.testing.assert_close(P.double(), reference_affinities(D, 5.0), rtol=1e-3, atol=1e-5)


def test_affinities_agree_with_scikit_learns_binary_search(nb03):
    try:
        from sklearn.manifold._utils import _binary_search_perplexity
    except ImportError as error:     # a private routine: it may move between scikit-learn versions
        pytest.skip(f"scikit-learn's private _binary_search_perplexity cannot be imported ({error})")
    D = squared_distances(points(9, n=60, dim=10))
    for perplexity in (5.0, 20.0):
        P = nb03["conditional_affinities"](D, perplexity)
        P_sklearn = _binary_search_perplexity(D.float().numpy(), perplexity, 0)
        # scikit-learn stops within 1e-5 of the wanted entropy and works in float32: agreement to 1e-4 per entry.
        np.testing.assert_allclose(P.numpy(), P_sklearn, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- 03.2 knn_accuracy

def loop_knn_accuracy(embedding, labels, k):
    """Leave-one-out k-NN vote, one point at a time with Python lists; a tie goes to the smallest label."""
    x, y = embedding.double().tolist(), labels.tolist()
    correct = 0
    for i, point in enumerate(x):
        others = sorted((math.dist(point, other), j) for j, other in enumerate(x) if j != i)
        votes = Counter(y[j] for _, j in others[:k])
        most = max(votes.values())
        correct += min(label for label, count in votes.items() if count == most) == y[i]
    return correct / len(x)


@pytest.mark.parametrize("seed,n,dim,n_classes,k", [(0, 50, 2, 3, 1), (1, 60, 5, 4, 2), (2, 45, 3, 2, 4), (3, 70, 8, 6, 7)])
def test_knn_accuracy_equals_a_plain_loop(nb03, seed, n, dim, n_classes, k):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=g)
    embedding = torch.randn(n_classes, dim, generator=g)[labels] * 1.5 + torch.randn(n, dim, generator=g)
    got = nb03["knn_accuracy"](embedding, labels, k)
    assert type(got) is float
    assert got == pytest.approx(loop_knn_accuracy(embedding, labels, k), abs=1e-12)


def test_knn_accuracy_extremes_and_ties(nb03):
    knn_accuracy = nb03["knn_accuracy"]
    far_apart = torch.tensor([[0.0], [0.1], [0.3], [9.0], [9.2], [9.3]])
    assert knn_accuracy(far_apart, torch.tensor([0, 0, 0, 1, 1, 1]), 2) == 1.0
    # Alternating labels on a line: every point's nearest other point carries the other label.
    line = torch.arange(8.0)[:, None] ** 1.01
    assert knn_accuracy(line, torch.arange(8) % 2, 1) == 0.0
    # Ties of 1 vote against 1 (k = 2) go to the smaller label. Points 0, 1, -1.5, 10 with labels 1, 0, 1, 0:
    # point 0 hears (0, 1) -> 0, wrong; point 1 hears (1, 1) -> 1, wrong; point -1.5 hears (1, 0) -> 0, wrong;
    # point 10 hears (0, 1) -> 0, right. Ties going to the larger label would score 2 of 4 instead.
    tie = torch.tensor([[0.0], [1.0], [-1.5], [10.0]])
    assert knn_accuracy(tie, torch.tensor([1, 0, 1, 0]), 2) == 0.25 == loop_knn_accuracy(tie, torch.tensor([1, 0, 1, 0]), 2)


# ---------------------------------------------------------------- 03.3 tsne_gradient, against autograd

def _kl(joint, Y):
    kernel = 1.0 / (1.0 + torch.cdist(Y, Y) ** 2)
    kernel = kernel * (1 - torch.eye(len(Y), dtype=Y.dtype))
    Q = kernel / kernel.sum()
    off = ~torch.eye(len(Y), dtype=torch.bool)
    return (joint[off] * torch.log(joint[off] / Q[off])).sum()


@pytest.mark.parametrize("seed, n, d, scale", [(0, 7, 2, 1.0), (1, 30, 2, 1e-2), (2, 20, 3, 30.0)])
def test_tsne_gradient_equals_autograd_of_the_kl_divergence(nb03, seed, n, d, scale):
    g = torch.Generator().manual_seed(seed)
    conditional = nb03["conditional_affinities"](squared_distances(torch.randn(n, 5, generator=g, dtype=torch.float64)), 3.0)
    joint = (conditional + conditional.T) / (2 * n)
    Y = (scale * torch.randn(n, d, generator=g, dtype=torch.float64)).requires_grad_(True)
    (reference,) = torch.autograd.grad(_kl(joint, Y), Y)
    torch.testing.assert_close(nb03["tsne_gradient"](joint, Y.detach()), reference, rtol=1e-9, atol=1e-14)


def test_tsne_gradient_check_passes_and_catches_a_per_row_normalization(nb03):
    from course_utils import check
    from course_utils.checks import load_expected, run_cases
    from course_utils.exercises import get_exercise

    assert check(nb03["tsne_gradient"], quiet=True).passed

    def per_row(P, Y):          # q normalized per row instead of over all pairs: a classic slip
        differences = Y[:, None, :] - Y[None, :, :]
        kernel = (1.0 / (1.0 + (differences ** 2).sum(dim=2))) * (1 - torch.eye(len(Y), dtype=Y.dtype))
        Q = kernel / kernel.sum(dim=1, keepdim=True)
        return 4 * (((P - Q) * kernel)[:, :, None] * differences).sum(dim=1)

    ex = get_exercise("03.3")
    result = run_cases(per_row, ex, ex.cases(0), load_expected(ex.notebook, ex.function))
    assert not result.passed and "hint: " in result.cases[0].message
