"""Notebook 06: the three ReLU backward rules, guided Grad-CAM and one unit's projection, against independent
computations (autograd of a plain ReLU, closed forms for a two-layer network, transposed convolutions by hand,
Grad-CAM on a network split by hand), on the shipped networks and on untrained torchvision AlexNet and VGG-16,
whose ReLUs work in place; plus ``course_utils.hooks.relu_rule_gradient`` and the notebook's ImageNet cell.
"""
import contextlib
import io
from collections import OrderedDict

import matplotlib
import nbformat
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils import check, load_mnist, load_model, load_shapes, relu_backward_rule
from course_utils.checks import load_expected, run_cases
from course_utils.exercises import get_exercise
from instructor.expected import python_only, solution_functions
from course_utils.hooks import relu_rule_gradient
from course_utils.paths import solutions_dir

matplotlib.use("Agg")
RULES = ("backprop", "deconvnet", "guided")


@pytest.fixture(scope="module")
def nb06():
    with contextlib.redirect_stdout(io.StringIO()):
        return solution_functions("06_guided_backprop")


@pytest.fixture(scope="module")
def data():
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    return {"lenet": load_model("lenet-mnist", device="cpu"), "cnn": load_model("shapes-cnn", device="cpu"),
            "digits": digits[:2], "digit_labels": digit_labels[:2], "shapes": shapes[[0, 5]], "shape_labels": shape_labels[[0, 5]]}


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).eval()


@pytest.fixture(scope="module")
def vgg16():
    torch.manual_seed(1)
    return torchvision.models.vgg16(weights=None).eval()


def tiny_model(seed=0, n_classes=4):
    """conv - ReLU (in place) - maxpool - conv - ReLU (in place) - global average pooling - linear."""
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 6, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)), ("pool", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 5, 3)), ("relu2", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, n_classes)),
    ])).eval()


def swapped_in_every_relu(model, relu_backward, rule):
    """A context manager that makes every nn.ReLU call `relu_backward` in its backward pass (written here anew)."""

    class Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, s):
            ctx.save_for_backward(s)
            return s.clamp(min=0)

        @staticmethod
        def backward(ctx, g):
            (s,) = ctx.saved_tensors
            return relu_backward(s, g, rule)

    @contextlib.contextmanager
    def swap():
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        try:
            for m in relus:
                m.forward = Rule.apply
            yield
        finally:
            for m in relus:
                m.__dict__.pop("forward", None)
    return swap()


def autograd_input_gradient(model, inputs, target):
    x = inputs.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return grad


def assert_close(got, expected, rtol=1e-4):
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=rtol, atol=rtol * float(expected.abs().max()))


def no_swapped_relus(model):
    return all("forward" not in m.__dict__ for m in model.modules() if isinstance(m, nn.ReLU))


# ---------------------------------------------------------------- 06.1 relu_backward

def test_relu_backward_backprop_is_autograd_of_a_relu(nb06):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 4, 5, generator=g)
    s[0, 0] = 0.0                                                    # autograd's ReLU passes nothing at s = 0 too
    grad_output = torch.randn(3, 4, 5, generator=g)
    x = s.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.relu(x), x, grad_output)
    assert torch.equal(nb06["relu_backward"](s, grad_output, "backprop"), expected)


def test_relu_backward_rules_entry_by_entry(nb06):
    # Every entry against the rule written as a plain Python if, including s = 0 and g = 0.
    g = torch.Generator().manual_seed(1)
    s = torch.randint(-2, 3, (60,), generator=g).double()
    grad_output = torch.randint(-2, 3, (60,), generator=g).double()
    for rule in RULES:
        got = nb06["relu_backward"](s, grad_output, rule)
        assert got.dtype == grad_output.dtype and got.shape == grad_output.shape
        for si, gi, out in zip(s.tolist(), grad_output.tolist(), got.tolist()):
            passes = {"backprop": si > 0, "deconvnet": gi > 0, "guided": si > 0 and gi > 0}[rule]
            assert out == (gi if passes else 0.0)


