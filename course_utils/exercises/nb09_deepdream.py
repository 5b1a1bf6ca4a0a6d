"""Exercises of notebook 09_deepdream: the test inputs only, never the answers.

The networks are the convolutional trunks that the notebook dreams through: the shapes CNN's
``features`` and LeNet's layers ``conv1`` ... ``pool2`` as an ``nn.Sequential``; both take any image size.
Every random choice (images, layers, jitter, seeds) comes from a ``torch.Generator`` seeded by the case
seed, so seed 0 gives the self-check's cases and other seeds fresh ones of the same kind.

The dream's jitter is random, and a correct answer may draw its shifts differently from the solution, so
the cases with jitter are checked by properties (``Case.verify``), not number for number: the output lies
in [0, 1]; it is a jitter-free step of the image rolled by *some* shift of at most ``jitter`` pixels, then
rolled back; the layer's activations (or the objective) rise. The cases without jitter are compared with
``clamp(x + step_size * J^T h_bar)`` (normalized or not) computed here by autograd, independently of the
solution; ``dream_octaves`` at one octave and no jitter with the same steps repeated. Multi-octave cases
without jitter are compared with the solution's stored output (nothing random in them).
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


# ---------------------------------------------------------------- properties (Case.verify)

_TOL = 2e-4  # images in [0, 1]: round-off of float32 convolutions stays far below this


def _activations_and_gradient(model, layer, images, objective):
    """h at ``layer`` and the pixel gradient J^T h_bar, by autograd on sum(h * h_bar) with h_bar held fixed."""
    from course_utils.hooks import capture_activations

    pixels = images.detach().clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as recorded_here:
        model(pixels)
    act = recorded_here[layer]
    weight = act.detach() if objective is None else objective(act.detach())
    (grad,) = torch.autograd.grad((act * weight).sum(), pixels)
    return act.detach(), grad


def _still_step(model, layer, images, step_size, normalize, objective):
    """A dream step without jitter, from the formula: clamp(x + step_size * g), g = J^T h_bar (over its mean |g|)."""
    _, grad = _activations_and_gradient(model, layer, images, objective)
    scale = (grad.abs().flatten(1).mean(dim=1) + 1e-8).reshape(-1, 1, 1, 1) if normalize else 1.0
    return (images.detach() + step_size * grad / scale).clamp(0, 1)


def _rms(model, layer, images):
    from course_utils.hooks import capture_activations

    with torch.no_grad(), capture_activations(model, layer) as recorded_here:
        model(images)
    return float(recorded_here[layer].pow(2).mean().sqrt())


def _in_unit_range(out) -> str | None:
    if not bool(torch.isfinite(out).all()):
        return "contains NaN or infinite values"
    if float(out.min()) < 0 or float(out.max()) > 1:
        return f"is not in [0, 1] (min {float(out.min()):.3g}, max {float(out.max()):.3g}): clip the result"
    return None


def _rises(out, kwargs) -> str | None:
    """The layer's activation RMS rises (DeepDream), or the objective does."""
    model, layer, image, objective = kwargs["model"], kwargs["layer"], kwargs["image"], kwargs.get("objective")
    if objective is None:
        before, after = _rms(model, layer, image), _rms(model, layer, out)
        return None if after > before else f"the layer's activation RMS did not rise ({before:.4g} -> {after:.4g})"
    # The cases' objectives are homogeneous in h (one channel's 0.5 ||h_c||^2, or sum <h, v>): E = const * <h, h_bar(h)>.
    h_before, _ = _activations_and_gradient(model, layer, image, objective)
    h_after, _ = _activations_and_gradient(model, layer, out, objective)
    before, after = float((h_before * objective(h_before)).sum()), float((h_after * objective(h_after)).sum())
    return None if after > before else f"the objective did not rise ({before:.4g} -> {after:.4g})"


def _close(out, reference, what) -> str | None:
    worst = float((out - reference).abs().max())
    if worst > _TOL:
        index = tuple(int(i) for i in torch.nonzero((out - reference).abs() == worst)[0])
        return f"differs from {what} by up to {worst:.2g} (at index {index}; tolerance {_TOL:.0e})"
    return None


