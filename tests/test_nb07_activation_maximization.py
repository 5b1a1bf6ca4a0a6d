"""Notebook 07: the solution's class-model step, regularized ascent, edge energy and total variation against
independent computations and the properties their exercises state.

The three functions promise no errors for bad inputs (their docstrings list none), so none are tested here.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from course_utils import check, load_mnist, load_model
from course_utils.checks import load_expected, run_cases
from course_utils.exercises import get_exercise
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb07():
    return solution_functions("07_activation_maximization")


def tiny_model(seed=0, n_classes=4):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(2, 5, 3, padding=1)), ("relu", nn.ReLU()), ("pool", nn.AdaptiveAvgPool2d(2)),
        ("flatten", nn.Flatten()), ("fc", nn.Linear(20, n_classes)),
    ])).eval()


# ---------------------------------------------------------------- 07.1 class_model_step

def test_class_model_step_of_a_linear_model_is_the_closed_form(nb07):
    # S_c(x) = W[c] . x + b_c, so the gradient of S_c - lam ||x||^2 is W[c] - 2 lam x.
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 5)).eval()
    images, target = torch.randn(3, 2, 3, 4), torch.tensor([4, 0, 2])
    weights = model[1].weight.detach().reshape(5, 2, 3, 4)
    got = nb07["class_model_step"](model, images, target, 0.3, 0.05)
    torch.testing.assert_close(got, images + 0.05 * (weights[target] - 2 * 0.3 * images))


def test_class_model_step_equals_per_image_autograd_on_lenet_and_a_tiny_network(nb07):
    digits, labels = load_mnist("test")
    cases = [(load_model("lenet-mnist", device="cpu"), digits[:3], (labels[:3] + 1) % 10),
             (tiny_model(), torch.rand(2, 2, 6, 7), torch.tensor([3, 1]))]
    for model, images, target in cases:
        got = nb07["class_model_step"](model, images, target, 0.1, 0.2)
        for i in range(len(images)):
            x = images[i:i + 1].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(model(x)[0, int(target[i])] - 0.1 * (x ** 2).sum(), x)
            torch.testing.assert_close(got[i], (images[i] + 0.2 * grad[0]), rtol=1e-5, atol=1e-6)


def test_class_model_step_leaves_inputs_and_weights_untouched(nb07):
    model, images, target = tiny_model(), torch.rand(2, 2, 5, 5), torch.tensor([0, 1])
    before = images.clone()
    got = nb07["class_model_step"](model, images, target, 0.1, 0.1)
    assert torch.equal(images, before) and images.grad is None and not images.requires_grad
    assert not got.requires_grad and all(p.grad is None for p in model.parameters())


def test_class_model_step_with_zero_step_is_the_identity(nb07):
    images = torch.rand(2, 2, 5, 5)
    torch.testing.assert_close(nb07["class_model_step"](tiny_model(), images, torch.tensor([2, 3]), 0.5, 0.0), images)


def test_class_model_step_check_passes_and_catches_a_missing_factor_two(nb07):
    assert check(nb07["class_model_step"], quiet=True).passed

    def step_without_two(model, images, target, weight_decay, lr):
        x = images.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return (x + lr * (grad - weight_decay * x)).detach()

    ex = get_exercise("07.1")
    assert not run_cases(step_without_two, ex, ex.cases(0), load_expected(ex.notebook, ex.function)).passed


# ---------------------------------------------------------------- 07.2 regularized_ascent

def test_regularized_ascent_without_priors_is_a_loop_of_class_model_steps(nb07):
    model, target, start = tiny_model(), torch.tensor([0, 3]), torch.rand(2, 2, 6, 7)
    expected = start.clone()
    for _ in range(4):
        expected = nb07["class_model_step"](model, expected, target, 0.2, 0.1)
    got = nb07["regularized_ascent"](model, target, start, 4, 0.1, weight_decay=0.2)
    torch.testing.assert_close(got, expected)
    assert torch.equal(nb07["regularized_ascent"](model, target, start, 0, 0.1), start)


def test_regularized_ascent_jitter_is_undone_and_invisible_to_a_roll_invariant_model(nb07):
    # Circular padding and a global average pool: the logits do not change when the image is rolled, so the
    # jittered ascent must equal the plain one (a missing or wrong undo breaks this).
    torch.manual_seed(4)
    conv = torch.nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular")
    model = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(3, 2)).eval()
    start, target = torch.rand(2, 1, 8, 9), torch.tensor([1, 0])
    shifts = torch.randint(-3, 4, (5, 2), generator=torch.Generator().manual_seed(0))
    plain = nb07["regularized_ascent"](model, target, start, 5, 0.3)
    jittered = nb07["regularized_ascent"](model, target, start, 5, 0.3, shifts=shifts)
    torch.testing.assert_close(jittered, plain, rtol=1e-5, atol=1e-6)


def test_regularized_ascent_with_jitter_equals_an_explicit_loop_on_lenet(nb07):
    lenet = load_model("lenet-mnist", device="cpu")
    start, target = 0.1 * torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.tensor([3, 7])
    shifts = torch.tensor([[1, -2], [0, 2], [-1, 1]])
    x = start.clone()
    for dy, dx in shifts.tolist():
        x = x.roll((dy, dx), dims=(2, 3)).clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(lenet(x).gather(1, target[:, None]).sum() - 0.1 * x.pow(2).sum(), x)
        x = (x + 0.05 * grad).detach().roll((-dy, -dx), dims=(2, 3))
    got = nb07["regularized_ascent"](lenet, target, start, 3, 0.05, weight_decay=0.1, shifts=shifts)
    torch.testing.assert_close(got, x, rtol=1e-4, atol=1e-6)


def test_regularized_ascent_clipping_zeroes_at_least_the_percentile(nb07):
    lenet = load_model("lenet-mnist", device="cpu")
    target = torch.tensor([2, 5])
    for key in ("norm_percent", "contribution_percent"):
        got = nb07["regularized_ascent"](lenet, target, torch.zeros(2, 1, 28, 28), 3, 0.1, **{key: 60})
        zero_share = (got == 0).flatten(1).float().mean(dim=1)
        assert (zero_share >= 0.59).all() and (zero_share < 1).all(), (key, zero_share)
    # Colour images: a pixel is zeroed in all channels at once.
    shapes_cnn = load_model("shapes-cnn", device="cpu")
    got = nb07["regularized_ascent"](shapes_cnn, torch.tensor([1]), torch.full((1, 3, 64, 64), 0.5), 2, 0.05, norm_percent=50)
    zero = got == 0
    assert torch.equal(zero.all(dim=1), zero.any(dim=1))


def test_regularized_ascent_blur_happens_after_the_right_steps(nb07):
    from course_utils import gaussian_blur

    model, target, start = tiny_model(), torch.tensor([1, 2]), torch.rand(2, 2, 6, 7)
    expected = start.clone()
    for step in range(4):
        expected = nb07["class_model_step"](model, expected, target, 0.0, 0.1)
        if step % 2 == 1:
            expected = gaussian_blur(expected, 0.5)
    torch.testing.assert_close(nb07["regularized_ascent"](model, target, start, 4, 0.1, blur_every=2), expected)


def test_regularized_ascent_check_passes_and_catches_a_missing_undo(nb07):
    assert check(nb07["regularized_ascent"], quiet=True).passed

    def no_undo(model, target, start, n_steps, lr, weight_decay=0.0, shifts=None, blur_every=0, norm_percent=0,
                contribution_percent=0):
        x = start.clone()
        for k in range(n_steps):
            if shifts is not None:
                x = x.roll(tuple(int(v) for v in shifts[k]), dims=(2, 3))
            x = nb07["class_model_step"](model, x, target, weight_decay, lr)
        return x

    ex = get_exercise("07.2")
    assert not run_cases(no_undo, ex, ex.cases(0), load_expected(ex.notebook, ex.function)).passed


# ---------------------------------------------------------------- 07.3 edge_energy

def reference_edge_energy(images):
    """Fleuret's h(x) with scipy and numpy: zero-padded 5x5 blur, then 2x2 block means of the zero-padded image."""
    k = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
    g = np.outer(k, k) / np.outer(k, k).sum()
    out = []
    for image in images.double().numpy():
        total = 0.0
        for x in image:
            while x.shape[0] > 5 and x.shape[1] > 5:
                total += ((x - ndimage.correlate(x, g, mode="constant", cval=0.0)) ** 2).sum()
                p = np.pad(x, 1)
                h, w = (p.shape[0] - 2) // 2 + 1, (p.shape[1] - 2) // 2 + 1
                x = np.array([[p[2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(w)] for i in range(h)])
        out.append(total)
    return torch.tensor(out)


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (1, 3, 17, 30), (3, 2, 6, 9), (1, 1, 64, 64)])
def test_edge_energy_equals_scipy_and_a_loop(nb07, shape):
    images = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    got = nb07["edge_energy"](images)
    assert got.shape == (shape[0],)
    torch.testing.assert_close(got.double(), reference_edge_energy(images), rtol=1e-5, atol=1e-6)


