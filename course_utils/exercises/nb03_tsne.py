"""Exercises of notebook 03_tsne: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(3000 + seed)


def _squared_distances(points: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points, points) ** 2


# Seed 0 gives the self-check's cases, written out by hand; any other seed gives cases of the same
# kinds with fresh numbers (the grader's hidden cases), so that no hidden case repeats a visible one.

def _few_points_case(seed: int, g: torch.Generator) -> Case:
    if seed == 0:
        return Case("4 points on a line (0, 1, 2, 4), perplexity 2",
                    {"distances": _squared_distances(torch.tensor([[0.0], [1.0], [2.0], [4.0]], dtype=torch.float64)),
                     "perplexity": 2.0})
    n = int(torch.randint(4, 7, (), generator=g))
    line = torch.sort(5 * torch.rand(n, generator=g, dtype=torch.float64)).values[:, None]
    perplexity = float(1.5 + torch.rand((), generator=g, dtype=torch.float64))
    return Case(f"{n} points on a line, perplexity {perplexity:.2f}",
                {"distances": _squared_distances(line), "perplexity": perplexity})


def _conditional_affinities_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    clusters = torch.cat([torch.randn(20, 5, generator=g, dtype=torch.float64) + 6 * c for c in range(3)])
    return [
        _few_points_case(seed, g),
        Case("30 Gaussian points in 10-D, perplexity 5",
             {"distances": _squared_distances(torch.randn(30, 10, generator=g, dtype=torch.float64)), "perplexity": 5.0}),
        Case("3 clusters of 20 points in 5-D, perplexity 15",
             {"distances": _squared_distances(clusters), "perplexity": 15.0}),
        Case("100 points with large distances (scaled by 50), perplexity 30",
             {"distances": _squared_distances(50 * torch.rand(100, 3, generator=g, dtype=torch.float64)), "perplexity": 30.0}),
    ]


def _line_cases(seed: int, g: torch.Generator) -> list[Case]:
    """Two clean clusters on a line (k = 1), and a tie of 1 vote against 1 (k = 2)."""
    if seed == 0:
        return [
            Case("two clean clusters on a line, k = 1",
                 {"embedding": torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]]),
                  "labels": torch.tensor([0, 0, 0, 1, 1, 1]), "k": 1}),
            Case("a tie of 1 vote against 1, k = 2 (goes to the smaller label)",
                 {"embedding": torch.tensor([[0.0], [1.0], [-1.5], [10.0]]), "labels": torch.tensor([1, 0, 1, 0]), "k": 2}),
        ]
    low, high = (int(v) for v in torch.randperm(6, generator=g)[:2].sort().values)
    sizes = [int(v) for v in torch.randint(2, 6, (2,), generator=g)]
    start = float(torch.randn((), generator=g)) * 5
    gap = 5 + 5 * float(torch.rand((), generator=g))
    points = torch.cat([start + 0.5 * torch.rand(sizes[0], generator=g),
                        start + gap + 0.5 * torch.rand(sizes[1], generator=g)])
    first, second = (low, high) if bool(torch.randint(0, 2, (), generator=g)) else (high, low)
    labels = torch.tensor([first] * sizes[0] + [second] * sizes[1])
    order = torch.randperm(len(points), generator=g)
    # The tie: the base case moved, scaled (maybe mirrored) and shuffled, with its labels 0 and 1
    # renamed to two others in the same order, so that the tie still goes to the label of 0.
    scale = (0.5 + 2.5 * float(torch.rand((), generator=g))) * (1 if bool(torch.randint(0, 2, (), generator=g)) else -1)
    shift = 10 * float(torch.randn((), generator=g))
    tie = shift + scale * torch.tensor([0.0, 1.0, -1.5, 10.0])
    tie_labels = torch.tensor([high, low, high, low])
    tie_order = torch.randperm(4, generator=g)
    return [
        Case(f"two clean clusters on a line ({sizes[0]} and {sizes[1]} points), k = 1",
             {"embedding": points[order, None], "labels": labels[order], "k": 1}),
        Case("a tie of 1 vote against 1, k = 2 (goes to the smaller label)",
             {"embedding": tie[tie_order, None], "labels": tie_labels[tie_order], "k": 2}),
    ]


def _knn_accuracy_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    labels = torch.randint(0, 4, (80,), generator=g)
    centres = 3 * torch.randn(4, 2, generator=g)
    blobs = centres[labels] + torch.randn(80, 2, generator=g)
    return [
        *_line_cases(seed, g),
        Case("80 points in 4 overlapping 2-D blobs, k = 5", {"embedding": blobs, "labels": labels, "k": 5}),
        Case("random labels in 16-D, k = 7",
             {"embedding": torch.randn(60, 16, generator=g), "labels": torch.randint(0, 10, (60,), generator=g), "k": 7}),
    ]


# ---------------------------------------------------------------- 03.3 tsne_gradient

def _joint(points: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A valid joint P for ``points``: symmetric, zero diagonal, summing to 1 (a Gaussian kernel, random widths)."""
    n = len(points)
    widths = 0.5 + torch.rand(n, 1, generator=g, dtype=points.dtype)
    conditional = torch.softmax((-_squared_distances(points) / widths).fill_diagonal_(-float("inf")), dim=1)
    return (conditional + conditional.T) / (2 * n)


