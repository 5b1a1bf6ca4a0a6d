"""Tests of the data loaders: the MNIST subset, the named photographs and the synthetic shapes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.path import Path as MplPath

from course_utils import data, shapes
from course_utils.data import IMAGE_NAMES, load_image, load_mnist
from course_utils.paths import data_dir
from course_utils.shapes import SHAPE_CLASSES, load_shapes, make_shapes

# ---------------------------------------------------------------- MNIST


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000), ("all", 5000)])
def test_load_mnist_shapes_dtypes_ranges(split, n):
    images, labels = load_mnist(split)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(labels.tolist()) == set(range(10))


def test_load_mnist_split_is_stratified_disjoint_and_complete():
    _, train_labels = load_mnist("train")
    _, test_labels = load_mnist("test")
    assert torch.bincount(train_labels, minlength=10).tolist() == [400] * 10
    assert torch.bincount(test_labels, minlength=10).tolist() == [100] * 10
    with np.load(data_dir() / data.MNIST_FILE) as archive:
        train_idx, test_idx = archive["train_idx"], archive["test_idx"]
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))


def test_load_mnist_splits_are_the_stored_rows_of_all():
    all_images, all_labels = load_mnist("all")
    with np.load(data_dir() / data.MNIST_FILE) as archive:
        train_idx, test_idx = archive["train_idx"], archive["test_idx"]
    for split, idx in [("train", train_idx), ("test", test_idx)]:
        images, labels = load_mnist(split)
        assert torch.equal(images, all_images[idx]) and torch.equal(labels, all_labels[idx])


def test_load_mnist_is_deterministic_and_returns_fresh_tensors():
    images, labels = load_mnist("test")
    images.zero_()
    labels.fill_(3)
    again_images, again_labels = load_mnist("test")
    assert again_images.max() == 1.0 and torch.bincount(again_labels).tolist() == [100] * 10
    assert torch.equal(again_images, load_mnist("test")[0])


@pytest.mark.parametrize("split", ["validation", "Train", "", None, 0])
def test_load_mnist_rejects_unknown_split(split):
    with pytest.raises(ValueError, match="'train', 'test', 'all'"):
        load_mnist(split)


def test_load_mnist_missing_file_says_how_to_restore(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load_mnist("train")
    message = str(error.value)
    assert str(tmp_path / "mnist_5000.npz") in message and "git checkout data/" in message


# ---------------------------------------------------------------- named photographs


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_load_image_native(name):
    image = load_image(name)
    assert image.dim() == 4 and image.shape[:2] == (1, 3) and min(image.shape[-2:]) >= 256
    assert image.dtype == torch.float32 and 0.0 <= image.min() and image.max() <= 1.0
    assert image.std() > 0.05
    if name in ("brick", "grass", "gravel"):
        assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 0], image[:, 2])


def test_image_names():
    assert IMAGE_NAMES == ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel",
                           "china", "flower", "grace_hopper")


@pytest.mark.parametrize("name", ["chelsea", "grace_hopper", "astronaut"])
def test_load_image_int_size_resizes_shorter_side_and_center_crops(name):
    native = load_image(name)
    image = load_image(name, size=64)
    assert image.shape == (1, 3, 64, 64) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    # Independent computation: resize the shorter side with the same filter, crop the center by hand.
    h, w = native.shape[-2:]
    new = (64, round(w * 64 / h)) if h <= w else (round(h * 64 / w), 64)
    resized = F.interpolate(native, size=new, mode="bilinear", antialias=True, align_corners=False)
    top, left = (new[0] - 64) // 2, (new[1] - 64) // 2
    assert torch.allclose(image, resized[:, :, top:top + 64, left:left + 64].clamp(0, 1))


def test_load_image_pair_size_is_exact_and_keeps_colours():
    image = load_image("coffee", size=(30, 50))
    assert image.shape == (1, 3, 30, 50)
    assert torch.allclose(image.mean((2, 3)), load_image("coffee").mean((2, 3)), atol=0.02)
    assert load_image("rocket", size=[17, 9]).shape == (1, 3, 17, 9)


def test_load_image_returns_fresh_tensors():
    load_image("astronaut").zero_()
    assert load_image("astronaut").max() > 0.5


def test_load_image_unknown_name_lists_names():
    with pytest.raises(ValueError) as error:
        load_image("lena")
    assert all(name in str(error.value) for name in IMAGE_NAMES)


@pytest.mark.parametrize("size", [0, -5, 2.5, "64", True, (10,), (10, 0), (10, 2.0), (1, 2, 3)])
def test_load_image_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match=r"^size must be None, a positive int or a \(height, width\) pair"):
        load_image("chelsea", size=size)


# ---------------------------------------------------------------- synthetic shapes


def test_shape_classes():
    assert SHAPE_CLASSES == ("circle", "triangle", "square", "star", "cross", "ring", "crescent", "arrow")


def test_make_shapes_shapes_dtypes_ranges_and_balance():
    images, labels, masks = make_shapes(80, seed=3)
    assert images.shape == (80, 3, 64, 64) and images.dtype == torch.float32
    assert labels.shape == (80,) and labels.dtype == torch.int64
    assert masks.shape == (80, 64, 64) and masks.dtype == torch.bool
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert torch.bincount(labels, minlength=8).tolist() == [10] * 8
    assert make_shapes(5, seed=0, size=32)[0].shape == (5, 3, 32, 32)


def test_make_shapes_is_deterministic():
    first, second, other = make_shapes(40, seed=7), make_shapes(40, seed=7), make_shapes(40, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other[0]) and not torch.equal(first[2], other[2])


@pytest.mark.parametrize("kwargs", [dict(n=0, seed=0), dict(n=-3, seed=0), dict(n=2.5, seed=0), dict(n=True, seed=0),
                                    dict(n=4, seed=-1), dict(n=4, seed=1.5), dict(n=4, seed="1"), dict(n=4, seed=0, size=8)])
def test_make_shapes_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=r"^(n|seed|size) must be"):
        make_shapes(**kwargs)


@pytest.mark.parametrize("split, n", [("train", 5000), ("test", 1000)])
def test_load_shapes_splits(split, n):
    images, labels, masks = load_shapes(split)
    assert images.shape == (n, 3, 64, 64) and labels.shape == (n,) and masks.shape == (n, 64, 64)
    assert torch.bincount(labels, minlength=8).tolist() == [n // 8] * 8
    again = load_shapes(split)
    assert all(torch.equal(a, b) for a, b in zip((images, labels, masks), again))


def test_load_shapes_is_make_shapes_with_fixed_distinct_seeds_and_copies():
    assert shapes.SHAPES_SEEDS["train"] != shapes.SHAPES_SEEDS["test"]
    images, labels, masks = load_shapes("test")
    expected = make_shapes(1000, shapes.SHAPES_SEEDS["test"])
    assert all(torch.equal(a, b) for a, b in zip((images, labels, masks), expected))
    images.zero_()
    masks.zero_()
    assert load_shapes("test")[0].max() > 0 and load_shapes("test")[2].any()
    assert not torch.equal(load_shapes("train")[0][:1000], expected[0])


@pytest.mark.parametrize("split", ["val", "all", None])
def test_load_shapes_rejects_unknown_split(split):
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_shapes(split)


def _object_statistics(images, masks):
    """Mean and standard deviation of the object's pixels, and the mean of a 2-px band around it."""
    inside = masks[:, None].float()
    area = inside.sum((2, 3))
    mean = (images * inside).sum((2, 3)) / area
    std = (((images - mean[:, :, None, None]) ** 2 * inside).sum((2, 3)) / area).sqrt()
    band = F.max_pool2d(inside, 5, stride=1, padding=2) - inside
    band_mean = (images * band).sum((2, 3)) / band.sum((2, 3))
    return mean, std, band_mean


