"""Exercises of notebook 10_style_transfer: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(10000 + seed)


def _size(low: int, high: int, g: torch.Generator) -> int:
    return int(torch.randint(low, high + 1, (), generator=g))


def _texture_features(seed: int, g: torch.Generator, layers):
    """Shapes-CNN features of a random 32 x 32 crop of the brick texture and of the swirl painting (seed-dependent)."""
    from course_utils.models import load_model
    from course_utils.textures import layer_features, load_texture, shapes_extractor, swirl_painting

    cnn = shapes_extractor(load_model("shapes-cnn", device="cpu"))
    brick = load_texture("brick", 96)
    top, left = _size(0, 64, g), _size(0, 64, g)
    images = torch.cat([brick[:, :, top:top + 32, left:left + 32], swirl_painting(32, seed=seed)])
    with torch.no_grad():
        return {name: f.contiguous() for name, f in layer_features(cnn, images, layers).items()}


def _gram_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    real = _texture_features(seed, g, ["relu1_1"])["relu1_1"]
    return [
        Case("random features: 2 images, 4 channels, 5x6 positions",
             {"features": torch.randn(2, 4, _size(5, 6, g), 6, generator=g)}),
        Case("one image, one channel, 3x7 positions (not square)",
             {"features": torch.randn(1, 1, 3, 7 + 2 * _size(0, 2, g), generator=g)}),
        Case("non-negative features (after a ReLU): 3 images, 8 channels, 4x4",
             {"features": torch.relu(torch.randn(3, _size(7, 9, g), 4, 4, generator=g))}),
        Case("the shapes CNN's relu1_1 on a brick crop and a swirl painting, 32x32: (2, 16, 32, 32)", {"features": real}),
    ]


def _style_loss_cases(seed: int) -> list[Case]:
    g = _generator(seed + 500)

    def target(c):
        return torch.rand(c, c, generator=g)

    a, b = _size(3, 4, g), _size(5, 6, g)
    real = _texture_features(seed, g, ["relu1_1", "relu2_1"])
    return [
        Case("two layers, 2 images, weights 1.0 and 0.5",
             {"features": {"a": torch.randn(2, a, 4, 5, generator=g), "b": torch.randn(2, b, 2, 3, generator=g)},
              "target_grams": {"a": target(a), "b": target(b)}, "weights": {"a": 1.0, "b": 0.5}}),
        Case("features hold an extra layer 'c' that the weights leave out",
             {"features": {"a": torch.randn(3, a, 3, 3, generator=g), "c": torch.randn(3, 2, 3, 3, generator=g)},
              "target_grams": {"a": target(a), "c": target(2)}, "weights": {"a": 2.0 + float(torch.rand((), generator=g))}}),
        Case("one layer, one image, target all zeros",
             {"features": {"x": torch.randn(1, b, 5, 2, generator=g)}, "target_grams": {"x": torch.zeros(b, b)},
              "weights": {"x": 0.25}}),
        Case("the shapes CNN's relu1_1 and relu2_1 on a brick crop and a swirl painting, random targets",
             {"features": real, "target_grams": {"relu1_1": 0.1 * target(16), "relu2_1": 0.1 * target(32)},
              "weights": {"relu1_1": 3.0, "relu2_1": 0.7}}),
    ]


EXERCISES = [
    Exercise("10_style_transfer", "10.1", "gram_matrix", "(features)", 2, _gram_cases, rtol=1e-4,
             description="the Gram matrices of a batch of feature maps, divided by the number of positions (Gatys et al. 2015)"),
    Exercise("10_style_transfer", "10.2", "style_loss", "(features, target_grams, weights)", 3, _style_loss_cases,
             rtol=1e-4, description="the weighted sum over layers of the mean squared Gram-matrix differences, one value per image"),
]
