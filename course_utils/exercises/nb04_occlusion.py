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


def _occlusion_cost_cases(seed: int) -> list[Case]:
    g = _generator(seed + 200)
    if seed == 0:
        lenet, shapes, odd = (28, 28, 8, 2, 16), (64, 64, 16, 6, 32), (10, 13, 3, 2, 5)
        gaps, whole = (32, 32, 4, 10), (16, 5)
    else:
        side = int(torch.randint(20, 40, (), generator=g))
        lenet, shapes, odd = (side, side, 7, 3, 13), (64, 48, 12, 5, 20), (11, 17, 4, 3, 6)
        gaps = (int(torch.randint(28, 40, (), generator=g)), int(torch.randint(28, 40, (), generator=g)),
                int(torch.randint(3, 6, (), generator=g)), int(torch.randint(8, 12, (), generator=g)))
        whole = (int(torch.randint(10, 24, (), generator=g)), int(torch.randint(2, 9, (), generator=g)))
    return [
        Case(f"a {lenet[0]}x{lenet[1]} digit, {lenet[2]}x{lenet[2]} patches, stride {lenet[3]}, batches of {lenet[4]}",
             dict(zip(("height", "width", "patch_size", "stride", "batch_size"), lenet))),
        Case(f"a {shapes[0]}x{shapes[1]} image, {shapes[2]}x{shapes[2]} patches, stride {shapes[3]} (does not divide "
             f"{shapes[0] - shapes[2]}), batches of {shapes[4]}", dict(zip(("height", "width", "patch_size", "stride", "batch_size"), shapes)),
             hint="a position counts only if its patch lies inside the image: floor((H - p) / s) + 1 per side"),
        Case(f"a non-square {odd[0]}x{odd[1]} image, {odd[2]}x{odd[2]} patches, stride {odd[3]}, batches of {odd[4]}",
             dict(zip(("height", "width", "patch_size", "stride", "batch_size"), odd)),
             hint="rows come from the height and columns from the width"),
        Case(f"stride {gaps[3]} larger than the {gaps[2]}x{gaps[2]} patch (gaps) on a {gaps[0]}x{gaps[1]} image, one "
             "batch for everything",
             {"height": gaps[0], "width": gaps[1], "patch_size": gaps[2], "stride": gaps[3], "batch_size": 1000},
             hint="the last batch may be short, and one batch can hold all positions: ceil(P / batch_size)"),
        Case(f"the patch as large as the {whole[0]}x{whole[0]} image: one position",
             {"height": whole[0], "width": whole[0], "patch_size": whole[0], "stride": whole[1], "batch_size": 8}),
    ]


def _per_pixel_average_cases(seed: int) -> list[Case]:
    g = _generator(seed + 300)
    n = 2 if seed == 0 else 3
    return [
        Case(f"{n} maps of 11x11 positions, 8x8 patches, stride 2, on 28x28 images (every pixel covered)",
             {"maps": torch.randn(n, 11, 11, generator=g), "patch_size": 8, "stride": 2, "size": 28}),
        Case("7x7 positions, 8x8 patches, stride 3, 28x28: the last rows and columns covered by no patch (0 there)",
             {"maps": torch.randn(n, 7, 7, generator=g), "patch_size": 8, "stride": 3, "size": 28},
             hint="where no patch covers a pixel, divide by 1 (not 0) so that the map is 0 and the count 0 there"),
        Case("9x9 positions, 16x16 patches, stride 6, 64x64 (overlapping patches)",
             {"maps": torch.rand(1, 9, 9, generator=g), "patch_size": 16, "stride": 6, "size": 64},
             hint="each pixel gets the *mean* of the drops of the patches covering it: sum them, count them, divide"),
        Case("stride equal to the patch: 4x4 tiles of 5x5 on a 20x20 image (each pixel in one patch)",
             {"maps": (torch.arange(16.0) if seed == 0 else torch.randperm(16, generator=g).float()).reshape(1, 4, 4),
              "patch_size": 5, "stride": 5, "size": 20}),
    ]


EXERCISES = [
    Exercise("04_occlusion", "04.1", "occlusion_map",
             '(model, inputs, target, patch_size=8, stride=4, fill="zero", batch_size=None)', 3,
             _occlusion_map_cases, rtol=1e-4, atol=1e-6,
             description="the drop of the target's probability when each patch is hidden, in batches of occluded images"),
    Exercise("04_occlusion", "04.2", "occlusion_cost", "(height, width, patch_size, stride, batch_size)", 2,
             _occlusion_cost_cases, rtol=0,
             description="patch positions per image and the forward passes that classify them in batches"),
    Exercise("04_occlusion", "04.3", "per_pixel_average", "(maps, patch_size, stride, size)", 3,
             _per_pixel_average_cases, rtol=1e-5,
             description="a per-position occlusion map spread over the pixels as Captum reports it (mean over covering patches)"),
]
