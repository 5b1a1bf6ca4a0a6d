"""Notebook 09: the solution's dream step and octave loop against independent computations.

dream_step is compared with a plain-numpy-free re-derivation: the gradient of 0.5 ||h||^2 taken by
autograd on a network split by hand, with the shift applied by index arithmetic instead of torch.roll;
dream_octaves against a loop written from the notebook's description, and against closed forms on a
network whose layer is the identity.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import load_image, load_model, load_shapes
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb09():
    return solution_functions("09_deepdream")


@pytest.fixture(scope="module")
def trunk():
    return load_model("shapes-cnn", device="cpu").features


def tiny_trunk(seed=0, channels=3):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels, 5, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(5, 4, 3, padding=1)), ("relu2", nn.ReLU()),
    ])).eval()


def shift(image, dy, dx):
    """Circular shift by index arithmetic: out[..., i, j] = image[..., (i - dy) % H, (j - dx) % W]."""
    h, w = image.shape[-2:]
    rows = (torch.arange(h) - dy) % h
    cols = (torch.arange(w) - dx) % w
    return image[..., rows[:, None], cols[None, :]]


def reference_step(head, image, step_size, shifts, normalize=True, guide=None):
    """One dream step written from the formula: grad of 0.5||h||^2 (or <h, guide> summed) by autograd,
    each image shifted by its own (dy, dx) from ``shifts``."""
    x = torch.stack([shift(im, dy, dx) for im, (dy, dx) in zip(image.detach(), shifts)]).requires_grad_(True)
    h = head(x)
    energy = 0.5 * (h ** 2).sum() if guide is None else (h * guide.reshape(1, -1, 1, 1)).sum()
    (g,) = torch.autograd.grad(energy, x)
    if normalize:
        g = torch.stack([gi / (gi.abs().mean() + 1e-8) for gi in g])
    stepped = x.detach() + step_size * g
    return torch.stack([shift(im, -dy, -dx) for im, (dy, dx) in zip(stepped, shifts)]).clamp(0, 1)


def drawn_shifts(n, jitter, seed):
    """The offsets course_utils.random_shift draws: one (dy, dx) per image from a generator seeded by ``seed``."""
    return torch.randint(-jitter, jitter + 1, (n, 2), generator=torch.Generator().manual_seed(seed)).tolist()


def direction(vector):
    return lambda h: vector.reshape(1, -1, 1, 1).expand_as(h)


def assert_images_close(got, expected, tol=1e-4):
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=tol)


# ---------------------------------------------------------------- 09.1 dream_step

@pytest.mark.parametrize("layer, upto", [("relu1", 2), ("relu2", 5)])
@pytest.mark.parametrize("normalize", [True, False])
def test_dream_step_matches_autograd_on_a_split_network(nb09, layer, upto, normalize):
    model = tiny_trunk()
    image = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(3))
    got = nb09["dream_step"](model, layer, image, 0.05, 3, seed=11, normalize=normalize)
    assert_images_close(got, reference_step(model[:upto], image, 0.05, drawn_shifts(2, 3, 11), normalize=normalize))


def test_dream_step_on_the_shapes_trunk_and_a_photo(nb09, trunk):
    image = load_image("astronaut", (40, 52))
    got = nb09["dream_step"](trunk, "relu3_1", image, 0.02, 4, seed=5)
    assert_images_close(got, reference_step(trunk[:12], image, 0.02, drawn_shifts(1, 4, 5)))


def test_guided_step_ascends_the_inner_product_with_the_guide(nb09):
    model = tiny_trunk(seed=2)
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    guide = torch.tensor([0.5, 0.0, 1.0, 0.2])
    got = nb09["dream_step"](model, "relu2", image, 0.03, 2, seed=9, objective=direction(guide))
    assert_images_close(got, reference_step(model, image, 0.03, drawn_shifts(1, 2, 9), guide=guide))


def test_jittered_step_is_the_unjittered_step_of_the_shifted_image_shifted_back(nb09):
    model = tiny_trunk(seed=3)
    image = torch.rand(3, 3, 10, 10, generator=torch.Generator().manual_seed(8))
    got = nb09["dream_step"](model, "relu2", image, 0.04, 3, seed=21)
    for im, out, (dy, dx) in zip(image, got, drawn_shifts(3, 3, 21)):
        still = nb09["dream_step"](model, "relu2", shift(im, dy, dx)[None], 0.04, 0)
        assert_images_close(out[None], shift(still[0], -dy, -dx)[None], tol=1e-5)


def test_one_channel_objective_raises_that_channel(nb09, trunk):
    shapes, _, _ = load_shapes("test")
    image = shapes[:1]
    mask = torch.zeros(1, 64, 1, 1)
    mask[0, 7] = 1.0
    out = nb09["dream_step"](trunk, "relu3_1", image, 0.02, 0, objective=lambda h: h * mask)
    channel = lambda x: float(trunk[:12](x)[0, 7].detach().pow(2).sum())
    assert channel(out) > channel(image)


def test_best_match_against_a_loop(nb09):
    g = torch.Generator().manual_seed(12)
    h, guide = torch.randn(2, 5, 3, 4, generator=g), torch.randn(5, 7, generator=g)
    got = nb09["best_match"](h, guide)
    assert got.shape == h.shape
    for n in range(2):
        for u in range(3):
            for v in range(4):
                scores = [float(h[n, :, u, v].double() @ guide[:, m].double()) for m in range(7)]
                torch.testing.assert_close(got[n, :, u, v], guide[:, int(np.argmax(scores))])
    torch.testing.assert_close(nb09["best_match"](h, guide[:, :1]), guide[:, :1].reshape(1, 5, 1, 1).expand_as(h))


def test_normalized_step_moves_pixels_by_step_size_on_average_when_nothing_clips(nb09):
    # With pixels far from 0 and 1 nothing is clipped, so mean |change| = step_size * mean|g| / (mean|g| + 1e-8).
    model = tiny_trunk(seed=1)
    image = 0.4 + 0.2 * torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    out = nb09["dream_step"](model, "relu2", image, 0.01, 0, seed=0)
    assert abs(float((out - image).abs().mean()) - 0.01) < 1e-6


def test_dream_step_raises_the_layers_energy_and_leaves_the_input_alone(nb09, trunk):
    shapes, _, _ = load_shapes("test")
    image = shapes[:2].clone()
    before = image.clone()
    out = nb09["dream_step"](trunk, "relu2_2", image, 0.01, 2, seed=1)
    assert torch.equal(image, before)
    energy = lambda x: (trunk[:9](x) ** 2).sum().item()
    assert energy(out) > energy(image)
    assert out.min() >= 0 and out.max() <= 1


def test_zero_jitter_does_not_shift(nb09):
    model = tiny_trunk()
    image = torch.rand(1, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    a = nb09["dream_step"](model, "relu2", image, 0.05, 0, seed=1)
    b = nb09["dream_step"](model, "relu2", image, 0.05, 0, seed=123)
    assert torch.equal(a, b)


# ---------------------------------------------------------------- 09.2 dream_octaves

def reference_octaves(nb09, model, layer, image, n_octaves, scale, steps, step_size, jitter, seed):
    """The octave loop from its description, with the solution's dream_step as the step."""
    h, w = image.shape[-2:]
    t = 0
    detail = None
    for k in range(n_octaves - 1, -1, -1):
        size = (round(h / scale ** k), round(w / scale ** k))
        base = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
        x = base if detail is None else base + F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        for _ in range(steps):
            x = nb09["dream_step"](model, layer, x, step_size, jitter, seed=seed + t)
            t += 1
        detail = x - base
    return x