def test_edge_energy_of_a_small_image_is_zero_and_channels_add_up(nb07):
    assert torch.equal(nb07["edge_energy"](torch.randn(2, 3, 5, 40)), torch.zeros(2))
    a, b = torch.randn(1, 1, 20, 20), torch.randn(1, 1, 20, 20)
    torch.testing.assert_close(nb07["edge_energy"](torch.cat([a, b], dim=1)),
                               nb07["edge_energy"](a) + nb07["edge_energy"](b))


def test_edge_energy_is_quadratic_and_differentiable(nb07):
    images = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(nb07["edge_energy"](3 * images), 9 * nb07["edge_energy"](images))
    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nb07["edge_energy"](x).sum(), x)
    # A quadratic form h(x) = x^T A x has gradient 2 A x, so x . grad h = 2 h.
    torch.testing.assert_close((images * grad).flatten(1).sum(1), 2 * nb07["edge_energy"](images), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- 07.4 total_variation

def loop_total_variation(images, beta):
    n, c, h, w = images.shape
    out = torch.zeros(n, dtype=torch.float64)
    x = images.double()
    for k in range(n):
        for ch in range(c):
            for i in range(h - 1):
                for j in range(w - 1):
                    out[k] += ((x[k, ch, i, j + 1] - x[k, ch, i, j]) ** 2 + (x[k, ch, i + 1, j] - x[k, ch, i, j]) ** 2) ** (beta / 2)
    return out


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0, 3.0])
def test_total_variation_equals_a_loop(nb07, beta):
    images = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(int(10 * beta)))
    got = nb07["total_variation"](images, beta)
    assert got.shape == (2,)
    torch.testing.assert_close(got.double(), loop_total_variation(images, beta), rtol=1e-5, atol=1e-6)


