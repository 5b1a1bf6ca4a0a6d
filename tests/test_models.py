"""Tests of the two local models, ``load_model`` and the training script."""
import pytest
import torch
from torch import nn

from course_utils import models
from instructor import train
from course_utils.data import load_mnist
from course_utils.device import get_device
from course_utils.models import MODEL_NAMES, LeNet, ShapesCNN, load_model
from course_utils.shapes import SHAPE_CLASSES, load_shapes

LENET_LAYERS = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2"]
SHAPES_FEATURES = ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2",
                   "pool2", "conv3_1", "relu3_1", "conv3_2", "relu3_2", "pool3"]


def test_model_names():
    assert MODEL_NAMES == ("lenet-mnist", "shapes-cnn", "lenet-mnist-b", "shapes-cnn-b", "shapes-cnn-tagged",
                           "lenet-mnist-robust", "shapes-cnn-robust")


def test_lenet_layers_and_output():
    model = LeNet()
    assert [name for name, _ in model.named_children()] == LENET_LAYERS
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 3
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size, model.conv1.padding) == (1, 16, (5, 5), (2, 2))
    assert (model.conv2.out_channels, model.fc1.out_features, model.fc2.out_features) == (32, 128, 10)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert model.class_names == tuple("0123456789")


def test_shapes_cnn_layers_and_output():
    model = ShapesCNN()
    assert [name for name, _ in model.features.named_children()] == SHAPES_FEATURES
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 6
    assert model.features.conv1_1.kernel_size == (5, 5) and model.features.conv3_1.out_channels == 64
    assert model.features(torch.rand(2, 3, 64, 64)).shape == (2, 64, 8, 8)
    assert model.features[:-1](torch.rand(2, 3, 64, 64)).shape == (2, 64, 16, 16)  # up to relu3_2
    assert isinstance(model.classifier.fc, nn.Linear) and model.classifier.fc.out_features == 8
    assert model(torch.rand(3, 3, 64, 64)).shape == (3, 8)
    assert model.class_names == SHAPE_CLASSES


@pytest.mark.parametrize("model, bad", [
    (LeNet(), torch.rand(28, 28)), (LeNet(), torch.rand(1, 28, 28)), (LeNet(), torch.rand(2, 3, 28, 28)),
    (LeNet(), torch.rand(2, 1, 32, 32)), (LeNet(), torch.zeros(2, 1, 28, 28, dtype=torch.uint8)),
])
def test_lenet_rejects_wrong_inputs(model, bad):
    with pytest.raises(ValueError, match=r"^LeNet expects a float tensor of shape \(N, 1, 28, 28\), got"):
        model(bad)


@pytest.mark.parametrize("bad", [torch.rand(3, 64, 64), torch.rand(2, 1, 64, 64), torch.rand(2, 3, 32, 32)])
def test_shapes_cnn_rejects_wrong_inputs(bad):
    with pytest.raises(ValueError, match=r"^ShapesCNN expects a float tensor of shape \(N, 3, 64, 64\), got"):
        ShapesCNN()(bad)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_load_model_eval_mode_and_device(name):
    model = load_model(name)
    assert not model.training and not any(m.training for m in model.modules())
    assert all(p.device.type == get_device().type for p in model.parameters())
    assert all(p.device.type == "cpu" for p in load_model(name, device="cpu").parameters())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_checkpoints_are_small_state_dicts(name):
    path = models.checkpoint_path(name)
    assert path.stat().st_size <= 5 * 2**20
    state = torch.load(path, weights_only=True, map_location="cpu")
    assert set(state) == set(models.build_model(name).state_dict())


@pytest.mark.parametrize("name", ["lenet-mnist", "lenet-mnist-b"])
def test_shipped_lenet_reaches_97_percent_on_mnist_test(name):
    images, labels = load_mnist("test")
    assert train.accuracy(load_model(name, "cpu"), images, labels) >= 0.97


