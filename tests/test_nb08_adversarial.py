"""Notebook 08: the solution's FGSM, PGD and adversarial-training loss against independent computations.

For a linear softmax classifier, logits = W x + b, the gradient of the cross-entropy with respect to the input
has a closed form, W^T (softmax(W x + b) - onehot(y)), so the attacks can be rebuilt without autograd.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import load_mnist, load_model
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb08():
    return solution_functions("08_adversarial")


@pytest.fixture(scope="module")
def lenet_digits():
    digits, labels = load_mnist("test")
    pick = torch.tensor([0, 150, 333, 512, 901])
    return load_model("lenet-mnist", device="cpu").double(), digits[pick].double(), labels[pick]


def linear_model(seed=0, shape=(1, 6, 5), classes=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(shape).prod()), classes)).double().eval()


def closed_form_gradient(model, inputs, target):
    """d mean-CE / d inputs for a Flatten + Linear model, without autograd."""
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    x = inputs.flatten(1)
    p = torch.softmax(x @ weight.T + bias, dim=1)
    p[torch.arange(len(x)), target] -= 1
    return (p @ weight).reshape(inputs.shape) / len(x)


def reference_fgsm(model, inputs, target, epsilon, targeted=False):
    sign = -1 if targeted else 1
    return (inputs + sign * epsilon * closed_form_gradient(model, inputs, target).sign()).clamp(0, 1)


def reference_pgd(model, inputs, target, epsilon, step_size, steps, targeted=False):
    sign = -1 if targeted else 1
    x = inputs.clone()
    for _ in range(steps):
        x = x + sign * step_size * closed_form_gradient(model, x, target).sign()
        x = torch.maximum(torch.minimum(x, inputs + epsilon), inputs - epsilon).clamp(0, 1)
    return x


def case(seed=1, n=5, shape=(1, 6, 5), classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


# ---------------------------------------------------------------- 08.1 fgsm

@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_the_closed_form_on_a_linear_model(nb08, targeted):
    model = linear_model()
    inputs, target = case()
    got = nb08["fgsm"](model, inputs, target, 0.1, targeted=targeted)
    torch.testing.assert_close(got, reference_fgsm(model, inputs, target, 0.1, targeted), rtol=0, atol=1e-12)


def test_fgsm_stays_in_the_ball_and_the_range_and_leaves_inputs_alone(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    before = digits.clone()
    got = nb08["fgsm"](model, digits, labels, 0.2)
    assert torch.equal(digits, before) and digits.grad is None and not got.requires_grad
    assert got.shape == digits.shape and got.dtype == digits.dtype
    assert (got - digits).abs().max() <= 0.2 + 1e-12 and got.min() >= 0 and got.max() <= 1


def test_fgsm_treats_each_image_on_its_own(nb08, lenet_digits):
    # The mean over the batch scales every image's gradient by the same positive number: signs unchanged.
    model, digits, labels = lenet_digits
    batch = nb08["fgsm"](model, digits, labels, 0.15)
    one_by_one = torch.cat([nb08["fgsm"](model, digits[i:i + 1], labels[i:i + 1], 0.15) for i in range(len(digits))])
    torch.testing.assert_close(batch, one_by_one, rtol=0, atol=1e-12)


def test_fgsm_raises_the_loss_and_targeted_fgsm_lowers_the_targets_loss(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    other = (labels + 3) % 10
    loss = lambda x, t: F.cross_entropy(model(x), t, reduction="none")
    assert (loss(nb08["fgsm"](model, digits, labels, 0.05), labels) > loss(digits, labels)).all()
    assert (loss(nb08["fgsm"](model, digits, other, 0.05, targeted=True), other) < loss(digits, other)).all()


# ---------------------------------------------------------------- 08.2 pgd

@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_equals_a_plain_loop_with_the_closed_form_gradient(nb08, targeted):
    model = linear_model(seed=2)
    inputs, target = case(seed=3)
    got = nb08["pgd"](model, inputs, target, 0.15, 0.04, 7, targeted=targeted)
    torch.testing.assert_close(got, reference_pgd(model, inputs, target, 0.15, 0.04, 7, targeted), rtol=0, atol=1e-12)


def test_one_pgd_step_of_size_epsilon_is_fgsm_and_zero_steps_change_nothing(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    torch.testing.assert_close(nb08["pgd"](model, digits, labels, 0.1, 0.1, 1), nb08["fgsm"](model, digits, labels, 0.1))
    assert torch.equal(nb08["pgd"](model, digits, labels, 0.1, 0.05, 0), digits)


def test_pgd_projects_onto_the_ball_and_the_range(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    before = digits.clone()
    got = nb08["pgd"](model, digits, labels, 0.1, 0.3, 4)              # steps larger than the ball
    assert torch.equal(digits, before) and not got.requires_grad
    assert (got - digits).abs().max() <= 0.1 + 1e-12 and got.min() >= 0 and got.max() <= 1


def test_pgd_finds_a_higher_loss_than_fgsm(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    loss = lambda x: F.cross_entropy(model(x), labels).item()
    assert loss(nb08["pgd"](model, digits, labels, 0.1, 0.025, 10)) > loss(nb08["fgsm"](model, digits, labels, 0.1))


# ---------------------------------------------------------------- 08.3 adversarial_loss

def test_adversarial_loss_equals_the_closed_form_on_a_linear_model(nb08):
    model = linear_model(seed=4)
    inputs, target = case(seed=5)
    adversarial = reference_fgsm(model, inputs, target, 0.2)
    for alpha in (0.0, 0.3, 0.5, 1.0):
        expected = alpha * F.cross_entropy(model(inputs), target) + (1 - alpha) * F.cross_entropy(model(adversarial), target)
        got = nb08["adversarial_loss"](model, inputs, target, 0.2, alpha=alpha)
        assert got.dim() == 0
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)


def test_adversarial_loss_gradient_treats_the_attack_as_a_constant(nb08):
    # Its gradient with respect to the weights is the gradient of the two cross-entropies with the adversarial
    # images fixed (built here with the closed form, so no graph leads back to the weights through them).
    model = linear_model(seed=6)
    inputs, target = case(seed=7)
    adversarial = reference_fgsm(model, inputs, target, 0.25).detach()
    expected = 0.5 * F.cross_entropy(model(inputs), target) + 0.5 * F.cross_entropy(model(adversarial), target)
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))
    got_grads = torch.autograd.grad(nb08["adversarial_loss"](model, inputs, target, 0.25), list(model.parameters()))
    for got, want in zip(got_grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


def test_adversarial_loss_leaves_parameter_gradients_untouched_until_backward(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    model = load_model("lenet-mnist", device="cpu").double()        # a fresh copy, parameters requiring gradients
    nb08["adversarial_loss"](model, digits, labels, 0.2)
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- the ImageNet section, with an untrained SqueezeNet

def test_imagenet_section_runs_with_an_untrained_squeezenet(nb08, capsys):
    import nbformat
    import torchvision

    from course_utils.paths import solutions_dir

    nb = nbformat.read(solutions_dir() / "08_adversarial.ipynb", as_version=4)
    section = next(c.source for c in nb.cells if c.cell_type == "code" and 'imagenet_available("squeezenet1_1")' in c.source)
    shown = []
    namespace = dict(nb08)
    torch.manual_seed(0)
    namespace.update(imagenet_available=lambda name: True, device=torch.device("cpu"),
                     load_model=lambda name, device=None: torchvision.models.squeezenet1_1(weights=None).eval(),
                     show_images=lambda images, titles=None, **kwargs: shown.append(images))
    exec(section, namespace)
    (images,) = shown
    assert images.shape == (3, 3, 224, 224)
    photo, attacked = images[0], images[1]
    assert (attacked - photo).abs().max() <= 1 / 255 + 1e-6 and attacked.min() >= 0 and attacked.max() <= 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("clean: ") and lines[1].startswith("FGSM, eps 1/255: ")


def test_pgd_random_start_is_uniform_in_the_ball_seeded_and_projected_around_the_inputs(nb08, lenet_digits):
    model, digits, labels = lenet_digits
    start = nb08["pgd"](model, digits, labels, 0.2, 0.05, 0, random_start=5)
    u = torch.rand(digits.shape, generator=torch.Generator().manual_seed(5), dtype=digits.dtype)
    torch.testing.assert_close(start, (digits + 0.2 * (2 * u - 1)).clamp(0, 1), rtol=0, atol=0)
    assert torch.equal(start, nb08["pgd"](model, digits, labels, 0.2, 0.05, 0, random_start=5))
    assert not torch.equal(start, nb08["pgd"](model, digits, labels, 0.2, 0.05, 0, random_start=6))
    got = nb08["pgd"](model, digits, labels, 0.2, 0.5, 3, random_start=5)           # steps larger than the ball
    assert (got - digits).abs().max() <= 0.2 + 1e-12 and got.min() >= 0 and got.max() <= 1


def test_pgd_from_a_random_start_equals_the_plain_loop_started_there(nb08):
    model = linear_model()
    inputs, target = case()
    u = torch.rand(inputs.shape, generator=torch.Generator().manual_seed(3), dtype=inputs.dtype)
    x = (inputs + 0.15 * (2 * u - 1)).clamp(0, 1)
    for _ in range(5):
        x = x + 0.04 * closed_form_gradient(model, x, target).sign()
        x = torch.maximum(torch.minimum(x, inputs + 0.15), inputs - 0.15).clamp(0, 1)
    torch.testing.assert_close(nb08["pgd"](model, inputs, target, 0.15, 0.04, 5, random_start=3), x, rtol=0, atol=1e-12)