def test_total_variation_of_a_ramp_is_the_closed_form(nb07):
    # x[i, j] = a i + b j: every term is (a^2 + b^2)^(beta / 2), and there are (H - 1)(W - 1) of them.
    a, b, h, w = 0.3, -0.2, 7, 5
    ramp = (a * torch.arange(h)[:, None] + b * torch.arange(w)[None, :]).float()[None, None]
    for beta in (1.0, 2.0):
        torch.testing.assert_close(nb07["total_variation"](ramp, beta),
                                   torch.tensor([(h - 1) * (w - 1) * (a * a + b * b) ** (beta / 2)]), rtol=1e-5, atol=1e-6)
    assert nb07["total_variation"](torch.full((1, 2, 4, 4), 0.7), 1.0).item() == 0.0


@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_total_variation_properties_the_exercise_states(nb07, beta):
    images = torch.randn(3, 2, 6, 5, generator=torch.Generator().manual_seed(7))
    tv = nb07["total_variation"]
    torch.testing.assert_close(tv(images + 3.0, beta), tv(images, beta), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tv(2.0 * images, beta), 2.0 ** beta * tv(images, beta), rtol=1e-5, atol=1e-5)
    # The last row and column have no lower / right neighbour: changing the corner pixel changes nothing.
    changed = images.clone()
    changed[:, :, -1, -1] += 5.0
    torch.testing.assert_close(tv(changed, beta), tv(images, beta))


# ---------------------------------------------------------------- the ImageNet section, with an untrained VGG-16

def test_imagenet_section_runs_with_an_untrained_vgg16(nb07, monkeypatch):
    import nbformat
    import torchvision

    from course_utils.paths import solutions_dir

    nb = nbformat.read(solutions_dir() / "07_activation_maximization.ipynb", as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    helpers = next(s for s in sources if "def minus_edge_energy" in s)
    section = next(s for s in sources if 'imagenet_available("vgg16")' in s)
    assert "IMAGENET_SIZE, IMAGENET_STEPS = 128, 40" in section
    shown = []
    namespace = dict(nb07)
    namespace.update(imagenet_available=lambda name: True, device=torch.device("cpu"),
                     load_model=lambda name, device=None: torchvision.models.vgg16(weights=None).eval(),
                     show_images=lambda images, **kwargs: shown.append((images, kwargs)))
    exec(helpers, namespace)
    exec(section.replace("IMAGENET_SIZE, IMAGENET_STEPS = 128, 40", "IMAGENET_SIZE, IMAGENET_STEPS = 32, 2"), namespace)
    (images, kwargs), = shown
    assert images.shape == (2, 3, 32, 32) and kwargs["titles"] == ["Samoyed", "paper towel"]
    assert torch.isfinite(images).all()
