"""course_utils.featurevis: the judges against brute-force votes, the parametrizations against their definitions."""
import numpy as np
import pytest
import torch

from course_utils import load_mnist, load_shapes
from course_utils.featurevis import (colour_correlation_sqrt, fourier_image, normalize_silhouettes, pixel_judge,
                                     random_transform, shape_backgrounds, silhouette_image, silhouette_judge)


def brute_force_vote(images, references, labels, k):
    # The same vote written with numpy and a loop: cosine similarity of mean-removed vectors, k nearest, majority.
    a = images.reshape(len(images), -1).double().numpy()
    b = references.reshape(len(references), -1).double().numpy()
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    out = []
    for row in a @ b.T:
        nearest = np.argsort(-row, kind="stable")[:k]
        votes = np.bincount(labels.numpy()[nearest], minlength=int(labels.max()) + 1)
        winners = np.flatnonzero(votes == votes.max())
        out.append(next(int(labels[i]) for i in nearest if labels[i] in winners))  # ties: the nearest wins
    return torch.tensor(out)


def test_pixel_judge_equals_a_brute_force_vote_and_reads_real_digits():
    train, train_labels = load_mnist("train")
    test, test_labels = load_mnist("test")
    got = pixel_judge(test[:60], train[:1500], train_labels[:1500], k=5)
    assert torch.equal(got, brute_force_vote(test[:60], train[:1500], train_labels[:1500], 5))
    assert (pixel_judge(test[:300], train, train_labels) == test_labels[:300]).float().mean() > 0.9
    # A reference image is its own nearest neighbour: with k = 1 every reference is named by its own label.
    assert torch.equal(pixel_judge(train[:50], train[:50], train_labels[:50], k=1), train_labels[:50])


def test_pixel_judge_says_what_is_wrong():
    refs, labels = torch.rand(10, 1, 4, 4), torch.arange(10)
    with pytest.raises(ValueError, match="same size"):
        pixel_judge(torch.rand(2, 1, 5, 5), refs, labels)
    with pytest.raises(ValueError, match="k must be"):
        pixel_judge(torch.rand(2, 1, 4, 4), refs, labels, k=11)
    with pytest.raises(ValueError, match="one label each"):
        pixel_judge(torch.rand(2, 1, 4, 4), refs, labels[:5])


def test_normalize_silhouettes_removes_position_and_size():
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    small = ((yy - 10) ** 2 + (xx - 12) ** 2 <= 16).float()          # a disc of radius 4 near a corner
    large = ((yy - 22) ** 2 + (xx - 25) ** 2 <= 100).float()         # radius 10 elsewhere
    a, b = normalize_silhouettes(torch.stack([small, large]))
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.95
    # Centred: the centre of mass of the output is the middle of the grid.
    ys = torch.arange(32.0)
    for m in (a, b):
        assert abs(float((m.sum(1) * ys).sum() / m.sum()) - 15.5) < 0.6


def test_silhouette_judge_names_real_masks():
    _, labels, masks = load_shapes("test")
    got = silhouette_judge(masks[:100], masks[200:], labels[200:])
    assert (got == labels[:100]).float().mean() > 0.9


