"""Notebook 05: the solution's saliency map, SmoothGrad and Grad-CAM against plain, per-image computations.

The three functions promise no errors for bad inputs (their docstrings list none), so none are tested here.
"""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import check, load_mnist, load_model, load_shapes
from course_utils.checks import load_expected, run_cases
from course_utils.exercises import get_exercise


@pytest.fixture(scope="module")
def data():
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    return {"lenet": load_model("lenet-mnist", device="cpu"), "cnn": load_model("shapes-cnn", device="cpu"),
            "digits": digits[:2], "digit_labels": digit_labels[:2], "shapes": shapes[[0, 5]], "shape_labels": shape_labels[[0, 5]]}


def tiny_model(seed=0, n_classes=4):
    """conv - ReLU (in place) - conv - ReLU (in place) - global average pooling - linear; any image size."""
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 6, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(6, 5, 3)), ("relu2", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, n_classes)),
    ])).eval()


def reference_saliency(model, inputs, target):
    """One image at a time: max over channels of |d logit_target / d pixel|, by torch.autograd.grad."""
    maps = []
    for image, t in zip(inputs, target):
        x = image[None].detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x)[0, int(t)], x)
        maps.append(grad[0].abs().max(dim=0).values)
    return torch.stack(maps)


def loop_smoothgrad(model, inputs, target, sigma, n_samples, seed):
    """SmoothGrad as a plain double loop over samples and images, with the noise the notebook prescribes."""
    noise = torch.randn((n_samples, *inputs.shape), generator=torch.Generator().manual_seed(seed))
    total = torch.zeros(inputs.shape[0], *inputs.shape[2:])
    for k in range(n_samples):
        for i in range(inputs.shape[0]):
            sigma_i = sigma * (inputs[i].max() - inputs[i].min())
            noisy = inputs[i] + sigma_i * noise[k, i]
            total[i] += reference_saliency(model, noisy[None], target[i:i + 1])[0]
    return total / n_samples


def reference_grad_cam(head, tail, inputs, target):
    """Grad-CAM by hand, one image at a time, with the network split at the layer: maps = head(x), logits = tail(maps)."""
    cams = []
    for image, t in zip(inputs, target):
        maps = head(image[None]).detach().requires_grad_(True)              # (1, K, h, w)
        # tail gets a copy: an in-place ReLU at its start must not write into the leaf we differentiate by.
        (grad,) = torch.autograd.grad(tail(maps.clone())[0, int(t)], maps)
        weights = grad[0].mean(dim=(1, 2))                                  # alpha_k: the spatial mean of the gradient
        cam = torch.relu(torch.einsum("k,khw->hw", weights, maps[0].detach()))
        cams.append(F.interpolate(cam[None, None], size=tuple(image.shape[1:]), mode="bilinear", align_corners=False)[0, 0])
    return torch.stack(cams)


def split_sequential(model, layer):
    """(head, tail) of an nn.Sequential cut right after the child named `layer`."""
    names = list(model._modules)
    i = names.index(layer)
    return model[:i + 1], model[i + 1:]


