"""The "From here to Captum" sections of notebooks 04 and 05: the solutions' maps equal Captum's once converted.

Each test calls the solution notebooks' own functions (``solution_functions``) and Captum on the same network
and images, and compares them in the self-checks' measure, ``max |ours - theirs| / max |theirs|``, with a
tolerance (1e-4) that float32 round-off on any CPU stays far below. The conversion of the occlusion map
(per patch position, to Captum's per-pixel mean over the windows that cover a pixel) is computed here with a
transposed convolution, not with the notebook's loop. The conventions that cannot be converted away are
tested as what they are: Captum's extra, cut-off windows when the stride does not divide ``H - p``;
SmoothGrad's order of mean and maximum over channels; the bias that Captum's ``Alpha1_Beta0_Rule`` keeps.
"""
import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LRP, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule
from torchvision.transforms.functional import gaussian_blur

from course_utils import load_mnist, load_model, load_shapes, lrp

TOLERANCE = 1e-4

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet-mnist", "cpu")


@pytest.fixture(scope="module")
def shapes_cnn():
    return load_model("shapes-cnn", "cpu")


@pytest.fixture(scope="module")
def digits():
    images, labels = load_mnist("test")
    picks = [int((labels == d).nonzero()[0, 0]) for d in range(4)]
    return images[picks], labels[picks]


@pytest.fixture(scope="module")
def shapes():
    images, labels, _ = load_shapes("test")
    return images[[2, 5]], labels[[2, 5]]


def rel_diff(ours, theirs) -> float:
    return float(((ours - theirs).abs().max() / theirs.abs().max()).detach())


def averaged_over_windows(maps, patch, stride, size):
    """(N, n_rows, n_cols) per-position drops -> (N, size, size): each pixel's mean over the windows covering it."""
    window = torch.ones(1, 1, patch, patch, dtype=maps.dtype)
    total = F.conv_transpose2d(maps[:, None], window, stride=stride)
    count = F.conv_transpose2d(torch.ones_like(maps[:1, None]), window, stride=stride)
    pad = (0, size - total.shape[-1], 0, size - total.shape[-2])
    return (F.pad(total, pad) / F.pad(count, pad).clamp(min=1))[:, 0]


def captum_occlusion(model, inputs, target, patch, stride, baselines, per_eval=16):
    probabilities = lambda images: model(images).softmax(dim=1)  # noqa: E731 - Captum scores what forward_func returns
    return Occlusion(probabilities).attribute(inputs, sliding_window_shapes=(inputs.shape[1], patch, patch), strides=stride,
                                              baselines=baselines, target=target, perturbations_per_eval=per_eval)