def test_relu_backward_deconvnet_is_a_relu_of_the_gradient(nb06):
    g = torch.Generator().manual_seed(2)
    s, grad_output = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    assert torch.equal(nb06["relu_backward"](s, grad_output, "deconvnet"), F.relu(grad_output))
    assert torch.equal(nb06["relu_backward"](s, grad_output, "guided"), F.relu(grad_output) * (s > 0))


def test_relu_backward_rejects_an_unknown_rule(nb06):
    with pytest.raises(ValueError, match="backprop"):
        nb06["relu_backward"](torch.ones(2), torch.ones(2), "zeiler")


@pytest.mark.parametrize("rule", RULES)
def test_relu_backward_in_every_relu_gives_relu_backward_rule_maps_on_torchvision_alexnet(nb06, alexnet, rule):
    assert all(m.inplace for m in alexnet.modules() if isinstance(m, nn.ReLU))
    x, target = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3)), torch.tensor([1, 900])
    with swapped_in_every_relu(alexnet, nb06["relu_backward"], rule):
        yours = autograd_input_gradient(alexnet, x, target)
    assert no_swapped_relus(alexnet)
    with relu_backward_rule(alexnet, rule):
        reference = autograd_input_gradient(alexnet, x, target)
    assert_close(yours, reference, rtol=1e-6)
    if rule != "backprop":
        assert_close(relu_rule_gradient(alexnet, x, target, rule), reference, rtol=1e-6)
    if rule == "backprop":
        assert_close(reference, autograd_input_gradient(alexnet, x, target), rtol=1e-6)
    else:
        assert not torch.allclose(reference, autograd_input_gradient(alexnet, x, target))


@pytest.mark.parametrize("rule", RULES)
def test_relu_backward_in_every_relu_gives_relu_backward_rule_maps_on_torchvision_vgg16(nb06, vgg16, rule):
    x, target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)), torch.tensor([7])
    with swapped_in_every_relu(vgg16, nb06["relu_backward"], rule):
        yours = autograd_input_gradient(vgg16, x, target)
    with relu_backward_rule(vgg16, rule):
        reference = autograd_input_gradient(vgg16, x, target)
    assert_close(yours, reference, rtol=1e-6)
    if rule != "backprop":
        assert_close(yours, relu_rule_gradient(vgg16, x, target, rule), rtol=1e-6)
    assert no_swapped_relus(vgg16)


def test_relu_backward_check_passes_and_catches_swapped_rules(nb06):
    assert check(nb06["relu_backward"], quiet=True).passed

    def swapped(pre_activation, grad_output, rule):  # deconvnet and backprop confused
        other = {"backprop": "deconvnet", "deconvnet": "backprop", "guided": "guided"}[rule]
        return nb06["relu_backward"](pre_activation, grad_output, other)

    ex = get_exercise("06.1")
    assert not run_cases(swapped, ex, ex.cases(0), load_expected(ex.notebook, ex.function)).passed


def test_hidden_cases_differ_from_the_visible_ones():
    for key in ("06.1", "06.2", "06.3"):
        ex = get_exercise(key)
        visible, hidden = ex.cases(0), ex.cases(1)
        assert len(visible) == len(hidden)
        for a, b in zip(visible, hidden):
            # the inputs (tensors) always differ; models and rules may be the same
            tensors = [k for k, v in a.kwargs.items() if isinstance(v, torch.Tensor)]
            assert tensors and all(a.kwargs[k].shape != b.kwargs[k].shape or not torch.equal(a.kwargs[k], b.kwargs[k])
                                   for k in tensors), f"{key}: hidden case {b.name!r} repeats a visible one"


# ---------------------------------------------------------------- relu_rule_gradient, closed forms