@pytest.mark.parametrize("name", ["shapes-cnn", "shapes-cnn-b"])
def test_shipped_shapes_cnn_reaches_95_percent_on_shapes_test(name):
    images, labels, _ = load_shapes("test")
    assert train.accuracy(load_model(name, "cpu"), images, labels) >= 0.95


@pytest.mark.parametrize("name", ["lenet-mnist", "shapes-cnn"])
def test_the_b_copy_is_an_independent_network(name):
    """Same architecture, another seed: different weights, yet it agrees with the first copy on most test images."""
    first, second = load_model(name, "cpu"), load_model(f"{name}-b", "cpu")
    assert type(first) is type(second)
    assert all(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values())
               if a.numel() > 1)
    images = load_mnist("test")[0] if name == "lenet-mnist" else load_shapes("test")[0]
    with torch.no_grad():
        agree = (first(images).argmax(1) == second(images).argmax(1)).float().mean().item()
    assert agree >= 0.95


def test_the_b_copies_default_to_seed_1():
    assert train.DEFAULT_SEEDS == {"lenet-mnist-b": 1, "shapes-cnn-b": 1}
    assert train.TRAIN_SETTINGS["lenet-mnist-b"] == train.TRAIN_SETTINGS["lenet-mnist"]
    assert train.TRAIN_SETTINGS["shapes-cnn-b"] == train.TRAIN_SETTINGS["shapes-cnn"]


def test_accuracy_matches_a_plain_loop():
    model = load_model("lenet-mnist", "cpu")
    images, labels = load_mnist("test")
    images, labels = images[:123], labels[:123]
    with torch.no_grad():
        correct = sum(int(model(image[None]).argmax() == label) for image, label in zip(images, labels))
    assert train.accuracy(model, images, labels, batch_size=50) == correct / 123


def test_load_model_unknown_name_lists_every_name():
    with pytest.raises(ValueError) as error:
        load_model("resnet50")
    message = str(error.value)
    assert all(name in message for name in MODEL_NAMES + ("squeezenet1_1", "alexnet", "vgg16", "vgg19"))


