"""Exercises of notebook 04_occlusion: the test inputs only, never the answers."""
from __future__ import annotations

import torch
from torch import nn

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(4000 + seed)


def _tiny_model(generator: torch.Generator) -> nn.Module:
    """A small random classifier of 2-channel images of any size into 5 classes (weights from ``generator``)."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.eval()


def _occlusion_map_cases(seed: int) -> list[Case]:
    from course_utils.data import load_mnist
    from course_utils.models import load_model
    from course_utils.shapes import load_shapes

    g = _generator(seed)
    lenet = load_model("lenet-mnist", device="cpu")
    shapes_cnn = load_model("shapes-cnn", device="cpu")
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    d = torch.randperm(len(digits), generator=g)[:3]
    s = torch.randperm(len(shapes), generator=g)[:2]
    tiny_inputs = torch.rand(2, 2, 10, 13, generator=g)
    tiny_target = torch.randint(0, 5, (2,), generator=g)
    return [
        Case("LeNet, two digits, the defaults (8x8 zero patches, stride 4)",
             {"model": lenet, "inputs": digits[d[:2]], "target": digit_labels[d[:2]]}),
        Case("LeNet, one digit, 6x6 mean patches, stride 3, batches of 7 (the last batch is shorter)",
             {"model": lenet, "inputs": digits[d[2:]], "target": digit_labels[d[2:]], "patch_size": 6, "stride": 3,
              "fill": "mean", "batch_size": 7}),
        Case("shapes CNN, two images, 16x16 blurred patches, stride 8",
             {"model": shapes_cnn, "inputs": shapes[s], "target": shape_labels[s], "patch_size": 16, "stride": 8,
              "fill": "blur", "batch_size": 32}),
        Case("a tiny random network, 2-channel 10x13 images (not square), 3x3 zero patches, stride 2, random classes",
             {"model": _tiny_model(g), "inputs": tiny_inputs, "target": tiny_target, "patch_size": 3, "stride": 2,
              "fill": "zero", "batch_size": 5}),
    ]


EXERCISES = [
    Exercise("04_occlusion", "04.1", "occlusion_map",
             '(model, inputs, target, patch_size=8, stride=4, fill="zero", batch_size=None)', 3,
             _occlusion_map_cases, rtol=1e-4,
             description="the drop of the target's probability when each patch is hidden, in batches of occluded images"),
]