def test_shape_masks_are_the_objects():
    images, labels, masks = load_shapes("test")
    area = masks.sum((1, 2))
    assert area.min() >= 40 and area.max() <= 1000  # 16 to 34 px across
    # Fully inside the image: the object never touches the border.
    assert not (masks[:, 0].any() or masks[:, -1].any() or masks[:, :, 0].any() or masks[:, :, -1].any())
    mean, std, band_mean = _object_statistics(images, masks)
    assert std.max() < 0.05  # one flat colour plus mild noise: no clutter on the object
    assert mean.max(1).values.min() > 0.7  # bright
    assert (mean - band_mean).abs().max(1).values.min() > 0.25  # stands out from its surroundings


def test_shape_masks_match_polygons_drawn_by_matplotlib():
    """Independent computation: the polygon classes against matplotlib's point-in-polygon test."""
    grid = np.stack(np.meshgrid(np.linspace(-1.1, 1.1, 221), np.linspace(-1.1, 1.1, 221)), -1).reshape(-1, 2)
    grid = grid + 1e-4  # keep points off the edges, where the two tests may legitimately disagree
    for name, vertices in [("triangle", shapes._TRIANGLE), ("star", shapes._STAR), ("arrow", shapes._ARROW)]:
        ours = shapes._shape_inside(name, grid[:, 0], grid[:, 1])
        theirs = MplPath(vertices).contains_points(grid)
        assert (ours != theirs).mean() < 1e-3, name
        assert np.all(np.hypot(*vertices.T) <= 1.0 + 1e-9), name  # inside the unit disc: object inside image


def test_shape_circle_area_matches_its_radius():
    """A circle's mask holds about as many pixels as pi r^2, with r from its bounding box."""
    images, labels, masks = load_shapes("test")
    circles = masks[labels == SHAPE_CLASSES.index("circle")]
    for mask in circles[:20]:
        rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        radius = (rows.max() - rows.min() + cols.max() - cols.min() + 2).item() / 4
        assert abs(mask.sum().item() / (np.pi * radius**2) - 1) < 0.2


def test_shape_backgrounds_carry_no_class_information():
    """Colour statistics of the background alone predict the class no better than chance."""
    from sklearn.linear_model import LogisticRegression

    def background_features(split):
        images, labels, masks = load_shapes(split)
        outside = (~masks)[:, None].float()
        mean = (images * outside).sum((2, 3)) / outside.sum((2, 3))
        std = (((images - mean[:, :, None, None]) ** 2 * outside).sum((2, 3)) / outside.sum((2, 3))).sqrt()
        return torch.cat([mean, std], 1).numpy(), labels.numpy()

    x_train, y_train = background_features("train")
    x_test, y_test = background_features("test")
    classifier = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    assert classifier.score(x_test, y_test) < 0.2  # chance is 0.125