@pytest.mark.parametrize("fill", ["zero", "mean", "blur"])
def test_occlusion_is_captum_occlusion_averaged_per_pixel(nb04, lenet, shapes_cnn, digits, shapes, fill):
    occlusion_map = nb04["occlusion_map"]
    cases = [(lenet, *digits, 8, 4), (shapes_cnn, *shapes, 16, 8)]
    for model, inputs, target, patch, stride in cases:
        assert (inputs.shape[-1] - patch) % stride == 0  # the stride divides H - p: Captum's windows are ours
        baseline = {"zero": 0.0, "mean": inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs),
                    "blur": gaussian_blur(inputs, [2 * (patch // 2) + 1] * 2, [patch / 2] * 2)}[fill]
        ours = occlusion_map(model, inputs, target, patch_size=patch, stride=stride, fill=fill)
        theirs = captum_occlusion(model, inputs, target, patch, stride, baseline)
        assert theirs.shape == inputs.shape
        assert torch.equal(theirs, theirs[:, :1].expand_as(theirs)), "a window over all channels: one value per pixel"
        assert rel_diff(averaged_over_windows(ours, patch, stride, inputs.shape[-1]), theirs[:, 0]) < TOLERANCE


def test_occlusion_window_count_when_the_stride_does_not_divide(nb04, lenet, digits):
    inputs, target = digits
    patch, stride, side = 8, 3, 28
    calls = []

    def counted(images):
        calls.append(len(images))
        return lenet(images).softmax(dim=1)

    theirs = Occlusion(counted).attribute(inputs[:1], sliding_window_shapes=(1, patch, patch), strides=stride,
                                          target=target[:1], perturbations_per_eval=1)[:, 0]
    ours = nb04["occlusion_map"](lenet, inputs[:1], target[:1], patch_size=patch, stride=stride)
    captum_side = math.ceil((side - patch) / stride) + 1
    assert ours.shape[1:] == ((side - patch) // stride + 1,) * 2 == (7, 7) and captum_side == 8
    assert len(calls) == 1 + captum_side ** 2  # one clean pass, then one per window, cut-off ones included
    cut = (captum_side - 1) * stride           # where Captum's extra windows start
    averaged = averaged_over_windows(ours, patch, stride, side)
    assert rel_diff(averaged[:, :cut, :cut], theirs[:, :cut, :cut]) < TOLERANCE
    with pytest.raises(AssertionError, match="Stride dimension"):
        captum_occlusion(lenet, inputs[:1], target[:1], 4, 6, 0.0)  # Captum refuses a stride beyond the window


def test_saliency_is_captum_saliency_max_over_channels(nb05, lenet, shapes_cnn, digits, shapes):
    for model, (inputs, target) in [(lenet, digits), (shapes_cnn, shapes)]:
        ours = nb05["saliency_map"](model, inputs, target)
        assert rel_diff(ours, Saliency(model).attribute(inputs, target=target).amax(dim=1)) < TOLERANCE
        signed = Saliency(model).attribute(inputs, target=target, abs=False)
        assert (signed < 0).any() and rel_diff(ours, signed.abs().amax(dim=1)) < TOLERANCE


def captum_smoothgrad(model, image, target, sigma, n_samples, seed):
    torch.manual_seed(seed)  # NoiseTunnel draws with torch.normal from the global generator
    stdev = float(sigma * (image.max() - image.min()))
    return NoiseTunnel(Saliency(model)).attribute(image, nt_type="smoothgrad", nt_samples=n_samples, stdevs=stdev,
                                                  target=target).amax(dim=1)


def test_smoothgrad_is_noise_tunnel_on_one_channel_with_the_same_noise(nb05, lenet, digits):
    inputs, target = digits
    for i in range(len(inputs)):
        ours = nb05["smoothgrad"](lenet, inputs[i:i + 1], target[i:i + 1], sigma=0.15, n_samples=10, seed=3)
        theirs = captum_smoothgrad(lenet, inputs[i:i + 1], target[i:i + 1], 0.15, 10, 3)
        assert rel_diff(ours, theirs) < TOLERANCE
    other_seed = captum_smoothgrad(lenet, inputs[:1], target[:1], 0.15, 10, 4)
    assert rel_diff(nb05["smoothgrad"](lenet, inputs[:1], target[:1], sigma=0.15, n_samples=10, seed=3), other_seed) > 0.01


def test_noise_tunnel_takes_the_max_over_channels_after_the_mean(nb05, shapes_cnn, shapes):
    inputs, target = shapes
    for i in range(len(inputs)):
        ours = nb05["smoothgrad"](shapes_cnn, inputs[i:i + 1], target[i:i + 1], sigma=0.15, n_samples=8, seed=0)
        theirs = captum_smoothgrad(shapes_cnn, inputs[i:i + 1], target[i:i + 1], 0.15, 8, 0)
        # max_c mean_k |g| <= mean_k max_c |g| at every pixel, and here strictly somewhere.
        assert (theirs <= ours + 1e-6 * ours.max()).all() and rel_diff(ours, theirs) > 0.01


def test_grad_cam_is_layer_grad_cam_with_relu_and_bilinear_upsampling(nb05, shapes_cnn, shapes):
    inputs, target = shapes
    cam = LayerGradCam(shapes_cnn, shapes_cnn.features.relu3_2)
    ours = nb05["grad_cam"](shapes_cnn, inputs, target, "features.relu3_2")
    raw = cam.attribute(inputs, target=target, relu_attributions=True)
    assert raw.shape == (2, 1, 16, 16)
    assert rel_diff(ours, LayerAttribution.interpolate(raw, (64, 64), interpolate_mode="bilinear")[:, 0]) < TOLERANCE
    assert rel_diff(ours, LayerAttribution.interpolate(raw, (64, 64))[:, 0]) > 0.01   # the default is "nearest"
    assert (cam.attribute(inputs, target=target) < 0).any()                            # relu_attributions=False by default


def captum_lrp(model, inputs, target, conv_rule, flatten_rule=EpsilonRule):
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.rule = conv_rule()
        elif isinstance(module, torch.nn.Flatten) and flatten_rule is not None:
            module.rule = flatten_rule()
    return LRP(model).attribute(inputs, target=target).sum(dim=1)


@pytest.mark.parametrize("rule", ["epsilon", "alpha1beta0"])
def test_lrp_is_captum_lrp_with_the_same_rules(lenet, shapes_cnn, digits, shapes, rule):
    conv_rule = (lambda: EpsilonRule(epsilon=0.25)) if rule == "epsilon" else (lambda: Alpha1_Beta0_Rule(set_bias_to_zero=True))
    for model, (inputs, target) in [(lenet, digits), (shapes_cnn, shapes)]:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        assert rel_diff(lrp(model, inputs, target, rule=rule, epsilon=0.25), captum_lrp(model, inputs, target, conv_rule)) < TOLERANCE
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_captum_lrp_defaults(lenet, shapes_cnn, digits, shapes):
    inputs, target = digits
    # Captum's default rule everywhere is EpsilonRule(1e-9): our epsilon-rule with epsilon -> 0.
    assert rel_diff(lrp(lenet, inputs, target, rule="epsilon", epsilon=1e-9), captum_lrp(lenet, inputs, target, EpsilonRule)) < TOLERANCE
    with pytest.raises(TypeError, match="Flatten"):                      # nn.Flatten has no default rule
        captum_lrp(lenet, inputs, target, EpsilonRule, flatten_rule=None)
    # Alpha1_Beta0_Rule() keeps the bias: relevance is no longer conserved, where ours (bias left out) is.
    inputs, target = shapes
    with torch.no_grad():
        logits = shapes_cnn(inputs).gather(1, target[:, None])[:, 0]
    ours = lrp(shapes_cnn, inputs, target, rule="alpha1beta0").flatten(1).sum(1)
    with_bias = captum_lrp(shapes_cnn, inputs, target, Alpha1_Beta0_Rule).flatten(1).sum(1)
    assert torch.allclose(ours, logits, rtol=TOLERANCE)
    assert ((with_bias - logits).abs() / logits.abs()).min() > 0.01
