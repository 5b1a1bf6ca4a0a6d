"""Notebook 04: the solution's batched occlusion map against a plain loop, one forward pass per position."""
import pytest
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from course_utils import check, load_mnist, load_model, load_shapes
from course_utils.checks import load_expected, run_cases
from course_utils.exercises import get_exercise
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def occlusion_map():
    return solution_functions("04_occlusion")["occlusion_map"]


def loop_occlusion_map(model, inputs, target, patch_size, stride, fill):
    """The definition, written as plainly as possible: copy, paste the patch, classify one image at a time."""
    n, _, height, width = inputs.shape
    n_rows, n_cols = (height - patch_size) // stride + 1, (width - patch_size) // stride + 1
    out = torch.zeros(n, n_rows, n_cols)
    with torch.no_grad():
        for i in range(n):
            image = inputs[i]
            if fill == "zero":
                filler = torch.zeros_like(image)
            elif fill == "mean":
                filler = image.mean(dim=(1, 2), keepdim=True).expand_as(image)
            else:
                k = 2 * (patch_size // 2) + 1
                filler = gaussian_blur(image, [k, k], [patch_size / 2, patch_size / 2])
            p_clean = torch.softmax(model(image[None]), dim=1)[0, target[i]]
            for r in range(n_rows):
                for c in range(n_cols):
                    hidden = image.clone()
                    rows, cols = slice(r * stride, r * stride + patch_size), slice(c * stride, c * stride + patch_size)
                    hidden[:, rows, cols] = filler[:, rows, cols]
                    out[i, r, c] = p_clean - torch.softmax(model(hidden[None]), dim=1)[0, target[i]]
    return out


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(24, 4)).eval()


@pytest.mark.parametrize("fill", ["zero", "mean", "blur"])
@pytest.mark.parametrize("patch_size,stride,batch_size", [(3, 1, 256), (4, 3, 5), (5, 2, 1)])
def test_batched_map_equals_plain_loop_on_a_random_network(occlusion_map, fill, patch_size, stride, batch_size):
    torch.manual_seed(1)
    model, inputs, target = tiny_model(), torch.rand(2, 3, 9, 12), torch.tensor([1, 3])
    got = occlusion_map(model, inputs, target, patch_size, stride, fill, batch_size)
    torch.testing.assert_close(got, loop_occlusion_map(model, inputs, target, patch_size, stride, fill), atol=1e-6, rtol=1e-5)


def test_batched_map_equals_plain_loop_on_lenet_and_shapes_cnn(occlusion_map):
    digits, labels = load_mnist("test")
    lenet = load_model("lenet-mnist", device="cpu")
    torch.testing.assert_close(occlusion_map(lenet, digits[:2], labels[:2], 8, 4, "zero"),
                               loop_occlusion_map(lenet, digits[:2], labels[:2], 8, 4, "zero"), atol=1e-5, rtol=1e-4)
    shapes, shape_labels, _ = load_shapes("test")
    cnn = load_model("shapes-cnn", device="cpu")
    torch.testing.assert_close(occlusion_map(cnn, shapes[:1], shape_labels[:1], 16, 16, "blur", 3),
                               loop_occlusion_map(cnn, shapes[:1], shape_labels[:1], 16, 16, "blur"), atol=1e-5, rtol=1e-4)