def test_dream_octaves_matches_the_loop(nb09, trunk):
    image = load_image("coffee", (45, 50))
    got = nb09["dream_octaves"](trunk, "relu2_2", image, n_octaves=3, octave_scale=1.3, steps=2, step_size=0.02, jitter=2, seed=7)
    assert_images_close(got, reference_octaves(nb09, trunk, "relu2_2", image, 3, 1.3, 2, 0.02, 2, 7))


def test_one_octave_is_repeated_steps(nb09):
    model = tiny_trunk()
    image = torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    x = image
    for t in range(3):
        x = nb09["dream_step"](model, "relu2", x, 0.02, 1, seed=4 + t)
    got = nb09["dream_octaves"](model, "relu2", image, n_octaves=1, steps=3, step_size=0.02, jitter=1, seed=4)
    assert_images_close(got, x, tol=1e-6)


def test_on_an_identity_layer_the_dream_brightens_every_pixel_by_the_step(nb09):
    # h = x (an identity "network", pixels in (0.3, 0.5)): the raw gradient is x > 0, normalized to x / mean x,
    # so after n steps without jitter each pixel has risen by about n * step * x / mean(x); nothing clips.
    model = nn.Sequential(OrderedDict([("identity", nn.Identity())]))
    image = 0.3 + 0.2 * torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    out = nb09["dream_octaves"](model, "identity", image, n_octaves=1, steps=2, step_size=0.01, jitter=0)
    first = image + 0.01 * image / image.mean()
    second = first + 0.01 * first / first.mean()
    assert_images_close(out, second, tol=1e-6)
    assert out.shape == image.shape


def test_dream_octaves_output_is_valid_and_deterministic(nb09, trunk):
    image = load_image("chelsea", 48)
    a = nb09["dream_octaves"](trunk, "relu3_1", image, n_octaves=2, steps=2)
    b = nb09["dream_octaves"](trunk, "relu3_1", image, n_octaves=2, steps=2)
    assert torch.equal(a, b) and a.shape == image.shape and a.min() >= 0 and a.max() <= 1


# ---------------------------------------------------------------- the self-checks test properties (issue 28)

def _check_result(function):
    from course_utils.checks import load_expected, run_cases
    from course_utils.exercises import get_exercise

    exercise = get_exercise(function.__name__)
    return run_cases(function, exercise, exercise.cases(0), load_expected(exercise.notebook, exercise.function))


def _failing(result):
    return [i for i, case in enumerate(result.cases) if not case.passed]