def test_load_model_missing_checkpoint_says_how_to_rebuild(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load_model("shapes-cnn")
    message = str(error.value)
    assert str(tmp_path / "models" / "shapes-cnn.pt") in message
    assert "from the course's bundle" in message and "data/README.md" in message   # no instructor-only command (issue 29)


def test_load_model_hands_imagenet_names_to_the_imagenet_module(monkeypatch):
    imagenet = pytest.importorskip("course_utils.imagenet")
    calls = []
    monkeypatch.setattr(imagenet, "load_imagenet_model", lambda name, device=None: calls.append((name, device)) or "model")
    assert load_model("vgg16", device="cpu") == "model"
    assert calls == [("vgg16", "cpu")]


def test_training_is_reproducible_and_learns():
    first, info = train.train_model("lenet-mnist", epochs=1, seed=3)
    second, _ = train.train_model("lenet-mnist", epochs=1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert info["epochs"] == 1 and info["test_accuracy"] > 0.8
    assert not torch.are_deterministic_algorithms_enabled()  # the global setting is restored


def test_save_state_dict_refuses_to_overwrite_different_weights(tmp_path):
    out = tmp_path / "lenet.pt"
    torch.manual_seed(0)
    model = LeNet()
    assert train.save_state_dict(model, out) == "written"
    assert train.save_state_dict(model, out) == "unchanged"
    other = LeNet()
    assert train.save_state_dict(other, out) == "refused"
    assert torch.equal(torch.load(out, weights_only=True)["fc2.bias"], model.fc2.bias)
    assert train.save_state_dict(other, out, force=True) == "written"
    assert torch.equal(torch.load(out, weights_only=True)["fc2.bias"], other.fc2.bias)


def test_train_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lenet-mnist, shapes-cnn, lenet-mnist-b, shapes-cnn-b"):
        train.train_model("vgg16")
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train.train_model("lenet-mnist", epochs=0)


# The robust networks (PGD adversarial training): clean accuracy on the whole test split, and accuracy under a
# strong attack the networks were not trained with (PGD-40, 3 random restarts; training used PGD-5), on a subset
# of the test split to keep the test fast: every 4th of the 1,000 test digits (250, 25 of each class; the split is
# sorted by class), where data/README.md reports all 1,000.
def test_pgd_attack_stays_in_the_ball_and_raises_the_loss():
    model = load_model("lenet-mnist", "cpu")
    images, labels = load_mnist("test")
    images, labels = images[::20], labels[::20]
    attacked = train.pgd_attack(model, images, labels, 0.1, 0.025, 10, torch.Generator().manual_seed(0))
    assert (attacked - images).abs().max() <= 0.1 + 1e-6 and attacked.min() >= 0 and attacked.max() <= 1
    with torch.no_grad():
        assert nn.functional.cross_entropy(model(attacked), labels) > 3 * nn.functional.cross_entropy(model(images), labels)
    again = train.pgd_attack(model, images, labels, 0.1, 0.025, 10, torch.Generator().manual_seed(0))
    assert torch.equal(attacked, again)  # seeded random start


def test_robust_accuracy_counts_an_image_only_if_every_restart_fails():
    model = load_model("lenet-mnist", "cpu")
    images, labels = load_mnist("test")
    images, labels = images[::10], labels[::10]                                 # 10 of each class
    assert train.robust_accuracy(model, images, labels, 0.0, steps=2, restarts=1) == pytest.approx(
        train.accuracy(model, images, labels))
    one = train.robust_accuracy(model, images, labels, 0.1, steps=10, restarts=1)
    three = train.robust_accuracy(model, images, labels, 0.1, steps=10, restarts=3)
    assert three <= one < train.accuracy(model, images, labels)


def test_lenet_mnist_robust_is_accurate_and_robust_under_pgd40_with_restarts():
    robust, standard = load_model("lenet-mnist-robust", "cpu"), load_model("lenet-mnist", "cpu")
    images, labels = load_mnist("test")
    assert train.accuracy(robust, images, labels) >= 0.94                       # all 1,000 test digits
    setting = train.ROBUST_EVALUATION["lenet-mnist-robust"]
    assert (setting["epsilon"], setting["steps"], setting["restarts"]) == (0.2, 40, 3)
    subset = images[::4], labels[::4]
    assert train.robust_accuracy(robust, *subset, 0.2, steps=40, restarts=3) >= 0.60
    assert train.robust_accuracy(standard, *subset, 0.2, steps=40, restarts=1) < 0.05  # the plain network falls


def test_shapes_cnn_robust_resists_pgd40_with_restarts_three_times_better_than_the_standard_cnn():
    """At 12/255, on the first 64 test shapes (the split is in random order): at least 3x the standard CNN's accuracy."""
    robust, standard = load_model("shapes-cnn-robust", "cpu"), load_model("shapes-cnn", "cpu")
    images, labels, _ = load_shapes("test")
    assert train.accuracy(robust, images, labels) >= 0.95                        # all 1,000 test shapes
    setting = train.ROBUST_EVALUATION["shapes-cnn-robust"]
    assert (setting["epsilon"], setting["steps"], setting["restarts"]) == (12 / 255, 40, 3)
    subset = images[:64], labels[:64]
    robust_accuracy = train.robust_accuracy(robust, *subset, 12 / 255, steps=40, restarts=3)
    standard_accuracy = train.robust_accuracy(standard, *subset, 12 / 255, steps=40, restarts=1)  # 1 restart: kinder to it
    assert robust_accuracy >= 0.45 and robust_accuracy >= 3 * standard_accuracy


def test_robust_training_is_reproducible_and_uses_pgd():
    first, info = train.train_model("lenet-mnist-robust", epochs=1, seed=3)
    second, _ = train.train_model("lenet-mnist-robust", epochs=1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert train.ADVERSARIAL["lenet-mnist-robust"]["steps"] >= 5 and info["test_accuracy"] > 0.5
    assert not torch.are_deterministic_algorithms_enabled()
