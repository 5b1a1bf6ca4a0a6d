"""course_utils: the small helper package of the *Optimizing the Input* workbook.

Notebooks import what they need by name, e.g. ``from course_utils import load_model, show_heatmap``.
Each name lives in a module with one job:

* ``device``: ``get_device``, ``seed_everything``, ``progress``, ``use_threads`` (called on import: see
  ``default_threads`` for why the workbook leaves cores free)
* ``data`` and ``shapes``: ``load_mnist``, ``load_shapes``, ``load_image``
* ``models`` and ``imagenet``: ``load_model`` and the optional ImageNet models
* ``hooks``: ``capture_activations``, ``relu_backward_rule``, ``relu_rule_gradient``
* ``plotting``: ``show_images``, ``show_filters``, ``show_heatmap``
* ``widgets``: ``interactive_plot`` and its controls
* ``checks``: ``check``, the exercises' self-checks
* ``optimize``: ``optimize_input``, ``noise_images``, ``random_shift``, ``gaussian_blur`` (optimizing the input)
* ``featurevis``: ``random_transform``, ``fourier_image``, ``silhouette_image``, ... (feature visualization for colour
  images) and the judges ``pixel_judge``, ``silhouette_judge``
* ``attribution``: ``gradient_x_input``, ``lrp``, ``cascading_randomization``, ``pointing_game``, ...
* ``batching``: ``choose_batch_size`` (how many inputs per forward pass, chosen from the network's layer sizes)
* ``robustness``: ``predict``, ``attack_in_batches``, ``accuracy_against_epsilon``, ``QueryCounter``, ... (measuring attacks)
* ``textures``: ``load_texture``, ``swirl_painting``, feature extractors, ``optimize_image`` (notebook 10)
* ``spectrum``: ``power_spectrum``, ``high_frequency_share``, ``grid_energy`` (notebook 09)
* ``homework``: ``python -m course_utils.homework``, the table of your exercises (``make test``, ``make check``);
  ``cells`` says which cells it runs, the same as grading
"""
from .attribution import (LRP_RULES, cascading_randomization, gradient_x_input, lrp, lrp_relevances, parameter_layers,
                          pointing_game, positive_share_inside, rank_correlation, resize_attribution)
from .batching import choose_batch_size, layer_bytes_per_input
from .checks import CheckResult, ExerciseCheckFailed, check
from .data import IMAGE_NAMES, load_image, load_mnist
from .device import default_threads, get_device, progress, seed_everything, use_threads
from .featurevis import (colour_correlation_sqrt, fourier_image, normalize_silhouettes, pixel_judge, polygon_mask,
                         random_transform, shape_backgrounds, silhouette_image, silhouette_judge)
from .hooks import RELU_RULES, capture_activations, get_layer, layer_names, relu_backward_rule, relu_rule_gradient
from .models import MODEL_NAMES, load_model
from .optimize import gaussian_blur, noise_images, optimize_input, random_shift
from .plotting import show_filters, show_heatmap, show_images, to_numpy_image
from .robustness import (FixedOutside, QueryCounter, accuracy_against_epsilon, attack_in_batches, format_table,
                         perturbation_norms, predict, quantize_8bit, random_signs)
from .shapes import SHAPE_CLASSES, add_tags, load_shapes, make_shapes
from .spectrum import grid_energy, high_frequency_share, power_spectrum
from .textures import (TEXTURE_NAMES, OptimizationResult, RandomMultiScaleNet, anisotropic_tv, colour_distance,
                       edge_correlation, layer_features, load_texture, optimize_image, out_of_range, shapes_extractor, spectrum_distance,
                       swirl_painting, vgg19_extractor)
from .unfinished import install as install_unfinished
from .widgets import dropdown, float_slider, int_slider, interactive_plot, sample_slider, toggle_buttons

__all__ = [
    "check", "CheckResult", "ExerciseCheckFailed",
    "gradient_x_input", "lrp", "lrp_relevances", "LRP_RULES", "cascading_randomization", "parameter_layers",
    "pointing_game", "positive_share_inside", "rank_correlation", "resize_attribution",
    "choose_batch_size", "layer_bytes_per_input",
    "load_mnist", "load_image", "IMAGE_NAMES", "load_shapes", "make_shapes", "add_tags", "SHAPE_CLASSES",
    "get_device", "seed_everything", "progress", "use_threads", "default_threads",
    "capture_activations", "relu_backward_rule", "relu_rule_gradient", "RELU_RULES", "layer_names", "get_layer",
    "optimize_input", "noise_images", "random_shift", "gaussian_blur",
    "pixel_judge", "silhouette_judge", "normalize_silhouettes", "random_transform", "colour_correlation_sqrt",
    "fourier_image", "silhouette_image", "polygon_mask", "shape_backgrounds",
    "load_model", "MODEL_NAMES", "IMAGENET_MODELS", "ImageNetWeightsUnavailable", "imagenet_available",
    "imagenet_classes", "imagenet_normalize", "imagenet_denormalize", "imagenet_preprocess", "load_imagenet_model",
    "show_images", "show_filters", "show_heatmap", "to_numpy_image",
    "predict", "attack_in_batches", "accuracy_against_epsilon", "format_table", "perturbation_norms", "quantize_8bit",
    "random_signs", "QueryCounter", "FixedOutside",
    "power_spectrum", "high_frequency_share", "grid_energy",
    "int_slider", "sample_slider", "float_slider", "dropdown", "toggle_buttons", "interactive_plot",
    "TEXTURE_NAMES", "swirl_painting", "load_texture", "shapes_extractor", "RandomMultiScaleNet", "vgg19_extractor",
    "layer_features", "anisotropic_tv", "out_of_range", "optimize_image", "OptimizationResult", "spectrum_distance",
    "colour_distance", "edge_correlation",
]

use_threads()  # small networks: leave cores free (see device.default_threads)
install_unfinished()  # in IPython: an unfinished exercise shows one line, not a traceback (see unfinished)

# The ImageNet names are imported on first use, so that `python -m course_utils.imagenet` does not
# import its own module twice (Python warns about that).
_IMAGENET_NAMES = {"IMAGENET_MODELS", "ImageNetWeightsUnavailable", "imagenet_available", "imagenet_classes",
                   "imagenet_normalize", "imagenet_denormalize", "imagenet_preprocess", "load_imagenet_model"}


def __getattr__(name):
    if name in _IMAGENET_NAMES:
        from . import imagenet

        return getattr(imagenet, name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
