import pytest
import torch
import torchvision
from torch import nn

from course_utils import capture_activations, get_layer, layer_names, relu_backward_rule


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=True), nn.Linear(7, 6), nn.ReLU(inplace=True), nn.Linear(6, 3))


def no_hooks_left(model):
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks
        assert "forward" not in module.__dict__


def test_capture_activations_records_outputs_before_an_inplace_relu():
    model = small_cnn()
    x = torch.randn(2, 1, 8, 8)
    with capture_activations(model, ["0", "1", "5"]) as acts:
        out = model(x)
    expected_conv = nn.functional.conv2d(x, model[0].weight, model[0].bias)
    torch.testing.assert_close(acts["0"], expected_conv)
    assert (acts["0"] < 0).any(), "the in-place ReLU must not overwrite the captured conv output"
    torch.testing.assert_close(acts["1"], expected_conv.clamp(min=0))
    torch.testing.assert_close(acts["5"], out.detach())
    assert not acts["0"].requires_grad
    no_hooks_left(model)


def test_capture_activations_can_keep_the_graph():
    model = small_cnn()
    x = torch.randn(1, 1, 8, 8)
    with capture_activations(model, "2", detach=False) as acts:
        model(x)
    assert acts["2"].requires_grad and acts["2"].grad_fn is not None


def test_hooks_are_removed_after_an_exception():
    model = small_cnn()
    with pytest.raises(RuntimeError, match="boom"):
        with capture_activations(model, ["0", "2"]):
            model(torch.randn(1, 1, 8, 8))
            raise RuntimeError("boom")
    no_hooks_left(model)
    with pytest.raises(RuntimeError, match="boom"):
        with relu_backward_rule(model, "guided"):
            raise RuntimeError("boom")
    no_hooks_left(model)


def test_unknown_layer_names_the_known_ones():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"no layer called 'conv9'.*0, 1, 2"):
        with capture_activations(model, "conv9"):
            pass
    no_hooks_left(model)
    with pytest.raises(ValueError, match="at least one layer"):
        with capture_activations(model, []):
            pass
    assert layer_names(model)[:3] == ["0", "1", "2"]
    assert get_layer(model, "2") is model[2]


def manual_input_gradient(model, x, target, rule):
    """The input gradient of an MLP's score computed by hand, with a chosen ReLU backward rule."""
    lin1, lin2, lin3 = model[0], model[2], model[4]
    h1 = x @ lin1.weight.T + lin1.bias
    h2 = h1.clamp(min=0) @ lin2.weight.T + lin2.bias
    def through_relu(g, pre):
        if rule == "backprop":
            return g * (pre > 0)
        if rule == "deconvnet":
            return g.clamp(min=0)
        return g.clamp(min=0) * (pre > 0)
    g = lin3.weight[target].expand(x.shape[0], -1)
    g = through_relu(g, h2) @ lin2.weight
    g = through_relu(g, h1) @ lin1.weight
    return g


@pytest.mark.parametrize("rule", ["backprop", "deconvnet", "guided"])
def test_relu_rules_match_a_hand_computation(rule):
    model = mlp()
    x = torch.randn(4, 5, requires_grad=True)
    with relu_backward_rule(model, rule):
        out = model(x)
        out[:, 2].sum().backward()
    expected = manual_input_gradient(model, x.detach(), 2, rule).detach()
    torch.testing.assert_close(x.grad, expected)
    no_hooks_left(model)


def test_backprop_rule_equals_autograd_and_forward_is_unchanged():
    model = mlp()
    x = torch.randn(3, 5)
    reference_out = model(x.clone())
    x1 = x.clone().requires_grad_()
    plain = torch.autograd.grad(model(x1)[:, 0].sum(), x1)[0]
    x2 = x.clone().requires_grad_()
    with relu_backward_rule(model, "backprop"):
        out = model(x2)
        swapped = torch.autograd.grad(out[:, 0].sum(), x2)[0]
    torch.testing.assert_close(out.detach(), reference_out.detach())
    torch.testing.assert_close(swapped, plain)


def test_relu_rule_errors():
    with pytest.raises(ValueError, match="use one of backprop, deconvnet, guided"):
        with relu_backward_rule(mlp(), "guidedd"):
            pass
    with pytest.raises(ValueError, match="no nn.ReLU"):
        with relu_backward_rule(nn.Linear(2, 2), "guided"):
            pass
    model = mlp()
    with pytest.raises(RuntimeError, match="cannot be nested"):
        with relu_backward_rule(model, "guided"):
            with relu_backward_rule(model, "deconvnet"):
                pass
    no_hooks_left(model)


@pytest.mark.parametrize("builder,layer", [(torchvision.models.squeezenet1_1, "features.0"),
                                           (torchvision.models.alexnet, "features.3")])
def test_hooks_work_on_torchvision_models_with_inplace_relus(builder, layer):
    torch.manual_seed(0)
    model = builder(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    with capture_activations(model, layer) as acts:
        with relu_backward_rule(model, "guided"):
            x.requires_grad_(True)
            score = model(x)[0, 7]
            guided, = torch.autograd.grad(score, x)
    assert acts[layer].ndim == 4
    x2 = x.detach().clone().requires_grad_(True)
    plain, = torch.autograd.grad(model(x2)[0, 7], x2)
    assert torch.isfinite(guided).all()
    assert not torch.allclose(guided, plain), "guided backprop must differ from the plain gradient"
    no_hooks_left(model)
