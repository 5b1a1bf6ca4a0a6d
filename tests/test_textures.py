"""course_utils.textures: the style images, the feature extractors (VGG-19 untrained), the optimizer and the
distances, each against an independent computation (hooks, a plain convolution, a loop, scipy, a closed form)."""
import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import wasserstein_distance
from torch import nn

from course_utils import (RandomMultiScaleNet, anisotropic_tv, capture_activations, colour_distance, layer_features,
                          load_model, load_texture, optimize_image, out_of_range, shapes_extractor, spectrum_distance,
                          swirl_painting, vgg19_extractor)


@pytest.fixture(scope="module")
def cnn():
    return shapes_extractor(load_model("shapes-cnn", device="cpu"))


def test_swirl_painting_is_deterministic_in_range_and_seeded():
    a, b = swirl_painting(48, seed=0), swirl_painting(48, seed=0)
    assert a.shape == (1, 3, 48, 48) and a.dtype == torch.float32
    assert torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.equal(a, swirl_painting(48, seed=1))
    assert float(a.std()) > 0.1                                           # not a flat image
    with pytest.raises(ValueError, match="at least 16"):
        swirl_painting(8)


def test_load_texture_names_and_errors():
    for name in ("swirl", "brick", "grass", "gravel"):
        image = load_texture(name, 32)
        assert image.shape == (1, 3, 32, 32) and 0 <= float(image.min()) <= float(image.max()) <= 1
    with pytest.raises(ValueError, match="Unknown texture"):
        load_texture("starry_night")


def test_layer_features_match_hooks_and_stop_early(cnn):
    model = load_model("shapes-cnn", device="cpu")
    images = load_texture("brick", 40)
    with capture_activations(model.features, ["relu1_1", "relu2_1"]) as acts:
        model.features(images)
    got = layer_features(cnn, images, ["relu2_1", "relu1_1"])
    assert list(got) == ["relu2_1", "relu1_1"]
    for name in acts:
        torch.testing.assert_close(got[name], acts[name])
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        layer_features(cnn, images, ["conv9"])


def test_random_multiscale_net_is_seeded_and_differentiable():
    net, same = RandomMultiScaleNet((3, 7), channels=4, seed=5), RandomMultiScaleNet((3, 7), channels=4, seed=5)
    x = torch.rand(2, 3, 20, 20, requires_grad=True)
    out = layer_features(net, x, ["scale7", "scale3"])
    assert out["scale7"].shape == (2, 4, 20, 20) and out["scale3"].shape == (2, 4, 20, 20)
    torch.testing.assert_close(out["scale7"], layer_features(same, x, ["scale7"])["scale7"])
    # the filters have zero mean and unit norm, and the layer is conv(image - 0.5) then ReLU
    weight = net.branches["scale3"][0].weight
    torch.testing.assert_close(weight.flatten(1).norm(dim=1), torch.ones(4))
    reference = torch.relu(nn.functional.conv2d(nn.functional.pad(x - 0.5, (1, 1, 1, 1), mode="reflect"), weight,
                                                net.branches["scale3"][0].bias))
    torch.testing.assert_close(out["scale3"], reference)
    out["scale3"].sum().backward()
    assert x.grad is not None and all(not p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="odd"):
        RandomMultiScaleNet((4,))


@pytest.fixture(scope="module")
def untrained_vgg19():
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).eval()


def test_vgg19_extractor_names_pools_and_normalizes(untrained_vgg19):
    extractor = vgg19_extractor(untrained_vgg19)
    names = [name for name, _ in extractor.named_children()]
    assert names[0] == "normalize" and names[-1] == "conv5_1"
    assert [n for n in names if n.startswith("conv")] == [
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
        "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1"]
    assert all(isinstance(extractor.get_submodule(f"pool{b}"), nn.AvgPool2d) for b in range(1, 5))
    assert not any(getattr(m, "inplace", False) for m in extractor.modules())
    images = torch.rand(1, 3, 32, 32)
    feats = layer_features(extractor, images, ["conv1_1", "conv4_2", "conv5_1"])
    assert feats["conv1_1"].shape == (1, 64, 32, 32) and feats["conv4_2"].shape == (1, 512, 4, 4)
    # conv1_1 is the first conv of torchvision's model applied to the ImageNet-normalized image
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(feats["conv1_1"], untrained_vgg19.features[0]((images - mean) / std))
    with pytest.raises(ValueError, match="VGG-19"):
        vgg19_extractor(nn.Sequential(nn.Conv2d(3, 3, 3)))