def test_random_transform_identity_shift_and_gradient():
    images = torch.rand(2, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    same = random_transform(images, g, pad=0, jitter=0, scale=(1.0, 1.0), degrees=0)
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    # Padding alone (no move) is cropped away again.
    torch.testing.assert_close(random_transform(images, g, pad=3, jitter=0, scale=(1.0, 1.0), degrees=0), images,
                               atol=1e-5, rtol=0)
    # A dot moves by at most the jitter; over many draws the mean shift is near zero (no bias to one side).
    dot = torch.zeros(1, 1, 21, 21)
    dot[0, 0, 10, 10] = 1.0
    moves = []
    for _ in range(200):
        where = int(random_transform(dot, g, pad=4, jitter=3, scale=(1.0, 1.0), degrees=0).flatten().argmax())
        moves.append((where // 21 - 10, where % 21 - 10))
    moves = np.array(moves)
    assert np.abs(moves).max() <= 3 and np.abs(moves.mean(axis=0)).max() < 0.5
    x = images.clone().requires_grad_(True)
    random_transform(x, g).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="scale"):
        random_transform(images, g, scale=(1.2, 1.0))


def test_colour_correlation_sqrt_squares_to_the_scaled_covariance():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(20, 3, 8, 8, generator=g))
    root = colour_correlation_sqrt(images)
    cov = torch.cov(images.permute(1, 0, 2, 3).reshape(3, -1))
    product = root @ root.T
    torch.testing.assert_close(product / product[0, 0], cov / cov[0, 0], rtol=1e-4, atol=1e-5)
    assert torch.allclose(root, root.T) and abs(float(root.norm(dim=0).max()) - 1) < 1e-6


def test_fourier_image_is_the_sigmoid_of_a_scaled_inverse_fft():
    params = torch.randn(2, 6, 8, 5, generator=torch.Generator().manual_seed(1))
    images = fourier_image(params, (8, 8), decay=0.0)
    spectrum = (params[:, :3] + 1j * params[:, 3:]).numpy().astype(np.complex128)
    expected = 1 / (1 + np.exp(-np.fft.irfft2(spectrum, s=(8, 8), norm="ortho")))
    torch.testing.assert_close(images.double(), torch.from_numpy(expected), rtol=1e-5, atol=1e-6)
    assert images.min() > 0 and images.max() < 1
    # decay 1 multiplies the constant term by the image side (its frequency is clamped to one cycle per image).
    constant = torch.zeros(1, 2, 8, 5)
    constant[0, 0, 0, 0] = 0.1
    assert torch.allclose(fourier_image(constant, (8, 8)), torch.sigmoid(torch.tensor(0.1 * 8 / 8)).expand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="params"):
        fourier_image(torch.zeros(1, 6, 8, 8), (8, 8))


def test_silhouette_image_blends_one_colour_over_the_background():
    background = torch.rand(3, 16, 16)
    params = torch.full((2, 1, 4, 4), -30.0)
    params[1] = 30.0
    images, masks = silhouette_image(params, background, (1.0, 0.0, 0.0))
    torch.testing.assert_close(images[0], background, atol=1e-6, rtol=0)
    assert torch.allclose(images[1], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 16, 16))
    assert masks.shape == (2, 16, 16)
    with pytest.raises(ValueError, match="one channel"):
        silhouette_image(torch.zeros(1, 4, 4, 4), background, (1, 1, 1))


def test_shape_backgrounds_are_the_test_images_without_their_objects():
    images, _, masks = load_shapes("test")
    backgrounds = shape_backgrounds("test")
    assert backgrounds.shape == images.shape
    outside = ~masks[:, None].expand_as(images)
    # Outside the object only the generator's pixel noise (std 0.025, then clipped) separates them.
    difference = (images - backgrounds)[outside]
    assert difference.abs().mean() < 0.03 and difference.abs().max() < 0.2
    inside = masks[:, None].expand_as(images)
    assert (images - backgrounds)[inside].abs().mean() > 0.2
    with pytest.raises(ValueError, match="split"):
        shape_backgrounds("valid")


def test_polygon_mask_matches_a_point_in_polygon_test():
    # Against matplotlib's point-in-polygon test of the same vertices: with a sharp edge, every pixel more than a pixel
    # from the outline is inside exactly when the polygon contains it; a centred hole empties the centre.
    from matplotlib.path import Path

    from course_utils.featurevis import HOLE_SHIFT_PIXELS, polygon_mask

    k, size, radius = 12, 32, 6.0
    g = torch.Generator().manual_seed(0)
    params = torch.zeros(2, 1, 1, 2 * k + 3)
    params[:, 0, 0, :k] = 0.4 * torch.randn(2, k, generator=g)
    params[0, 0, 0, k:2 * k] = -20.0                                 # no hole
    params[1, 0, 0, k:2 * k] = -1.0                                  # a hole of radius 6 / e, moved by one unit in x
    params[1, 0, 0, 2 * k + 1] = 1.0
    masks = polygon_mask(params, size=size, radius=radius, softness=0.05)
    assert masks.shape == (2, size, size) and masks.min() >= 0 and masks.max() <= 1
    angles = 2 * np.pi * np.arange(k) / k
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size]
    points = np.stack([xs.ravel() - centre, ys.ravel() - centre], axis=1)
    for i in range(2):
        r = radius * np.exp(params[i, 0, 0, :k].numpy())
        outline = Path(np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1))
        inside = outline.contains_points(points)
        near = np.abs(np.stack([Path(outline.vertices).contains_points(points, radius=s) for s in (-2.0, 2.0)])).std(axis=0) > 0
        got = masks[i].numpy().ravel() > 0.5
        expected = inside
        if i == 1:
            hole = Path(np.stack([radius / np.e * np.cos(angles) + HOLE_SHIFT_PIXELS, radius / np.e * np.sin(angles)], axis=1))
            expected = inside & ~hole.contains_points(points)
            near |= np.abs(np.stack([hole.contains_points(points, radius=s) for s in (-2.0, 2.0)])).std(axis=0) > 0
        assert (got[~near] == expected[~near]).all()
        assert (~near).sum() > size * size // 2
    assert masks[1, int(centre), int(centre + HOLE_SHIFT_PIXELS)] < 0.01 < masks[0, int(centre), int(centre)] - 0.98
    with pytest.raises(ValueError, match="2K \\+ 3"):
        polygon_mask(torch.zeros(1, 1, 1, 8))