def two_layer(seed=0):
    """y = W2 relu(W1 x + b1): a linear layer, an in-place ReLU, a linear layer."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 7), nn.ReLU(inplace=True), nn.Linear(7, 3)).eval()


@pytest.mark.parametrize("rule", RULES)
def test_relu_rule_gradient_of_a_two_layer_network_is_the_closed_form(rule):
    model = two_layer()
    x, target = torch.rand(3, 2, 3, 4, generator=torch.Generator().manual_seed(5)), torch.tensor([0, 2, 1])
    w1, b1, w2 = model[1].weight.detach(), model[1].bias.detach(), model[3].weight.detach()
    on = (x.flatten(1) @ w1.T + b1) > 0                                # (3, 7): which hidden units the image switches on
    g = w2[target]                                                     # (3, 7): d y_t / d hidden
    passed = {"backprop": g * on, "deconvnet": g.clamp(min=0), "guided": g.clamp(min=0) * on}[rule]
    expected = (passed @ w1).reshape(x.shape)
    if rule == "backprop":      # relu_rule_gradient refuses the plain gradient (exercise 05.1); the rule swapped in gives it
        with relu_backward_rule(model, rule):
            assert_close(autograd_input_gradient(model, x, target), expected, rtol=1e-5)
    else:
        assert_close(relu_rule_gradient(model, x, target, rule), expected, rtol=1e-5)


def test_relu_rule_gradient_leaves_inputs_and_model_untouched():
    model, x, target = tiny_model(), torch.rand(2, 3, 8, 8), torch.tensor([0, 3])
    before = x.clone()
    out = relu_rule_gradient(model, x, target, "guided")
    assert out.shape == x.shape and not out.requires_grad
    assert torch.equal(x, before) and x.grad is None and not x.requires_grad
    assert all(p.grad is None for p in model.parameters()) and no_swapped_relus(model)
    assert torch.equal(relu_rule_gradient(model, x, 1, "deconvnet"), relu_rule_gradient(model, x, torch.tensor([1, 1]), "deconvnet"))


def test_relu_rule_gradient_errors_say_what_to_do():
    model = tiny_model()
    with pytest.raises(ValueError, match="Unknown ReLU backward rule"):
        relu_rule_gradient(model, torch.rand(1, 3, 8, 8), torch.tensor([0]), "zeiler")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        relu_rule_gradient(model, torch.rand(3, 8, 8), torch.tensor([0]), "guided")
    with pytest.raises(ValueError, match="one integer class index per image"):
        relu_rule_gradient(model, torch.rand(2, 3, 8, 8), torch.tensor([0.5, 1.0]), "guided")
    with pytest.raises(ValueError, match="exercise 05.1"):      # no helper answers an exercise
        relu_rule_gradient(model, torch.rand(1, 3, 8, 8), torch.tensor([0]), "backprop")
    assert no_swapped_relus(model)


# ---------------------------------------------------------------- 06.2 guided_grad_cam

def reference_grad_cam(head, tail, image, t):
    """Grad-CAM for one image with the network split by hand at the layer: maps = head(x), logits = tail(maps)."""
    maps = head(image[None]).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(tail(maps.clone())[0, int(t)], maps)
    cam = torch.relu(torch.einsum("k,khw->hw", grad[0].mean(dim=(1, 2)), maps[0].detach()))
    return F.interpolate(cam[None, None], size=tuple(image.shape[1:]), mode="bilinear", align_corners=False)[0, 0]


def reference_guided_backprop(head_layers, tail, image, t):
    """Guided backprop for one image by hand: autograd for the linear parts, the guided rule applied at each ReLU."""
    # Forward, keeping every ReLU's input; then backward through the layers in reverse, one at a time.
    x = image[None]
    inputs, layers = [], list(head_layers) + [tail]
    for layer in layers:
        inputs.append(x)
        x = layer(x.clone())
    g = torch.zeros_like(x)
    g[0, int(t)] = 1.0
    for layer, a in zip(reversed(layers), reversed(inputs)):
        if isinstance(layer, nn.ReLU):
            g = g.clamp(min=0) * (a > 0)
        else:
            a = a.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(layer(a.clone()), a, g)
    return g[0]


def test_guided_grad_cam_is_guided_backprop_times_grad_cam_by_hand(nb06):
    model = tiny_model(seed=3)
    x, target = torch.rand(3, 3, 10, 12, generator=torch.Generator().manual_seed(6)), torch.tensor([0, 2, 3])
    got = nb06["guided_grad_cam"](model, x, target, "relu2")
    assert got.shape == (3, 10, 12) and (got >= 0).all() and not got.requires_grad
    layers = list(model.children())
    head, tail = nn.Sequential(*layers[:5]), nn.Sequential(*layers[5:])
    expected = torch.stack([reference_guided_backprop(layers[:7], layers[7], image, t).abs().amax(dim=0)
                            * reference_grad_cam(head, tail, image, t) for image, t in zip(x, target)])
    assert_close(got, expected)
    assert no_swapped_relus(model)


def test_guided_grad_cam_on_the_shapes_cnn(nb06, data):
    cnn, shapes, labels = data["cnn"], data["shapes"], data["shape_labels"]
    features, classifier = cnn.features, cnn.classifier
    names = list(features._modules)
    cut = names.index("relu3_2") + 1
    head, tail = features[:cut], nn.Sequential(features[cut:], classifier)
    for target in (labels, (labels + 3) % 8):
        expected = torch.stack([
            reference_guided_backprop(list(features.children()), classifier, image, t).abs().amax(dim=0)
            * reference_grad_cam(head, tail, image, t) for image, t in zip(shapes, target)])
        assert_close(nb06["guided_grad_cam"](cnn, shapes, target, "features.relu3_2"), expected)


@pytest.mark.parametrize("layer", ["features.28", "features.29"])
def test_guided_grad_cam_on_untrained_vgg16_with_in_place_relus(nb06, vgg16, layer):
    x, target = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(7)), torch.tensor([3])
    got = nb06["guided_grad_cam"](vgg16, x, target, layer)
    expected = relu_rule_gradient(vgg16, x, target, "guided").abs().amax(dim=1) * nb06["grad_cam"](vgg16, x, target, layer)
    assert got.shape == (1, 64, 64)
    assert_close(got, expected)
    assert no_swapped_relus(vgg16) and all(not m._forward_hooks for m in vgg16.modules())


def test_guided_grad_cam_check_passes(nb06):
    assert check(nb06["guided_grad_cam"], quiet=True).passed
    assert check(nb06["grad_cam"], quiet=True).passed                # the pasted copy of 05.3


# ---------------------------------------------------------------- 06.3 unit_projection

def deconvnet_by_transposed_convolutions(conv1, conv2, image, channel, rule):
    """Zeiler & Fergus's deconvnet, literally: conv1 -> ReLU -> conv2, one unit of conv2 projected down with
    transposed convolutions using the same filters, a ReLU (deconvnet) or a ReLU and the forward mask (guided)."""
    s1 = conv1(image[None])
    out = conv2(torch.relu(s1))[0, channel]
    flat = int(out.flatten().argmax())
    unit = torch.zeros_like(conv2(torch.relu(s1)))
    unit[0, channel, flat // out.shape[1], flat % out.shape[1]] = 1.0
    g = F.conv_transpose2d(unit, conv2.weight, padding=conv2.padding)
    g = {"backprop": g * (s1 > 0), "deconvnet": g.clamp(min=0), "guided": g.clamp(min=0) * (s1 > 0)}[rule]
    return F.conv_transpose2d(g, conv1.weight, padding=conv1.padding)[0]


@pytest.mark.parametrize("rule", RULES)
def test_unit_projection_is_zeiler_and_fergus_transposed_convolutions(nb06, rule):
    torch.manual_seed(8)
    conv1, conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3)
    model = nn.Sequential(OrderedDict([("conv1", conv1), ("relu1", nn.ReLU(inplace=True)), ("conv2", conv2),
                                       ("relu2", nn.ReLU())])).eval()
    x = torch.rand(3, 3, 9, 11, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = torch.stack([deconvnet_by_transposed_convolutions(conv1, conv2, image, 2, rule) for image in x])
    got = nb06["unit_projection"](model, x, "conv2", 2, rule)
    assert got.shape == x.shape and not got.requires_grad
    assert_close(got, expected, rtol=1e-5)
    assert no_swapped_relus(model) and all(not m._forward_hooks for m in model.modules())


def test_unit_projection_with_backprop_is_the_gradient_of_the_strongest_unit(nb06, data, vgg16):
    for model, x, layer, channel in [(data["cnn"], data["shapes"], "features.relu3_1", 11),
                                     (data["lenet"], data["digits"], "relu1", 4),
                                     (vgg16, torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(10)), "features.22", 100)]:
        # the layer's output by running the network up to it, one image at a time, then autograd of one entry
        expected = []
        for image in x:
            leaf = image[None].clone().requires_grad_(True)
            recorded = {}
            module = dict(model.named_modules())[layer]
            handle = module.register_forward_hook(lambda m, i, o: recorded.setdefault("out", o.clone()))
            try:
                model(leaf)
            finally:
                handle.remove()
            a = recorded["out"][0, channel]
            flat = int(a.detach().flatten().argmax())
            (grad,) = torch.autograd.grad(a.flatten()[flat], leaf)
            expected.append(grad[0])
        got = nb06["unit_projection"](model, x, layer, channel, "backprop")
        assert_close(got, torch.stack(expected))
        assert no_swapped_relus(model)


def test_unit_projection_leaves_inputs_untouched_and_cleans_up_after_an_error(nb06, data):
    model, x = tiny_model(), torch.rand(2, 3, 8, 8)
    before = x.clone()
    nb06["unit_projection"](model, x, "relu2", 1, "guided")
    assert torch.equal(x, before) and x.grad is None and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError):
        nb06["unit_projection"](data["cnn"], torch.rand(1, 3, 32, 32), "features.relu3_2", 0, "guided")
    assert no_swapped_relus(data["cnn"]) and all(not m._forward_hooks for m in data["cnn"].modules())


def test_unit_projection_check_passes_and_catches_the_wrong_rule(nb06):
    assert check(nb06["unit_projection"], quiet=True).passed

    def always_guided(model, inputs, layer, channel, rule):
        return nb06["unit_projection"](model, inputs, layer, channel, "guided")

    ex = get_exercise("06.3")
    assert not run_cases(always_guided, ex, ex.cases(0), load_expected(ex.notebook, ex.function)).passed


# ---------------------------------------------------------------- the ImageNet section, with an untrained VGG-16

def test_imagenet_cell_runs_with_an_untrained_vgg16(nb06, vgg16, monkeypatch):
    nb = nbformat.read(solutions_dir() / "06_guided_backprop.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and 'imagenet_available("vgg16")' in c.source]
    assert len(cells) == 1
    namespace = dict(nb06)
    drawn = []
    namespace.update({
        "imagenet_available": lambda name=None: name == "vgg16",
        "load_model": lambda name, device=None: vgg16,
        # a small photo keeps the test fast; VGG-16 takes any size from 32 x 32 up
        "load_image": lambda name, size=None: torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(11)),
        "show_images": lambda images, **kw: drawn.append((len(images), kw.get("titles"))) or (None, None),
    })
    exec(compile(cells[0], "<imagenet cell>", "exec"), namespace)
    assert [n for n, _ in drawn] == [1, 9]
    assert no_swapped_relus(vgg16) and all(not m._forward_hooks for m in vgg16.modules())


# ---------------------------------------------------------------- earlier exercises: 05.3 grad_cam, 02.1 top_activations

def _cell_source(marker):
    nb = nbformat.read(solutions_dir() / "06_guided_backprop.ipynb", as_version=4)
    return python_only(next(c.source for c in nb.cells if c.cell_type == "code" and marker in c.source))


@pytest.fixture(scope="module")
def without_grad_cam():
    """Notebook 06's setup cell and exercise 06.2's cell (the solution), run with grad_cam still a stub."""
    namespace = {"__name__": "nb06_without_grad_cam"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_cell_source("seed_everything(0)"), "<setup>", "exec"), namespace)
    exec("def grad_cam(model, inputs, target, layer):\n    raise NotImplementedError()", namespace)
    exec(compile(_cell_source("def guided_grad_cam("), "<06.2>", "exec"), namespace)
    return namespace


def test_guided_grad_cam_passes_without_grad_cam_on_captums(nb06, without_grad_cam, data, capsys):
    """06.2 does not wait for 05.3: with grad_cam a stub, grad_cam_in_use is Captum's LayerGradCam (one line says so),
    equal to the solution's grad_cam, and the solution's guided_grad_cam passes its check."""
    cnn, shapes, labels = data["cnn"], data["shapes"], data["shape_labels"]
    capsys.readouterr()
    used = without_grad_cam["grad_cam_in_use"](cnn, shapes, labels, "features.relu3_2")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "is not done yet" in out[0] and "Captum's LayerGradCam" in out[0], out
    assert_close(used, nb06["grad_cam"](cnn, shapes, labels, "features.relu3_2"))
    assert check(without_grad_cam["guided_grad_cam"], quiet=True).passed


def test_a_wrong_grad_cam_is_replaced_and_a_right_one_used(nb06, without_grad_cam, capsys):
    namespace, solution_grad_cam = without_grad_cam, nb06["grad_cam"]
    exec("def probe():\n    return earlier_exercise(grad_cam, captum_grad_cam, '05.3', \"Captum's LayerGradCam\")", namespace)
    namespace["grad_cam"] = lambda model, inputs, target, layer: 2 * solution_grad_cam(model, inputs, target, layer)
    capsys.readouterr()
    assert namespace["probe"]() is namespace["captum_grad_cam"]
    line = capsys.readouterr().out.strip()
    assert "fails exercise 05.3's check (case 1/" in line and "\n" not in line, line
    right = namespace["grad_cam"] = lambda model, inputs, target, layer: solution_grad_cam(model, inputs, target, layer)
    assert namespace["probe"]() is right                   # a new function: decided afresh (earlier tests decided for the solution's)
    assert "passes exercise 05.3's check" in capsys.readouterr().out
    assert namespace["probe"]() is right and capsys.readouterr().out == ""      # decided once per version of the function


def test_the_stored_top_activations_are_up_to_date():
    """data/stored/06_top_activations.npz is what the solution's top_activations (02.1) finds today (values compared:
    a dead channel's units tie at 0, so their order is arbitrary)."""
    import numpy as np

    from instructor.stored import TOP_LAYERS, stored_path, top_activations_table

    fresh = top_activations_table()
    with np.load(stored_path("06_top_activations.npz")) as stored:
        assert sorted(stored.keys()) == sorted(fresh)
        for layer in TOP_LAYERS:
            np.testing.assert_allclose(stored[f"{layer}.values"], fresh[f"{layer}.values"], rtol=1e-4, atol=1e-4)
            alive = fresh[f"{layer}.values"] > 1e-3 * fresh[f"{layer}.values"].max()
            for key in ("indices", "rows", "cols"):
                assert (stored[f"{layer}.{key}"][alive] == fresh[f"{layer}.{key}"][alive]).mean() > 0.99, (layer, key)


