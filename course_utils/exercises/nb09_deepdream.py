"""Exercises of notebook 09_deepdream: the test inputs only, never the answers.

The networks are the convolutional trunks that the notebook dreams through: the shapes CNN's
``features`` and LeNet's layers ``conv1`` ... ``pool2`` as an ``nn.Sequential``; both take any image size.
Every random choice (images, layers, jitter, seeds) comes from a ``torch.Generator`` seeded by the case
seed, so seed 0 gives the self-check's cases and other seeds fresh ones of the same kind.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn

from . import Case, Exercise, uniform


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(9000 + seed)


def _pick(options, generator):
    return options[int(torch.randint(len(options), (), generator=generator))]


def _networks_and_images(seed: int):
    # Models and images are loaded here, at check time, so that importing the registry stays cheap.
    from course_utils.data import IMAGE_NAMES, load_image, load_mnist
    from course_utils.models import load_model
    from course_utils.shapes import load_shapes

    g = _generator(seed)
    shapes_trunk = load_model("shapes-cnn", device="cpu").features
    lenet = load_model("lenet-mnist", device="cpu")
    lenet_trunk = nn.Sequential(OrderedDict((name, getattr(lenet, name))
                                            for name in ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"])).eval()
    shapes, _, _ = load_shapes("test")
    digits, _ = load_mnist("test")
    photo_names = [n for n in IMAGE_NAMES if n not in ("brick", "grass", "gravel")]
    photo = load_image(_pick(photo_names, g), (int(torch.randint(40, 57, (), generator=g)), int(torch.randint(40, 57, (), generator=g))))
    return {"g": g, "shapes_trunk": shapes_trunk, "lenet_trunk": lenet_trunk,
            "shapes": shapes[torch.randperm(len(shapes), generator=g)[:2]],
            "digits": digits[torch.randperm(len(digits), generator=g)[:3]], "photo": photo}


def channel_weights(h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """An objective's gradient for the cases: ``h`` scaled per channel, the gradient of 0.5 * sum_c w_c ||h_c||^2."""
    return h * weights.reshape(1, -1, 1, 1)