def _tsne_gradient_cases(seed: int) -> list[Case]:
    g = _generator(seed + 300)
    n1 = 3 if seed == 0 else int(torch.randint(3, 6, (), generator=g))
    x1 = torch.randn(n1, 4, generator=g, dtype=torch.float64)
    p1 = _joint(x1, g)
    y1 = torch.randn(n1, 2, generator=g, dtype=torch.float64)
    x2 = torch.randn(40, 10, generator=g, dtype=torch.float64)
    y2 = 1e-2 * torch.randn(40, 2, generator=g, dtype=torch.float64)
    x3 = torch.randn(25, 6, generator=g, dtype=torch.float64)
    y3 = 20 * torch.randn(25, 2, generator=g, dtype=torch.float64)
    p4 = _joint(torch.randn(12, 3, generator=g, dtype=torch.float64), g)
    return [
        Case(f"{n1} points, P from their 4-D neighbours, a random 2-D map", {"P": p1, "Y": y1},
             hint="the sums run over every j, and q_ij is normalized by the sum over all pairs k != l, not per row"),
        Case("40 points, a map started as t-SNE starts it (tiny random Y)", {"P": _joint(x2, g), "Y": y2}),
        Case("25 points, a spread-out map (large distances: the heavy tail)", {"P": _joint(x3, g), "Y": y3},
             hint="right for small maps, wrong for spread ones? keep the factor (1 + ||y_i - y_j||^2)^-1 in each term"),
        Case("12 points in a 3-D map (the formula holds in any dimension)",
             {"P": p4, "Y": torch.randn(12, 3, generator=g, dtype=torch.float64)},
             hint="work with Y's own number of columns, not a fixed 2"),
    ]


EXERCISES = [
    Exercise("03_tsne", "03.1", "conditional_affinities", "(distances, perplexity)", 3, _conditional_affinities_cases,
             rtol=1e-4, description="t-SNE's p_{j|i}, each row's bandwidth found by binary search on the perplexity"),
    Exercise("03_tsne", "03.2", "knn_accuracy", "(embedding, labels, k)", 2, _knn_accuracy_cases,
             rtol=1e-9, description="leave-one-out accuracy of a k-nearest-neighbour majority vote"),
    Exercise("03_tsne", "03.3", "tsne_gradient", "(P, Y)", 3, _tsne_gradient_cases,
             rtol=1e-8, description="the gradient of KL(P || Q) with respect to the map's points, t-SNE's update"),
]
