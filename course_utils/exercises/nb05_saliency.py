"""Exercises of notebook 05_saliency: the test inputs only, never the answers.

The occlusion map that notebook 05 also uses is exercise 04.1 (``occlusion_map``), registered with
notebook 04; notebook 05 checks it against the same expected values.
"""
from __future__ import annotations

import torch

from . import Case, Exercise, draw_test_images


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(5000 + seed)


def _digits_and_shapes(seed: int, n_digits: int, n_shapes: int):
    g = _generator(seed)
    lenet, digits, digit_labels, shapes_cnn, shapes, shape_labels = draw_test_images(g, n_digits, n_shapes)
    other = torch.randint(0, 8, (n_shapes,), generator=g)
    return lenet, digits, digit_labels, shapes_cnn, shapes, shape_labels, other


def _saliency_cases(seed: int) -> list[Case]:
    lenet, digits, digit_labels, cnn, shapes, shape_labels, other = _digits_and_shapes(seed, 4, 3)
    return [
        Case("LeNet, 4 digits, their true labels", {"model": lenet, "inputs": digits, "target": digit_labels}),
        Case("shapes CNN, 3 colour images, their true labels", {"model": cnn, "inputs": shapes, "target": shape_labels}),
        Case("shapes CNN, the same images, other target classes", {"model": cnn, "inputs": shapes, "target": other}),
    ]


def _smoothgrad_cases(seed: int) -> list[Case]:
    lenet, digits, digit_labels, cnn, shapes, shape_labels, _ = _digits_and_shapes(seed, 3, 2)
    return [
        Case("LeNet, 3 digits, sigma 0.15, 8 samples in batches of 5",
             {"model": lenet, "inputs": digits, "target": digit_labels, "sigma": 0.15, "n_samples": 8,
              "batch_size": 5, "seed": seed}),
        Case("shapes CNN, 2 images, sigma 0.3, 6 samples, batch 64",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "sigma": 0.3, "n_samples": 6,
              "batch_size": 64, "seed": 1 + seed}),
        Case("sigma 0: every sample is the image itself, so the plain saliency map",
             {"model": lenet, "inputs": digits[:2], "target": digit_labels[:2], "sigma": 0.0, "n_samples": 3,
              "batch_size": 4, "seed": 0}),
    ]


def _grad_cam_cases(seed: int) -> list[Case]:
    lenet, digits, digit_labels, cnn, shapes, shape_labels, other = _digits_and_shapes(seed, 3, 3)
    return [
        Case("shapes CNN, last convolutional layer features.relu3_2",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "layer": "features.relu3_2"}),
        Case("shapes CNN, features.relu3_2, other target classes",
             {"model": cnn, "inputs": shapes, "target": other, "layer": "features.relu3_2"}),
        Case("shapes CNN, a middle layer features.relu2_2",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "layer": "features.relu2_2"}),
        Case("LeNet, layer relu2 (8x8 maps upsampled to 28x28)",
             {"model": lenet, "inputs": digits, "target": digit_labels, "layer": "relu2"}),
    ]


EXERCISES = [
    Exercise("05_saliency", "05.1", "saliency_map", "(model, inputs, target)", 2, _saliency_cases, rtol=1e-4,
             description="the largest |gradient of the target logit| over colour channels, per pixel (Simonyan et al. 2014)"),
    Exercise("05_saliency", "05.2", "smoothgrad", "(model, inputs, target, sigma=0.15, n_samples=25, batch_size=None, seed=0)",
             3, _smoothgrad_cases, rtol=1e-4,
             description="the saliency map averaged over noisy copies of the input (Smilkov et al. 2017)"),
    Exercise("05_saliency", "05.3", "grad_cam", "(model, inputs, target, layer)", 3, _grad_cam_cases, rtol=1e-4,
             description="Grad-CAM: a layer's maps weighted by their mean gradient, ReLU, upsampled (Selvaraju et al. 2017)"),
]
