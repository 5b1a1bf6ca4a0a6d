"""The workbook's two small trained classifiers, and ``load_model`` to get any model by name.

``LeNet`` reads MNIST digits; ``ShapesCNN`` reads the synthetic shapes of ``course_utils.shapes``.
Their weights are shipped in ``data/models/`` (retrain with ``python -m instructor.train NAME``).
The ImageNet models are handed on to ``course_utils.imagenet``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from course_utils.device import get_device
from course_utils.paths import data_dir
from course_utils.shapes import SHAPE_CLASSES

__all__ = ["LeNet", "ShapesCNN", "MODEL_NAMES", "build_model", "checkpoint_path", "load_model"]

# "-b": a second copy of each network, same recipe, trained from another seed (an independent judge of
# synthesized images in 07 and the target of transfer attacks in 08).
MODEL_NAMES = ("lenet-mnist", "shapes-cnn", "lenet-mnist-b", "shapes-cnn-b", "shapes-cnn-tagged", "lenet-mnist-robust",
               "shapes-cnn-robust")
# "shapes-cnn-tagged": the shapes CNN trained on shapes that carry a corner tag coding their class (a "Clever Hans"
# network that reads the tag, for notebook 05; see course_utils.shapes.add_tags).
# "-robust": the same architecture trained on PGD adversarial examples (Madry et al. 2018; recipe and measured
# robustness in data/README.md): robust to small L-infinity perturbations (notebook 08); LeNet's input gradients
# look like strokes (notebooks 07 to 10).
_IMAGENET_FALLBACK = ("squeezenet1_1", "alexnet", "vgg16", "vgg19")  # if course_utils.imagenet is absent


def _check_inputs(inputs: torch.Tensor, channels: int, size: int, model: str) -> None:
    """Raise a one-sentence ValueError unless ``inputs`` is a float tensor ``(N, channels, size, size)``."""
    if (not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or inputs.shape[1] != channels
            or inputs.shape[2] != size or inputs.shape[3] != size or not inputs.is_floating_point()):
        got = f"{tuple(inputs.shape)} {inputs.dtype}" if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"{model} expects a float tensor of shape (N, {channels}, {size}, {size}), got {got}.")


class LeNet(nn.Module):
    """A LeNet-style digit classifier: two 5x5 convolutions with max pooling, then two linear layers.

    Layers, in order: ``conv1`` (1->16, 5x5, padding 2), ``relu1``, ``pool1`` (2x2), ``conv2``
    (16->32, 5x5), ``relu2``, ``pool2``, ``flatten``, ``fc1`` (800->128), ``relu3``, ``fc2`` (128->10).
    Every ReLU is an ``nn.ReLU`` module, so hooks can find and replace it.

    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11), 1998.
    """

    class_names = tuple(str(d) for d in range(10))

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 5 * 5, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Classify digits.

        Args:
            inputs: float ``(N, 1, 28, 28)`` in [0, 1], white ink on black.

        Returns:
            logits, ``(N, 10)``.
        """
        _check_inputs(inputs, 1, 28, "LeNet")
        x = self.pool1(self.relu1(self.conv1(inputs)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


class ShapesCNN(nn.Module):
    """A small VGG-style classifier of the eight synthetic shapes, without batch normalization.

    ``features``: three blocks of two 3x3 convolutions (the first one 5x5) with ReLUs, each block
    followed by 2x2 max pooling: conv1_1 (3->16), conv1_2 (16->16), pool1 -> 32x32; conv2_1 (16->32),
    conv2_2 (32->32), pool2 -> 16x16; conv3_1 (32->64), conv3_2 (64->64), pool3 -> 8x8. The last
    convolutional layer, for Grad-CAM, is ``features.conv3_2`` (or its ReLU ``features.relu3_2``),
    with 64 maps of 16x16. ``classifier``: global average pooling, dropout and one linear layer.

    K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image
    recognition", ICLR 2015.
    """

    class_names = SHAPE_CLASSES

    def __init__(self, dropout: float = 0.2):
        super().__init__()

        def conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
            return nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2)

        self.features = nn.Sequential(OrderedDict([
            ("conv1_1", conv(3, 16, 5)), ("relu1_1", nn.ReLU()),
            ("conv1_2", conv(16, 16)), ("relu1_2", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2_1", conv(16, 32)), ("relu2_1", nn.ReLU()),
            ("conv2_2", conv(32, 32)), ("relu2_2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("conv3_1", conv(32, 64)), ("relu3_1", nn.ReLU()),
            ("conv3_2", conv(64, 64)), ("relu3_2", nn.ReLU()),
            ("pool3", nn.MaxPool2d(2)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("gap", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("dropout", nn.Dropout(dropout)),
            ("fc", nn.Linear(64, len(SHAPE_CLASSES))),
        ]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Classify shapes.

        Args:
            inputs: float ``(N, 3, 64, 64)`` in [0, 1].

        Returns:
            logits, ``(N, 8)``, in the order of ``SHAPE_CLASSES``.
        """
        _check_inputs(inputs, 3, 64, "ShapesCNN")
        return self.classifier(self.features(inputs))


_ARCHITECTURES = {"lenet-mnist": LeNet, "shapes-cnn": ShapesCNN, "lenet-mnist-b": LeNet, "shapes-cnn-b": ShapesCNN,
                  "shapes-cnn-tagged": ShapesCNN, "lenet-mnist-robust": LeNet, "shapes-cnn-robust": ShapesCNN}


def build_model(name: str) -> nn.Module:
    """A freshly initialised (untrained) local model.

    Args:
        name: one of ``MODEL_NAMES``.

    Returns:
        The ``nn.Module``, in training mode, on the CPU.
    """
    if name not in _ARCHITECTURES:
        raise ValueError(f"Unknown local model {name!r}: use one of {', '.join(MODEL_NAMES)}.")
    return _ARCHITECTURES[name]()


def checkpoint_path(name: str):
    """Where the shipped weights of a local model live: ``data/models/NAME.pt`` (a ``pathlib.Path``)."""
    if name not in _ARCHITECTURES:
        raise ValueError(f"Unknown local model {name!r}: use one of {', '.join(MODEL_NAMES)}.")
    return data_dir() / "models" / f"{name}.pt"


def _imagenet_names() -> tuple[str, ...]:
    """The ImageNet model names, read from ``course_utils.imagenet`` when it can be imported."""
    try:
        from course_utils.imagenet import IMAGENET_MODELS
    except ImportError:
        return _IMAGENET_FALLBACK
    return tuple(IMAGENET_MODELS)


def load_model(name: str, device: str | torch.device | None = None) -> nn.Module:
    """Load a trained model by name, in eval mode, on ``device``.

    Args:
        name: ``"lenet-mnist"`` (``LeNet`` trained on MNIST), ``"shapes-cnn"`` (``ShapesCNN``
            trained on the shapes), another of ``MODEL_NAMES`` (``"lenet-mnist-robust"``, ``"shapes-cnn-robust"``: after
            PGD adversarial training; the ``-b`` copies; ``"shapes-cnn-tagged"``), or an ImageNet model of ``course_utils.imagenet.IMAGENET_MODELS``
            (``"squeezenet1_1"``, ``"alexnet"``, ``"vgg16"``, ``"vgg19"``), loaded by
            ``course_utils.imagenet.load_imagenet_model``.
        device: where to put the model; ``None`` uses ``get_device()``.

    Returns:
        The ``nn.Module`` in eval mode.
    """
    imagenet_names = _imagenet_names()
    if name in imagenet_names:
        from course_utils.imagenet import load_imagenet_model

        return load_imagenet_model(name, device)
    if name not in _ARCHITECTURES:
        known = ", ".join(MODEL_NAMES + imagenet_names)
        raise ValueError(f"Unknown model {name!r}: use one of {known}.")
    path = checkpoint_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"The weights of {name!r} are missing: expected {path}. Restore data/models/ from the course's "
            f"bundle (in its repository: `git checkout data/`); data/README.md says how they were trained."
        )
    model = build_model(name)
    model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    device = torch.device(device) if device is not None else get_device()
    return model.to(device).eval()
