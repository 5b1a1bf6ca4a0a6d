"""Exercises of notebook 07_activation_maximization: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise, uniform


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(7000 + seed)


def _class_model_step_cases(seed: int) -> list[Case]:
    # Models and images are loaded here, at check time, so that importing the registry stays cheap.
    from course_utils.data import load_mnist
    from course_utils.models import load_model
    from course_utils.shapes import load_shapes

    g = _generator(seed)
    lenet, shapes_cnn = load_model("lenet-mnist", device="cpu"), load_model("shapes-cnn", device="cpu")
    digits, _ = load_mnist("test")
    shapes, _, _ = load_shapes("test")
    noise = 0.1 * torch.randn(3, 1, 28, 28, generator=g)
    zero_targets = torch.randperm(10, generator=g)[:4]
    some_digits = digits[torch.randperm(len(digits), generator=g)[:2]]
    some_shapes = shapes[torch.randperm(len(shapes), generator=g)[:2]]
    return [
        Case("LeNet, 3 images of noise, targets drawn at random",
             {"model": lenet, "images": noise, "target": torch.randint(0, 10, (3,), generator=g),
              "weight_decay": round(uniform(0.05, 0.2, g), 3), "lr": round(uniform(0.05, 0.2, g), 3)}),
        Case("LeNet, 4 black images (where Simonyan et al. start), 4 different classes",
             {"model": lenet, "images": torch.zeros(4, 1, 28, 28), "target": zero_targets,
              "weight_decay": round(uniform(0.01, 0.1, g), 3), "lr": round(uniform(0.5, 1.0, g), 3)}),
        Case("LeNet, 2 test digits, weight_decay 0 (a plain gradient step)",
             {"model": lenet, "images": some_digits, "target": torch.randint(0, 10, (2,), generator=g),
              "weight_decay": 0.0, "lr": round(uniform(0.01, 0.05, g), 3)}),
        Case("shapes CNN, 2 colour test images, a large weight decay",
             {"model": shapes_cnn, "images": some_shapes, "target": torch.randint(0, 8, (2,), generator=g),
              "weight_decay": round(uniform(1.0, 3.0, g), 3), "lr": round(uniform(0.01, 0.05, g), 3)}),
    ]


def _regularized_ascent_cases(seed: int) -> list[Case]:
    from course_utils.models import load_model

    g = _generator(seed)
    lenet, shapes_cnn = load_model("lenet-mnist", device="cpu"), load_model("shapes-cnn", device="cpu")
    n_steps = int(torch.randint(4, 7, (), generator=g))
    return [
        Case(f"LeNet, 3 black images, {n_steps} plain steps, no prior (a loop of class_model_step)",
             {"model": lenet, "target": torch.randint(0, 10, (3,), generator=g), "start": torch.zeros(3, 1, 28, 28),
              "n_steps": n_steps, "lr": round(uniform(0.05, 0.2, g), 3)}),
        Case("LeNet, 2 noise images, weight decay and jitter (roll, step, roll back)",
             {"model": lenet, "target": torch.randint(0, 10, (2,), generator=g), "start": 0.1 * torch.randn(2, 1, 28, 28, generator=g),
              "n_steps": 5, "lr": 0.1, "weight_decay": round(uniform(0.05, 0.2, g), 3),
              "shifts": torch.randint(-2, 3, (5, 2), generator=g)}),
        Case("LeNet, 2 black images, blur every 2 steps and clipping of small-norm pixels (50th percentile)",
             {"model": lenet, "target": torch.randint(0, 10, (2,), generator=g), "start": torch.zeros(2, 1, 28, 28),
              "n_steps": 4, "lr": 0.1, "blur_every": 2, "norm_percent": 50}),
        Case("shapes CNN, 2 grey noise images, clipping of small-contribution pixels (30th percentile) and jitter",
             {"model": shapes_cnn, "target": torch.randint(0, 8, (2,), generator=g),
              "start": 0.5 + 0.1 * torch.randn(2, 3, 64, 64, generator=g), "n_steps": 3, "lr": 0.05,
              "shifts": torch.randint(-3, 4, (3, 2), generator=g), "contribution_percent": 30}),
        Case("zero steps: the start itself", {"model": lenet, "target": torch.tensor([4]), "start": torch.rand(1, 1, 28, 28, generator=g),
                                              "n_steps": 0, "lr": 0.1}),
    ]


def _edge_energy_cases(seed: int) -> list[Case]:
    from course_utils.shapes import load_shapes

    g = _generator(seed)
    shapes, _, _ = load_shapes("test")
    h, w = int(torch.randint(14, 22, (), generator=g)), int(torch.randint(26, 34, (), generator=g))
    return [
        Case("one 28x28 grey image of noise", {"images": 0.1 * torch.randn(1, 1, 28, 28, generator=g)}),
        Case("3 colour test shapes (64x64: scales 64, 33, 17, 9)",
             {"images": shapes[torch.randperm(len(shapes), generator=g)[:3]]}),
        Case(f"2 images of 2 channels, {h}x{w} (not square: stop when either side is 5 or less)",
             {"images": torch.rand(2, 2, h, w, generator=g)}),
        Case("a constant image: its only edges are where the zero padding meets it",
             {"images": torch.full((1, 1, 12, 12), round(uniform(0.2, 0.9, g), 3))}),
        Case("a 6x7 image: a single scale", {"images": torch.randn(2, 1, 6, 7, generator=g)}),
    ]


def _total_variation_cases(seed: int) -> list[Case]:
    from course_utils.shapes import load_shapes

    g = _generator(seed)
    shapes, _, _ = load_shapes("test")
    return [
        Case("2 random 5x7 grey images, beta 2", {"images": torch.rand(2, 1, 5, 7, generator=g), "beta": 2.0}),
        Case("2 colour test shapes, beta 1 (the classic total variation)",
             {"images": shapes[torch.randperm(len(shapes), generator=g)[:2]], "beta": 1.0}),
        Case("3 images of 2 channels, 9x4, a beta between 1 and 3",
             {"images": torch.randn(3, 2, 9, 4, generator=g), "beta": round(uniform(1.1, 2.9, g), 3)}),
        Case("a constant image: no variation", {"images": torch.full((1, 3, 6, 6), round(uniform(0.1, 0.9, g), 3)),
                                                 "beta": 2.0}),
    ]


EXERCISES = [
    Exercise("07_activation_maximization", "07.1", "class_model_step", "(model, images, target, weight_decay, lr)", 2,
             _class_model_step_cases, rtol=1e-4,
             description="one gradient-ascent step on S_c(x) - weight_decay * ||x||^2 (Simonyan et al. 2014)"),
    Exercise("07_activation_maximization", "07.2", "regularized_ascent",
             "(model, target, start, n_steps, lr, weight_decay=0.0, shifts=None, blur_every=0, norm_percent=0, "
             "contribution_percent=0)", 3, _regularized_ascent_cases, rtol=1e-3,
             description="Yosinski et al.'s regularized ascent: plain gradient steps with decay, jitter and undo, blur, clipping"),
    Exercise("07_activation_maximization", "07.3", "edge_energy", "(images)", 3, _edge_energy_cases, rtol=1e-5,
             description="Fleuret's multi-scale edge energy: high-pass energy summed over a pyramid of 2x downscales"),
    Exercise("07_activation_maximization", "07.4", "total_variation", "(images, beta)", 2, _total_variation_cases,
             rtol=1e-5, description="the total variation R_V^beta of Mahendran & Vedaldi (2015), one value per image"),
]