def test_a_dream_step_with_its_own_random_shifts_passes_the_check(nb09):
    """The check tests properties, so an answer that draws its shifts another way (here: every image the same
    shift, from the global generator) passes as long as each shift is within `jitter` and undone."""
    from course_utils.hooks import capture_activations

    def dream_step(model, layer, image, step_size, jitter, seed=0, normalize=True, objective=None):
        generator = torch.Generator().manual_seed(1000 + seed)
        dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
        x = torch.roll(image.detach(), (dy, dx), dims=(2, 3)).requires_grad_(True)
        with capture_activations(model, layer, detach=False) as acts:
            model(x)
        h = acts[layer]
        (g,) = torch.autograd.grad(h, x, grad_outputs=h.detach() if objective is None else objective(h.detach()))
        if normalize:
            g = g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return torch.roll(x.detach() + step_size * g, (-dy, -dx), dims=(2, 3)).clamp(0, 1)

    result = _check_result(dream_step)
    assert result.passed, result.report()


@pytest.mark.parametrize("bug, failing", [
    ("no undo", {0, 3}),                 # the jittered cases: the result stays shifted
    ("no clip", None),                   # some case leaves [0, 1]
    ("batch normalization", {0}),        # one mean |g| for the whole batch: the 2-image case fails
    ("objective ignored", {3, 4}),
    ("ascends downhill", None),
])
def test_a_wrong_dream_step_fails_the_check_where_its_bug_shows(nb09, bug, failing):
    def dream_step(model, layer, image, step_size, jitter, seed=0, normalize=True, objective=None):
        from course_utils import random_shift
        from course_utils.hooks import capture_activations

        shifted, undo = random_shift(image.detach(), jitter, torch.Generator().manual_seed(seed))
        x = shifted.clone().requires_grad_(True)
        with capture_activations(model, layer, detach=False) as acts:
            model(x)
        h = acts[layer]
        h_bar = h.detach() if objective is None or bug == "objective ignored" else objective(h.detach())
        (g,) = torch.autograd.grad(h, x, grad_outputs=h_bar)
        if normalize:
            g = g / (g.abs().mean() + 1e-8) if bug == "batch normalization" else g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
        out = x.detach() + (-1 if bug == "ascends downhill" else 1) * step_size * g
        out = out if bug == "no undo" else undo(out)
        return out if bug == "no clip" else out.clamp(0, 1)

    result = _check_result(dream_step)
    assert not result.passed, bug
    if failing is not None:
        assert set(_failing(result)) == failing, (bug, result.report())
    assert all(case.message.split("\n")[0] for case in result.cases if not case.passed)


def test_a_dream_octaves_with_its_own_seeds_passes_and_a_single_scale_one_fails(nb09):
    def dream_octaves(model, layer, image, n_octaves=3, octave_scale=1.4, steps=10, step_size=0.015, jitter=4, seed=0,
                      normalize=True, objective=None):
        rows, cols = image.shape[-2:]
        detail, t = None, 0
        for k in range(n_octaves - 1, -1, -1):
            size = (round(rows / octave_scale ** k), round(cols / octave_scale ** k))
            base = F.interpolate(image.detach(), size, mode="bilinear", align_corners=False, antialias=True)
            x = base if detail is None else base + F.interpolate(detail, size, mode="bilinear", align_corners=False)
            for _ in range(steps):
                x = nb09["dream_step"](model, layer, x, step_size, jitter, seed=31 * seed + 7 * t + 5, normalize=normalize,
                                       objective=objective)
                t += 1
            detail = x - base
        return x

    result = _check_result(dream_octaves)
    assert result.passed, result.report()

    def single_scale(model, layer, image, n_octaves=3, octave_scale=1.4, steps=10, step_size=0.015, jitter=4, seed=0,
                     normalize=True, objective=None):
        x = image
        for t in range(steps * n_octaves):
            x = nb09["dream_step"](model, layer, x, step_size, jitter, seed=seed + t, normalize=normalize, objective=objective)
        return x

    dream_octaves = single_scale
    dream_octaves.__name__ = "dream_octaves"
    result = _check_result(dream_octaves)
    assert _failing(result) == [3, 4], result.report()
    assert "hint: smallest size first" in result.report()


# ---------------------------------------------------------------- the ImageNet section

def test_imagenet_section_runs_with_an_untrained_squeezenet(nb09, tmp_path, monkeypatch):
    """The notebook's ImageNet cell, run with torchvision's SqueezeNet 1.1 built without weights and cached offline."""
    import nbformat
    import torchvision

    from course_utils.imagenet import imagenet_weights_path
    from course_utils.paths import solutions_dir

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    torch.manual_seed(0)
    path = imagenet_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)

    nb = nbformat.read(solutions_dir() / "09_deepdream.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and 'imagenet_available("squeezenet1_1")' in c.source]
    namespace = dict(nb09)
    exec(compile(cell.source, "<ImageNet cell>", "exec"), namespace)
    dreams = namespace["imagenet_dreams"]
    assert len(dreams) == 2
    for dream in dreams:
        assert dream.shape == (1, 3, 160, 160) and dream.min() >= 0 and dream.max() <= 1
        assert not torch.equal(dream, namespace["cat"])