def test_map_properties(occlusion_map):
    torch.manual_seed(2)
    model, inputs, target = tiny_model(), torch.rand(3, 3, 16, 11), torch.tensor([0, 1, 2])
    out = occlusion_map(model, inputs, target, patch_size=4, stride=3)
    assert out.shape == (3, (16 - 4) // 3 + 1, (11 - 4) // 3 + 1)
    # A zero patch on a zero region changes nothing; a probability drop lies in [-1, 1].
    blank = torch.zeros(1, 3, 10, 10)
    blank[:, :, :5] = 1.0
    out = occlusion_map(model, blank, torch.tensor([0]), patch_size=5, stride=5)
    assert torch.all(out[0, 1] == 0) and out.abs().max() <= 1
    assert not torch.equal(out[0, 0], torch.zeros(2))


def test_inputs_are_left_unchanged(occlusion_map):
    model, inputs, target = tiny_model(), torch.rand(1, 3, 8, 8), torch.tensor([2])
    before = inputs.clone()
    occlusion_map(model, inputs, target, 3, 2, "blur")
    assert torch.equal(inputs, before)


def test_solution_passes_its_check_and_fresh_cases_run(occlusion_map):
    assert check(occlusion_map, quiet=True).passed
    for case in get_exercise("04.1").cases(7):
        out = occlusion_map(**case.kwargs)
        assert out.shape[0] == case.kwargs["inputs"].shape[0] and torch.isfinite(out).all()


def test_check_catches_a_wrong_map(occlusion_map):
    def occlusion_map_wrong(model, inputs, target, patch_size=8, stride=4, fill="zero", batch_size=256):
        return -occlusion_map(model, inputs, target, patch_size, stride, fill, batch_size)

    ex = get_exercise("04.1")
    result = run_cases(occlusion_map_wrong, ex, ex.cases(0), load_expected(ex.notebook, ex.function))
    assert not result.passed and "relative error" in result.cases[0].message


# ---------------------------------------------------------------- 04.2 occlusion_cost, 04.3 per_pixel_average

@pytest.fixture(scope="module")
def nb04():
    import contextlib
    import io

    from instructor.expected import solution_functions

    with contextlib.redirect_stdout(io.StringIO()):
        return solution_functions("04_occlusion")


@pytest.mark.parametrize("height, width, patch_size, stride, batch_size",
                         [(28, 28, 8, 2, 16), (64, 64, 16, 6, 32), (10, 13, 3, 2, 5), (32, 32, 4, 10, 1000), (16, 16, 16, 5, 8)])
def test_occlusion_cost_counts_what_a_plain_enumeration_finds(nb04, height, width, patch_size, stride, batch_size):
    corners = [(top, left) for top in range(0, height, stride) for left in range(0, width, stride)
               if top + patch_size <= height and left + patch_size <= width]
    batches = len([start for start in range(0, len(corners), batch_size)])
    assert nb04["occlusion_cost"](height, width, patch_size, stride, batch_size) == (len(corners), batches)


def test_occlusion_cost_is_what_occlusion_map_spends(nb04):
    model = tiny_model()
    calls = []
    counted = lambda images: calls.append(len(images)) or model(images)      # noqa: E731
    inputs, target = torch.rand(1, 3, 11, 14, generator=torch.Generator().manual_seed(1)), torch.tensor([2])
    nb04["occlusion_map"](counted, inputs, target, patch_size=3, stride=2, batch_size=7)
    positions, batches = nb04["occlusion_cost"](11, 14, 3, 2, 7)
    assert sum(calls) == positions + 1 and len(calls) == batches + 1


def test_per_pixel_average_equals_a_pixel_by_pixel_mean(nb04):
    g = torch.Generator().manual_seed(2)
    for patch_size, stride, size in [(8, 2, 28), (8, 3, 28), (5, 5, 20), (4, 7, 20)]:
        side = (size - patch_size) // stride + 1
        maps = torch.randn(2, side, side, generator=g, dtype=torch.float64)
        averaged, count = nb04["per_pixel_average"](maps, patch_size, stride, size)
        for u in range(size):
            for v in range(size):
                covering = [(r, c) for r in range(side) for c in range(side)
                            if r * stride <= u < r * stride + patch_size and c * stride <= v < c * stride + patch_size]
                assert count[u, v] == len(covering)
                expected = (torch.stack([maps[:, r, c] for r, c in covering]).mean(dim=0) if covering
                            else torch.zeros(2, dtype=maps.dtype))
                torch.testing.assert_close(averaged[:, u, v], expected)


def test_new_exercises_pass_their_checks(nb04):
    from course_utils import check

    assert check(nb04["occlusion_cost"], quiet=True).passed and check(nb04["per_pixel_average"], quiet=True).passed