def test_optimize_image_lbfgs_solves_a_quadratic_and_counts_evaluations():
    target = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    scale = torch.linspace(1, 10, 16).view(1, 1, 4, 4)
    loss_fn = lambda x: (scale * (x - target) ** 2).sum()
    calls = []
    result = optimize_image(lambda x: calls.append(1) or loss_fn(x), torch.zeros(1, 1, 4, 4), method="lbfgs", max_evals=30)
    torch.testing.assert_close(result.image, target, atol=1e-4, rtol=0)
    assert result.evaluations == len(calls) == len(result.losses) == len(result.seconds)
    assert sum(result.evaluations_per_step) == result.evaluations and result.steps == len(result.evaluations_per_step)
    assert np.all(np.diff(result.seconds) >= 0) and np.all(np.diff(result.best_losses) <= 0)


def test_batched_adam_equals_separate_adam_runs():
    """The notebook's gallery relies on this: Adam's update is per coordinate, so a batch is independent runs."""
    g = torch.Generator().manual_seed(6)
    targets, starts, betas = torch.rand(3, 1, 5, 5, generator=g), torch.rand(3, 1, 5, 5, generator=g), torch.tensor([0.5, 2.0, 8.0])
    per_image = lambda x, t, b: b * ((x - t) ** 4).flatten(1).sum(1) + (x.flatten(1) ** 2).sum(1)
    batched = optimize_image(lambda x: per_image(x, targets, betas).sum(), starts, method="adam", lr=0.05, max_evals=25)
    for i in range(3):
        alone = optimize_image(lambda x: per_image(x, targets[i:i + 1], betas[i:i + 1]).sum(), starts[i:i + 1],
                               method="adam", lr=0.05, max_evals=25)
        torch.testing.assert_close(batched.image[i:i + 1], alone.image, rtol=1e-5, atol=1e-6)


def test_optimize_image_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        optimize_image(lambda x: x.sum(), torch.zeros(1, 1, 2, 2), method="sgd")
    with pytest.raises(ValueError, match="max_evals"):
        optimize_image(lambda x: x.sum(), torch.zeros(1, 1, 2, 2), max_evals=0)


def test_penalties_against_loops():
    x = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(7)) * 1.6 - 0.3
    tv, excess = torch.zeros(2), torch.zeros(2)
    for n in range(2):
        dv = [abs(float(x[n, c, i + 1, j] - x[n, c, i, j])) for c in range(3) for i in range(4) for j in range(6)]
        dh = [abs(float(x[n, c, i, j + 1] - x[n, c, i, j])) for c in range(3) for i in range(5) for j in range(5)]
        tv[n] = np.mean(dv) + np.mean(dh)
        excess[n] = np.mean([max(0.0, -v) ** 2 + max(0.0, v - 1) ** 2 for v in x[n].flatten().tolist()])
    torch.testing.assert_close(anisotropic_tv(x), tv, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out_of_range(x), excess, rtol=1e-5, atol=1e-8)
    assert float(out_of_range(x.clamp(0, 1)).max()) == 0.0


def test_colour_distance_is_the_wasserstein_distance():
    g = torch.Generator().manual_seed(8)
    a, b = torch.rand(1, 3, 30, 30, generator=g), torch.rand(1, 3, 30, 30, generator=g) ** 2
    reference = np.mean([wasserstein_distance(a[0, c].flatten().numpy(), b[0, c].flatten().numpy()) for c in range(3)])
    assert abs(float(colour_distance(a, b, n_quantiles=901)[0]) - reference) < 0.01 * reference + 1e-3
    assert float(colour_distance(a, a)[0]) == 0.0


def test_spectrum_distance_sees_scale_not_position():
    texture = load_texture("gravel", 64)
    assert float(spectrum_distance(texture, texture)[0]) == 0.0
    shifted = torch.roll(texture, shifts=(9, 21), dims=(2, 3))             # a circular shift keeps |FFT|
    assert float(spectrum_distance(shifted, texture)[0]) < 1e-6
    blurred = nn.functional.avg_pool2d(texture, 3, stride=1, padding=1, count_include_pad=False)
    assert float(spectrum_distance(blurred, texture)[0]) > 0.1


def test_edge_correlation_against_numpy_and_errors():
    from course_utils import edge_correlation
    from scipy import ndimage

    g = torch.Generator().manual_seed(4)
    reference = torch.rand(1, 3, 20, 24, generator=g)
    images = torch.cat([reference, reference.flip(3), torch.rand(2, 3, 20, 24, generator=g), 0.5 * reference + 0.25])
    got = edge_correlation(images, reference)

    def edges(image):
        grey = image.double().clamp(0, 1).mean(dim=0).numpy()
        gx, gy = ndimage.correlate(grey, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), ndimage.correlate(grey, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
        return np.hypot(gx, gy)[1:-1, 1:-1].ravel()

    expected = [np.corrcoef(edges(image), edges(reference[0]))[0, 1] for image in images]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert got[0] == pytest.approx(1.0) and got[-1] == pytest.approx(1.0)   # a contrast change keeps the edges
    with pytest.raises(ValueError, match="same size"):
        edge_correlation(images, reference[:, :, :10])
