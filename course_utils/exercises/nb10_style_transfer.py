"""Exercises of notebook 10_style_transfer: the test inputs only, never the answers."""
from __future__ import annotations

import torch
from torch import nn

from . import Case, Exercise, uniform


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
    # The sizes are drawn from the seed (in this order), and each case's name states the ones it got.
    height = _size(5, 6, g)
    random_features = torch.randn(2, 4, height, 6, generator=g)
    width = 7 + 2 * _size(0, 2, g)
    one_channel = torch.randn(1, 1, 3, width, generator=g)
    channels = _size(7, 9, g)
    after_relu = torch.relu(torch.randn(3, channels, 4, 4, generator=g))
    return [
        Case(f"random features: 2 images, 4 channels, {height}x6 positions", {"features": random_features}),
        Case(f"one image, one channel, 3x{width} positions (not square)", {"features": one_channel}),
        Case(f"non-negative features (after a ReLU): 3 images, {channels} channels, 4x4", {"features": after_relu}),
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


def _content_loss_cases(seed: int) -> list[Case]:
    g = _generator(seed + 700)
    real = _texture_features(seed, g, ["relu3_1"])["relu3_1"]            # (2, 64, 8, 8)
    target = torch.rand(1, 5, 4, 6, generator=g)
    return [
        Case("random features: 3 images, 5 channels, 4x6 positions, a random target",
             {"features": torch.randn(3, 5, 4, 6, generator=g), "target": target}),
        Case("one image equal to the target (the loss is 0) and one of zeros (the loss is 1)",
             {"features": torch.cat([target, torch.zeros_like(target)]), "target": target}),
        Case("the shapes CNN's relu3_1 of a brick crop and a swirl painting against the first one's features",
             {"features": real, "target": real[:1] * (1 + 0.1 * uniform(0, 1, g))}),
    ]


class SmoothPixelLoss(nn.Module):
    """A smooth, badly conditioned loss over the pixels, for exercise 10.4's cases (no notebook function in it):

    ``sum(weights * (x - target) ** 2) + 0.5 * sum((x - target) ** 4)``, a scalar for a batch ``x``.
    """

    def __init__(self, target: torch.Tensor, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target)
        self.register_buffer("weights", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self.target
        return (self.weights * d ** 2).sum() + 0.5 * (d ** 4).sum()


def _lbfgs_cases(seed: int) -> list[Case]:
    g = _generator(seed + 900)

    def problem(shape, dtype):
        weights = 10 ** (3 * torch.rand(shape, generator=g))         # curvatures from 1 to 1000: badly conditioned
        target, start = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
        return SmoothPixelLoss(target.to(dtype), weights.to(dtype)), start.to(dtype)

    cases = []
    # The first case runs 40 evaluations on a badly conditioned loss: in float32 its result moves by 1e-4 between CPUs
    # (more than the drift test allows), so it runs in float64; L-BFGS keeps the start's dtype.
    for name, shape, n_steps, max_iter, dtype in [
            ("one 3x8x8 image in float64, 2 steps of torch's default max_iter 20", (1, 3, 8, 8), 2, 20, torch.float64),
            ("two 3x6x5 images, 3 steps of max_iter 4", (2, 3, 6, 5), 3, 4, torch.float32),
            ("one 1x12x12 image, 1 step of max_iter 7", (1, 1, 12, 12), 1, 7, torch.float32)]:
        loss_fn, start = problem(shape, dtype)
        cases.append(Case(name, {"loss_fn": loss_fn, "start": start, "n_steps": n_steps, "max_iter": max_iter}))
    return cases


EXERCISES = [
    Exercise("10_style_transfer", "10.1", "gram_matrix", "(features)", 2, _gram_cases, rtol=1e-4,
             description="the Gram matrices of a batch of feature maps, divided by the number of positions (Gatys et al. 2015)"),
    Exercise("10_style_transfer", "10.2", "style_loss", "(features, target_grams, weights)", 3, _style_loss_cases,
             rtol=1e-4, description="the weighted sum over layers of the mean squared Gram-matrix differences, one value per image"),
    Exercise("10_style_transfer", "10.3", "content_loss", "(features, target)", 2, _content_loss_cases, rtol=1e-4,
             description="the content loss: mean squared feature difference divided by the target's mean square, one per image"),
    Exercise("10_style_transfer", "10.4", "lbfgs_evaluations", "(loss_fn, start, n_steps, max_iter=20)", 3, _lbfgs_cases,
             rtol=1e-3, description="n_steps calls of torch.optim.LBFGS.step with a closure that counts its own calls"),
]
