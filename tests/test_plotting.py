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


def test_drawing_an_image_grid_lays_out_no_hidden_ticks(monkeypatch):
    # Laying out the tick labels of hidden axes (to place titles above them) was half the cost of a redraw.
    import matplotlib.axis

    images = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    calls = []
    original = matplotlib.axis.Axis.get_tightbbox
    monkeypatch.setattr(matplotlib.axis.Axis, "get_tightbbox",
                        lambda self, *args, **kwargs: calls.append(self) or original(self, *args, **kwargs))
    fig, _ = show_images(images, titles=[f"image {i}\n0.{i}" for i in range(6)], ncols=3, suptitle="grid")
    fig.canvas.draw()
    assert calls == [], f"drawing an image grid laid out the ticks of {len(calls)} hidden axes"


def _boxes(fig, axes):
    """Window extents of every image and every title, drawn."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    images = {(r, c): ax.images[0].get_window_extent(renderer) for (r, c), ax in np.ndenumerate(axes) if ax.images}
    titles = {(r, c): ax.title.get_window_extent(renderer) for (r, c), ax in np.ndenumerate(axes) if ax.get_title()}
    return images, titles


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.mark.parametrize("shape, ncols, size, title", [
    ((12, 1, 28, 28), 6, 1.5, lambda i: "gradient" if i >= 6 else f"digit {i}"),          # 06's digits
    ((8, 3, 32, 32), 4, 1.9, lambda i: f"guided: {'triangle' if i % 2 else 'circle'}\n0.{i}"),   # two-line titles
    ((30, 1, 16, 16), 10, 0.95, lambda i: f"a title much longer than its image {i}"),   # wrapped titles
    ((6, 1, 8, 32), 2, 2.0, lambda i: f"wide {i}"),                                  # wide images
])
def test_no_title_overlaps_an_image_or_another_title(shape, ncols, size, title):
    import matplotlib.pyplot as plt

    n = shape[0]
    fig, axes = show_images(torch.rand(*shape, generator=torch.Generator().manual_seed(0)), ncols=ncols, size=size,
                            titles=[title(i) for i in range(n)], suptitle="a figure title over the grid",
                            row_labels=[f"row {r} with a long label" for r in range(axes_rows(n, ncols))])
    images, titles = _boxes(fig, axes)
    assert len(titles) == n
    for key, box in titles.items():
        for other, image in images.items():
            assert not _overlap(box, image), f"the title of image {key} overlaps image {other}"
        for other, box2 in titles.items():
            assert other == key or not _overlap(box, box2), f"the titles of images {key} and {other} overlap"
    suptitle = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    for key, box in list(titles.items()) + list(images.items()):
        assert not _overlap(suptitle, box), f"the figure title overlaps {key}"
    labels = [t.get_window_extent(fig.canvas.get_renderer()) for t in fig.texts if t is not fig._suptitle]
    assert len(labels) == axes.shape[0]
    for label in labels:
        assert label.x0 >= 0, "a row label runs off the figure"
        for key, box in list(titles.items()) + list(images.items()):
            assert not _overlap(label, box), f"a row label overlaps {key}"
    for a, b in zip(labels, labels[1:]):
        assert not _overlap(a, b), "two row labels overlap"
    plt.close(fig)


def axes_rows(n: int, ncols: int) -> int:
    return -(-n // ncols)


def test_the_old_grid_hid_second_row_titles_under_the_first_row():
    # The reason for the layout above: tight_layout with a title per image put the second row's titles
    # under the first row's images (issue 29). Guard that the test above can see that failure.
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 6, figsize=(1.5 * 6, 1.5 * 2 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        ax.imshow(np.random.default_rng(i).random((28, 28)), cmap="gray")
        ax.set_title("gradient", fontsize=9, y=1.0)
    fig.suptitle("LeNet")
    fig.tight_layout()
    images, titles = _boxes(fig, axes)
    assert any(_overlap(titles[1, c], images[0, c]) for c in range(6))
    plt.close(fig)


def test_colour_keys_show_the_scale():
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    signed = torch.randn(4, 1, 10, 10, generator=g)
    fig, axes = show_images(signed, symmetric=True, cmap="RdBu_r", colorbar=True, colorbar_label="d logit / d pixel")
    m = float(signed.abs().max())
    for ax in axes.flat:
        assert ax.images[0].norm.vmin == pytest.approx(-m) and ax.images[0].norm.vmax == pytest.approx(m)
    key = fig.axes[-1]
    assert key.get_ylabel() == "d logit / d pixel" and key.get_ylim() == pytest.approx((-m, m))
    images, _ = _boxes(fig, axes)
    key_box = key.get_window_extent(fig.canvas.get_renderer())
    assert all(not _overlap(key_box, box) for box in images.values())
    plt.close(fig)
    # each image on its own scale: the key names the ends in words
    fig, axes = show_images(signed, symmetric=True, normalize=True, colorbar=True)
    labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    assert labels == ["−max|x|", "0", "+max|x|"]
    shown = axes[0, 1].images[0].get_array()
    assert float(np.abs(shown).max()) == pytest.approx(1.0)
    plt.close(fig)
    # a spectrum on a log scale: a faint panel is not empty
    spectra = torch.stack([torch.logspace(-4, 2, 64).reshape(1, 8, 8), torch.logspace(-6, -2, 64).reshape(1, 8, 8)])
    fig, axes = show_images(spectra, log=True, normalize=True, colorbar=True, colorbar_label="power")
    import matplotlib.colors as mcolors
    assert isinstance(axes[0, 1].images[0].norm, mcolors.LogNorm)
    faint = axes[0, 1].images[0]
    assert float(faint.norm(faint.get_array()).std()) > 0.1, "the faint spectrum is drawn as one flat colour"
    plt.close(fig)
    with pytest.raises(ValueError, match="pick one"):
        show_images(spectra, log=True, symmetric=True)
    with pytest.raises(ValueError, match="one row label per row"):
        show_images(spectra, row_labels=["a", "b"])


def test_heatmap_and_filter_keys():
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    fig, axes = show_heatmap(torch.rand(4, 3, 16, 16, generator=g), torch.randn(4, 4, 4, generator=g), symmetric=True,
                             cmap="bwr", colorbar=True, ncols=2, titles=list("abcd"))
    assert [t.get_text() for t in fig.axes[-1].get_yticklabels()] == ["−max", "0", "+max"]
    plt.close(fig)
    heat = torch.rand(2, 4, 4, generator=g)
    heat[1] *= 10
    fig, axes = show_heatmap(torch.rand(2, 3, 16, 16, generator=g), heat, shared=True, colorbar=True)
    assert axes[0, 0].images[1].norm.vmax == pytest.approx(float(heat.max()))
    assert fig.axes[-1].get_ylim()[1] == pytest.approx(float(heat.max()))
    plt.close(fig)
    fig, axes = show_filters(torch.randn(3, 4, 3, 3, generator=g), colorbar=True)
    assert [t.get_text() for t in fig.axes[-1].get_yticklabels()] == ["−max|w|", "0", "+max|w|"]
    assert axes[0, 2].get_title() == "in 2" and axes[1, 0].get_title() == ""
    assert [t.get_text() for t in fig.texts if t is not fig._suptitle] == ["out 0", "out 1", "out 2"]
    plt.close(fig)