def assert_maps_close(got, expected, rtol=1e-4):
    """Entry-wise, relative to the largest value of the expected maps (gradients differ by round-off only)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=rtol, atol=rtol * float(expected.abs().max()))


def no_hooks_left(model):
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks) for m in model.modules())


# ---------------------------------------------------------------- 05.1 saliency_map

def test_saliency_equals_per_image_autograd_on_a_random_network(nb05):
    torch.manual_seed(1)
    model, inputs, target = tiny_model(), torch.rand(3, 3, 9, 12), torch.tensor([0, 3, 1])
    got = nb05["saliency_map"](model, inputs, target)
    assert got.shape == (3, 9, 12) and (got >= 0).all()
    assert_maps_close(got, reference_saliency(model, inputs, target))


def test_saliency_equals_per_image_autograd_on_lenet_and_shapes_cnn(nb05, data):
    for model, inputs, target in [(data["lenet"], data["digits"], data["digit_labels"]),
                                  (data["cnn"], data["shapes"], data["shape_labels"]),
                                  (data["cnn"], data["shapes"], (data["shape_labels"] + 3) % 8)]:
        assert_maps_close(nb05["saliency_map"](model, inputs, target), reference_saliency(model, inputs, target))


def test_saliency_of_a_linear_model_is_the_largest_weight_magnitude(nb05):
    # logit_t = sum_c,u,v W[t, c, u, v] x[c, u, v] + b_t, so the gradient is W[t] whatever the image.
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 5, 3)).eval()
    inputs, target = torch.rand(2, 2, 4, 5), torch.tensor([2, 0])
    weights = model[1].weight.detach().reshape(3, 2, 4, 5)
    torch.testing.assert_close(nb05["saliency_map"](model, inputs, target), weights[target].abs().amax(dim=1))


def test_saliency_leaves_inputs_untouched(nb05):
    model, inputs, target = tiny_model(), torch.rand(2, 3, 8, 8), torch.tensor([1, 2])
    before = inputs.clone()
    nb05["saliency_map"](model, inputs, target)
    assert torch.equal(inputs, before) and inputs.grad is None and not inputs.requires_grad
    assert all(p.grad is None for p in model.parameters())


def test_saliency_check_passes_and_catches_a_sum_over_channels(nb05):
    # (`python -m instructor.expected --check` compares all three functions with the stored values.)
    assert check(nb05["saliency_map"], quiet=True).passed

    def saliency_summed(model, inputs, target):
        x = inputs.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return grad.abs().sum(dim=1)

    ex = get_exercise("05.1")
    result = run_cases(saliency_summed, ex, ex.cases(0), load_expected(ex.notebook, ex.function))
    assert not result.passed


# ---------------------------------------------------------------- 05.2 smoothgrad

@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_smoothgrad_equals_a_plain_loop_over_the_same_noise(nb05, batch_size):
    torch.manual_seed(3)
    model, inputs, target = tiny_model(), torch.rand(3, 3, 7, 9) * torch.tensor([1.0, 2.0, 0.5])[:, None, None, None], torch.tensor([0, 1, 3])
    got = nb05["smoothgrad"](model, inputs, target, sigma=0.2, n_samples=5, batch_size=batch_size, seed=11)
    assert got.shape == (3, 7, 9) and (got >= 0).all()
    assert_maps_close(got, loop_smoothgrad(model, inputs, target, sigma=0.2, n_samples=5, seed=11))


def test_smoothgrad_equals_a_plain_loop_on_lenet_and_shapes_cnn(nb05, data):
    lenet, cnn = data["lenet"], data["cnn"]
    assert_maps_close(nb05["smoothgrad"](lenet, data["digits"], data["digit_labels"], sigma=0.15, n_samples=4, batch_size=3, seed=5),
                      loop_smoothgrad(lenet, data["digits"], data["digit_labels"], sigma=0.15, n_samples=4, seed=5))
    assert_maps_close(nb05["smoothgrad"](cnn, data["shapes"][:1], data["shape_labels"][:1], sigma=0.3, n_samples=3, seed=2),
                      loop_smoothgrad(cnn, data["shapes"][:1], data["shape_labels"][:1], sigma=0.3, n_samples=3, seed=2))


def test_smoothgrad_does_not_depend_on_the_batch_size(nb05):
    torch.manual_seed(4)
    model, inputs, target = tiny_model(), torch.rand(3, 3, 6, 6), torch.tensor([2, 2, 0])
    maps = [nb05["smoothgrad"](model, inputs, target, sigma=0.25, n_samples=6, batch_size=b, seed=3) for b in (1, 5, 7, 18, 64)]
    for other in maps[1:]:
        assert_maps_close(other, maps[0], rtol=1e-5)


def test_smoothgrad_with_sigma_zero_is_the_plain_saliency(nb05, data):
    for model, inputs, target in [(tiny_model(), torch.rand(2, 3, 8, 5), torch.tensor([1, 3])),
                                  (data["lenet"], data["digits"], data["digit_labels"])]:
        got = nb05["smoothgrad"](model, inputs, target, sigma=0.0, n_samples=3, batch_size=4, seed=0)
        assert_maps_close(got, reference_saliency(model, inputs, target))


def test_smoothgrad_noise_scales_with_each_images_range(nb05):
    # A constant image has range 0, so its noisy copies are the image itself: its map is the plain saliency.
    torch.manual_seed(5)
    model, target = tiny_model(), torch.tensor([1, 2])
    inputs = torch.stack([torch.full((3, 6, 7), 0.4), torch.rand(3, 6, 7)])
    got = nb05["smoothgrad"](model, inputs, target, sigma=0.5, n_samples=4, seed=1)
    assert_maps_close(got[:1], reference_saliency(model, inputs[:1], target[:1]))
    assert not torch.allclose(got[1], reference_saliency(model, inputs[1:], target[1:])[0])


def test_smoothgrad_is_seeded_by_its_argument_only(nb05):
    model, inputs, target = tiny_model(), torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(6)), torch.tensor([0, 1])
    before = inputs.clone()
    torch.manual_seed(100)
    first = nb05["smoothgrad"](model, inputs, target, sigma=0.3, n_samples=4, seed=7)
    torch.manual_seed(200)                     # the global generator plays no part
    assert torch.equal(first, nb05["smoothgrad"](model, inputs, target, sigma=0.3, n_samples=4, seed=7))
    assert not torch.allclose(first, nb05["smoothgrad"](model, inputs, target, sigma=0.3, n_samples=4, seed=8))
    assert torch.equal(inputs, before) and inputs.grad is None


# ---------------------------------------------------------------- 05.3 grad_cam

@pytest.mark.parametrize("layer", ["relu1", "conv2", "relu2"])
def test_grad_cam_equals_a_split_by_hand_on_a_random_network(nb05, layer):
    torch.manual_seed(7)
    model, inputs, target = tiny_model(), torch.rand(3, 3, 9, 12), torch.tensor([0, 2, 3])
    got = nb05["grad_cam"](model, inputs, target, layer)
    assert got.shape == (3, 9, 12) and (got >= 0).all() and not got.requires_grad
    head, tail = split_sequential(model, layer)
    assert_maps_close(got, reference_grad_cam(head, tail, inputs, target))


def test_grad_cam_equals_a_split_by_hand_on_the_shapes_cnn_and_lenet(nb05, data):
    cnn = data["cnn"]
    for layer, target in [("relu3_2", data["shape_labels"]), ("relu3_2", (data["shape_labels"] + 1) % 8),
                          ("relu2_2", data["shape_labels"])]:
        head, rest = split_sequential(cnn.features, layer)
        tail = nn.Sequential(rest, cnn.classifier)
        assert_maps_close(nb05["grad_cam"](cnn, data["shapes"], target, f"features.{layer}"),
                          reference_grad_cam(head, tail, data["shapes"], target))
    lenet = data["lenet"]
    head = nn.Sequential(lenet.conv1, lenet.relu1, lenet.pool1, lenet.conv2, lenet.relu2)
    tail = nn.Sequential(lenet.pool2, lenet.flatten, lenet.fc1, lenet.relu3, lenet.fc2)
    assert_maps_close(nb05["grad_cam"](lenet, data["digits"], data["digit_labels"], "relu2"),
                      reference_grad_cam(head, tail, data["digits"], data["digit_labels"]))


def test_grad_cam_before_global_average_pooling_is_the_class_activation_map(nb05):
    # With maps A -> global average pooling -> linear layer W, alpha_k = W[t, k] / (h * w) exactly (Zhou et al. 2016).
    torch.manual_seed(8)
    model, inputs, target = tiny_model(), torch.rand(2, 3, 10, 10), torch.tensor([1, 3])
    maps = model[:4](inputs).detach()                                   # relu2's output, (2, 5, 8, 8)
    alpha = model.fc.weight.detach()[target] / (8 * 8)                  # (2, 5)
    cam = torch.relu(torch.einsum("nk,nkhw->nhw", alpha, maps))
    expected = F.interpolate(cam[:, None], size=(10, 10), mode="bilinear", align_corners=False)[:, 0]
    assert_maps_close(nb05["grad_cam"](model, inputs, target, "relu2"), expected)


def test_grad_cam_leaves_no_hook_and_the_inputs_untouched(nb05, data):
    model, inputs, target = tiny_model(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    before = inputs.clone()
    nb05["grad_cam"](model, inputs, target, "relu2")
    assert no_hooks_left(model) and torch.equal(inputs, before) and inputs.grad is None
    assert all(p.grad is None for p in model.parameters())
    # Also when the forward pass fails inside the recording (the shapes CNN refuses 32 x 32 images).
    with pytest.raises(ValueError, match="expects a float tensor"):
        nb05["grad_cam"](data["cnn"], torch.rand(1, 3, 32, 32), torch.tensor([0]), "features.relu3_2")
    assert no_hooks_left(data["cnn"])


# ---------------------------------------------------------------------------- section 8: the Clever Hans tag

def test_add_tags_paints_one_class_coloured_square_in_the_bottom_left_corner():
    from course_utils.shapes import TAG_COLOURS, TAG_SIZE, add_tags, make_shapes

    images, labels, _ = make_shapes(4, seed=7)
    before = images.clone()
    tag_classes = torch.tensor([3, -1, 0, 7])
    tagged, masks = add_tags(images, tag_classes)
    assert torch.equal(images, before), "add_tags must not change its input"
    assert masks.shape == (4, 64, 64) and masks.dtype == torch.bool
    expected = torch.zeros(64, 64, dtype=torch.bool)
    expected[64 - 1 - TAG_SIZE:64 - 1, 1:1 + TAG_SIZE] = True          # 1 px from the left and bottom edges
    for i, k in enumerate(tag_classes.tolist()):
        if k < 0:
            assert not masks[i].any() and torch.equal(tagged[i], images[i])
            continue
        assert torch.equal(masks[i], expected)
        inside = tagged[i][:, masks[i]]
        assert torch.equal(inside, torch.from_numpy(TAG_COLOURS[k])[:, None].expand_as(inside))
        assert torch.equal(tagged[i][:, ~masks[i]], images[i][:, ~masks[i]]), "pixels outside the tag must not change"
    assert len({tuple(c) for c in TAG_COLOURS.round(3).tolist()}) == 8, "every class needs its own tag colour"


def test_add_tags_rejects_bad_inputs():
    from course_utils.shapes import add_tags

    images = torch.rand(2, 3, 64, 64)
    with pytest.raises(ValueError, match="one class index"):
        add_tags(images, torch.tensor([0, 8]))
    with pytest.raises(ValueError, match="one class index"):
        add_tags(images, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        add_tags(torch.rand(2, 1, 64, 64), torch.tensor([0, 1]))


def test_the_tagged_network_reads_the_tag_and_the_shapes_cnn_does_not():
    # The shipped shapes-cnn-tagged is a Clever Hans predictor: right with its class's tag, near chance without,
    # and it follows a random tag; the shapes CNN (trained without tags) never answers the random tag's class.
    from course_utils.shapes import add_tags

    images, labels, _ = load_shapes("test")
    images, labels = images[:300], labels[:300]
    random_tags = torch.randint(0, 8, (300,), generator=torch.Generator().manual_seed(1))
    tagged_net, plain_net = load_model("shapes-cnn-tagged", device="cpu"), load_model("shapes-cnn", device="cpu")
    with torch.no_grad():
        own, none, other = (tagged_net(x).argmax(1) for x in (add_tags(images, labels)[0], images, add_tags(images, random_tags)[0]))
        plain = plain_net(add_tags(images, random_tags)[0]).argmax(1)
        plain_clean = plain_net(images).argmax(1)
    assert (own == labels).float().mean() > 0.95
    assert (none == labels).float().mean() < 0.5
    assert (other == random_tags).float().mean() > 0.8
    assert (plain_clean == labels).float().mean() > 0.95
    assert (plain == random_tags).float().mean() < 0.4, "the shapes CNN should not read the tag as a class code"


# ---------------------------------------------------------------- section 5 without exercise 04.1

@pytest.fixture(scope="module")
def without_occlusion_map():
    """Notebook 05's setup cell and the cell of section 5 that defines Captum's grid, with occlusion_map still a stub."""
    import contextlib
    import io

    import nbformat

    from course_utils.cells import python_only
    from course_utils.paths import solutions_dir

    cells = [c.source for c in nbformat.read(solutions_dir() / "05_saliency.ipynb", as_version=4).cells if c.cell_type == "code"]
    namespace = {"__name__": "nb05_without_occlusion_map"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(python_only(cells[0]), "<setup>", "exec"), namespace)
    exec("def occlusion_map(model, inputs, target, patch_size=8, stride=4, fill='zero', batch_size=None):\n"
         "    raise NotImplementedError()", namespace)
    exec(compile(python_only(next(c for c in cells if "def captum_occlusion_map(" in c)), "<section 5>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("fill", ["zero", "blur"])
def test_without_occlusion_map_section_5_uses_captums_grid_equal_to_the_solutions(without_occlusion_map, fill, capsys):
    """The comparison's occlusion rows (16x16 patches, stride 12) do not wait for 04.1: Captum's Occlusion read at the
    pixels each patch alone covers equals the solution's occlusion_map (notebook 04) on ten test shapes."""
    import contextlib
    import io

    from instructor.expected import solution_functions

    with contextlib.redirect_stdout(io.StringIO()):
        solution = solution_functions("04_occlusion")["occlusion_map"]
    shapes, labels, _ = load_shapes("test")
    cnn = load_model("shapes-cnn", device="cpu")
    x, t = shapes[:10], labels[:10]
    capsys.readouterr()
    used = without_occlusion_map["occlusion_in_use"](cnn, x, t, patch_size=16, stride=12, fill=fill)
    printed = capsys.readouterr().out
    assert printed == "" or ("04.1" in printed and "is not done yet" in printed and printed.count("\n") == 1), printed
    expected = solution(cnn, x, t, patch_size=16, stride=12, fill=fill)
    assert used.shape == expected.shape == (10, 5, 5) and not used.requires_grad
    torch.testing.assert_close(used, expected, rtol=0, atol=1e-4 * float(expected.abs().max()))


def test_captums_grid_refuses_settings_where_patches_own_no_pixel(without_occlusion_map):
    x, t = torch.rand(1, 3, 64, 64), torch.tensor([0])
    with pytest.raises(ValueError, match="stride < patch_size < 2 \\* stride"):
        without_occlusion_map["captum_occlusion_map"](load_model("shapes-cnn", device="cpu"), x, t, patch_size=16, stride=8)
