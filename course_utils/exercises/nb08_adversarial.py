"""Exercises of notebook 08_adversarial: the test inputs only, never the answers.

The cases run in float64 (models and images converted with ``.double()``): an attack keeps only the *sign* of
each pixel's gradient, and in float32 a gradient within round-off of 0 could take another sign on another CPU.
"""
from __future__ import annotations

import torch

from . import Case, Exercise, draw_test_images, uniform


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(8000 + seed)


def _data(seed: int, n_digits: int, n_shapes: int):
    # Float64 models and images: no near-zero gradient can take another sign on another CPU.
    g = _generator(seed)
    lenet, digits, digit_labels, cnn, shapes, shape_labels = draw_test_images(g, n_digits, n_shapes)
    other = (digit_labels + torch.randint(1, 10, (n_digits,), generator=g)) % 10      # never the true class
    return g, lenet.double(), digits.double(), digit_labels, other, cnn.double(), shapes.double(), shape_labels


def _fgsm_cases(seed: int) -> list[Case]:
    g, lenet, digits, labels, other, cnn, shapes, shape_labels = _data(seed, 4, 2)
    eps = round(uniform(0.08, 0.2, g), 3)
    return [
        Case(f"LeNet, 4 digits (float64), untargeted, epsilon {eps}",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps}),
        Case(f"LeNet, the same digits, targeted at other classes, epsilon {2 * eps}",
             {"model": lenet, "inputs": digits, "target": other, "epsilon": 2 * eps, "targeted": True}),
        Case("shapes CNN, 2 colour images (float64), untargeted, epsilon 4/255",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "epsilon": 4 / 255}),
        Case("epsilon 0: the images come back unchanged",
             {"model": lenet, "inputs": digits[:2], "target": labels[:2], "epsilon": 0.0}),
    ]


def _pgd_cases(seed: int) -> list[Case]:
    g, lenet, digits, labels, other, cnn, shapes, shape_labels = _data(seed, 3, 2)
    eps = round(uniform(0.1, 0.25, g), 3)
    steps = 4 + seed % 3
    return [
        Case(f"LeNet, 3 digits (float64), untargeted, epsilon {eps}, step {eps / 3:.4f}, {steps} steps",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "step_size": eps / 3, "steps": steps}),
        Case(f"LeNet, targeted at other classes, epsilon {eps}, step {eps / 2:.4f}, {steps + 2} steps",
             {"model": lenet, "inputs": digits, "target": other, "epsilon": eps, "step_size": eps / 2,
              "steps": steps + 2, "targeted": True}),
        Case("a step larger than epsilon: the projection must bring every pixel back within epsilon",
             {"model": lenet, "inputs": digits[:2], "target": labels[:2], "epsilon": eps / 2, "step_size": eps, "steps": 3}),
        Case("shapes CNN, 2 colour images (float64), epsilon 8/255, step 2/255, 3 steps",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "epsilon": 8 / 255, "step_size": 2 / 255, "steps": 3}),
        Case(f"random start 0 steps: the start itself, inputs + epsilon (2u - 1) clipped, u from seed {7 + seed}",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "step_size": eps / 3, "steps": 0,
              "random_start": 7 + seed},
             hint="u = torch.rand(inputs.shape, generator=torch.Generator().manual_seed(random_start), dtype=inputs.dtype)"),
        Case(f"LeNet, random start (seed {11 + seed}), untargeted, epsilon {eps}, {steps} steps",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "step_size": eps / 4, "steps": steps,
              "random_start": 11 + seed},
             hint="project onto the ball around the inputs, not around the random start"),
    ]


def _adversarial_loss_cases(seed: int) -> list[Case]:
    g, lenet, digits, labels, _, cnn, shapes, shape_labels = _data(seed, 6, 2)
    eps = round(uniform(0.15, 0.3, g), 3)
    alpha = round(uniform(0.2, 0.8, g), 3)
    return [
        Case(f"LeNet, 6 digits (float64), epsilon {eps}, alpha 0.5",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "alpha": 0.5}),
        Case(f"LeNet, epsilon {eps}, alpha {alpha}",
             {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "alpha": alpha}),
        Case("alpha 1: the plain cross-entropy", {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "alpha": 1.0}),
        Case("alpha 0: only the adversarial term", {"model": lenet, "inputs": digits, "target": labels, "epsilon": eps, "alpha": 0.0}),
        Case("shapes CNN, 2 colour images, epsilon 8/255, alpha 0.5",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "epsilon": 8 / 255, "alpha": 0.5}),
    ]


EXERCISES = [
    Exercise("08_adversarial", "08.1", "fgsm", "(model, inputs, target, epsilon, targeted=False)", 3, _fgsm_cases,
             rtol=1e-6, description="the fast gradient sign method, clipped to [0, 1] (Goodfellow et al. 2015)"),
    Exercise("08_adversarial", "08.2", "pgd",
             "(model, inputs, target, epsilon, step_size, steps, targeted=False, random_start=None)", 3, _pgd_cases,
             rtol=1e-6, description="iterated signed gradient steps projected onto the epsilon-ball and [0, 1], from the "
                                    "inputs or a seeded random start in the ball (Kurakin et al. 2017; Madry et al. 2018)"),
    Exercise("08_adversarial", "08.3", "adversarial_loss", "(model, inputs, target, epsilon, alpha=0.5)", 2,
             _adversarial_loss_cases, rtol=1e-6,
             description="alpha J(x, y) + (1 - alpha) J(FGSM(x), y), the adversarial training loss (Goodfellow et al. 2015)"),
]
