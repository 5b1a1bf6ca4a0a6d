"""Notebook 02: the solution's top activations, nearest neighbours and receptive fields against loops and a measurement."""
import pytest
import torch
from torch import nn

from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb02():
    return solution_functions("02_activations")


@pytest.mark.parametrize("seed", [0, 1])
def test_top_activations_equals_a_loop(nb02, seed):
    g = torch.Generator().manual_seed(seed)
    activations = torch.randn(12, 4, 5, 6, generator=g, dtype=torch.float64)
    indices, rows, cols = nb02["top_activations"](activations, 2, 5)
    best = []
    for n in range(len(activations)):
        value, where = max((activations[n, 2, r, c].item(), (r, c)) for r in range(5) for c in range(6))
        best.append((value, n, where))
    best.sort(reverse=True)
    assert indices.dtype == rows.dtype == cols.dtype == torch.int64
    assert indices.tolist() == [n for _, n, _ in best[:5]]
    assert list(zip(rows.tolist(), cols.tolist())) == [where for _, _, where in best[:5]]


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_neighbours_equals_sorting_every_distance(nb02, seed):
    g = torch.Generator().manual_seed(seed)
    query, database = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(30, 5, generator=g, dtype=torch.float64)
    found = nb02["nearest_neighbours"](query, database, 4)
    assert found.dtype == torch.int64 and found.shape == (6, 4)
    for q in range(len(query)):
        distances = [((query[q] - d) ** 2).sum().item() for d in database]
        assert found[q].tolist() == sorted(range(len(database)), key=distances.__getitem__)[:4]


@pytest.mark.parametrize("stack", [
    [(3, 1, 1, 1)] * 3,
    [(5, 1, 2, 1), (2, 2, 0, 1), (5, 1, 0, 1), (2, 2, 0, 1)],          # LeNet's conv1, pool1, conv2, pool2
    [(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)],                        # dilations 1, 2, 4
    [(3, 2, 1, 1), (3, 1, 0, 2), (2, 2, 0, 1)],
])
def test_receptive_field_matches_the_support_of_an_input_gradient(nb02, stack):
    kernels, strides, paddings, dilations = (list(v) for v in zip(*stack))
    size, jump, start = nb02["receptive_field"](kernels, strides, paddings, dilations)
    assert type(size) is int and type(jump) is int and type(start) is float
    # Measure: all-ones weights (nothing cancels), pick a unit whose receptive field lies inside the input.
    layers = [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False) for k, s, p, d in stack]
    for layer in layers:
        nn.init.ones_(layer.weight)
    x = torch.zeros(1, 1, 1, 120, dtype=torch.float64, requires_grad=True)
    x_2d = x.expand(1, 1, 120, 120)
    out = nn.Sequential(*layers).double()(x_2d)
    unit = next(u for u in range(out.shape[-1]) if start + u * jump - (size - 1) / 2 >= 0)
    out[0, 0, unit, unit].backward()
    support = torch.nonzero(x.grad[0, 0, 0]).flatten()
    assert int(support.max() - support.min() + 1) == size
    assert (support.max() + support.min()).item() / 2 == pytest.approx(start + unit * jump)
