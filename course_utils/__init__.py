"""course_utils: the small helper package of the *Optimizing the Input* workbook.

Notebooks import what they need by name, e.g. ``from course_utils import load_model, show_heatmap``.
Each name lives in a module with one job:

* ``device``: ``get_device``, ``seed_everything``, ``progress``
* ``data`` and ``shapes``: ``load_mnist``, ``load_shapes``, ``load_image``
* ``models`` and ``imagenet``: ``load_model`` and the optional ImageNet models
* ``hooks``: ``capture_activations``, ``relu_backward_rule``
* ``plotting``: ``show_images``, ``show_filters``, ``show_heatmap``
* ``widgets``: ``interactive_plot`` and its controls
* ``checks``: ``check``, the exercises' self-checks
* ``attribution``: ``gradient_x_input``, ``lrp``, ``cascading_randomization``, ``pointing_game``, ...
"""
from .attribution import (LRP_RULES, cascading_randomization, gradient_x_input, lrp, lrp_relevances, parameter_layers,
                          pointing_game, positive_share_inside, rank_correlation, resize_attribution)
from .checks import CheckResult, ExerciseCheckFailed, check
from .data import IMAGE_NAMES, load_image, load_mnist
from .device import get_device, progress, seed_everything
from .hooks import RELU_RULES, capture_activations, get_layer, layer_names, relu_backward_rule
from .models import MODEL_NAMES, load_model
from .plotting import show_filters, show_heatmap, show_images, to_numpy_image
from .shapes import SHAPE_CLASSES, load_shapes, make_shapes
from .widgets import dropdown, float_slider, int_slider, interactive_plot, toggle_buttons

__all__ = [
    "check", "CheckResult", "ExerciseCheckFailed",
    "gradient_x_input", "lrp", "lrp_relevances", "LRP_RULES", "cascading_randomization", "parameter_layers",
    "pointing_game", "positive_share_inside", "rank_correlation", "resize_attribution",
    "load_mnist", "load_image", "IMAGE_NAMES", "load_shapes", "make_shapes", "SHAPE_CLASSES",
    "get_device", "seed_everything", "progress",
    "capture_activations", "relu_backward_rule", "RELU_RULES", "layer_names", "get_layer",
    "load_model", "MODEL_NAMES", "IMAGENET_MODELS", "ImageNetWeightsUnavailable", "imagenet_available",
    "imagenet_classes", "imagenet_normalize", "imagenet_denormalize", "imagenet_preprocess", "load_imagenet_model",
    "show_images", "show_filters", "show_heatmap", "to_numpy_image",
    "int_slider", "float_slider", "dropdown", "toggle_buttons", "interactive_plot",
]

# The ImageNet names are imported on first use, so that `python -m course_utils.imagenet` does not
# import its own module twice (Python warns about that).
_IMAGENET_NAMES = {"IMAGENET_MODELS", "ImageNetWeightsUnavailable", "imagenet_available", "imagenet_classes",
                   "imagenet_normalize", "imagenet_denormalize", "imagenet_preprocess", "load_imagenet_model"}


def __getattr__(name):
    if name in _IMAGENET_NAMES:
        from . import imagenet

        return getattr(imagenet, name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