def _check_still_step(out, kwargs) -> str | None:
    """jitter = 0: the output is clamp(x + step_size * J^T h_bar), divided by mean |J^T h_bar| per image with normalize."""
    normalize = kwargs.get("normalize", True)
    reference = _still_step(kwargs["model"], kwargs["layer"], kwargs["image"], kwargs["step_size"], normalize,
                            kwargs.get("objective"))
    what = ("clamp(x + step_size * g / mean|g|, 0, 1), g = J^T h_bar computed here by autograd" if normalize else
            "clamp(x + step_size * J^T h_bar, 0, 1) computed here by autograd")
    return _in_unit_range(out) or _close(out, reference, what) or _rises(out, kwargs)


def _check_jittered_step(out, kwargs) -> str | None:
    """jitter > 0: each image's output is the jitter-free step of that image rolled by some (dy, dx), |dy|, |dx| <= jitter,
    and rolled back; which shift is the answer's own random choice."""
    problem = _in_unit_range(out)
    if problem:
        return problem
    model, layer, image, jitter = kwargs["model"], kwargs["layer"], kwargs["image"].detach(), kwargs["jitter"]
    shifts = [(dy, dx) for dy in range(-jitter, jitter + 1) for dx in range(-jitter, jitter + 1)]
    for i in range(len(image)):
        rolled = torch.stack([torch.roll(image[i], s, dims=(1, 2)) for s in shifts])
        stepped = _still_step(model, layer, rolled, kwargs["step_size"], kwargs.get("normalize", True), kwargs.get("objective"))
        back = torch.stack([torch.roll(y, (-s[0], -s[1]), dims=(1, 2)) for y, s in zip(stepped, shifts)])
        errors = (back - out[i].detach()[None]).abs().flatten(1).max(dim=1).values
        best = int(errors.argmin())
        if float(errors[best]) > _TOL:
            return (f"image {i} is not a jitter-free step of the image rolled by any shift of at most {jitter} pixels and "
                    f"rolled back (closest: shift {shifts[best]}, largest difference {float(errors[best]):.2g}, tolerance {_TOL:.0e})")
    return _rises(out, kwargs)


def _check_dream(out, kwargs) -> str | None:
    """dream_octaves with jitter: shape (checked beside), [0, 1], the layer's activations (or the objective) rise."""
    return _in_unit_range(out) or _rises(out, kwargs)


def _check_one_octave_still(out, kwargs) -> str | None:
    """n_octaves = 1, jitter = 0: the same as `steps` jitter-free dream steps at the image's size."""
    x = kwargs["image"].detach()
    for _ in range(kwargs["steps"]):
        x = _still_step(kwargs["model"], kwargs["layer"], x, kwargs["step_size"], kwargs.get("normalize", True),
                        kwargs.get("objective"))
    return _in_unit_range(out) or _close(out, x, f"{kwargs['steps']} dream steps at one scale computed here") or _rises(out, kwargs)


_ROLL_HINT = ("take the step on the shifted image (random_shift with torch.Generator().manual_seed(seed)), then roll the "
              "result back with `undo` before clipping")


def _dream_step_cases(seed: int) -> list[Case]:
    d = _networks_and_images(seed)
    g = d["g"]
    one_channel = torch.zeros(64)
    one_channel[int(torch.randint(64, (), generator=g))] = 1.0
    vector = torch.rand(64, generator=g) * (torch.rand(64, generator=g) < 0.5)
    return [
        Case("shapes CNN trunk, 2 test shapes, a layer of the second block, jitter up to 3 pixels: a step of the shifted "
             "images, shifted back",
             {"model": d["shapes_trunk"], "layer": _pick(["relu2_1", "relu2_2"], g), "image": d["shapes"],
              "step_size": round(uniform(0.01, 0.03, g), 3), "jitter": int(torch.randint(1, 4, (), generator=g)),
              "seed": int(torch.randint(0, 1000, (), generator=g))},
             hint=_ROLL_HINT, verify=_check_jittered_step),
        Case("shapes CNN trunk, a photo of odd size (H != W), the third block, no jitter: clamp(x + step_size * g / mean|g|)",
             {"model": d["shapes_trunk"], "layer": _pick(["relu3_1", "relu3_2"], g), "image": d["photo"],
              "step_size": round(uniform(0.01, 0.03, g), 3), "jitter": 0, "seed": 0},
             hint="divide each image's gradient by its own mean absolute value (over C, H and W) plus 1e-8",
             verify=_check_still_step),
        Case("LeNet trunk, 3 digits, relu1, normalize=False, no jitter: clamp(x + step_size * J^T h, 0, 1)",
             {"model": d["lenet_trunk"], "layer": "relu1", "image": d["digits"], "step_size": round(uniform(0.002, 0.006, g), 4),
              "jitter": 0, "seed": 0, "normalize": False},
             hint="g = J^T h is one backward pass from the layer with grad_outputs = h (detached); no normalization here",
             verify=_check_still_step),
        Case("objective: one channel of relu3_1 (h_bar = h on that channel, 0 elsewhere), a photo, jitter",
             {"model": d["shapes_trunk"], "layer": "relu3_1", "image": d["photo"], "step_size": 0.02,
              "jitter": int(torch.randint(2, 5, (), generator=g)), "seed": int(torch.randint(0, 1000, (), generator=g)),
              "objective": partial(channel_weights, weights=one_channel)},
             hint="backpropagate objective(h) (h detached) instead of h when an objective is given; " + _ROLL_HINT,
             verify=_check_jittered_step),
        Case("objective: a constant direction in relu3_1's feature space (a (64,) vector at every position), no jitter",
             {"model": d["shapes_trunk"], "layer": "relu3_1", "image": d["shapes"][:1], "step_size": 0.02,
              "jitter": 0, "seed": 0, "objective": partial(constant_direction, vector=vector)},
             hint="backpropagate objective(h) (h detached) instead of h when an objective is given",
             verify=_check_still_step),
    ]


