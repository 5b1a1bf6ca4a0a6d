"""course_utils.optimize: the blur against scipy, the shift against its inverse, the loop on problems with known answers."""
import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from course_utils.optimize import gaussian_blur, noise_images, optimize_input, random_shift


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_gaussian_blur_equals_scipy(sigma):
    images = torch.rand(2, 3, 20, 17, generator=torch.Generator().manual_seed(0))
    # torch's "reflect" padding mirrors about the edge pixel, which scipy calls "mirror"; both cut at 3 sigma.
    expected = np.stack([[ndimage.gaussian_filter(c, sigma, mode="mirror", truncate=3.0) for c in im] for im in images.double().numpy()])
    torch.testing.assert_close(gaussian_blur(images, sigma).double(), torch.from_numpy(expected), rtol=1e-5, atol=1e-6)


def test_gaussian_blur_keeps_constants_and_zero_sigma_copies():
    constant = torch.full((1, 1, 9, 9), 0.4)
    torch.testing.assert_close(gaussian_blur(constant, 1.5), constant)
    images = torch.rand(1, 2, 6, 6)
    out = gaussian_blur(images, 0)
    assert torch.equal(out, images) and out is not images
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(images, -1.0)


def test_random_shift_is_undone_exactly_and_seeded():
    images = torch.rand(4, 2, 8, 9)
    shifted, undo = random_shift(images, 3, torch.Generator().manual_seed(1))
    assert torch.equal(undo(shifted), images)
    again, _ = random_shift(images, 3, torch.Generator().manual_seed(1))
    assert torch.equal(shifted, again)
    assert torch.equal(random_shift(images, 0, torch.Generator())[0], images)
    # A roll keeps every pixel: the sorted values of each image are unchanged.
    assert torch.equal(shifted.flatten(1).sort(dim=1).values, images.flatten(1).sort(dim=1).values)


def test_noise_images_are_seeded_and_leave_the_global_generator_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a, b = noise_images((2, 1, 4, 4), std=0.5, seed=3), noise_images((2, 1, 4, 4), std=0.5, seed=3)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a, noise_images((2, 1, 4, 4), std=0.5, seed=4))
    with pytest.raises(ValueError, match="shape"):
        noise_images((4, 4))


def test_optimize_input_climbs_a_concave_quadratic_to_its_maximum():
    # score_i(x) = -||x_i - c_i||^2 has its maximum at c_i; Adam gets there.
    centres = torch.randn(3, 1, 4, 5, generator=torch.Generator().manual_seed(2))
    out = optimize_input(lambda x: -(x - centres).pow(2).flatten(1).sum(1), torch.zeros(3, 1, 4, 5), steps=500, lr=0.05)
    torch.testing.assert_close(out, centres, atol=1e-3, rtol=0)


def test_optimize_input_respects_bounds_leaves_inputs_and_weights_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    inputs = torch.rand(2, 1, 4, 4)
    before = inputs.clone()
    out = optimize_input(lambda x: model(x)[:, 0], inputs, steps=30, lr=0.5, bounds=(0.0, 1.0), jitter=1, blur_every=5)
    assert torch.equal(inputs, before) and not out.requires_grad
    assert out.min() >= 0 and out.max() <= 1
    assert all(p.grad is None for p in model.parameters())
    # With bounds, a linear score is maximized at a corner of the box: 1 where the weight is positive.
    out = optimize_input(lambda x: model(x)[:, 0], inputs, steps=100, lr=0.5, bounds=(0.0, 1.0))
    w = model[1].weight.detach()[0].view(1, 4, 4)
    assert torch.equal(out[0], (w > 0).float())


def test_optimize_input_is_deterministic_with_jitter_and_says_what_is_wrong():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 1))
    runs = [optimize_input(lambda x: model(x)[:, 0], torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
                           steps=10, jitter=2, seed=7) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="one score per image"):
        optimize_input(lambda x: model(x).sum(), torch.rand(2, 1, 8, 8), steps=1)
    with pytest.raises(ValueError, match="float tensor of images"):
        optimize_input(lambda x: x.sum(), torch.rand(8, 8), steps=1)