def test_without_top_activations_section_5_finds_units_as_strong_as_the_solutions(data):
    """With top_activations a stub, the stored lists answer every channel of the three layers with units as strong as
    the solution's top_activations finds (values compared: a dead channel's units tie at 0), and nothing else."""
    from course_utils.hooks import capture_activations

    namespace = {"__name__": "nb06_without_top_activations"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_cell_source("seed_everything(0)"), "<setup>", "exec"), namespace)
        exec("def top_activations(activations, channel, k):\n    raise NotImplementedError()", namespace)
        exec(compile(_cell_source("def stored_top_activations("), "<section 5>", "exec"), namespace)
        solution = solution_functions("02_activations")["top_activations"]
    layers = ["features.relu2_2", "features.relu3_1", "features.relu3_2"]
    shapes, _, _ = load_shapes("test")
    with torch.no_grad(), capture_activations(data["cnn"], layers) as recorded:
        data["cnn"](shapes[:500])
    checked = 0
    for layer in layers:
        acts = recorded[layer]
        for channel in range(acts.shape[1]):
            got = namespace["top_activations_in_use"](acts, channel, 9)
            want = solution(acts, channel, 9)
            torch.testing.assert_close(acts[got[0], channel, got[1], got[2]], acts[want[0], channel, want[1], want[2]],
                                       rtol=1e-4, atol=1e-4)
            checked += 1
    assert checked == 160
    with pytest.raises(ValueError, match="answer test shapes 0..499"):
        namespace["top_activations_in_use"](recorded["features.relu3_2"][:400], 5, 9)