def constant_direction(h: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """An objective's gradient for the cases: ``vector`` at every position, the gradient of sum_positions <h, vector>."""
    return vector.reshape(1, -1, 1, 1).expand_as(h)


def _dream_step_cases(seed: int) -> list[Case]:
    d = _networks_and_images(seed)
    g = d["g"]
    one_channel = torch.zeros(64)
    one_channel[int(torch.randint(64, (), generator=g))] = 1.0
    vector = torch.rand(64, generator=g) * (torch.rand(64, generator=g) < 0.5)
    return [
        Case("shapes CNN trunk, 2 test shapes, a layer of the second block, jitter up to 3 pixels",
             {"model": d["shapes_trunk"], "layer": _pick(["relu2_1", "relu2_2"], g), "image": d["shapes"],
              "step_size": round(uniform(0.01, 0.03, g), 3), "jitter": int(torch.randint(1, 4, (), generator=g)),
              "seed": int(torch.randint(0, 1000, (), generator=g))}),
        Case("shapes CNN trunk, a photo of odd size (H != W), the third block, no jitter",
             {"model": d["shapes_trunk"], "layer": _pick(["relu3_1", "relu3_2"], g), "image": d["photo"],
              "step_size": round(uniform(0.01, 0.03, g), 3), "jitter": 0, "seed": 0}),
        Case("LeNet trunk, 3 digits, relu1, normalize=False, no jitter: clamp(x + step_size * J^T h, 0, 1)",
             {"model": d["lenet_trunk"], "layer": "relu1", "image": d["digits"], "step_size": round(uniform(0.002, 0.006, g), 4),
              "jitter": 0, "seed": 0, "normalize": False}),
        Case("objective: one channel of relu3_1 (h_bar = h on that channel, 0 elsewhere), a photo, jitter",
             {"model": d["shapes_trunk"], "layer": "relu3_1", "image": d["photo"], "step_size": 0.02,
              "jitter": int(torch.randint(2, 6, (), generator=g)), "seed": int(torch.randint(0, 1000, (), generator=g)),
              "objective": partial(channel_weights, weights=one_channel)}),
        Case("objective: a constant direction in relu3_1's feature space (a (64,) vector at every position)",
             {"model": d["shapes_trunk"], "layer": "relu3_1", "image": d["shapes"][:1], "step_size": 0.02,
              "jitter": 0, "seed": 0, "objective": partial(constant_direction, vector=vector)}),
    ]


def _dream_octaves_cases(seed: int) -> list[Case]:
    d = _networks_and_images(seed)
    g = d["g"]
    guide = partial(constant_direction, vector=torch.rand(32, generator=g))
    return [
        Case("shapes CNN trunk, a photo, 2 octaves x 3 steps",
             {"model": d["shapes_trunk"], "layer": _pick(["relu2_2", "relu3_1"], g), "image": d["photo"], "n_octaves": 2,
              "octave_scale": round(uniform(1.3, 1.6, g), 2), "steps": 3, "step_size": 0.015, "jitter": 2,
              "seed": int(torch.randint(0, 1000, (), generator=g))}),
        Case("LeNet trunk, 3 digits, relu2, 2 octaves x 2 steps",
             {"model": d["lenet_trunk"], "layer": "relu2", "image": d["digits"], "n_octaves": 2,
              "octave_scale": round(uniform(1.2, 1.5, g), 2), "steps": 2, "step_size": 0.02, "jitter": 1,
              "seed": int(torch.randint(0, 1000, (), generator=g))}),
        Case("one octave: plain repeated dream steps at the image's size",
             {"model": d["shapes_trunk"], "layer": "relu1_2", "image": d["shapes"], "n_octaves": 1, "steps": 3,
              "step_size": 0.02, "jitter": 3, "seed": int(torch.randint(0, 1000, (), generator=g))}),
        Case("3 octaves x 2 steps, normalize=False, guided by a (32,) vector at relu2_1",
             {"model": d["shapes_trunk"], "layer": "relu2_1", "image": d["photo"], "n_octaves": 3, "octave_scale": 1.4,
              "steps": 2, "step_size": 0.002, "jitter": 2, "seed": int(torch.randint(0, 1000, (), generator=g)),
              "normalize": False, "objective": guide}),
    ]


def _best_match_cases(seed: int) -> list[Case]:
    d = _networks_and_images(seed)
    g = d["g"]
    from course_utils.hooks import capture_activations

    with torch.no_grad(), capture_activations(d["shapes_trunk"], "relu3_1") as acts:
        d["shapes_trunk"](d["shapes"])
    h = acts["relu3_1"]                                                      # (2, 64, 16, 16)
    return [
        Case("random h (2, 4, 3, 5) and 6 guide features (4, 6)",
             {"h": torch.randn(2, 4, 3, 5, generator=g), "guide": torch.randn(4, 6, generator=g)}),
        Case("one guide feature (C, 1): every position gets it",
             {"h": torch.rand(1, 3, 4, 4, generator=g), "guide": torch.rand(3, 1, generator=g)}),
        Case("the shapes CNN's relu3_1 on 2 test shapes, guided by 40 of the second one's own feature vectors",
             {"h": h, "guide": h[1].flatten(1)[:, torch.randperm(256, generator=g)[:40]].contiguous()}),
    ]


EXERCISES = [
    Exercise("09_deepdream", "09.1", "dream_step", "(model, layer, image, step_size, jitter, seed=0, normalize=True, objective=None)",
             3, _dream_step_cases, rtol=1e-4,
             description="one gradient-ascent step on 0.5 ||h_layer||^2 (or another objective) with gradient normalization, "
                         "jitter and clipping"),
    Exercise("09_deepdream", "09.2", "dream_octaves",
             "(model, layer, image, n_octaves=3, octave_scale=1.4, steps=10, step_size=0.015, jitter=4, seed=0, "
             "normalize=True, objective=None)",
             3, _dream_octaves_cases, rtol=1e-3,
             description="the multi-scale DeepDream loop: dream small, carry the added detail up to the next size"),
    Exercise("09_deepdream", "09.3", "best_match", "(h, guide)", 2, _best_match_cases, rtol=1e-5,
             description="Google's guided-dream gradient: at every position, the guide feature with the largest dot product"),
]