_OCTAVE_HINT = ("smallest size first; the base is the image resized with antialias=True, the detail (result - base) is "
                "resized bilinearly without antialiasing and added to the next base")


def _dream_octaves_cases(seed: int) -> list[Case]:
    d = _networks_and_images(seed)
    g = d["g"]
    guide = partial(constant_direction, vector=torch.rand(32, generator=g))
    return [
        Case("shapes CNN trunk, a photo, 2 octaves x 3 steps, jitter: shape, [0, 1], the layer's activations rise",
             {"model": d["shapes_trunk"], "layer": _pick(["relu2_2", "relu3_1"], g), "image": d["photo"], "n_octaves": 2,
              "octave_scale": round(uniform(1.3, 1.6, g), 2), "steps": 3, "step_size": 0.015, "jitter": 2,
              "seed": int(torch.randint(0, 1000, (), generator=g))},
             hint="return the dream at the image's own size, clipped to [0, 1]", verify=_check_dream),
        Case("LeNet trunk, 3 digits, relu2, 2 octaves x 2 steps, jitter: shape, [0, 1], the layer's activations rise",
             {"model": d["lenet_trunk"], "layer": "relu2", "image": d["digits"], "n_octaves": 2,
              "octave_scale": round(uniform(1.2, 1.5, g), 2), "steps": 2, "step_size": 0.02, "jitter": 1,
              "seed": int(torch.randint(0, 1000, (), generator=g))},
             hint="return the dream at the image's own size, clipped to [0, 1]", verify=_check_dream),
        Case("one octave, no jitter: the same as `steps` dream steps at the image's size",
             {"model": d["shapes_trunk"], "layer": _pick(["relu1_2", "relu2_1"], g), "image": d["shapes"], "n_octaves": 1,
              "steps": 3, "step_size": 0.02, "jitter": 0, "seed": int(torch.randint(0, 1000, (), generator=g))},
             hint="with n_octaves=1 the only size is the image's own: call dream_step `steps` times, passing step_size, "
                  "jitter, normalize and objective on", verify=_check_one_octave_still),
        Case("3 octaves x 2 steps, no jitter, normalize=False, guided by a (32,) vector at relu2_1 (nothing random: "
             "compared with the solution's output)",
             {"model": d["shapes_trunk"], "layer": "relu2_1", "image": d["photo"], "n_octaves": 3, "octave_scale": 1.4,
              "steps": 2, "step_size": 0.002, "jitter": 0, "seed": int(torch.randint(0, 1000, (), generator=g)),
              "normalize": False, "objective": guide},
             hint=_OCTAVE_HINT),
        Case("LeNet trunk, 3 digits, relu2, 2 octaves x 2 steps, no jitter (nothing random: compared with the "
             "solution's output)",
             {"model": d["lenet_trunk"], "layer": "relu2", "image": d["digits"], "n_octaves": 2,
              "octave_scale": round(uniform(1.3, 1.6, g), 2), "steps": 2, "step_size": 0.02, "jitter": 0, "seed": 0},
             hint=_OCTAVE_HINT),
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
