import numpy as np
import pytest
import torch

from course_utils import show_filters, show_heatmap, show_images, to_numpy_image
from course_utils.plotting import _normalize_filters


def test_to_numpy_image_layouts():
    assert to_numpy_image(torch.rand(3, 5, 7)).shape == (5, 7, 3)
    assert to_numpy_image(torch.rand(1, 5, 7)).shape == (5, 7)
    assert to_numpy_image(torch.rand(1, 3, 5, 7)).shape == (5, 7, 3)
    assert to_numpy_image(np.zeros((5, 7))).shape == (5, 7)
    with pytest.raises(ValueError, match=r"Cannot show an image of shape \(2, 5, 7\)"):
        to_numpy_image(torch.rand(2, 5, 7))
    with pytest.raises(TypeError, match="torch.Tensor or a numpy array"):
        to_numpy_image([[0.0]])


def test_show_images_grid_and_titles():
    fig, axes = show_images(torch.rand(10, 1, 8, 8), titles=[str(i) for i in range(10)], ncols=4)
    assert axes.shape == (3, 4)
    assert axes[0, 1].get_title() == "1"
    assert len(axes[0, 0].images) == 1
    with pytest.raises(ValueError, match="one title per image"):
        show_images(torch.rand(3, 3, 8, 8), titles=["a"])
    with pytest.raises(ValueError, match="nothing to show"):
        show_images([])


def test_show_images_normalize_stretches_each_image():
    fig, axes = show_images(torch.full((1, 1, 4, 4), 5.0) + torch.arange(16.0).reshape(1, 1, 4, 4), normalize=True)
    shown = axes[0, 0].images[0].get_array()
    assert float(shown.min()) == 0.0 and float(shown.max()) == 1.0


def test_filters_are_scaled_so_that_zero_is_grey():
    w = torch.tensor([[[[-2.0, 0.0], [1.0, 2.0]]], [[[0.0, 0.0], [0.0, 0.0]]]]).numpy()
    n = _normalize_filters(w)
    np.testing.assert_allclose(n[0, 0], [[0.0, 0.5], [0.75, 1.0]])
    np.testing.assert_allclose(n[1, 0], 0.5)


def test_show_filters_modes():
    fig, axes = show_filters(torch.randn(16, 3, 5, 5), ncols=8)
    assert axes.shape == (2, 8) and axes[0, 0].images[0].get_array().shape == (5, 5, 3)
    fig, axes = show_filters(torch.randn(4, 6, 3, 3))
    assert axes.shape == (4, 6)
    fig, axes = show_filters(torch.randn(4, 6, 3, 3), in_channel=5)
    assert axes.size == 4
    with pytest.raises(ValueError, match=r"\(C_out, C_in, kH, kW\)"):
        show_filters(torch.randn(5, 5))
    with pytest.raises(ValueError, match="6 input channels"):
        show_filters(torch.randn(4, 6, 3, 3), in_channel=6)


def test_show_heatmap_upsamples_and_checks_counts():
    images = torch.rand(2, 3, 32, 32)
    heat = torch.rand(2, 8, 8)
    fig, axes = show_heatmap(images, heat, titles=["a", "b"], masks=torch.zeros(2, 32, 32, dtype=torch.bool))
    assert axes[0, 0].images[1].get_array().shape == (32, 32)
    fig, axes = show_heatmap(images[0], heat[0])
    assert axes.size == 1
    with pytest.raises(ValueError, match="one map per image"):
        show_heatmap(images, heat[:1])
    with pytest.raises(ValueError, match="opacity"):
        show_heatmap(images, heat, alpha=2)
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        show_heatmap(images, torch.rand(2, 2, 3, 8, 8))


def _png_pixels(fig) -> np.ndarray:
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return np.asarray(Image.open(buffer))


def test_show_images_titles_sit_where_matplotlib_would_put_them_without_laying_out_ticks(monkeypatch):
    # The same grid built with plain matplotlib (automatic title placement) must give the same pixels;
    # and drawing show_images's figure must not lay out the hidden tick labels (what made it slow).
    import matplotlib.axis
    import matplotlib.pyplot as plt

    images = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    titles = [f"image {i}\n0.{i}" for i in range(6)]
    fig, axes = plt.subplots(2, 3, figsize=(1.8 * 3, 1.8 * 2 + 0.4), squeeze=False)
    for ax, image, title in zip(axes.flat, images, titles):
        ax.axis("off")
        ax.imshow(image[0].numpy(), cmap="gray")
        ax.set_title(title, fontsize=9)
    fig.suptitle("grid")
    fig.tight_layout()
    expected = _png_pixels(fig)

    calls = []
    original = matplotlib.axis.Axis.get_tightbbox
    monkeypatch.setattr(matplotlib.axis.Axis, "get_tightbbox",
                        lambda self, *args, **kwargs: calls.append(self) or original(self, *args, **kwargs))
    fig, _ = show_images(images, titles=titles, ncols=3, suptitle="grid")
    fig.canvas.draw()
    assert calls == [], f"drawing an image grid laid out the ticks of {len(calls)} hidden axes"
    np.testing.assert_array_equal(_png_pixels(fig), expected)
